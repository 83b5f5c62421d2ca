"""Fine-tuning and validating detectors with Ultralytics (the detector adapters import it).

Offline-safe: plots off (no font download), AMP off (its check downloads weights), no hub
calls; everything written under the given folder. Every path handed to Ultralytics is
absolute: it files a relative ``project`` under its own ``runs_dir/<task>/`` (``./runs``
by default), not under the working folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidal.detectors.cpu import all_cores
from vidal.errors import ModelError

logger = logging.getLogger(__name__)

TRAINABLE_SUFFIXES = (".pt", ".yaml", ".yml")
LOG_FILE = "ultralytics.log"
# Fine-tuning a pretrained detector on tens to hundreds of reviewed frames of the footage it
# will run on. Ultralytics' defaults are made for training on large datasets: their warm-up
# lasts at least 100 iterations (a whole short fine-tune) and starts the bias learning rate
# at 0.1, and the "auto" optimizer picks AdamW for short runs. On the sample clip, 2 epochs
# with the defaults took the sample model's validation mAP50-95 from 0.95 to 0.39, and
# AdamW at lr 1e-3 without warm-up took mAP50 from 0.94 to 0.67 in 10 epochs. Plain SGD at
# a small rate without warm-up stays near the pretrained optimum and improves on it; mosaic
# is off because reviewed frames already show the camera's own scale and context.
# Measured on 112 training / 12 validation frames of the sample clip, 20 epochs at imgsz
# 320 (mAP50 / mAP50-95): base 0.950 / 0.725; defaults 0.947 / 0.721; SGD 0.002 without
# warm-up 0.952 / 0.726; the same without mosaic 0.960 / 0.749.
FINE_TUNE: dict[str, Any] = {"optimizer": "SGD", "lr0": 0.002, "warmup_epochs": 0, "mosaic": 0.0}
# The fewest optimizer steps a fine-tune takes (see :func:`spread_steps`). A first review of
# a dozen frames fits one batch: ten epochs are ten SGD steps, and so few steps leave the
# model to the luck of the training seed. In the active-learning benchmark (BENCHMARKS.md),
# six frames fine-tuned for 8 steps at lr 0.002 scored 0.21 to 0.51 mAP50 by training seed
# alone (spread over seeds 0.049, mean over six frame sets); the same learning spread over
# 32 steps at lr 0.0005 scored higher and steadier (spread 0.021). On the sample clip, the
# plaza detector fine-tuned on 13 reviewed frames (10 epochs asked) scored 0.19-0.25 mAP50 on
# the clip's later frames in 10 steps, 0.32-0.36 spread over 32 (three training seeds).
MIN_STEPS = 32


def _offline() -> None:
    """Tell Ultralytics it is offline before it is imported: no analytics, no hub, no downloads."""
    os.environ.setdefault("YOLO_OFFLINE", "1")


def _local_font(font: str = "Arial.ttf") -> Path | None:
    """Ultralytics' font lookup without its download: the font if it is already here, else ``None``."""
    from ultralytics.utils import USER_CONFIG_DIR

    file = USER_CONFIG_DIR / Path(font).name
    return file if file.exists() else None


@contextlib.contextmanager
def _no_font_download() -> Iterator[None]:
    """Keep Ultralytics' dataset check from downloading a font.

    ``check_det_dataset`` calls ``check_font`` for every training and validation, plots or
    not, and that fetches Arial from GitHub whatever ``YOLO_OFFLINE`` says (Ultralytics
    8.4): an offline machine waits for the network to fail. The font only serves plots,
    which vidal turns off. No setting reaches this call, hence the patch.
    """
    import ultralytics.data.utils as data_utils

    original = data_utils.check_font
    data_utils.check_font = _local_font
    try:
        yield
    finally:
        data_utils.check_font = original


@contextlib.contextmanager
def ultralytics_output_to(log: Path) -> Iterator[None]:
    """Send Ultralytics' console output (log lines, progress bars, prints) to ``log``.

    Ultralytics' logger holds a handler on the ``sys.stdout`` of import time, and its
    progress bars write to the current ``sys.stdout``: both are pointed at the file.
    """
    from ultralytics.utils import LOGGER

    handlers = [h for h in LOGGER.handlers if isinstance(h, logging.StreamHandler)]
    level = LOGGER.level
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as stream:
        previous = [h.stream for h in handlers]
        for handler in handlers:  # not setStream: it flushes the old stream, which may be closed
            handler.stream = stream
        LOGGER.setLevel(logging.INFO)
        try:
            with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
                yield
        finally:
            LOGGER.setLevel(level)
            for handler, old in zip(handlers, previous):
                handler.stream = old


@dataclass
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
        return {"map50": self.map50, "map": self.map, "per_class": self.per_class}


def check_trainable(base: str) -> Path:
    """Check that ``base`` is a model Ultralytics can fine-tune (a ``.pt``) or build (a ``.yaml``).

    Raises:
        ModelError: It is an export (OpenVINO, ONNX, ...) or missing.
    """
    path = Path(base)
    if path.is_dir() or path.suffix.lower() not in TRAINABLE_SUFFIXES:
        raise ModelError(
            f"cannot train {base}: an export (OpenVINO, ONNX, TorchScript) is for inference only; "
            "pass --base with a .pt (or a .yaml architecture)"
        )
    if path.suffix.lower() == ".pt" and not path.is_file():
        raise ModelError(f"base model not found: {base}")
    return path


