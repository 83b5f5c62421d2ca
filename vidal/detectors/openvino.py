"""OpenVINO IR models (Ultralytics exports) run by OpenVINO directly. The only importer of openvino.

Why not through Ultralytics: its OpenVINO backend compiles for LATENCY and runs requests
synchronously, and importing Ultralytics (with PyTorch) costs seconds per run. Here the
model is compiled with OpenVINO's THROUGHPUT hint and several inference requests are kept
in flight, while a worker thread decodes and letterboxes the next frames; PyTorch is never
imported. Pre- and post-processing reproduce Ultralytics' (see :mod:`vidal.detectors.boxes`).
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from vidal.concurrency import PREFETCH_FRAMES, UntilError, prefetch
from vidal.detectors.base import openvino_files, resolve_classes
from vidal.detectors.boxes import Letterbox, decode_yolo, letterbox
from vidal.errors import ModelError
from vidal.types import Detections, Frame

logger = logging.getLogger(__name__)

# Input size of a dynamic-shape export whose metadata names none (Ultralytics' default).
DEFAULT_IMGSZ = 640
# A YOLO's largest stride, where the export's metadata names none: a dynamic export's input
# sides are multiples of it.
STRIDE = 32
# The first convolution of each scale's box branch in an Ultralytics export of a YOLO detection
# head (``model.23.cv2.0.0.conv`` of a YOLO11, ``model.22...`` of a YOLOv8): its input is the
# feature map the head reads at that scale.
HEAD_CONV = re.compile(r"__module\.model\.(\d+)\.cv2\.(\d+)\.0\.conv/")


def _reason(error: RuntimeError) -> str:
    """The informative line of an OpenVINO error: its last, after the lines naming C++ sources."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def _read_metadata(xml: Path) -> dict[str, Any]:
    path = xml.parent / "metadata.yaml"
    try:
        metadata = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ModelError(f"cannot read {path}: {error}") from error
    if not isinstance(metadata, dict) or "names" not in metadata:
        raise ModelError(f"{path} has no class names: is this an Ultralytics OpenVINO export?")
    task = metadata.get("task", "detect")
    if task != "detect":
        raise ModelError(f"{xml.parent} is a {task!r} model; vidal needs a detection model")
    return metadata


def add_embedding_output(model: Any, name: str) -> None:
    """Add the frame embedding to ``model``'s outputs (after the detections): the inputs of the
    detection head, averaged over height and width and concatenated, ``(1, D)``.

    The head's inputs are the inputs of its box branches' first convolutions (:data:`HEAD_CONV`),
    one per scale, P3 first; the pooling is a ``ReduceMean`` node in the graph, so the same
    inference gives detections and embedding, exactly as the PyTorch adapter pools them
    (of an int8 export, the quantised maps the head reads).

    Raises:
        ModelError: The export has no such convolutions (not an Ultralytics YOLO export).
    """
    import openvino.opset13 as ops

    heads: dict[tuple[int, int], Any] = {}
    for node in model.get_ordered_ops():
        match = HEAD_CONV.match(node.get_friendly_name())
        if match and node.get_type_name() == "Convolution":
            heads[(int(match.group(1)), int(match.group(2)))] = node
    if not heads:
        raise ModelError(
            f"{name}: no YOLO detection head found in the OpenVINO graph, so no frame embeddings "
            "(selection strategies coreset, typiclust, density); run its .pt model or pick another selection.strategy"
        )
    layer = max(key[0] for key in heads)
    axes = ops.constant(np.array([2, 3], np.int64))
    pooled = [ops.reduce_mean(heads[key].input(0).get_source_output(), axes, keep_dims=False)
              for key in sorted(heads) if key[0] == layer]
    model.add_results([ops.result(ops.concat(pooled, 1))])


