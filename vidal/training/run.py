"""Running a planned training, and :func:`train`, ``vidal train`` as one library call.

1. the dataset's reviewed samples are split into train and validation by stretches of time
   (:mod:`vidal.training.split`, in :func:`~vidal.training.plan.plan_training`); propagated
   samples join the training side, away from the validation frames;
2. their ``ground_truth`` (a propagated sample's ``pseudo_labels``) is exported in YOLO layout
   through FiftyOne's exporter;
3. the base model is fine-tuned with Ultralytics (:mod:`vidal.training.ultralytics`);
4. base and new model are scored on the validation split with Ultralytics' validator;
5. the run folder is renamed into place, and only then is the model recorded on the
   dataset (:mod:`vidal.dataset.lineage`): an interrupted training leaves the previous model
   the latest one.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidal.dataset.lineage import Comparison, ModelRecord
from vidal.outputs import RunFolder, write_json
from vidal.training.plan import TrainingPlan, balanced_batch, plan_training
from vidal.training.split import DEFAULT_BLOCK_S, DEFAULT_GAP_S

logger = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
METRICS_FILE = "metrics.json"
RECORD_FILE = "record.json"
SPLIT_FILE = "split.json"


@dataclass(frozen=True)
class TrainResult:
    """The outcome of a training.

    Attributes:
        run_dir: The run folder (model, metrics, exported data, Ultralytics' logs).
        model_path: The new model's weights.
        record: What was recorded on the dataset (version, base, samples, metrics).
    """

    run_dir: Path
    model_path: Path
    record: ModelRecord


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
        plan: From :func:`~vidal.training.plan.plan_training`.
        on_stage: Called with the name of each stage (``export``, ``train``, ``evaluate``) as
            it starts.
        on_epoch: Called with ``(epoch, epochs)`` after each epoch.

    Raises:
        ModelError: Training failed.
        OutputError: The run folder cannot be written.
    """
    from vidal.dataset.export import export_yolo
    from vidal.dataset.lineage import latest_model, record_model
    from vidal.training.ultralytics import LOG_FILE, fine_tune, validate

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
                            frozen_bn=not plan.adapt_bn, **settings)
        seconds = time.perf_counter() - started
        shutil.copyfile(weights, run.path(MODEL_FILE))
        shutil.rmtree(weights.parent)  # model.pt is last.pt; Ultralytics' best.pt is not kept
        stage("evaluate")
        log = run.path(LOG_FILE)
        metrics = Comparison(
            base=validate(plan.base, data, log=log, **settings),
            new=validate(str(run.path(MODEL_FILE)), data, log=log, **settings),
            val_images=len(plan.val_ids),
        )
        write_json(run.path(METRICS_FILE), metrics.as_dict())
        write_json(run.path(SPLIT_FILE), {"train": plan.train_ids, "val": plan.val_ids, "dropped": plan.dropped_ids})
        final = run.commit()
    except BaseException:
        run.discard()
        raise
    parent = latest_model(plan.dataset)
    base_path = Path(plan.base).resolve() if Path(plan.base).exists() else Path(plan.base)
    record = record_model(
        plan.dataset,
        ModelRecord(
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            model_path=(final / MODEL_FILE).resolve(),
            run_dir=final.resolve(),
            base=str(base_path),
            parent=parent.key if parent and parent.model_path == base_path else None,
            epochs=plan.epochs,
            epochs_asked=plan.epochs_asked,
            imgsz=plan.imgsz,
            batch=plan.batch,
            device=plan.device,
            val_frac=plan.val_frac,
            hyp=plan.hyp,
            train_seconds=round(seconds, 1),
            train_samples=plan.train_ids,
            val_samples=plan.val_ids,
            metrics=metrics,
            human_frames=len(plan.train_ids) - len(plan.propagated_ids),
            human_boxes=plan.human_boxes,
            propagated_frames=len(plan.propagated_ids),
            propagated_boxes=plan.propagated_boxes,
        ),
    )
    write_json(final / RECORD_FILE, record.as_dict(samples=False))
    return TrainResult(final, final / MODEL_FILE, record)


