from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from vidal.config import load_config
from vidal.pipeline import mine_source
from vidal.scoring import Kind, ObjectTable, SignalContext, get_signal
from vidal.tracking import ByteTracker
from vidal.types import Detections
from vidal.video import open_source

from conftest import SCENE_FRAMES, ScriptedDetector


def steps_of(detector: ScriptedDetector, frames: int = SCENE_FRAMES):
    tracker = ByteTracker()
    for frame in range(1, frames + 1):
        detections = detector.detections(frame)
        step = tracker.update(detections, frame)
        yield frame, ObjectTable.build(step, detections)


def ctx(table: ObjectTable, majority: np.ndarray | None = None) -> SignalContext:
    return SignalContext(objects=table, frame=1, width=192, height=112, decision_threshold=0.25, low_threshold=0.1, majority_class=majority)


def test_association_is_ambiguous_at_the_crossing() -> None:
    peak = {f: float(get_signal("association")(ctx(t)).max(initial=0)) for f, t in steps_of(ScriptedDetector())}
    crossing = max(peak, key=peak.get)
    assert 28 <= crossing <= 38
    assert peak[crossing] > 0.1 and peak[crossing] > 5 * peak[5]


def test_missed_and_reactivation() -> None:
    tables = dict(steps_of(ScriptedDetector(misses={20: [2], 21: [2]})))
    missed = get_signal("missed")(ctx(tables[20]))
    predicted = tables[20].kind == Kind.PREDICTED
    assert missed[predicted].tolist() == [1.0]
    assert get_signal("missed")(ctx(tables[21]))[tables[21].kind == Kind.PREDICTED][0] == pytest.approx(np.exp(-0.1))
    back = get_signal("reactivation")(ctx(tables[22]))
    assert back.sum() == 1.0 and back[tables[22].track_id == 3].tolist() == [1.0]


def test_missed_ignores_young_tracks_and_the_border() -> None:
    tables = dict(steps_of(ScriptedDetector(misses={2: [2]})))  # object 3 lost on its 2nd frame
    assert get_signal("missed")(ctx(tables[2])).max(initial=0) == 0.0
    def leaving(frame: int) -> np.ndarray:  # a box walking out through the right border
        x = 100.0 + 4 * (frame - 1)
        if x >= 188:
            return np.zeros((0, 4), np.float32)
        return np.array([[x, 40, min(x + 24, 192), 64]], np.float32)

    tables = dict(steps_of(ScriptedDetector(boxes=leaving), frames=26))
    table = tables[24]
    assert (table.kind == Kind.PREDICTED).sum() == 1
    assert get_signal("missed")(ctx(table)).max() == 0.0


def test_class_flip_and_crowding() -> None:
    table = ObjectTable.build(
        ByteTracker().update(
            Detections(np.array([[0, 0, 20, 20], [10, 0, 30, 20]]), np.array([0.9, 0.9]), np.array([1, 0])), 1
        ),
        Detections(np.array([[0, 0, 20, 20], [10, 0, 30, 20]]), np.array([0.9, 0.9]), np.array([1, 0])),
    )
    flips = get_signal("class_flip")(ctx(table, np.array([0, 0])))
    assert sorted(flips.tolist()) == [0.0, 1.0]
    assert get_signal("class_flip")(ctx(table)).tolist() == [0.0, 0.0]
    crowd = get_signal("crowding")(ctx(table))
    assert crowd.tolist() == pytest.approx([2 / 3, 2 / 3])  # IoU 1/3 against 0.5


def test_short_track_is_resolved_after_the_track_ends(tmp_path: Path, scene_video: Path) -> None:
    class Ghost(ScriptedDetector):
        def detections(self, frame: int) -> Detections:
            base = super().detections(frame)
            if 40 <= frame <= 42:  # a false object for three frames
                ghost = Detections(np.array([[150, 80, 170, 100]]), np.array([0.8]), np.array([0]))
                return Detections(np.r_[base.xyxy, ghost.xyxy], np.r_[base.confidence, ghost.confidence],
                                  np.r_[base.class_id, ghost.class_id])
            return base

    config = load_config(overrides=["selection.budget=3"])
    result = mine_source(open_source(scene_video), Ghost(), config, tmp_path)
    rows = {int(r["frame"]): r for r in csv.DictReader((result.run_dir / "frames.csv").open())}
    assert "short_track" in rows[41]["reasons"]
    assert "short_track" not in rows[10]["reasons"]
    assert 41 in result.selected or 40 in result.selected or 42 in result.selected
