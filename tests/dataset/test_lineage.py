"""Model lineage: the typed records of the models trained on a dataset, and how they are stored."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidal.cli import app
from vidal.dataset import push_run
from vidal.dataset.lineage import Comparison, Metrics, ModelRecord, latest_model, latest_model_path, models

from conftest import mine_run

runner = CliRunner()

# A record as `vidal train` stored it on a dataset before records were typed (and still does).
STORED = {
    "created": "2026-12-01T10:00:00Z",
    "model_path": "/runs/train-street/model.pt",
    "run_dir": "/runs/train-street",
    "base": "/models/base.pt",
    "parent": None,
    "epochs": 32,
    "epochs_asked": 10,
    "imgsz": 320,
    "batch": 16,
    "device": None,
    "val_frac": 0.2,
    "hyp": {"lr0": 0.000625},
    "train_seconds": 34.2,
    "train_samples": ["a", "b", "c"],
    "val_samples": ["d"],
    "metrics": {
        "base": {"map50": 0.5, "map": 0.25, "per_class": {"person": {"map50": 0.5, "map": 0.25}}},
        "new": {"map50": 0.7, "map": 0.375, "per_class": {"person": {"map50": 0.7, "map": 0.375}}},
        "validator": "ultralytics",
        "val_images": 1,
        "improved": True,
    },
    "kind": "vidal_train",
    "version": 1,
}
# The first records (before `--min-steps`) had neither `epochs_asked` nor a spread `hyp`.
FIRST_FORMAT = {k: v for k, v in STORED.items() if k != "epochs_asked"} | {"epochs": 10, "hyp": {}}


def test_a_stored_record_reads_typed_and_writes_back_the_same_json() -> None:
    record = ModelRecord.from_dict(copy.deepcopy(STORED), "train_20261201_100000_v1")
    assert record.version == 1 and record.key == "train_20261201_100000_v1"
    assert record.model_path == Path("/runs/train-street/model.pt") and record.base == "/models/base.pt"
    assert (record.epochs, record.epochs_asked, record.train_samples) == (32, 10, ["a", "b", "c"])
    assert record.metrics == Comparison(
        Metrics(0.5, 0.25, {"person": {"map50": 0.5, "map": 0.25}}),
        Metrics(0.7, 0.375, {"person": {"map50": 0.7, "map": 0.375}}),
        val_images=1,
    )
    assert record.metrics.improved
    assert record.as_dict() == STORED
    summary = record.as_dict(samples=False)  # the run folder's record.json
    assert "train_samples" not in summary and summary["key"] == record.key and summary["metrics"] == STORED["metrics"]


def test_a_record_counts_human_and_propagated_training_boxes() -> None:
    stored = STORED | {"human_frames": 2, "human_boxes": 7, "propagated_frames": 1, "propagated_boxes": 3}
    record = ModelRecord.from_dict(copy.deepcopy(stored))
    assert (record.human_frames, record.human_boxes, record.propagated_frames, record.propagated_boxes) == (2, 7, 1, 3)
    assert record.as_dict() == stored
    older = ModelRecord.from_dict(copy.deepcopy(STORED))  # recorded before `vidal propagate`: counts unknown
    assert older.human_boxes is None and older.propagated_boxes is None


def test_a_record_of_the_first_format_asked_for_the_epochs_it_trained() -> None:
    record = ModelRecord.from_dict(FIRST_FORMAT)
    assert record.epochs == record.epochs_asked == 10 and record.hyp == {}


@pytest.mark.fiftyone
def test_records_stored_on_a_dataset_read_typed_and_show_in_status(
    fo, dataset_name: str, tmp_path: Path, scene_video: Path
) -> None:
    push_run(mine_run(scene_video, tmp_path / "runs"), dataset_name)
    dataset = fo.load_dataset(dataset_name)
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights")
    second = dict(STORED, version=2, model_path=str(model), base=STORED["model_path"], parent="train_v1",
                  created="2026-12-02T10:00:00Z")
    # Stored the way `vidal train` records a model, newest first to check the order.
    dataset.register_run("train_v2", dataset.init_run(**second))
    dataset.register_run("train_v1", dataset.init_run(**FIRST_FORMAT))

    found = models(dataset)
    assert [(m.key, m.version) for m in found] == [("train_v1", 1), ("train_v2", 2)]
    assert all(isinstance(m, ModelRecord) for m in found)
    assert found[1].parent == found[0].key and found[1].metrics.new.map50 == 0.7
    assert latest_model(dataset_name) == found[1]
    assert latest_model_path(dataset_name) == str(model)

    result = runner.invoke(app, ["status", "--dataset", dataset_name], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "models trained on this dataset" in result.output
    rows = [line for line in result.output.splitlines() if "0.500 -> 0.700" in line]
    assert len(rows) == 2 and "v1" in rows[1] and "0.250 -> 0.375" in rows[1]  # v2's base is v1
