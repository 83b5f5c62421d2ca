"""Model lineage: the models trained on a dataset, as typed records of its runs.

Every trained model is recorded on the dataset as a run of kind ``vidal_train``: its file,
its base (and the base's record, if it was trained here too), the reviewed samples that
trained and validated it, and both models' scores on the validation split. This module
owns that record's format (:class:`ModelRecord`); the stored JSON is the one ``vidal
train`` has always written, so records of older versions read too.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidal.dataset.connection import connect, dataset_lock
from vidal.dataset.load import load_vidal_dataset
from vidal.errors import DatasetError

logger = logging.getLogger(__name__)

TRAIN_KIND = "vidal_train"
# What trained a model: reviewed frames and their boxes, propagated frames and their boxes.
COUNTS = ("human_frames", "human_boxes", "propagated_frames", "propagated_boxes")


@dataclass(frozen=True)
class Metrics:
    """Validation figures of a detector.

    Attributes:
        map50: mAP at IoU 0.5 over the classes present.
        map: mAP at IoU 0.5:0.95.
        per_class: ``{class name: {"map50": ..., "map": ...}}`` for the classes present.
    """

    map50: float
    map: float
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The stored form: ``{"map50", "map", "per_class"}``."""
        return {"map50": self.map50, "map": self.map, "per_class": self.per_class}

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Metrics:
        """Read :meth:`as_dict`'s form."""
        per_class = {
            str(name): {key: float(value) for key, value in scores.items()}
            for name, scores in stored.get("per_class", {}).items()
        }
        return cls(float(stored["map50"]), float(stored["map"]), per_class)


@dataclass(frozen=True)
class Comparison:
    """A new model and its base, scored on the same validation split.

    Attributes:
        base: The base's figures.
        new: The new model's figures.
        val_images: Images of the validation split.
        validator: Whose validator scored them.
    """

    base: Metrics
    new: Metrics
    val_images: int
    validator: str = "ultralytics"

    @property
    def improved(self) -> bool:
        """Whether the new model's mAP50 is higher than its base's."""
        return self.new.map50 > self.base.map50

    def as_dict(self) -> dict[str, Any]:
        """The stored form (also the run folder's ``metrics.json``)."""
        return {"base": self.base.as_dict(), "new": self.new.as_dict(), "validator": self.validator,
                "val_images": self.val_images, "improved": self.improved}

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Comparison:
        """Read :meth:`as_dict`'s form (``improved`` is derived, not read)."""
        return cls(Metrics.from_dict(stored["base"]), Metrics.from_dict(stored["new"]), int(stored["val_images"]),
                   str(stored.get("validator", "ultralytics")))


