"""YOLO label files: the text file of one image that Ultralytics trains on.

One line per box, ``class cx cy w h``: the class index, then the box's centre and size as
shares of the image's width and height, six decimals. An image without boxes has an empty
file (a background image), not a missing one. The dataset export goes through FiftyOne's
YOLOv5 exporter; this is the writer for images written directly (the benchmarks and the
sample's training set in ``tools/``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def yolo_lines(xyxy: np.ndarray, class_id: np.ndarray, width: int, height: int) -> list[str]:
    """The YOLO label lines of an image's boxes.

    Boxes are clipped to the image first; a box with nothing left inside it gets no line.

    Args:
        xyxy: Pixel boxes ``x1, y1, x2, y2``, shape ``(N, 4)``; computed in their own float
            dtype (integers as float64).
        class_id: Class index of each box, shape ``(N,)``.
        width: Image width in pixels.
        height: Image height in pixels.

    Returns:
        One ``"class cx cy w h"`` line per box left, in the boxes' order.
    """
    boxes = np.asarray(xyxy)
    if not np.issubdtype(boxes.dtype, np.floating):
        boxes = boxes.astype(np.float64)
    boxes = boxes.reshape(-1, 4).clip([0, 0, 0, 0], [width, height, width, height])
    classes = np.asarray(class_id).reshape(-1)
    if len(classes) != len(boxes):
        raise ValueError(f"class_id must have shape ({len(boxes)},), got {classes.shape}")
    x1, y1, x2, y2 = boxes.T
    cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
    w, h = (x2 - x1) / width, (y2 - y1) / height
    keep = (x2 > x1) & (y2 > y1)
    return [f"{int(classes[k])} {cx[k]:.6f} {cy[k]:.6f} {w[k]:.6f} {h[k]:.6f}" for k in np.flatnonzero(keep)]


def write_yolo_labels(path: str | Path, xyxy: np.ndarray, class_id: np.ndarray, width: int, height: int) -> int:
    """Write the YOLO label file of an image (see :func:`yolo_lines`).

    Args:
        path: The ``.txt`` file, beside the image in Ultralytics' ``labels/`` layout.
        xyxy: Pixel boxes, shape ``(N, 4)``.
        class_id: Class index of each box, shape ``(N,)``.
        width: Image width in pixels.
        height: Image height in pixels.

    Returns:
        The number of boxes written.
    """
    lines = yolo_lines(xyxy, class_id, width, height)
    Path(path).write_text("\n".join(lines) + ("\n" if lines else ""))
    return len(lines)
