"""Letterbox pre-processing and NMS post-processing for raw YOLO outputs.

These mirror Ultralytics' ``LetterBox`` (centred padding with grey 114) and
``non_max_suppression`` (best class per box, class-aware NMS, ``max_det``), so a model run
outside Ultralytics gives the same detections; OpenCV's ``NMSBoxesBatched`` does the NMS.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidal.types import Detections

PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into the network input.

    Attributes:
        gain: Scale from original to network pixels.
        pad_x: Left padding in network pixels.
        pad_y: Top padding in network pixels.
        width: Original width.
        height: Original height.
    """

    gain: float
    pad_x: int
    pad_y: int
    width: int
    height: int


def clip_boxes(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip ``xyxy`` boxes ``(N, 4)`` to a ``width`` x ``height`` image; a copy, of the same dtype."""
    out = xyxy.copy()
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height)
    return out


def letterbox(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping the aspect ratio and pad to ``size`` = ``(height, width)``.

    Args:
        image: BGR image, ``(H, W, 3)``, uint8.
        size: Network input ``(height, width)``.

    Returns:
        The network input as float32 ``(1, 3, height, width)`` RGB in ``[0, 1]``, and the
        :class:`Letterbox` to map boxes back.
    """
    h, w = image.shape[:2]
    gain = min(size[0] / h, size[1] / w)
    new_w, new_h = max(round(w * gain), 1), max(round(h * gain), 1)
    dw, dh = (size[1] - new_w) / 2, (size[0] - new_h) / 2
    if (w, h) != (new_w, new_h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    blob = cv2.dnn.blobFromImage(image, scalefactor=1 / 255.0, swapRB=True)
    return blob, Letterbox(gain, left, top, w, h)


def decode_yolo(
    output: np.ndarray,
    box: Letterbox,
    *,
    conf: float,
    iou: float,
    classes: list[int] | None,
    max_det: int,
    class_scores: bool = False,
) -> Detections:
    """Turn one image's raw YOLO output into detections in original pixels.

    Args:
        output: Raw output ``(4 + C, A)``: ``cx, cy, w, h`` then per-class scores for each
            of ``A`` anchors.
        box: The letterbox of the image.
        conf: Minimum score.
        iou: NMS IoU threshold.
        classes: Class ids to keep, or ``None``.
        max_det: Most detections kept.
        class_scores: Also return every class's score of each kept box (``(N, C)``, the
            network's own scores: the box's score is its class's).

    Returns:
        The detections, sorted by decreasing score.
    """
    scores_all = output[4:]
    # Only anchors with a wanted class above ``conf`` can survive; the best-class argmax
    # (Ultralytics keeps a box only if its best class is wanted) runs on those alone.
    wanted = scores_all if classes is None else scores_all[classes]
    candidates = np.flatnonzero((wanted > conf).any(0))
    if len(candidates) == 0:
        return Detections.empty()
    output = output[:, candidates]
    scores_all = output[4:]
    class_id = scores_all.argmax(0)
    score = scores_all[class_id, np.arange(scores_all.shape[1])]
    keep = score > conf
    if classes is not None:
        keep &= np.isin(class_id, classes)
    if not keep.any():
        return Detections.empty()
    cx, cy, w, h = output[:4, keep]
    score, class_id = score[keep], class_id[keep]
    kept_scores = scores_all[:, keep] if class_scores else None
    xywh = np.stack([cx - w / 2, cy - h / 2, w, h], axis=1)
    chosen = cv2.dnn.NMSBoxesBatched(xywh.tolist(), score.tolist(), class_id.tolist(), conf, iou)
    chosen = np.asarray(chosen, dtype=np.int64).reshape(-1)
    chosen = chosen[np.argsort(-score[chosen], kind="stable")][:max_det]
    xyxy = np.empty((len(chosen), 4), np.float32)
    xyxy[:, 0] = (xywh[chosen, 0] - box.pad_x) / box.gain
    xyxy[:, 1] = (xywh[chosen, 1] - box.pad_y) / box.gain
    xyxy[:, 2] = (xywh[chosen, 0] + xywh[chosen, 2] - box.pad_x) / box.gain
    xyxy[:, 3] = (xywh[chosen, 1] + xywh[chosen, 3] - box.pad_y) / box.gain
    scores = None if kept_scores is None else kept_scores[:, chosen].T
    return Detections(clip_boxes(xyxy, box.width, box.height), score[chosen], class_id[chosen], scores)
