from __future__ import annotations

import numpy as np
import pytest

from vidal.scoring.appearance import HUE_BINS, SATURATION_BINS, bhattacharyya, box_histograms


def image_with(colours: list[tuple[int, int, int]]) -> np.ndarray:
    """A 100 x 200 image with one 40 x 80 block of each BGR colour, side by side."""
    out = np.zeros((100, 200, 3), np.uint8)
    for k, colour in enumerate(colours):
        out[10:90, 10 + 50 * k : 50 + 50 * k] = colour
    return out


BOXES = np.array([[10 + 50 * k, 10, 50 + 50 * k, 90] for k in range(4)], np.float32)


def test_histograms_are_normalised() -> None:
    hist = box_histograms(image_with([(0, 0, 255), (255, 0, 0)]), BOXES[:2])
    assert hist.shape == (2, HUE_BINS * SATURATION_BINS) and hist.dtype == np.float32
    np.testing.assert_allclose(hist.sum(1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    ("a", "b", "low", "high"),
    [
        ((0, 0, 255), (0, 0, 255), 0.0, 0.05),  # same red
        ((0, 0, 255), (0, 0, 120), 0.0, 0.05),  # red in shadow: hue and saturation unchanged
        ((0, 0, 255), (255, 0, 0), 0.95, 1.0),  # red against blue
    ],
)
def test_bhattacharyya_distance(a, b, low: float, high: float) -> None:
    hist = box_histograms(image_with([a, b]), BOXES[:2])
    assert low <= bhattacharyya(hist[0], hist[1]) <= high


def test_boxes_outside_or_tiny_give_nan() -> None:
    boxes = np.array([[300, 300, 340, 380], [10, 10, 14, 14]], np.float32)
    hist = box_histograms(image_with([(0, 0, 255)]), boxes)
    assert np.isnan(hist).all()
    assert np.isnan(bhattacharyya(hist[0], hist[1]))
