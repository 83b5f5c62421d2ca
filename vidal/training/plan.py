"""Planning a training: everything checked and the reviewed samples split before anything is written.

A training refused for its data, its base or its device creates no folder and records
nothing; :func:`plan_training` does every such check and settles the epochs, batch and
learning rate the run will use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidal.dataset.load import PropagatedSamples
from vidal.errors import DatasetError, ModelError
from vidal.outputs import ensure_writable
from vidal.training.split import DEFAULT_BLOCK_S, DEFAULT_GAP_S, split_by_time

# The fewest optimizer steps a fine-tune takes (see :func:`spread_steps`): fewer leave the
# model to the luck of the training seed (measurements: BENCHMARKS.md, "Fine-tuning settings").
MIN_STEPS = 32


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
            :func:`spread_steps`.
        hyp: Extra Ultralytics training arguments (with the spread learning rate, if spread).
        epochs_asked: The epochs asked for.
        propagated_ids: Of ``train_ids``, the propagated samples (trained on their ``pseudo_labels``).
        human_boxes: Boxes of the reviewed training samples' ``ground_truth``.
        propagated_boxes: Boxes of the propagated training samples' ``pseudo_labels``.
        adapt_bn: Update the base's BatchNorm statistics from the training batches (default:
            keep them, :data:`~vidal.training.ultralytics.FROZEN_BN`).
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
    propagated_ids: list[str] = field(default_factory=list)
    human_boxes: int = 0
    propagated_boxes: int = 0
    adapt_bn: bool = False


def balanced_batch(images: int, batch: int) -> int:
    """The batch size that splits ``images`` into as few batches as ``batch`` allows, evenly.

    Ultralytics keeps the last, short batch of an epoch; a batch of one or two images makes
    the BatchNorm statistics of that step noise, and on a few dozen frames (18 frames, batch
    16: a batch of 2 every epoch) that alone took a fine-tuned model's mAP50 from 0.66 to 0.26.
    """
    if images <= 0:
        return batch
    batches = -(-images // batch)
    return -(-images // batches)


def spread_steps(images: int, batch: int, epochs: int, lr0: float, min_steps: int = MIN_STEPS) -> tuple[int, float]:
    """Epochs and learning rate that make at least ``min_steps`` optimizer steps.

    A fine-tune on few images makes one step per epoch; if ``epochs`` make fewer than
    ``min_steps`` steps, it gets as many more epochs as it needs and a learning rate cut in
    the same ratio, so each image is worth the same learning (``lr0 * epochs``) in smaller,
    steadier steps. Enough steps already: ``(epochs, lr0)`` unchanged.

    Args:
        images: Training images.
        batch: Batch size (one step per batch, the last one short).
        epochs: Epochs asked for.
        lr0: Learning rate asked for.
        min_steps: The fewest steps (0: no change).

    Returns:
        ``(epochs, lr0)`` to train with.
    """
    per_epoch = -(-images // batch) if images > 0 and batch > 0 else 0
    if per_epoch == 0 or epochs * per_epoch >= min_steps:
        return epochs, lr0
    longer = -(-min_steps // per_epoch)
    return longer, lr0 * epochs / longer


def propagated_training(found: PropagatedSamples, videos: list[str], frames: list[int], timestamps: np.ndarray,
                        val: np.ndarray, gap_s: float) -> np.ndarray:
    """Which propagated samples may train: none whose labels came from a validation frame, nor
    any closer than ``gap_s`` to one (a near-duplicate of a validation frame).

    Args:
        found: The propagated samples.
        videos, frames, timestamps: Each reviewed sample's video, frame number and time.
        val: Indices of the reviewed samples that validate.
        gap_s: Seconds.

    Returns:
        Indices into ``found``.
    """
    val_frames: dict[str, set[int]] = {}
    val_times: dict[str, list[float]] = {}
    for i in val.tolist():
        val_frames.setdefault(videos[i], set()).add(int(frames[i]))
        val_times.setdefault(videos[i], []).append(float(timestamps[i]))
    keep = []
    for k, (video, time_s, keys) in enumerate(zip(found.videos, found.timestamps, found.keyframes)):
        if keys & val_frames.get(video, set()):
            continue
        near = val_times.get(video, [])
        if near and min(abs(time_s - t) for t in near) < gap_s:
            continue
        keep.append(k)
    return np.array(keep, np.int64)


def default_base(name: str) -> str:
    """The base of a new training: the dataset's latest model, else the model of its latest mining run.

    Raises:
        DatasetError: Neither exists as a trainable file.
    """
    from vidal.dataset.lineage import latest_model
    from vidal.dataset.report import dataset_status

    latest = latest_model(name)
    if latest is not None and latest.model_path.is_file():
        return str(latest.model_path)
    for run in reversed(dataset_status(name).runs):
        path = run.record.model_path
        if path and Path(path).suffix == ".pt" and Path(path).is_file():
            return str(path)
    raise DatasetError(f"no trainable base model recorded on dataset {name!r}: pass --base MODEL.pt")


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
    propagated: bool = True,
    adapt_bn: bool = False,
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
            epochs at a learning rate cut in the same ratio (:func:`spread_steps`); ``None``
            for :data:`MIN_STEPS`, 0 to train exactly ``epochs``.
        propagated: Also train on the ``pseudo_labels`` of propagated samples (``vidal
            propagate``) that no human touched, except those near or labelled from a validation
            frame (:func:`propagated_training`); validation is on reviewed samples only.
        adapt_bn: Update the base's BatchNorm statistics while fine-tuning (default: keep them).

    Raises:
        ConfigError: ``device`` is unknown, absent from this machine or cannot train.
        DatasetError: No reviewed samples, too few to split, or no base model.
        ModelError: The base cannot be trained or lacks the labels' classes.
        OutputError: ``out_root`` is not writable.
    """
    from vidal.dataset.load import propagated_samples, reviewed_samples
    from vidal.detectors.device import check_device
    from vidal.training.ultralytics import FINE_TUNE, base_imgsz, check_trainable, fine_tunes, model_names

    check_device(device, training=True)
    out_root = Path(out_root)
    view, ids, videos, timestamps, labels = reviewed_samples(name)
    found = propagated_samples(view._dataset) if propagated else None
    if found is not None:
        labels = labels | found.labels
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
    train_ids = [ids[i] for i in split.train]
    propagated_ids: list[str] = []
    propagated_boxes = 0
    if found is not None and found.ids:
        frames = view.values("frame_number")
        chosen = propagated_training(found, videos, frames, np.asarray(timestamps, np.float64), split.val, gap_s)
        propagated_ids = [found.ids[k] for k in chosen.tolist()]
        propagated_boxes = sum(found.boxes[k] for k in chosen.tolist())
        view = _with_pseudo_labels(view._dataset.select(ids + propagated_ids))
    human_boxes = int(view.select(train_ids).count("ground_truth.detections")) if train_ids else 0
    ensure_writable(out_root)  # last: a training refused for its data or base creates no folder
    hyp = dict(hyp or {})
    asked = epochs
    if fine_tunes(base):  # an architecture trains from scratch with Ultralytics' defaults
        train = len(train_ids) + len(propagated_ids)
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
        train_ids=train_ids + propagated_ids,
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
        propagated_ids=propagated_ids,
        human_boxes=human_boxes,
        propagated_boxes=propagated_boxes,
        adapt_bn=adapt_bn,
    )


def _with_pseudo_labels(view: Any) -> Any:
    """``view`` whose propagated samples show their ``pseudo_labels`` as ``ground_truth`` (in
    the view only, for the export): reviewed samples keep the human's."""
    from fiftyone import ViewField as F

    from vidal.dataset.schema import PSEUDO_LABELS, TAG_REVIEWED

    return view.set_field("ground_truth", F("tags").contains(TAG_REVIEWED).if_else(F("ground_truth"), F(PSEUDO_LABELS)))
