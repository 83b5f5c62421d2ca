"""Models loaded by Ultralytics (``.pt``, ONNX, TorchScript, ...): the detector adapter.

With :mod:`vidal.detectors.cpu` beside it and the training adapter
:mod:`vidal.training.ultralytics`, the only modules that import ultralytics.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vidal.concurrency import PREFETCH_FRAMES, UntilError, prefetch
from vidal.detectors.base import OPENVINO_FOLDER_SUFFIX, openvino_files, resolve_classes
from vidal.detectors.cpu import all_cores
from vidal.errors import ModelError
from vidal.types import Detections, Frame

logger = logging.getLogger(__name__)



def _check_path(path: Path) -> None:
    """Refuse, before Ultralytics meets it, a file or folder that cannot hold a model."""
    if path.is_file() and path.stat().st_size == 0:
        raise ModelError(f"cannot load model {path}: the file is empty")
    if path.is_dir():
        if not any(path.iterdir()):
            raise ModelError(f"cannot load model {path}: the folder is empty")
        if path.name.endswith(OPENVINO_FOLDER_SUFFIX) or any(path.glob("*.xml")):
            openvino_files(path)


def _reason(error: BaseException) -> str:
    """One line on why Ultralytics could not load a model."""
    if isinstance(error, ImportError) and error.name:
        return f"it needs the Python package {error.name!r}, which is not installed (pip install {error.name})"
    if isinstance(error, OSError) and not isinstance(error, PermissionError):
        # torch's reader of a cut .pt fails with a bare "[Errno 22] Invalid argument"
        return f"the file cannot be read as a model ({error.strerror or error}): is it truncated or corrupt?"
    text = str(error).strip()
    if not text:
        return type(error).__name__
    # A KeyError's text is the bare key ('backbone'): say what kind of error it is.
    return f"{type(error).__name__} {text}" if isinstance(error, LookupError) else text.splitlines()[0]


def precision_args(half: bool) -> dict[str, Any]:
    """Ultralytics' argument for half precision: ``quantize=16`` where it has one (8.4.190 on;
    ``half`` is then deprecated, with a warning at every call), else ``half=True``; nothing for
    full precision, which both default to."""
    if not half:
        return {}
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return {"quantize": 16} if "quantize" in DEFAULT_CFG_DICT else {"half": True}


def _load(model: str) -> object:
    from ultralytics import YOLO

    path = Path(model)
    is_name = path.parent == Path(".") and not path.exists()
    if not path.exists() and not is_name:
        raise ModelError(f"model not found: {model} (pass --model PATH to a .pt, ONNX file or OpenVINO folder)")
    _check_path(path)
    try:
        loaded = YOLO(model, task="detect")
        # An export's runtime is set up lazily, when its class names are first read: read
        # them here, so that a broken export fails as one now, not midway through mining.
        loaded.names  # noqa: B018
        return loaded
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
        raise ModelError(f"cannot load model {model}: {_reason(error)}") from error


def _class_score_predictor() -> type:
    """Ultralytics' detection predictor, keeping every class's score of the boxes its NMS keeps.

    Its ``postprocess`` is Ultralytics' own (:meth:`DetectionPredictor.postprocess`) with
    ``return_idxs=True``: ``non_max_suppression`` then also returns, per image, the indices of
    the kept boxes into the network's raw output ``(B, 4 + C, A)``, whose rows ``4:`` are the
    class scores the NMS took each box's score and class from. Each result gets them as
    ``class_scores`` ``(N, C)``. An end-to-end model (no NMS, a ``(B, A, 6)`` output) has no
    per-class scores: its results get ``None``.
    """
    from ultralytics.models.yolo.detect import DetectionPredictor
    from ultralytics.utils import nms, ops

    class ClassScorePredictor(DetectionPredictor):
        def postprocess(self, preds, img, orig_imgs, **kwargs):  # type: ignore[no-untyped-def]
            raw = preds[0] if isinstance(preds, (list, tuple)) else preds
            end2end = getattr(self.model, "end2end", False) or raw.shape[-1] == 6
            if end2end or self.args.task != "detect":
                results = super().postprocess(preds, img, orig_imgs, **kwargs)
                for result in results:
                    result.class_scores = None
                return results
            kept, index = nms.non_max_suppression(
                raw, self.args.conf, kwargs.pop("iou", self.args.iou), self.args.classes, self.args.agnostic_nms,
                max_det=self.args.max_det, return_idxs=True,
            )
            if not isinstance(orig_imgs, list):
                orig_imgs = ops.convert_torch2numpy_batch(orig_imgs)[..., ::-1]
            results = self.construct_results(kept, img, orig_imgs, **kwargs)
            for b, (result, rows) in enumerate(zip(results, index)):
                rows = rows.view(-1).long()
                result.class_scores = raw[b, 4:, rows].T.float().cpu().numpy()
            return results

    return ClassScorePredictor


class _HeadFeatures:
    """The pooled inputs of a YOLO model's detection head, caught in the detection's own pass.

    A forward pre-hook on the head (the model's last layer, ``Detect``) takes the feature maps
    it reads (P3, P4 and P5 of the neck), averages each over its height and width and
    concatenates them: ``(B, C3 + C4 + C5)`` per call (448 for a YOLO11n). Ultralytics' own
    ``embed=`` stops the forward pass at the embedding layer, so no boxes come with it: this
    hook costs no second inference. The predictor runs a deep copy of the model made when it is
    set up; the copy keeps the hook, and the hook is a plain function (which ``copy.deepcopy``
    returns unchanged, where it would copy a bound method's object), so the copy's calls land here.
    """

    def __init__(self, model: object, name: str) -> None:
        import torch

        network = getattr(model, "model", None)
        layers = getattr(network, "model", None)
        if not isinstance(network, torch.nn.Module) or layers is None or not len(layers):
            raise ModelError(
                f"{name}: frame embeddings (selection strategies coreset, typiclust, density) need a PyTorch "
                "(.pt) model, or an OpenVINO export on the openvino backend; pick another selection.strategy"
            )
        calls: list[np.ndarray] = []

        def hook(module: object, args: tuple) -> None:
            maps = args[0] if isinstance(args[0], (list, tuple)) else [args[0]]
            with torch.no_grad():
                pooled = torch.cat([m.float().mean(dim=(2, 3)) for m in maps], 1)
            calls.append(pooled.cpu().numpy())

        self.calls = calls
        layers[-1].register_forward_pre_hook(hook)

    def take(self, count: int) -> np.ndarray:
        """The last ``count`` images' embeddings ``(count, D)`` float32 (a warm-up pass on a
        dummy image comes before them), and forget them all."""
        rows = np.concatenate(self.calls)[-count:]
        self.calls.clear()
        return rows


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
        class_scores: Give every class's score of each kept box (:attr:`Detections.class_scores`),
            through a predictor that keeps the indices of Ultralytics' NMS
            (:func:`_class_score_predictor`); ``None`` for an end-to-end model.
        embeddings: Give each frame's embedding (:attr:`Detections.embedding`): the pooled
            inputs of the detection head, from the same forward pass (:class:`_HeadFeatures`);
            a PyTorch model only.
        half: Half-precision inference where Ultralytics allows it (a PyTorch model on a GPU,
            ONNX, OpenVINO and TensorRT exports; ignored for a PyTorch model on the CPU).
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
        class_scores: bool = False,
        embeddings: bool = False,
        half: bool = False,
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
        self.half = half
        self._kwargs = dict(
            conf=conf, iou=iou, imgsz=self.imgsz, device=device, max_det=max_det, verbose=False, **precision_args(half)
        )
        self.class_scores = class_scores
        if class_scores:
            self._kwargs["predictor"] = _class_score_predictor()
        self.embeddings = embeddings
        self._features = _HeadFeatures(self._model, model) if embeddings else None
        self.description = f"{model} (Ultralytics, batch {self.batch}, imgsz {self.imgsz}{', half' if half else ''})"

    def _detect(self, images: list[np.ndarray]) -> list[Detections]:
        with all_cores():  # the first call sets the model up, and PyTorch's thread count with it
            results = self._model.predict(images, **self._kwargs)
        embedded = None if self._features is None else self._features.take(len(images))
        out = []
        for k, result in enumerate(results):
            boxes = result.boxes
            out.append(
                Detections(
                    boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy(), boxes.cls.cpu().numpy().astype(np.int64),
                    getattr(result, "class_scores", None), None if embedded is None else embedded[k],
                )
            )
        return out

    def stream(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, Detections]]:
        """Detect objects in batches of ``batch`` frames, decoding ahead in a worker thread.

        Whatever ``frames`` raises (a :class:`~vidal.errors.DecodeError`) is raised once the
        frames decoded before it, a partial batch included, are yielded.
        """
        pending: list[Frame] = []
        source = UntilError(prefetch(frames, PREFETCH_FRAMES))
        for frame in source:
            pending.append(frame)
            if len(pending) == self.batch:
                yield from zip(pending, self._detect([f.image for f in pending]))
                pending = []
        if pending:
            yield from zip(pending, self._detect([f.image for f in pending]))
        source.reraise()