class OpenVINODetector:
    """A YOLO detection model exported to OpenVINO IR.

    Args:
        path: The ``*_openvino_model`` folder or its ``.xml`` file.
        classes: Class names or ids of interest; ``None`` for all. Every class is detected.
        conf: Minimum detection score.
        iou: NMS IoU threshold.
        imgsz: Inference size; a static model must be run at its exported size.
        max_det: Most detections kept per frame.
        requests: Inference requests in flight; 0 asks OpenVINO for its optimum.
        device: The OpenVINO device to compile for (``CPU``, ``GPU``, ...).
        class_scores: Give every class's score of each kept box (:attr:`Detections.class_scores`),
            read from the network's output at no extra inference.
        embeddings: Give each frame's embedding (:attr:`Detections.embedding`), an extra output
            of the same inference (:func:`add_embedding_output`).
    """

    def __init__(
        self,
        path: Path,
        *,
        classes: Sequence[str | int] | None = None,
        conf: float = 0.1,
        iou: float = 0.7,
        imgsz: int | None = None,
        max_det: int = 300,
        requests: int = 0,
        device: str = "CPU",
        class_scores: bool = False,
        embeddings: bool = False,
    ) -> None:
        xml, weights = openvino_files(path)
        metadata = _read_metadata(xml)
        self.names: dict[int, str] = {int(k): str(v) for k, v in metadata["names"].items()}
        self.classes = resolve_classes(self.names, classes)
        self.conf, self.iou, self.max_det = conf, iou, max_det
        self.class_scores = class_scores
        try:
            import openvino as ov
        except ImportError as error:  # pragma: no cover - openvino is a dependency
            raise ModelError("OpenVINO models need the 'openvino' package: pip install openvino") from error
        core = ov.Core()
        try:
            model = core.read_model(str(xml), str(weights))
        except RuntimeError as error:
            raise ModelError(f"cannot read OpenVINO model {xml}: {_reason(error)}") from error
        shape = model.input().get_partial_shape()
        self.dynamic = not shape.is_static
        self.stride = int(metadata.get("stride", STRIDE))
        if self.dynamic:
            size = imgsz or int(max(metadata.get("imgsz", [DEFAULT_IMGSZ])))
            if size % self.stride:  # as Ultralytics' check_imgsz: a multiple of the stride
                rounded = -(-size // self.stride) * self.stride
                logger.warning("imgsz=%d is not a multiple of the model's stride %d; running at %d",
                               size, self.stride, rounded)
                size = rounded
            self.input_size = (size, size)
            model.reshape([1, 3, size, size])
        else:
            self.input_size = (int(shape[2].get_length()), int(shape[3].get_length()))
            if imgsz is not None and imgsz != max(self.input_size):
                logger.warning(
                    "%s has a static input of %dx%d; running at that size, not imgsz=%d",
                    path, self.input_size[1], self.input_size[0], imgsz,
                )
        self.embeddings = embeddings
        if embeddings:
            add_embedding_output(model, str(path))
        self._core, self._model, self._device, self._xml = core, model, device, xml
        self._compiled: dict[tuple[int, int], Any] = {}
        optimal = int(self._compile(self.input_size).get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self.requests = requests if requests > 0 else max(optimal, 1)
        self.imgsz = max(self.input_size)
        on = "" if device == "CPU" else f" on {device}"
        shape_text = ", input fitted to the frame" if self.dynamic else ""
        self.description = f"{path} (OpenVINO{on}, THROUGHPUT, {self.requests} requests, imgsz {self.imgsz}{shape_text})"

    def _compile(self, size: tuple[int, int]) -> Any:
        """The model compiled for input ``size`` = ``(height, width)`` (a dynamic export is
        reshaped to it first), compiled once per size."""
        if size not in self._compiled:
            if self.dynamic:
                self._model.reshape([1, 3, *size])
            try:
                self._compiled[size] = self._core.compile_model(self._model, self._device,
                                                                {"PERFORMANCE_HINT": "THROUGHPUT"})
            except RuntimeError as error:
                raise ModelError(f"cannot compile OpenVINO model {self._xml} for {self._device}: {_reason(error)}") from error
        return self._compiled[size]

    def input_for(self, height: int, width: int) -> tuple[int, int]:
        """The network input ``(height, width)`` for a frame of this size.

        A static export runs at its own size. A dynamic one runs, as Ultralytics runs it, at
        the smallest multiple of the stride that holds the frame scaled to ``imgsz`` on its long
        side: a 16:9 frame at imgsz 1280 is 1280x736, not 1280x1280, close to half the work
        (LetterBox ``auto``).
        """
        if not self.dynamic:
            return self.input_size
        gain = min(self.input_size[0] / height, self.input_size[1] / width)
        new_h, new_w = max(round(height * gain), 1), max(round(width * gain), 1)
        return (new_h + (self.input_size[0] - new_h) % self.stride, new_w + (self.input_size[1] - new_w) % self.stride)

    def _prepare(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, np.ndarray, Letterbox]]:
        for frame in frames:
            blob, box = letterbox(frame.image, self.input_for(*frame.image.shape[:2]))
            yield frame, blob, box

    def stream(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, Detections]]:
        """Detect objects frame by frame, with ``requests`` frames in flight.

        Args:
            frames: Decoded frames, consumed in a worker thread.

        Yields:
            Each frame with its detections, in input order.

        Raises:
            Exception: Whatever ``frames`` raised (a :class:`~vidal.errors.DecodeError`), once
                the frames decoded before it are yielded.
        """
        idle: deque[Any] = deque()
        pending: deque[tuple[Any, Frame, Letterbox]] = deque()
        size: tuple[int, int] | None = None
        source = UntilError(prefetch(self._prepare(frames), PREFETCH_FRAMES))
        for frame, blob, box in source:
            if blob.shape[2:] != size:  # the first frame, or a frame of another size (a folder of images)
                while pending:
                    yield self._collect(pending.popleft(), idle)
                size = (int(blob.shape[2]), int(blob.shape[3]))
                compiled = self._compile(size)
                idle = deque(compiled.create_infer_request() for _ in range(self.requests))
            # The oldest request's result is read first and its request is given the next
            # frame before the result goes to the caller: while the caller tracks and scores,
            # every request is busy (refilled after the caller, one would idle meanwhile).
            done = self._collect(pending.popleft(), idle) if not idle else None
            request = idle.popleft()
            request.start_async({0: blob})
            pending.append((request, frame, box))
            if done is not None:
                yield done
        while pending:  # frames in flight when decoding failed were decoded: they are kept
            yield self._collect(pending.popleft(), idle)
        source.reraise()

    def _collect(self, item: tuple[Any, Frame, Letterbox], idle: deque[Any]) -> tuple[Frame, Detections]:
        request, frame, box = item
        request.wait()
        output = request.get_output_tensor(0).data[0]
        detections = decode_yolo(
            output, box, conf=self.conf, iou=self.iou, classes=None, max_det=self.max_det,
            class_scores=self.class_scores,
        )
        if self.embeddings:
            detections.embedding = request.get_output_tensor(1).data[0].copy()
        idle.append(request)
        return frame, detections
