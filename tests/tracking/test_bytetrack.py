from __future__ import annotations

import numpy as np
import pytest

from vidal.evaluation import evaluate_tracking
from vidal.mot import MotBoxes
from vidal.tracking import ByteTracker
from vidal.tracking.bytetrack import Stage
from vidal.types import Detections

from conftest import SCENE_FRAMES, ScriptedDetector, scene_boxes


def run(detector: ScriptedDetector, frames: int = SCENE_FRAMES, **kwargs):
    tracker = ByteTracker(**kwargs)
    return tracker, [tracker.update(detector.detections(f), f) for f in range(1, frames + 1)]


def to_mot(steps, backfill: bool = True) -> MotBoxes:
    rows = []
    for step in steps:
        out = step.output
        rows += [(step.frame, t, *b) for t, b in zip(out.track_id, out.xyxy)]
        if backfill:
            for bf in step.backfills:
                rows += [(int(f), bf.track_id, *b) for f, b in zip(bf.frames, bf.xyxy)]
    a = np.array(rows, np.float64)
    return MotBoxes(a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2:6].astype(np.float32), np.ones(len(a), np.float32))


def scene_gt() -> MotBoxes:
    rows = [(f, i + 1, *b) for f in range(1, SCENE_FRAMES + 1) for i, b in enumerate(scene_boxes(f))]
    a = np.array(rows, np.float64)
    return MotBoxes(a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2:6].astype(np.float32), np.ones(len(a), np.float32))


def test_clean_crossing_keeps_identities() -> None:
    _, steps = run(ScriptedDetector())
    ids = [sorted(step.output.track_id.tolist()) for step in steps]
    assert all(i == [1, 2, 3] for i in ids)
    scores = evaluate_tracking(scene_gt(), to_mot(steps))
    assert scores.mota == pytest.approx(1.0)
    assert scores.idf1 == pytest.approx(1.0)
    assert scores.id_switches == 0


# Regression baseline: noisy boxes, misses in the crossing and low scores (checked-in figures).
NOISY = dict(
    noise=1.5,
    misses={30: [0], 31: [0], 32: [1], 50: [2], 51: [2], 52: [2]},
    low={33: [0, 1], 40: [2]},
)


def test_noisy_crossing_regression_baseline() -> None:
    _, steps = run(ScriptedDetector(**NOISY))
    scores = evaluate_tracking(scene_gt(), to_mot(steps))
    assert scores.id_switches == 0
    assert scores.mota >= 0.99
    assert scores.idf1 >= 0.99


def test_missed_frames_are_predicted_then_interpolated() -> None:
    _, steps = run(ScriptedDetector(misses={50: [2], 51: [2], 52: [2]}))
    for frame in (50, 51, 52):
        lost = steps[frame - 1].lost
        assert lost.track_id.tolist() == [3]
        assert lost.stage.tolist() == [Stage.PREDICTED]
        assert lost.det_index.tolist() == [-1]
        assert np.isnan(lost.confidence).all()
    back = steps[52].tracks  # frame 53: found again
    assert back.reactivated[back.track_id == 3].tolist() == [True]
    gaps = [bf for bf in steps[52].backfills if bf.kind == "gap"]
    assert len(gaps) == 1 and gaps[0].track_id == 3
    assert gaps[0].frames.tolist() == [50, 51, 52]
    np.testing.assert_allclose(gaps[0].xyxy, scene_boxes(50)[[2, 2, 2]], atol=1e-3)


def test_gap_longer_than_max_gap_is_not_interpolated() -> None:
    misses = {f: [2] for f in range(20, 30)}
    _, steps = run(ScriptedDetector(misses=misses), max_gap=5)
    assert not [bf for s in steps for bf in s.backfills if bf.kind == "gap"]
    assert 3 in steps[29].tracks.track_id  # still the same identity after 10 missed frames


def test_low_score_detection_is_taken_in_second_stage() -> None:
    _, steps = run(ScriptedDetector(low={33: [0, 1]}))
    step = steps[32]
    assert sorted(step.output.track_id.tolist()) == [1, 2, 3]
    stages = dict(zip(step.tracks.track_id.tolist(), step.tracks.stage.tolist()))
    assert stages[1] == Stage.LOW and stages[2] == Stage.LOW and stages[3] == Stage.HIGH


def test_birth_is_confirmed_next_frame_and_backfilled() -> None:
    # Object 2 (index 1) appears only from frame 10 on.
    detector = ScriptedDetector(misses={f: [1] for f in range(1, 10)})
    _, steps = run(detector, frames=12)
    birth = steps[9]
    new = birth.tracks[birth.tracks.stage == Stage.BIRTH]
    assert len(new) == 1 and not new.confirmed[0]
    assert new.track_id[0] not in birth.output.track_id
    confirm = steps[10]
    assert new.track_id[0] in confirm.output.track_id
    births = [bf for bf in confirm.backfills if bf.kind == "birth"]
    assert [(bf.track_id, bf.frames.tolist()) for bf in births] == [(int(new.track_id[0]), [10])]


def test_one_frame_false_positive_is_removed_unconfirmed() -> None:
    tracker = ByteTracker()
    base = Detections(np.array([[10, 10, 30, 30]]), np.array([0.9]), np.array([0]))
    tracker.update(base, 1)
    ghost = Detections(np.array([[10, 10, 30, 30], [100, 80, 120, 100]]), np.array([0.9, 0.6]), np.array([0, 0]))
    tracker.update(ghost, 2)
    step = tracker.update(base, 3)
    assert [(r.reason, r.first_frame, r.hits) for r in step.removed] == [("unconfirmed", 2, 1)]


def test_lost_track_removed_after_buffer() -> None:
    tracker = ByteTracker(track_buffer=3)
    box = Detections(np.array([[10, 10, 30, 30]]), np.array([0.9]), np.array([0]))
    tracker.update(box, 1)
    tracker.update(box, 2)
    removed = []
    for frame in range(3, 8):
        removed += tracker.update(Detections.empty(), frame).removed
    assert [(r.track_id, r.reason, r.last_frame) for r in removed] == [(1, "lost", 2)]


def test_association_cost_and_margin_are_recorded() -> None:
    _, steps = run(ScriptedDetector(), frames=5)
    tracks = steps[4].tracks
    assert (tracks.stage == Stage.HIGH).all()
    assert (tracks.cost < 0.2).all()  # near-perfect overlap fused with score 0.9
    assert (tracks.next_cost > tracks.cost).all()


def test_crossing_margin_shrinks() -> None:
    # The two moving squares overlap around frame 33: the association is least certain there.
    _, steps = run(ScriptedDetector())
    margin = [float(np.min(s.tracks.next_cost[:2] - s.tracks.cost[:2])) for s in steps[1:]]
    crossing = int(np.argmin(margin)) + 2
    assert 28 <= crossing <= 38


def test_trackers_do_not_share_state() -> None:
    a, _ = run(ScriptedDetector(), frames=3)
    b, steps = run(ScriptedDetector(), frames=3)
    assert sorted(steps[-1].output.track_id.tolist()) == [1, 2, 3]
