"""``vidal propagate``: reviewed frames labelling the frames their tracks cover, on real FiftyOne datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import vidal
from vidal.cli import app
from vidal.dataset import push_run
from vidal.dataset.label import label_from_mot
from vidal.dataset.propagate import propagate_dataset
from vidal.dataset.schema import PSEUDO_LABELS, TAG_PROPAGATED, TAG_REVIEWED, TAG_TO_REVIEW, VIEW_PROPAGATED
from vidal.errors import DatasetError

from conftest import SCENE_FRAMES, mine_run
from test_label import scene_rows, write_gt

pytestmark = pytest.mark.fiftyone
runner = CliRunner()


@pytest.fixture
def labelled(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> tuple[str, Path, Path]:
    """A dataset with 6 frames of the scene video mined and labelled from its ground truth."""
    run_dir = mine_run(scene_video, tmp_path / "runs")
    push_run(run_dir, dataset_name)
    label_from_mot(dataset_name, write_gt(tmp_path / "seq", scene_rows()), scene_video)
    return dataset_name, scene_video, run_dir


def snapshot(dataset, field: str) -> dict[str, object]:
    """Each sample's ``field`` as stored (ids included) and its tags, by sample id."""
    dataset.reload()
    return {s.id: (s[field].to_json() if s.has_field(field) and s[field] is not None else None, sorted(s.tags))
            for s in dataset}


def test_propagate_writes_pseudo_labels_and_leaves_reviewed_frames_alone(fo, labelled) -> None:
    name, video, _ = labelled
    dataset = fo.load_dataset(name)
    reviewed = {s.frame_number for s in dataset.match_tags(TAG_REVIEWED)}
    truth_before = snapshot(dataset, "ground_truth")
    report = propagate_dataset(name, stride=4)
    (v,) = report.videos
    assert v.keyframes == 6 and v.processed == SCENE_FRAMES
    expected = {f for f in range(1, SCENE_FRAMES + 1, 4)} - reviewed
    assert (v.added, v.updated, v.unchanged, v.kept) == (len(expected), 0, 0, 0)
    dataset.reload()
    propagated = dataset.match_tags(TAG_PROPAGATED)
    assert set(propagated.values("frame_number")) == expected and report.propagated == len(expected)
    for sample in propagated:
        assert sample.tags == [TAG_PROPAGATED] and Path(sample.filepath).is_file()
        assert sample.ground_truth is None or sample.ground_truth.detections == []
        boxes = sample[PSEUDO_LABELS].detections
        assert len(boxes) == 3  # the three squares, carried by their tracks
        for det in boxes:
            assert det.label == "square" and 0 < det.confidence < 1 and det.index in (1, 2, 3)
            assert det.source in ("track", "unconfirmed") and set(det.keyframes) <= reviewed
            assert bool(det.keyframes) == (det.source == "track")
    sources = propagated.values(f"{PSEUDO_LABELS}.detections.source", unwind=True)
    assert sources.count("track") > 0.8 * len(sources)
    # the human's ground truth is byte for byte what it was, and its samples are untouched
    assert {k: v for k, v in snapshot(dataset, "ground_truth").items() if k in truth_before} == truth_before
    assert all(not s.has_field(PSEUDO_LABELS) or s[PSEUDO_LABELS] is None for s in dataset.match_tags(TAG_REVIEWED))
    view = dataset.load_saved_view(VIEW_PROPAGATED)
    confidence = [min(d.confidence for d in s[PSEUDO_LABELS].detections) for s in view]
    assert len(view) == len(expected) and confidence == sorted(confidence)


def test_propagate_again_changes_nothing(fo, labelled) -> None:
    name, _, _ = labelled
    propagate_dataset(name, stride=4)
    dataset = fo.load_dataset(name)
    before = snapshot(dataset, PSEUDO_LABELS), snapshot(dataset, "ground_truth"), len(dataset)
    report = propagate_dataset(name, stride=4)
    (v,) = report.videos
    assert (v.added, v.updated) == (0, 0) and v.unchanged == v.frames > 0
    assert (snapshot(dataset, PSEUDO_LABELS), snapshot(dataset, "ground_truth"), len(dataset)) == before