@dataclass(frozen=True)
class ModelRecord:
    """A model trained on a dataset, as recorded there.

    Attributes:
        created: UTC time of recording, ISO 8601.
        model_path: The model's weights.
        run_dir: Its training run folder.
        base: The model it was fine-tuned from (a path, or an architecture file).
        parent: Run key of the base's record, if the base was trained on this dataset too.
        epochs: Epochs trained.
        epochs_asked: Epochs asked for (fewer than ``epochs`` when a small review was spread
            over more optimizer steps).
        imgsz: Training and validation image size.
        batch: Batch size asked for.
        device: Device asked for (``None``: automatic).
        val_frac: Share of time blocks held out for validation.
        hyp: Extra Ultralytics training arguments.
        train_seconds: Training time.
        train_samples: Sample ids that trained it.
        val_samples: Sample ids that validated it.
        metrics: Base and new model on the validation split.
        version: 1 for the dataset's first model, one more for each next (0 until recorded).
        key: The dataset's run key of the record (empty until recorded).
        human_frames, human_boxes: Reviewed frames that trained it, and their ``ground_truth``
            boxes (``None`` in records of a vidal before ``vidal propagate``).
        propagated_frames, propagated_boxes: Propagated frames that trained it, and their
            ``pseudo_labels`` boxes (``None`` likewise).
    """

    created: str
    model_path: Path
    run_dir: Path
    base: str
    parent: str | None
    epochs: int
    epochs_asked: int
    imgsz: int
    batch: int
    device: str | None
    val_frac: float
    hyp: dict[str, Any]
    train_seconds: float
    train_samples: list[str]
    val_samples: list[str]
    metrics: Comparison
    version: int = 0
    key: str = ""
    human_frames: int | None = None
    human_boxes: int | None = None
    propagated_frames: int | None = None
    propagated_boxes: int | None = None

    def as_dict(self, *, samples: bool = True) -> dict[str, Any]:
        """The stored form: the run's config on the dataset (without ``key``, the run's name), or,
        without ``samples``, the run folder's ``record.json`` (with ``key``)."""
        stored = {
            "created": self.created, "model_path": str(self.model_path), "run_dir": str(self.run_dir),
            "base": self.base, "parent": self.parent, "epochs": self.epochs, "epochs_asked": self.epochs_asked,
            "imgsz": self.imgsz, "batch": self.batch, "device": self.device, "val_frac": self.val_frac,
            "hyp": self.hyp, "train_seconds": self.train_seconds, "train_samples": self.train_samples,
            "val_samples": self.val_samples, "metrics": self.metrics.as_dict(), "kind": TRAIN_KIND,
            "version": self.version,
        }
        # Records of a vidal before `vidal propagate` have no counts, and are written back as they were.
        stored.update({name: getattr(self, name) for name in COUNTS if getattr(self, name) is not None})
        if samples:
            return stored
        summary = {k: v for k, v in stored.items() if k not in ("train_samples", "val_samples")}
        return dict(summary, key=self.key)

    @classmethod
    def from_dict(cls, stored: dict[str, Any], key: str = "") -> ModelRecord:
        """Read a stored record (FiftyOne's own run-config keys are ignored).

        Records written before ``epochs_asked`` existed asked for the epochs they trained.
        """
        epochs = int(stored["epochs"])
        return cls(
            created=str(stored.get("created")),
            model_path=Path(stored["model_path"]),
            run_dir=Path(stored["run_dir"]),
            base=str(stored["base"]),
            parent=stored.get("parent"),
            epochs=epochs,
            epochs_asked=int(stored.get("epochs_asked") or epochs),
            imgsz=int(stored["imgsz"]),
            batch=int(stored["batch"]),
            device=stored.get("device"),
            val_frac=float(stored["val_frac"]),
            hyp=dict(stored.get("hyp") or {}),
            train_seconds=float(stored.get("train_seconds") or 0.0),
            train_samples=list(stored.get("train_samples", [])),
            val_samples=list(stored.get("val_samples", [])),
            metrics=Comparison.from_dict(stored["metrics"]),
            version=int(stored.get("version", 0)),
            key=key,
            **{name: None if stored.get(name) is None else int(stored[name])
               for name in COUNTS},
        )


def models(dataset: Any) -> list[ModelRecord]:
    """The models trained on a dataset (a FiftyOne dataset), oldest first."""
    records = []
    for key in dataset.list_runs():
        config = dataset.get_run_info(key).config.serialize()
        if config.get("kind") == TRAIN_KIND:
            records.append(ModelRecord.from_dict(config, key))
    return sorted(records, key=lambda r: (r.version, r.created))


def record_model(name: str, record: ModelRecord) -> ModelRecord:
    """Record a trained model on the dataset; numbers it one past the newest.

    Returns:
        The record with its ``version`` and ``key``.
    """
    fo = connect()
    with dataset_lock(fo, name):
        dataset = fo.load_dataset(name)
        previous = models(dataset)
        version = (previous[-1].version + 1) if previous else 1
        key = f"train_{time.strftime('%Y%m%d_%H%M%S', time.gmtime())}_v{version}"
        record = dataclasses.replace(record, version=version, key=key)
        dataset.register_run(key, dataset.init_run(**record.as_dict()))
    return record


def latest_model(name: str) -> ModelRecord | None:
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
    if not record.model_path.is_file():
        raise DatasetError(f"the latest model of dataset {name!r} ({record.key}) is missing: {record.model_path}")
    return str(record.model_path)


def lineage_paths(name: str) -> list[str]:
    """The model files of the dataset's lineage, oldest first: each trained model's base (where
    it is a file, not an architecture such as ``yolo11n.yaml``; a base that is no file is left
    out) and each trained model (one whose file is gone is left out with a warning). Empty if
    the dataset does not exist yet.

    Raises:
        DatasetError: The name is invalid, the database unreachable, or the dataset not vidal's.
    """
    dataset = load_vidal_dataset(name, missing_ok=True)
    if dataset is None:
        return []
    found: list[str] = []
    for record in models(dataset):
        for path, is_base in ((Path(record.base), True), (record.model_path, False)):
            if str(path) in found:
                continue
            if path.exists() and (path.is_dir() or path.suffix != ".yaml"):
                found.append(str(path))
            elif not is_base:
                logger.warning("model %s of dataset %r (%s) is missing: left out of the committee",
                               path, name, record.key)
    return found
