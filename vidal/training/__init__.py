"""``vidal train`` as a library call: reviewed samples in, a better detector out (or not).

1. the dataset's reviewed samples are split into train and validation by stretches of time
   (:mod:`vidal.training.split`);
2. their ``ground_truth`` is exported in YOLO layout through FiftyOne's exporter;
3. the base model is fine-tuned with Ultralytics;
4. base and new model are scored on the validation split with Ultralytics' validator;
5. the run folder is renamed into place, and only then is the model recorded on the
   dataset: an interrupted training leaves the previous model the latest one.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidal.errors import DatasetError, ModelError
from vidal.outputs import RunFolder, ensure_writable, write_json
from vidal.training.split import DEFAULT_BLOCK_S, DEFAULT_GAP_S, split_by_time

logger = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
METRICS_FILE = "metrics.json"


@dataclass
class TrainResult:
    """The outcome of ``vidal train``.

    Attributes:
        run_dir: The run folder (model, metrics, exported data, Ultralytics' logs).
        model_path: The new model's weights.
        record: What was recorded on the dataset (version, base, samples, metrics).
    """

    run_dir: Path
    model_path: Path
    record: dict[str, Any]

    @property
    def base_metrics(self) -> dict[str, Any]:
        return self.record["metrics"]["base"]

    @property
    def new_metrics(self) -> dict[str, Any]:
        return self.record["metrics"]["new"]


def default_base(name: str) -> str:
    """The base of a new training: the dataset's latest model, else the model of its latest mining run.

    Raises:
        DatasetError: Neither exists as a trainable file.
    """
    from vidal.dataset.models import latest_model
    from vidal.dataset.report import dataset_status

    latest = latest_model(name)
    if latest is not None and Path(latest["model_path"]).is_file():
        return str(latest["model_path"])
    for run in reversed(dataset_status(name).runs):
        path = run.record.get("model_path")
        if path and Path(path).suffix == ".pt" and Path(path).is_file():
            return str(path)
    raise DatasetError(f"no trainable base model recorded on dataset {name!r}: pass --base MODEL.pt")


@dataclass
class TrainingPlan:
    """A checked training, ready to run: what trains, what validates, from which base.

    Attributes:
        dataset: The dataset's name.
        view: Its reviewed samples (a FiftyOne view).
        base: The model to fine-tune.
        names: Class ids and names of the base (the label order of the export).
        train_ids: Sample ids that train.
        val_ids: Sample ids that validate.
        dropped_ids: Reviewed samples left out (too close in time to a validation frame).
        out_root: Folder for the run folder.
        epochs, imgsz, batch, device, val_frac: Training settings; ``epochs`` as trained, after
            :func:`~vidal.detectors.training.spread_steps`.
        hyp: Extra Ultralytics training arguments (with the spread learning rate, if spread).
        epochs_asked: The epochs asked for.
    """

    dataset: str
    view: Any
    base: str
    names: dict[int, str]
    train_ids: list[str]
    val_ids: list[str]
    dropped_ids: list[str]
    out_root: Path
    epochs: int
    imgsz: int
    batch: int
    device: str | None
    val_frac: float
    hyp: dict[str, Any] = field(default_factory=dict)
    epochs_asked: int = 0


def plan_training(
    name: str,
    *,
    base: str | None = None,
    epochs: int = 10,
    imgsz: int | None = None,
    val_frac: float = 0.2,
    batch: int = 16,
    device: str | None = None,
    out_root: str | Path = "vidal-runs",
    block_s: float = DEFAULT_BLOCK_S,
    gap_s: float = DEFAULT_GAP_S,
    hyp: dict[str, Any] | None = None,
    min_steps: int | None = None,
) -> TrainingPlan:
    """Check everything a training needs before it starts, and split the reviewed samples.

    Args:
        name: The dataset.
        base: A ``.pt`` to fine-tune (or ``.yaml`` to train from scratch); ``None`` for the
            dataset's latest model, else the model of its latest mining run.
        epochs: Training epochs.
        imgsz: Training and validation image size; ``None`` for the base's own.
        val_frac: Share of time blocks held out for validation.
        batch: Batch size.
        device: ``cpu``, ``0``, ``cuda:0``...; ``None`` for the first GPU if any, else the CPU.
        out_root: Folder for run folders.
        block_s: Length of the time blocks of the split, seconds.
        gap_s: Training frames this close to a validation frame are left out.
        hyp: Extra Ultralytics training arguments, over vidal's fine-tuning defaults.
        min_steps: Fine-tuning a ``.pt`` makes at least this many optimizer steps, in more
            epochs at a learning rate cut in the same ratio
            (:func:`~vidal.detectors.training.spread_steps`); ``None`` for
            :data:`~vidal.detectors.training.MIN_STEPS`, 0 to train exactly ``epochs``.

    Raises:
        ConfigError: ``device`` is unknown, absent from this machine or cannot train.
        DatasetError: No reviewed samples, too few to split, or no base model.
        ModelError: The base cannot be trained or lacks the labels' classes.
        OutputError: ``out_root`` is not writable.
    """
    from vidal.dataset.models import reviewed_samples
    from vidal.detectors.device import check_device
    from vidal.detectors.training import (FINE_TUNE, MIN_STEPS, balanced_batch, base_imgsz, check_trainable,
                                          fine_tunes, model_names, spread_steps)

    check_device(device, training=True)
    out_root = Path(out_root)
    view, ids, videos, timestamps, labels = reviewed_samples(name)
    base = base or default_base(name)
    check_trainable(base)
    names = model_names(base)
    if names is None:  # an architecture file: the dataset's classes
        from vidal.dataset.schema import vidal_info

        names = dict(enumerate(vidal_info(view._dataset)["labels"]))
    unknown = sorted(labels - set(names.values()))
    if unknown:
        raise ModelError(
            f"the reviewed labels include {', '.join(unknown)}, which base {Path(base).name} does not have "
            f"(its classes: {', '.join(list(names.values())[:8])}{', ...' if len(names) > 8 else ''})"
        )
    split = split_by_time(videos, np.asarray(timestamps, np.float64), val_frac, block_s=block_s, gap_s=gap_s)
    if len(split.train) == 0 or len(split.val) == 0:
        raise DatasetError(
            f"{len(ids)} reviewed samples cannot be split into train and validation by time "
            f"(blocks of {block_s:g} s, {gap_s:g} s apart): review frames from more stretches of video"
        )
    ensure_writable(out_root)  # last: a training refused for its data or base creates no folder
    hyp = dict(hyp or {})
    asked = epochs
    if fine_tunes(base):  # an architecture trains from scratch with Ultralytics' defaults
        train = len(split.train)
        lr0 = float(hyp.get("lr0", FINE_TUNE["lr0"]))
        epochs, spread = spread_steps(train, balanced_batch(train, batch), epochs, lr0,
                                      MIN_STEPS if min_steps is None else min_steps)
        if epochs != asked:
            hyp["lr0"] = round(spread, 8)
    return TrainingPlan(
        dataset=name,
        view=view,
        base=base,
        names=names,
        train_ids=[ids[i] for i in split.train],
        val_ids=[ids[i] for i in split.val],
        dropped_ids=[ids[i] for i in split.dropped],
        out_root=out_root,
        epochs=epochs,
        imgsz=imgsz or base_imgsz(base),
        batch=batch,
        device=device,
        val_frac=val_frac,
        hyp=hyp,
        epochs_asked=asked,
    )


def run_training(
    plan: TrainingPlan,
    *,
    on_stage: Callable[[str], None] | None = None,
    on_epoch: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Export, fine-tune, score base and new model, and record the new one on the dataset.

    The run folder is renamed into place only when everything succeeded, and the model is
    recorded after that: an interrupted or failed training leaves the previous model current.

    Args:
        plan: From :func:`plan_training`.
        on_stage: Called with the name of each stage as it starts.
        on_epoch: Called with ``(epoch, epochs)`` after each epoch.

    Raises:
        ModelError: Training failed.
        OutputError: The run folder cannot be written.
    """
    from vidal.dataset.models import export_yolo, latest_model, record_model
    from vidal.detectors.training import LOG_FILE, balanced_batch, fine_tune, validate

    stage = on_stage or (lambda _: None)
    settings = {"imgsz": plan.imgsz, "batch": balanced_batch(len(plan.train_ids), plan.batch), "device": plan.device}
    run = RunFolder(plan.out_root, f"train-{plan.dataset}")
    try:
        stage("export")
        labels = [plan.names[k] for k in sorted(plan.names)]
        data = export_yolo(plan.view, plan.train_ids, plan.val_ids, run.path("data"), labels)
        stage("train")
        started = time.perf_counter()
        weights = fine_tune(plan.base, data, run.staging, epochs=plan.epochs, on_epoch=on_epoch, hyp=plan.hyp,
                            **settings)
        seconds = time.perf_counter() - started
        shutil.copyfile(weights, run.path(MODEL_FILE))
        shutil.rmtree(weights.parent)  # model.pt is last.pt; Ultralytics' best.pt is not kept
        stage("evaluate")
        log = run.path(LOG_FILE)
        base_metrics = validate(plan.base, data, log=log, **settings)
        new_metrics = validate(str(run.path(MODEL_FILE)), data, log=log, **settings)
        metrics = {"base": base_metrics.as_dict(), "new": new_metrics.as_dict(), "validator": "ultralytics",
                   "val_images": len(plan.val_ids), "improved": new_metrics.map50 > base_metrics.map50}
        write_json(run.path(METRICS_FILE), metrics)
        write_json(run.path("split.json"), {"train": plan.train_ids, "val": plan.val_ids, "dropped": plan.dropped_ids})
        final = run.commit()
    except BaseException:
        run.discard()
        raise
    parent = latest_model(plan.dataset)
    base_path = Path(plan.base).resolve() if Path(plan.base).exists() else Path(plan.base)
    record = record_model(
        plan.dataset,
        {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model_path": str((final / MODEL_FILE).resolve()),
            "run_dir": str(final.resolve()),
            "base": str(base_path),
            "parent": parent["key"] if parent and Path(parent["model_path"]) == base_path else None,
            "epochs": plan.epochs,
            "epochs_asked": plan.epochs_asked,
            "imgsz": plan.imgsz,
            "batch": plan.batch,
            "device": plan.device,
            "val_frac": plan.val_frac,
            "hyp": plan.hyp,
            "train_seconds": round(seconds, 1),
            "train_samples": plan.train_ids,
            "val_samples": plan.val_ids,
            "metrics": metrics,
        },
    )
    summary = {k: v for k, v in record.items() if k not in ("train_samples", "val_samples")}
    write_json(final / "record.json", summary)
    return TrainResult(final, final / MODEL_FILE, record)


def train_from_dataset(
    name: str,
    *,
    on_stage: Callable[[str], None] | None = None,
    on_epoch: Callable[[int, int], None] | None = None,
    **options: Any,
) -> TrainResult:
    """Fine-tune a detector on the reviewed samples of a dataset and record it.

    ``options`` are those of :func:`plan_training`; see :func:`run_training`.
    """
    return run_training(plan_training(name, **options), on_stage=on_stage, on_epoch=on_epoch)
