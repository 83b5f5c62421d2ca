"""The whole loop on the sample clip, as a user runs it: mine, label, train, mine with the new model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidal.cli import app
from vidal.dataset.lineage import latest_model
from vidal.dataset.report import dataset_status

from conftest import REPO, SAMPLE_MODEL, SAMPLE_VIDEO

pytestmark = [pytest.mark.fiftyone, pytest.mark.slow]
runner = CliRunner()
GT = REPO / "sample_videos" / "crossing" / "gt" / "gt.txt"


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_mine_label_train_and_mine_again_with_the_latest_model(fo, dataset_name: str, tmp_path: Path) -> None:
    runs, out = str(tmp_path / "runs"), str(tmp_path / "models")
    _ok("mine", str(SAMPLE_VIDEO), "--model", str(SAMPLE_MODEL), "--dataset", dataset_name, "--budget", "20%",
        "--out", runs)
    mined = len(fo.load_dataset(dataset_name))
    assert mined == 60
    labelled = _ok("label", "--from-mot", str(GT), "--video", str(SAMPLE_VIDEO), "--dataset", dataset_name)
    assert "60" in labelled
    corrected = fo.load_dataset(dataset_name).match_tags("reviewed")
    assert len(corrected) == mined
    boxes_before = corrected.count("ground_truth.detections")

    trained = _ok("train", "--dataset", dataset_name, "--epochs", "2", "--imgsz", "128", "--batch", "8", "--out", out)
    assert "model v1" in trained and "base mAP50" in trained
    assert "asked 2;" in trained  # ~40 frames in batches of 8: ten steps, spread to at least 32
    model = latest_model(dataset_name)
    assert model.version == 1 and Path(model.base) == SAMPLE_MODEL.resolve()
    assert len(model.train_samples) + len(model.val_samples) <= mined

    # The second round with the committee of the lineage: the new model mines, its base votes.
    again = _ok("mine", str(SAMPLE_VIDEO), "--model", "latest", "--dataset", dataset_name, "--budget", "20%",
                "--out", runs, "--set", "scoring.signals.committee.enabled=true",
                "--set", "scoring.committee_views=[]", "--set", "scoring.committee_models=[lineage]")
    assert f"{mined} frames already reviewed" in again
    latest = max(Path(runs).rglob("summary.json"), key=lambda p: p.stat().st_mtime)
    scoring = json.loads(latest.read_text())["config"]["scoring"]
    assert scoring["committee_models"] == [str(SAMPLE_MODEL.resolve())]  # the base; the mining model left out
    assert scoring["signals"]["committee"]["enabled"]
    status = dataset_status(dataset_name)
    assert [Path(str(r.record.model_path)) for r in status.runs] == [SAMPLE_MODEL.resolve(), Path(model.model_path)]
    assert [m.key for m in status.models] == [model.key]
    # The second round picked only frames not reviewed yet, and kept every correction of the first.
    dataset = fo.load_dataset(dataset_name)
    assert len(dataset) == 2 * mined
    assert dataset.match_tags("reviewed").count("ground_truth.detections") == boxes_before

    shown = _ok("status", "--dataset", dataset_name)
    assert "models trained on this dataset" in shown and "crossing_yolo11n.pt" in shown
    assert shown.count("v1") >= 2  # the model's row and the run it mined
