"""Fine-tuning and validating detectors with Ultralytics: the training adapter.

The detector and training adapters (:mod:`vidal.detectors.ultralytics`, with
:mod:`vidal.detectors.cpu`, and this module) are the only importers of ultralytics.
Offline-safe: plots off (no font download), AMP off (its check downloads weights), no hub
calls; everything written under the given folder. Every path handed to Ultralytics is
absolute: it files a relative ``project`` under its own ``runs_dir/<task>/`` (``./runs`` by
default), not under the working folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vidal.dataset.lineage import Metrics
from vidal.detectors.cpu import all_cores
from vidal.errors import ModelError

logger = logging.getLogger(__name__)

TRAINABLE_SUFFIXES = (".pt", ".yaml", ".yml")
LOG_FILE = "ultralytics.log"
# Fine-tuning a pretrained detector on tens to hundreds of reviewed frames of the footage it
# will run on: plain SGD at a small rate without warm-up, no mosaic (measurements: BENCHMARKS.md,
# "Fine-tuning settings").
FINE_TUNE: dict[str, Any] = {"optimizer": "SGD", "lr0": 0.002, "warmup_epochs": 0, "mosaic": 0.0}
# A fine-tune keeps the pretrained BatchNorm statistics (the layers' running means and
# variances; their scales and shifts still learn): updated from batches of a few augmented,
# letterboxed frames, the statistics alone took the COCO YOLO11n's person mAP50 on soccer
# from 0.79 to 0.71-0.74 in 30 steps, with the learning rate at 0 (BENCHMARKS.md,
# "Propagation: detector (soccer)"). Frozen statistics are the usual choice for fine-tuning
# with small batches (Detectron2's FrozenBatchNorm2d, MMDetection's ``norm_eval``).
FROZEN_BN = True


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


def fine_tunes(base: str) -> bool:
    """Whether ``base`` is fine-tuned with vidal's settings (a ``.pt``), not trained from
    scratch with Ultralytics' defaults (an architecture file)."""
    return Path(base).suffix.lower() == ".pt"


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
    frozen_bn: bool = FROZEN_BN,
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
        frozen_bn: Keep a ``.pt`` base's BatchNorm statistics (:data:`FROZEN_BN`); a ``.yaml``
            architecture always learns them.

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
    if frozen_bn and fine_tunes(base):
        # After the trainer's model.train() of each epoch, before each step's forward pass.
        model.add_callback("on_train_batch_start", lambda trainer: _freeze_bn_statistics(trainer.model))
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


def _freeze_bn_statistics(model: Any) -> None:
    """Put every BatchNorm layer of ``model`` in eval mode: its running statistics stay as they are."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.training:
            module.eval()


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