def model_names(base: str) -> dict[int, str] | None:
    """The class names of a ``.pt`` base, ``None`` for an architecture file (it takes the data's)."""
    if Path(base).suffix.lower() != ".pt":
        return None
    _offline()
    from ultralytics import YOLO

    try:
        return {int(k): str(v) for k, v in YOLO(base, task="detect").names.items()}
    except Exception as error:  # Ultralytics raises many kinds for a bad file
        raise ModelError(f"cannot load base model {base}: {str(error).splitlines()[0] if str(error) else error}") from error


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


def fine_tunes(base: str) -> bool:
    """Whether ``base`` is fine-tuned with vidal's settings (a ``.pt``), not trained from
    scratch with Ultralytics' defaults (an architecture file)."""
    return Path(base).suffix.lower() == ".pt"


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


def base_imgsz(base: str, default: int = 640) -> int:
    """The image size ``base`` was trained at (``default`` for an architecture file)."""
    if Path(base).suffix.lower() != ".pt":
        return default
    _offline()
    from ultralytics import YOLO

    args = getattr(YOLO(base, task="detect"), "ckpt", None) or {}
    imgsz = (args.get("train_args") or {}).get("imgsz", default)
    return int(imgsz[0] if isinstance(imgsz, (list, tuple)) else imgsz)


def fine_tune(
    base: str,
    data: Path,
    out: Path,
    *,
    epochs: int,
    imgsz: int,
    batch: int,
    device: str | None,
    seed: int = 0,
    on_epoch: Callable[[int, int], None] | None = None,
    hyp: dict[str, Any] | None = None,
) -> Path:
    """Fine-tune ``base`` on the YOLO dataset ``data`` and return the last epoch's weights.

    A ``.pt`` base is fine-tuned with :data:`FINE_TUNE` (``hyp`` overrides it); a ``.yaml``
    architecture trains from scratch with Ultralytics' defaults. The last epoch's weights
    are returned, not Ultralytics' ``best.pt``: that one is picked by its score on ``val``,
    and a model picked on the validation split would be scored too kindly on it.
    Ultralytics' console output goes to ``out/ultralytics.log``.

    Args:
        base: A ``.pt`` (fine-tuned) or ``.yaml`` (trained from scratch).
        data: The dataset's ``dataset.yaml`` (with ``train`` and ``val`` splits).
        out: Folder for Ultralytics' run (weights, results.csv).
        epochs: Training epochs.
        imgsz: Training image size.
        batch: Batch size.
        device: ``cpu``, ``0``, ``cuda:0``...; ``None`` for the first GPU, else the CPU.
        seed: Training seed.
        on_epoch: Called with ``(epoch, epochs)`` after each training epoch.
        hyp: Ultralytics training arguments over :data:`FINE_TUNE` (``lr0``, ``freeze``...).

    Raises:
        ModelError: Ultralytics failed.
    """
    _offline()
    from ultralytics import YOLO

    data, out = data.resolve(), out.resolve()
    arguments: dict[str, Any] = {
        "data": str(data), "epochs": epochs, "imgsz": imgsz, "batch": batch, "device": device, "workers": 0,
        "seed": seed, "deterministic": True,
        "plots": False,  # plots download a font
        "amp": False,  # the AMP check downloads weights
        "val": True, "project": str(out), "name": "ultralytics", "exist_ok": True, "verbose": False,
    }
    if fine_tunes(base):
        # One optimizer step per batch: Ultralytics accumulates gradients up to a nominal
        # batch of 64, which on 100 frames is one step and a half per epoch.
        arguments.update(FINE_TUNE, nbs=batch)
    arguments.update(hyp or {})
    model = YOLO(base, task="detect")
    if on_epoch is not None:
        model.add_callback(
            "on_fit_epoch_end", lambda trainer: on_epoch(min(trainer.epoch + 1, trainer.epochs), trainer.epochs)
        )
    try:
        with ultralytics_output_to(out / LOG_FILE), _no_font_download(), all_cores():
            model.train(**arguments)
    except (RuntimeError, ValueError, OSError, KeyError, AssertionError) as error:
        raise ModelError(f"training failed: {str(error).splitlines()[0] if str(error) else type(error).__name__}") from error
    last = out / "ultralytics" / "weights" / "last.pt"
    if not last.is_file():
        raise ModelError(f"training wrote no weights in {last.parent}")
    return last


def validate(model: str, data: Path, *, imgsz: int, batch: int, device: str | None, log: Path) -> Metrics:
    """mAP@0.5 and mAP@0.5:0.95 of ``model`` on the ``val`` split of ``data`` (Ultralytics' validator).

    An architecture file (an untrained model) scores 0. Ultralytics' output goes to ``log``.
    """
    if Path(model).suffix.lower() != ".pt":
        return Metrics(0.0, 0.0)
    _offline()
    from ultralytics import YOLO

    data, log = data.resolve(), log.resolve()
    with ultralytics_output_to(log), _no_font_download(), all_cores():
        result = YOLO(model, task="detect").val(
            data=str(data), split="val", imgsz=imgsz, batch=batch, device=device, plots=False, workers=0,
            verbose=False, project=str(log.parent), name="val", exist_ok=True,
        )
    box = result.box
    names = result.names
    per_class = {
        names[int(c)]: {"map50": round(float(box.ap50[i]), 4), "map": round(float(box.ap[i]), 4)}
        for i, c in enumerate(box.ap_class_index)
    }
    return Metrics(round(float(box.map50), 4), round(float(box.map), 4), per_class)
