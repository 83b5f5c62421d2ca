"""The models trained on a dataset's reviewed samples: YOLO export of the splits, and lineage.

Every trained model is recorded on the dataset as a run of kind ``vidal_train``: its file,
its base (and the base's record, if it was trained here too), the reviewed samples that
trained and validated it, and both models' scores on the validation split.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from vidal.dataset.connection import connect, dataset_lock
from vidal.dataset.report import load_vidal_dataset
from vidal.dataset.schema import TAG_REVIEWED
from vidal.errors import DatasetError

TRAIN_KIND = "vidal_train"


def reviewed_samples(name: str) -> tuple[Any, list[str], list[str], list[float], set[str]]:
    """The reviewed samples of a dataset: the view, ids, videos, timestamps and labels used.

    Raises:
        DatasetError: No such dataset, or no reviewed sample.
    """
    dataset = load_vidal_dataset(name)
    view = dataset.match_tags(TAG_REVIEWED).sort_by("frame_number").sort_by("video_hash")
    if len(view) == 0:
        raise DatasetError(
            f"dataset {name!r} has no reviewed samples to train on: correct samples in `vidal review` and tag them "
            "'reviewed' (or `vidal label --from-mot`)"
        )
    labels = set(view.distinct("ground_truth.detections.label"))
    return view, view.values("id"), view.values("video_hash"), view.values("timestamp"), labels


def _not_merge_notice(record: logging.LogRecord) -> bool:
    return "export will be merged" not in str(record.msg)


def export_yolo(view: Any, train_ids: list[str], val_ids: list[str], out: Path, names: list[str]) -> Path:
    """Export the ``ground_truth`` of the train and val samples in YOLO layout; returns ``dataset.yaml``.

    Both splits go into one folder (FiftyOne's YOLOv5 exporter merges them, as designed);
    ``names`` fixes the class ids to the model's.
    """
    import fiftyone as fo

    notices = logging.getLogger("fiftyone.core.collections")
    notices.addFilter(_not_merge_notice)
    try:
        for split, ids in (("train", train_ids), ("val", val_ids)):
            view.select(ids).export(
                export_dir=str(out),
                dataset_type=fo.types.YOLOv5Dataset,
                label_field="ground_truth",
                classes=names,
                split=split,
                progress=False,
            )
    finally:
        notices.removeFilter(_not_merge_notice)
    # FiftyOne writes the export's absolute path; without it Ultralytics resolves the splits
    # from the file's own folder, so the data stays usable when its run folder is renamed.
    yaml = out / "dataset.yaml"
    lines = yaml.read_text().splitlines()
    yaml.write_text("\n".join(line for line in lines if not line.startswith("path:")) + "\n")
    return yaml


def models(dataset: Any) -> list[dict[str, Any]]:
    """The dataset's trained models, oldest first, each with its run key as ``key``."""
    records = []
    for key in dataset.list_runs():
        config = dataset.get_run_info(key).config.serialize()
        if config.get("kind") == TRAIN_KIND:
            records.append(dict(config, key=key))
    return sorted(records, key=lambda r: (r.get("version", 0), str(r.get("created"))))


def record_model(name: str, record: dict[str, Any]) -> dict[str, Any]:
    """Record a trained model on the dataset; numbers it one past the newest."""
    fo = connect()
    with dataset_lock(fo, name):
        dataset = fo.load_dataset(name)
        previous = models(dataset)
        version = (previous[-1]["version"] + 1) if previous else 1
        key = f"train_{time.strftime('%Y%m%d_%H%M%S', time.gmtime())}_v{version}"
        record = dict(record, kind=TRAIN_KIND, version=version)
        dataset.register_run(key, dataset.init_run(**record))
    return dict(record, key=key)


def latest_model(name: str) -> dict[str, Any] | None:
    """The newest model trained on the dataset, or ``None``."""
    found = models(load_vidal_dataset(name))
    return found[-1] if found else None


def latest_model_path(name: str) -> str:
    """The file of the newest model trained on the dataset, for ``vidal mine --model latest``.

    Raises:
        DatasetError: No model was trained on the dataset, or its file is gone.
    """
    record = latest_model(name)
    if record is None:
        raise DatasetError(f"no model trained on dataset {name!r} yet: run `vidal train --dataset {name}` first")
    path = Path(record["model_path"])
    if not path.is_file():
        raise DatasetError(f"the latest model of dataset {name!r} ({record['key']}) is missing: {path}")
    return str(path)
