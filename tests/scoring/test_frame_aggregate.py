"""Frame aggregation: the frame score the selection ranks by, from its objects' uncertainty."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vidal.config import load_config
from vidal.pipeline import FrameRecord, frame_table, mine_source
from vidal.scoring import Kind, ObjectTable, aggregate_score, object_shares
from vidal.selection import select
from vidal.video import open_source

from conftest import ScriptedDetector


@pytest.mark.parametrize(
    ("aggregate", "top_k", "expected"),
    [("sum", 3, [1, 1, 1, 1]), ("mean", 3, [0.25] * 4), ("topk", 2, [0, 1, 0, 1]), ("topk", 9, [1, 1, 1, 1])],
)
def test_object_shares(aggregate: str, top_k: int, expected: list[float]) -> None:
    u = np.array([0.1, 0.9, 0.2, 0.5])
    assert object_shares(u, aggregate, top_k).tolist() == pytest.approx(expected)
    assert aggregate_score(u, aggregate, top_k) == pytest.approx(float(np.dot(expected, u)))


def test_object_shares_of_an_empty_frame_and_bad_arguments() -> None:
    for aggregate in ("sum", "mean", "topk"):
        assert aggregate_score(np.zeros(0), aggregate) == 0.0
    with pytest.raises(ValueError, match="valid: sum, mean, topk"):
        object_shares(np.ones(2), "max")
    with pytest.raises(ValueError, match="top_k"):
        object_shares(np.ones(2), "topk", 0)


def record(frame: int, uncertainty: list[float]) -> FrameRecord:
    n = len(uncertainty)
    objects = ObjectTable(
        kind=np.full(n, Kind.TRACKED, np.int8), track_id=np.arange(1, n + 1) + 10 * frame,
        xyxy=np.tile(np.array([0, 0, 10, 10], np.float32), (n, 1)), confidence=np.full(n, 0.5, np.float32),
        class_id=np.zeros(n, np.int64), det_index=np.arange(n), stage=np.ones(n, np.int8),
        cost=np.zeros(n, np.float32), next_cost=np.full(n, np.inf, np.float32), reactivated=np.zeros(n, bool),
        confirmed=np.ones(n, bool), age=np.zeros(n, np.int32), missed=np.zeros(n, np.int32),
    )
    u = np.array(uncertainty)
    return FrameRecord(frame, frame / 25, float(u.sum()), [], objects, u, n, {"confidence": u.copy()})


# Frame 1: a crowd of six fairly doubtful objects (sum 2.4); frame 20: one object that is most
# likely wrong (0.95); frame 40: nothing doubtful.
RECORDS = [record(1, [0.4] * 6), record(20, [0.95]), record(40, [0.05, 0.05])]


@pytest.mark.parametrize(("aggregate", "first"), [("sum", 1), ("mean", 20), ("topk", 20)])
def test_the_aggregate_decides_which_frame_goes_first(aggregate: str, first: int) -> None:
    table = frame_table(RECORDS, aggregate=aggregate, top_k=1)
    assert table.frame[select(table, 1, strategy="vidal")[0]] == first
    # the events carry the frame's value under the same aggregate (their shares sum to the score)
    by_frame = np.bincount(table.events["frame_index"], weights=table.events["value"], minlength=len(table))
    suspect = table.score * (np.arange(len(table)) < 2)  # frame 40's objects are not suspect
    assert by_frame == pytest.approx(suspect)
    assert table.boxes.tolist() == [6, 1, 2]


def test_boxcount_takes_the_crowded_frame() -> None:
    table = frame_table(RECORDS)
    assert [int(table.frame[i]) for i in select(table, 2, strategy="boxcount", min_gap=5)] == [1, 40]


def test_mine_ranks_frames_by_the_configured_aggregate(tmp_path: Path, scene_video: Path) -> None:
    detector = ScriptedDetector(noise=1.0, misses={20: [0], 21: [0]}, low={40: [1]})
    config = load_config(overrides=["selection.budget=3", "selection.aggregate=topk", "selection.top_k=1"])
    result = mine_source(open_source(scene_video), detector, config, tmp_path)
    most = [float(r.uncertainty.max()) if len(r.uncertainty) else 0.0 for r in result.records]
    assert result.table.score.tolist() == pytest.approx(most)
    assert json.loads((result.run_dir / "summary.json").read_text())["selection"]["aggregate"] == "topk"


def test_the_class_balance_counts_each_track_by_its_usual_class_and_only_wanted_ones() -> None:
    from vidal.pipeline import track_stretches
    from vidal.selection import class_frames

    records = []
    for frame in range(1, 7):
        r = record(frame, [0.2, 0.2])
        r.objects.track_id[:] = [1, 2]
        # track 1: a person the model calls "handbag" (26) in frame 3; track 2: a handbag in frames 1-3
        r.objects.class_id[:] = [26 if frame == 3 else 0, 26 if frame <= 3 else 0]
        records.append(r)
    every = track_stretches(records, ())
    assert every["class_id"][every["track_id"] == 1].tolist() == [0] * 6
    assert set(every["class_id"][every["track_id"] == 2].tolist()) == {0}  # 3 frames each: the lower id on a tie
    records[3].objects.class_id[1] = records[4].objects.class_id[1] = 26  # now mostly a handbag
    assert set(track_stretches(records, ())["class_id"][every["track_id"] == 2].tolist()) == {26}
    wanted = track_stretches(records, (), classes=[0])
    assert set(wanted["class_id"][wanted["track_id"] == 2].tolist()) == {-1}
    assert sorted(class_frames(frame_table(records))) == [0, 26]
    assert sorted(class_frames(frame_table(records, classes=[0]))) == [0]
