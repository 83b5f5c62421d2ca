"""Follow a box through neighbouring frames by optical flow: the missed objects a human added.

The follower is Kalal et al.'s Median Flow (ICPR 2010): a grid of points in the box is
tracked by pyramidal Lucas-Kanade (OpenCV's ``calcOpticalFlowPyrLK``) forward and then
backward; points whose forward-backward error is above the median are dropped, and the box
moves by the median displacement and scales by the median change of point distances. The
median forward-backward error is the follower's own measure of doubt: it stops when that
error exceeds a share of the box size, when too few points survive, or when the box leaves
the image. Written here because OpenCV ships Median Flow only in its contrib build, whose
``cv2`` package would replace the one Ultralytics and FiftyOne install.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

GRID = 10
MIN_POINTS = 8
_LK = {"winSize": (11, 11), "maxLevel": 3,
       "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)}


@dataclass
class Followed:
    """A box followed from a start frame.

    Attributes:
        frames: The frames reached, in the order followed (``(M,)``), start excluded.
        xyxy: The box on each, ``(M, 4)`` float32.
        error: The median forward-backward error on each, as a share of the box size, ``(M,)``.
    """

    frames: np.ndarray
    xyxy: np.ndarray
    error: np.ndarray


def _grid(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = 0.1 * (x2 - x1), 0.1 * (y2 - y1)
    xs = np.linspace(x1 + mx, x2 - mx, GRID)
    ys = np.linspace(y1 + my, y2 - my, GRID)
    return np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 1, 2).astype(np.float32)


def _step(prev: np.ndarray, nxt: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Move ``box`` from image ``prev`` to image ``nxt``; ``None`` when the flow fails.

    The flow runs on a window around the box (the box and its size again on each side, plus
    the pyramid's reach), not the whole image: a 1080p frame's pyramid costs more than the
    points.
    """
    height, width = prev.shape[:2]
    w, h = float(box[2] - box[0]), float(box[3] - box[1])
    reach = 2 ** (_LK["maxLevel"] + 1) * _LK["winSize"][0] // 2
    x0 = int(max(0, np.floor(box[0] - w - reach)))
    y0 = int(max(0, np.floor(box[1] - h - reach)))
    x1 = int(min(width, np.ceil(box[2] + w + reach)))
    y1 = int(min(height, np.ceil(box[3] + h + reach)))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    offset = np.array([x0, y0, x0, y0], np.float32)
    moved = _step_window(prev[y0:y1, x0:x1], nxt[y0:y1, x0:x1], box - offset)
    return None if moved is None else (moved[0] + offset, moved[1])


def _step_window(prev: np.ndarray, nxt: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float] | None:
    p0 = _grid(box)
    p1, st1, _ = cv2.calcOpticalFlowPyrLK(prev, nxt, p0, None, **_LK)
    if p1 is None:
        return None
    back, st2, _ = cv2.calcOpticalFlowPyrLK(nxt, prev, p1, None, **_LK)
    if back is None:
        return None
    ok = (st1.ravel() == 1) & (st2.ravel() == 1)
    fb = np.linalg.norm((p0 - back).reshape(-1, 2), axis=1)
    if ok.sum() < MIN_POINTS:
        return None
    median_fb = float(np.median(fb[ok]))
    good = ok & (fb <= median_fb)
    if good.sum() < MIN_POINTS // 2:
        return None
    a, b = p0.reshape(-1, 2)[good], p1.reshape(-1, 2)[good]
    shift = np.median(b - a, axis=0)
    i, j = np.triu_indices(len(a), 1)
    d0 = np.linalg.norm(a[i] - a[j], axis=1)
    d1 = np.linalg.norm(b[i] - b[j], axis=1)
    valid = d0 > 1e-3
    scale = float(np.median(d1[valid] / d0[valid])) if valid.any() else 1.0
    cx, cy = (box[0] + box[2]) / 2 + shift[0], (box[1] + box[3]) / 2 + shift[1]
    w, h = (box[2] - box[0]) * scale, (box[3] - box[1]) * scale
    size = max(float(np.sqrt(max(w * h, 1.0))), 1.0)
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32), median_fb / size


def follow(images: Sequence[np.ndarray], frames: Sequence[int], box: np.ndarray, max_error: float) -> Followed:
    """Follow ``box`` from ``images[0]`` through the following images (grayscale, in the order
    to follow: reversed for a backward pass) until the flow doubts.

    Args:
        images: Grayscale images, ``images[0]`` the one ``box`` is on.
        frames: Their frame numbers.
        box: The start box, ``xyxy``.
        max_error: Stop when the median forward-backward error exceeds this share of the
            box's size (square root of its area).

    Returns:
        The frames reached and the box on each.
    """
    height, width = images[0].shape[:2]
    out_frames, out_boxes, out_error = [], [], []
    current = np.asarray(box, np.float32)
    for k in range(1, len(images)):
        moved = _step(images[k - 1], images[k], current)
        if moved is None:
            break
        current, error = moved
        if error > max_error:
            break
        inside_w = min(current[2], width) - max(current[0], 0)
        inside_h = min(current[3], height) - max(current[1], 0)
        area = (current[2] - current[0]) * (current[3] - current[1])
        if inside_w <= 0 or inside_h <= 0 or inside_w * inside_h < 0.5 * area:
            break
        out_frames.append(int(frames[k]))
        out_boxes.append(np.clip(current, 0, [width, height, width, height]).astype(np.float32))
        out_error.append(error)
    return Followed(np.array(out_frames, np.int64), np.array(out_boxes, np.float32).reshape(-1, 4),
                    np.array(out_error, np.float64))
