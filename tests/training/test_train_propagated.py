"""``vidal train`` on human ``ground_truth`` plus the ``pseudo_labels`` of propagated samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vidal.cli import app
from vidal.dataset import push_run
from vidal.dataset.export import export_yolo
from vidal.dataset.lineage import models
from vidal.dataset.propagate import propagate_dataset
from vidal.dataset.schema import PSEUDO_LABELS, TAG_PROPAGATED, TAG_REVIEWED
from vidal.training import plan_training

from conftest import SAMPLE_MODEL, mine_run

pytestmark = pytest.mark.fiftyone
runner = CliRunner()
FPS = 25.0


@pytest.fixture
def propagated(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> str:
    """The scene video: 16 mined frames reviewed as drafted, the others propagated (stride 2)."""
    push_run(mine_run(scene_video, tmp_path / "runs", budget=16, names={0: "person"}), dataset_name)
    dataset = fo.load_dataset(dataset_name)
    for sample in dataset:
        sample.tags = [TAG_REVIEWED]
        sample.save()
    propagate_dataset(dataset_name, stride=2)
    return dataset_name


def test_propagated_samples_train_and_never_validate(fo, propagated: str, tmp_path: Path) -> None:
    dataset = fo.load_dataset(propagated)
    plan = plan_training(propagated, base="yolo11n.yaml", out_root=tmp_path / "out")
    reviewed = set(dataset.match_tags(TAG_REVIEWED).values("id"))
    candidates = set(dataset.match_tags(TAG_PROPAGATED).match_tags(TAG_REVIEWED, bool=False).values("id"))
    assert plan.propagated_ids and set(plan.propagated_ids) <= candidates
    assert set(plan.val_ids) <= reviewed and set(plan.train_ids) - set(plan.propagated_ids) <= reviewed
    assert set(plan.propagated_ids) <= set(plan.train_ids)
    # none trains that is labelled from a validation frame or is a near-duplicate of one (1 s)
    val_frames = np.array(dataset.select(plan.val_ids).values("frame_number"))
    for sample in dataset.select(plan.propagated_ids):
        assert np.abs(sample.frame_number - val_frames).min() >= FPS
        assert not {f for d in sample[PSEUDO_LABELS].detections for f in d.keyframes} & set(val_frames.tolist())
    left_out = candidates - set(plan.propagated_ids)
    assert left_out  # the frames around the validation stretch
    assert plan.propagated_boxes == dataset.select(plan.propagated_ids).count(f"{PSEUDO_LABELS}.detections") > 0
    human_train = [i for i in plan.train_ids if i in reviewed]
    assert plan.human_boxes == dataset.select(human_train).count("ground_truth.detections") > 0
    # the exported training labels of a propagated frame are its pseudo_labels, of a reviewed frame its ground truth
    data = export_yolo(plan.view, plan.train_ids, plan.val_ids, tmp_path / "data", ["person"])
    labels = sorted((data.parent / "labels" / "train").glob("*.txt"))
    assert len(labels) == len(plan.train_ids)
    rows = sum(len(p.read_text().splitlines()) for p in labels)
    assert rows == plan.human_boxes + plan.propagated_boxes

    only_human = plan_training(propagated, base="yolo11n.yaml", out_root=tmp_path / "out", propagated=False)
    assert only_human.propagated_ids == [] and only_human.propagated_boxes == 0
    assert set(only_human.train_ids) == set(human_train) and only_human.val_ids == plan.val_ids


@pytest.mark.slow
def test_train_command_records_human_and_propagated_boxes(fo, propagated: str, tmp_path: Path) -> None:
    tiny = ["--dataset", propagated, "--base", str(SAMPLE_MODEL), "--epochs", "1", "--imgsz", "64", "--batch", "4",
            "--min-steps", "0", "--out", str(tmp_path / "out")]
    result = runner.invoke(app, ["train", *tiny])
    assert result.exit_code == 0, result.output
    first = models(fo.load_dataset(propagated))[-1]
    assert first.propagated_frames > 0 and first.propagated_boxes > 0
    assert first.human_frames + first.propagated_frames == len(first.train_samples)
    assert f"and {first.propagated_frames} propagated ({first.propagated_boxes} boxes)" in result.output
    result = runner.invoke(app, ["train", *tiny, "--no-propagated"])
    assert result.exit_code == 0, result.output
    second = models(fo.load_dataset(propagated))[-1]
    assert (second.propagated_frames, second.propagated_boxes) == (0, 0)
    assert (second.human_frames, second.human_boxes) == (first.human_frames, first.human_boxes)
    assert second.human_frames == len(second.train_samples)
    shown = runner.invoke(app, ["status", "--dataset", propagated])
    assert shown.exit_code == 0, shown.output
    assert f"{first.propagated_boxes} ({first.propagated_frames} frames)" in shown.output
    assert f"{first.human_boxes} ({first.human_frames} frames)" in shown.output