def train(
    dataset: str,
    *,
    base: str | None = None,
    epochs: int = 10,
    imgsz: int | None = None,
    val_frac: float = 0.2,
    batch: int = 16,
    device: str | None = None,
    out_root: str | Path = "vidal-runs",
    min_steps: int | None = None,
    hyp: dict[str, Any] | None = None,
    block_s: float = DEFAULT_BLOCK_S,
    gap_s: float = DEFAULT_GAP_S,
    propagated: bool = True,
    adapt_bn: bool = False,
    on_plan: Callable[[TrainingPlan], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    on_epoch: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Fine-tune a detector on the reviewed samples of a dataset, score it against its base, record it.

    What ``vidal train`` does. The reviewed samples are split into training and validation
    frames by stretches of time; the base is fine-tuned on the first with vidal's settings
    (:data:`~vidal.training.ultralytics.FINE_TUNE`; a small review trains more epochs at a
    lower learning rate, see ``min_steps``); both models are scored on the second with
    Ultralytics' validator. The run folder ``<out_root>/train-<dataset>[-N]`` holds
    ``model.pt`` (the last epoch's weights), ``metrics.json``, ``record.json``, ``split.json``,
    the exported data and Ultralytics' log; the model is recorded on the dataset as its next
    version (see :func:`vidal.dataset.lineage.models`), and ``vidal mine --model latest`` mines
    with it. Everything is checked before anything is written: a refused training creates
    no folder, and an interrupted one records nothing.

    Example::

        result = vidal.train("vidal", epochs=20, device="cpu")
        print(result.record.version, result.record.metrics.new.map50, result.model_path)

    Args:
        dataset: The FiftyOne dataset, with samples tagged ``reviewed``.
        base: A ``.pt`` to fine-tune (or a ``.yaml`` architecture to train from scratch);
            ``None`` for the dataset's latest model, else the model of its latest mining run.
        epochs: Training epochs asked for.
        imgsz: Training and validation image size; ``None`` for the base's own.
        val_frac: Share of time blocks held out for validation, in (0, 1).
        batch: Batch size (evened out so that no batch is much shorter than the others).
        device: ``cpu``, ``0``, ``cuda:0``...; ``None`` for the first GPU if any, else the CPU.
        out_root: Folder for run folders (a relative one is taken from the working folder).
        min_steps: Fine-tuning a ``.pt`` makes at least this many optimizer steps, in more
            epochs at a learning rate cut in the same ratio; ``None`` for
            :data:`~vidal.training.plan.MIN_STEPS`, 0 to train exactly ``epochs``.
        hyp: Extra Ultralytics training arguments (``lr0``, ``seed``, ``freeze``...) over
            vidal's fine-tuning settings.
        block_s: Length of the time blocks of the split, seconds.
        gap_s: Training frames this close to a validation frame are left out.
        propagated: Also train on the ``pseudo_labels`` of samples ``vidal propagate`` labelled
            (not reviewed, not edited by hand), except those labelled from a validation frame
            or within ``gap_s`` of one; validation stays on reviewed samples only.
        adapt_bn: Update the base's BatchNorm statistics while fine-tuning (default: keep them,
            :data:`~vidal.training.ultralytics.FROZEN_BN`).
        on_plan: Called with the checked :class:`~vidal.training.plan.TrainingPlan` (frames,
            epochs, base) before the run folder is created; an exception it raises stops the
            training with nothing written or recorded.
        on_stage: Called with the name of each stage (``export``, ``train``, ``evaluate``).
        on_epoch: Called with ``(epoch, epochs)`` after each training epoch.

    Returns:
        The run folder, the model's file and its :class:`~vidal.dataset.lineage.ModelRecord`.

    Raises:
        ConfigError: ``device`` is unknown, absent from this machine or cannot train.
        DatasetError: No such dataset, no reviewed samples, too few to split, or no base model.
        ModelError: The base cannot be trained or lacks the labels' classes, or training failed.
        OutputError: ``out_root`` or the run folder cannot be written.
    """
    plan = plan_training(dataset, base=base, epochs=epochs, imgsz=imgsz, val_frac=val_frac, batch=batch,
                         device=device, out_root=out_root, block_s=block_s, gap_s=gap_s, hyp=hyp,
                         min_steps=min_steps, propagated=propagated, adapt_bn=adapt_bn)
    if on_plan is not None:
        on_plan(plan)
    return run_training(plan, on_stage=on_stage, on_epoch=on_epoch)
