"""Model lineage: the typed records of the models trained on a dataset, and how they are stored."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from conftest import mine_run
from typer.testing import CliRunner

from vidal.cli import app
from vidal.dataset import push_run
from vidal.dataset.lineage import (
    Comparison,
    Metrics,
    ModelRecord,
    latest_model,
    latest_model_path,
    models,
)
from vidal.errors import ConfigError, DatasetError

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


@pytest.mark.fiftyone
def test_the_lineage_committee_is_the_datasets_other_models(
    fo, dataset_name: str, tmp_path: Path, scene_video: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`scoring.committee_models: [lineage]`: the bases that are files and the trained models, oldest
    first, without the mining model itself; a trained model whose file is gone is left out, said."""
    from vidal.api import resolve_committee
    from vidal.config import load_config

    push_run(mine_run(scene_video, tmp_path / "runs"), dataset_name)
    dataset = fo.load_dataset(dataset_name)
    base, first, second = tmp_path / "base.pt", tmp_path / "v1.pt", tmp_path / "v2.pt"
    for path in (base, first, second):
        path.write_bytes(b"weights")
    records = [dict(STORED, version=1, base=str(base), model_path=str(first)),
               dict(STORED, version=2, base=str(first), model_path=str(second)),
               dict(STORED, version=3, base="yolo11n.yaml", model_path=str(tmp_path / "gone.pt"))]
    for k, record in enumerate(records, 1):
        dataset.register_run(f"train_v{k}", dataset.init_run(**record))
    committee = ["scoring.signals.committee.enabled=true", "scoring.committee_models=[lineage, extra.pt]"]
    config = load_config(overrides=[f"dataset.name={dataset_name}", f"detector.model={second}", *committee])
    resolve_committee(config)
    assert config.scoring.committee_models == [str(base), str(first), "extra.pt"]
    assert "gone.pt" in caplog.text and "left out of the committee" in caplog.text
    # `latest` is the newest model: v3, whose file is gone
    config = load_config(overrides=[f"dataset.name={dataset_name}", f"detector.model={base}",
                                    "scoring.signals.committee.enabled=true", "scoring.committee_models=[latest]"])
    with pytest.raises(DatasetError, match="is missing"):  # v3's file is gone
        resolve_committee(config)


@pytest.mark.fiftyone
def test_a_lineage_committee_before_any_training(fo, dataset_name: str, caplog: pytest.LogCaptureFixture) -> None:
    """No model trained yet (no dataset even): with the flip view the committee is the view; with
    no view the signal is off for the run, said in one warning."""
    from vidal.api import resolve_committee
    from vidal.config import load_config

    on = [f"dataset.name={dataset_name}", "scoring.signals.committee.enabled=true", "scoring.committee_models=[lineage]"]
    config = load_config(overrides=on)
    resolve_committee(config)
    assert config.scoring.committee_models == [] and config.scoring.signals["committee"].enabled
    config = load_config(overrides=[*on, "scoring.committee_views=[]"])
    resolve_committee(config)
    assert not config.scoring.signals["committee"].enabled and "the committee has no member" in caplog.text
    with pytest.raises(ConfigError, match="needs members"):
        load_config(overrides=["scoring.signals.committee.enabled=true", "scoring.committee_views=[]"])
