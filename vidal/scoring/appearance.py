"""Cheap appearance features of boxes: hue-saturation histograms, compared by Bhattacharyya.

A colour histogram of the box is a classic appearance model for tracking people (Comaniciu,
Ramesh & Meer, 2003, mean-shift tracking): it ignores pose and small shifts of the box and
costs a fraction of a millisecond, unlike a re-identification network. Hue and saturation
only: brightness changes with shadows and lighting, the colour of clothing does not.
"""

from __future__ import annotations

import cv2
import numpy as np

# 16 hue x 8 saturation bins: coarse enough that a few hundred pixels fill them (a person of
# 60 x 150 pixels gives ~2,000 pixels in the box's core), fine enough to tell a red coat from
# an orange one (hue bins of 11 degrees).
HUE_BINS = 16
SATURATION_BINS = 8
# The core of the box whose colours are counted, as shares of its width and height from each
# side: detector boxes of people carry background at the sides and the ground below the
# feet, and in a crowd the neighbour's edges; the central half of the width over the upper
# 10-60 % of the height (torso and legs) is mostly the object itself.
CORE_X = (0.25, 0.75)
CORE_Y = (0.1, 0.6)
# Boxes whose core is smaller than this many pixels give no histogram (too few to count).
MIN_CORE_PIXELS = 64


def core_window(shape: tuple[int, ...], box: np.ndarray) -> tuple[int, int, int, int] | None:
    """The pixel rows and columns ``(y1, y2, x1, x2)`` of the core of a box (see
    :data:`CORE_X`, :data:`CORE_Y`) in an image of ``shape``, or ``None`` where the core is
    outside the image or smaller than :data:`MIN_CORE_PIXELS`."""
    return core_windows(shape, np.asarray(box, np.float64).reshape(1, 4))[0]


def core_windows(shape: tuple[int, ...], boxes: np.ndarray) -> list[tuple[int, int, int, int] | None]:
    """:func:`core_window` of each of ``boxes`` ``(N, 4)``, in one pass over the array."""
    height, width = shape[:2]
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    x1, y1 = boxes[:, 0], boxes[:, 1]
    w, h = boxes[:, 2] - x1, boxes[:, 3] - y1
    # truncation of values clipped to >= 0: int() of each, as a float64 array
    cx1 = np.minimum(np.maximum(x1 + CORE_X[0] * w, 0.0), width).astype(np.int64)
    cx2 = np.minimum(np.maximum(x1 + CORE_X[1] * w, 0.0), width).astype(np.int64)
    cy1 = np.minimum(np.maximum(y1 + CORE_Y[0] * h, 0.0), height).astype(np.int64)
    cy2 = np.minimum(np.maximum(y1 + CORE_Y[1] * h, 0.0), height).astype(np.int64)
    large = (cx2 - cx1) * (cy2 - cy1) >= MIN_CORE_PIXELS
    return [(a, b, c, d) if ok else None
            for a, b, c, d, ok in zip(cy1.tolist(), cy2.tolist(), cx1.tolist(), cx2.tolist(), large.tolist())]


def box_core(image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """A copy of the core of a box of a BGR image (:func:`core_window`), ``(h, w, 3)``
    uint8, or ``None`` where the core is outside the image or too small."""
    window = core_window(image.shape, box)
    if window is None:
        return None
    y1, y2, x1, x2 = window
    return image[y1:y2, x1:x2].copy()


def core_histogram(core: np.ndarray) -> np.ndarray:
    """Hue-saturation histogram of a box core (:func:`box_core`), normalised to sum 1,
    ``(HUE_BINS * SATURATION_BINS,)`` float32."""
    hsv = cv2.cvtColor(core, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [HUE_BINS, SATURATION_BINS], [0, 180, 0, 256]).ravel()
    return hist / max(float(hist.sum()), 1.0)


def bhattacharyya(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya distance of two normalised histograms: 0 identical, 1 disjoint.

    NaN if either histogram is missing.
    """
    if np.isnan(a).any() or np.isnan(b).any():
        return float("nan")
    return float(cv2.compareHist(a.astype(np.float32), b.astype(np.float32), cv2.HISTCMP_BHATTACHARYYA))
