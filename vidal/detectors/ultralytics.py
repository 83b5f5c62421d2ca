"""Models loaded by Ultralytics (``.pt``, ONNX, TorchScript, ...).

With ``training`` and ``cpu`` beside it, the only modules that import ultralytics.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from vidal.concurrency import prefetch
from vidal.detectors import resolve_classes
from vidal.detectors.cpu import all_cores
from vidal.errors import ModelError
from vidal.types import Detections, Frame

logger = logging.getLogger(__name__)

PREFETCH_FRAMES = 8


def _load(model: str) -> object:
    from ultralytics import YOLO

    path = Path(model)
    is_name = path.parent == Path(".") and not path.exists()
    if not path.exists() and not is_name:
        raise ModelError(f"model not found: {model} (pass --model PATH to a .pt, ONNX file or OpenVINO folder)")
    try:
        return YOLO(model, task="detect")
    except FileNotFoundError as error:
        raise ModelError(
            f"model {model} is not on disk and could not be downloaded; pass --model PATH "
            "to a local .pt, ONNX file or OpenVINO folder"
        ) from error
    except Exception as error:  # Ultralytics raises many kinds for a bad file
        if is_name:
            raise ModelError(
                f"model {model} is not on disk and could not be downloaded ({type(error).__name__}); "
                "pass --model PATH to a local .pt, ONNX file or OpenVINO folder"
            ) from error
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"cannot load model {model}: {reason}") from error


class UltralyticsDetector:
    """Any detection model Ultralytics can load.

    Args:
        model: Path or Ultralytics model name.
        classes: Class names or ids of interest; ``None`` for all. Every class is detected.
        conf: Minimum detection score.
        iou: NMS IoU threshold.
        imgsz: Inference image size.
        device: Ultralytics device string.
        batch: Frames per inference call.
        max_det: Most detections kept per frame.
    """

    def __init__(
        self,
        model: str,
        *,
        classes: Sequence[str | int] | None = None,
        conf: float = 0.1,
        iou: float = 0.7,
        imgsz: int | None = None,
        device: str = "cpu",
        batch: int = 1,
        max_det: int = 300,
    ) -> None:
        self._model = _load(model)
        task = getattr(self._model, "task", "detect")
        if task != "detect":
            raise ModelError(f"{model} is a {task!r} model; vidal needs a detection model")
        names = getattr(self._model, "names", None)
        if not names:
            raise ModelError(f"{model} has no class names")
        self.names: dict[int, str] = {int(k): str(v) for k, v in dict(names).items()}
        self.classes = resolve_classes(self.names, classes)
        self.batch = max(1, batch)
        # Without an explicit size Ultralytics predicts at the size the model was trained at.
        self.imgsz = imgsz or int(getattr(self._model, "overrides", {}).get("imgsz") or 640)
        self._kwargs = dict(
            conf=conf, iou=iou, imgsz=self.imgsz, device=device, max_det=max_det, verbose=False
        )
        self.description = f"{model} (Ultralytics, batch {self.batch}, imgsz {self.imgsz})"

    def _detect(self, images: list[np.ndarray]) -> list[Detections]:
        with all_cores():  # the first call sets the model up, and PyTorch's thread count with it
            results = self._model.predict(images, **self._kwargs)
        out = []
        for result in results:
            boxes = result.boxes
            out.append(
                Detections(
                    boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy(), boxes.cls.cpu().numpy().astype(np.int64)
                )
            )
        return out

    def stream(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, Detections]]:
        """Detect objects in batches of ``batch`` frames, decoding ahead in a worker thread."""
        pending: list[Frame] = []
        for frame in prefetch(frames, PREFETCH_FRAMES):
            pending.append(frame)
            if len(pending) == self.batch:
                yield from zip(pending, self._detect([f.image for f in pending]))
                pending = []
        if pending:
            yield from zip(pending, self._detect([f.image for f in pending]))
