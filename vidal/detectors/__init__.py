"""Detector adapters and the factory that picks one for a model path.

Every adapter turns a stream of :class:`~vidal.types.Frame` into per-frame
:class:`~vidal.types.Detections`, pipelining decoding with inference.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vidal.detectors.base import (
    OPENVINO_FOLDER_SUFFIX,
    Detector,
    is_openvino_model,
    openvino_files,
    resolve_classes,
)
from vidal.errors import ConfigError


def load_detector(
    model: str,
    *,
    classes: Sequence[str | int] | None = None,
    conf: float = 0.1,
    iou: float = 0.7,
    imgsz: int | None = None,
    device: str = "cpu",
    batch: int = 1,
    half: bool | None = None,
    max_det: int = 300,
    backend: str = "auto",
    class_scores: bool = False,
    embeddings: bool = False,
) -> Detector:
    """Load a detector for ``model``.

    Args:
        model: A ``.pt`` file, an ONNX file, an OpenVINO folder, or an Ultralytics model
            name such as ``yolo11n.pt`` (downloaded by Ultralytics where there is internet).
        classes: Class names or ids of interest, checked against the model and kept as
            ``classes``; ``None`` for all. Detections of every class are returned.
        conf: Minimum detection score. ByteTrack needs low scores too (0.1 is its floor).
        iou: IoU threshold of non-maximum suppression.
        imgsz: Inference image size (long side); ``None`` for the model's own (its
            training size, or an export's input size).
        device: ``cpu``, ``cuda:0``, ``intel:gpu``, ... (Ultralytics' device strings, checked
            against the machine by :func:`~vidal.detectors.device.check_device`).
        batch: Frames per inference call (Ultralytics backend; frames are decoded ahead in a
            thread whatever the batch).
        half: Half-precision inference (Ultralytics backend: PyTorch models on a GPU, ONNX,
            OpenVINO and TensorRT exports); ``None``: on for a CUDA device, off elsewhere.
        max_det: Most detections kept per frame.
        backend: ``auto`` (OpenVINO folders run on OpenVINO directly, the rest through
            Ultralytics), ``ultralytics`` or ``openvino``.
        class_scores: Give every class's score of each box (:attr:`Detections.class_scores`;
            both backends read them from the network's output at no extra inference).
        embeddings: Give each frame's embedding (:attr:`Detections.embedding`): the pooled
            inputs of the detection head, from the same inference (both backends).

    Raises:
        ModelError: The model cannot be found or loaded.
        ConfigError: A class is unknown or an option is invalid; the device is unknown or
            absent, or an OpenVINO device (``intel:*``) is asked of another kind of model.
    """
    from vidal.detectors.device import check_device

    backends = ("auto", "ultralytics", "openvino")
    if backend not in backends:
        raise ConfigError(f"unknown detector backend {backend!r}; valid: {', '.join(backends)}")
    request = check_device(device)
    path = Path(model)
    openvino_export = path.suffix == ".xml" or (
        path.is_dir() and (path.name.endswith(OPENVINO_FOLDER_SUFFIX) or any(path.glob("*.xml")))
    )
    if request.kind == "intel" and not openvino_export:
        raise ConfigError(f"device {device!r} is an OpenVINO device: it runs OpenVINO exports, not {model}")
    if backend == "openvino" and request.kind not in ("auto", "cpu", "intel"):
        raise ConfigError(f"the openvino backend runs on cpu or an intel:* device, not {device!r}")
    use_openvino = backend == "openvino" or (
        backend == "auto" and is_openvino_model(path) and request.kind in ("cpu", "intel")
    )
    if use_openvino:
        from vidal.detectors.openvino import OpenVINODetector

        return OpenVINODetector(
            path, classes=classes, conf=conf, iou=iou, imgsz=imgsz, max_det=max_det, device=request.name or "CPU",
            class_scores=class_scores, embeddings=embeddings,
        )
    from vidal.detectors.ultralytics import UltralyticsDetector

    return UltralyticsDetector(
        model, classes=classes, conf=conf, iou=iou, imgsz=imgsz, device=device, batch=batch, max_det=max_det,
        class_scores=class_scores, embeddings=embeddings, half=request.kind == "cuda" if half is None else half,
    )


__all__ = ["Detector", "is_openvino_model", "load_detector", "openvino_files", "resolve_classes"]
