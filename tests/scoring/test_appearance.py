from __future__ import annotations

import numpy as np
import pytest

from vidal.scoring.appearance import HUE_BINS, SATURATION_BINS, bhattacharyya, box_core, core_histogram, core_window


def image_with(colours: list[tuple[int, int, int]]) -> np.ndarray:
    """A 100 x 200 image with one 40 x 80 block of each BGR colour, side by side."""
    out = np.zeros((100, 200, 3), np.uint8)
    for k, colour in enumerate(colours):
        out[10:90, 10 + 50 * k : 50 + 50 * k] = colour
    return out


BOXES = np.array([[10 + 50 * k, 10, 50 + 50 * k, 90] for k in range(4)], np.float32)


def histogram(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The histogram of a box's core, as the track history takes it."""
    core = box_core(image, box)
    assert core is not None
    return core_histogram(core)


def test_histograms_are_normalised() -> None:
    image = image_with([(0, 0, 255), (255, 0, 0)])
    for box in BOXES[:2]:
        hist = histogram(image, box)
        assert hist.shape == (HUE_BINS * SATURATION_BINS,) and hist.dtype == np.float32
        np.testing.assert_allclose(hist.sum(), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    ("a", "b", "low", "high"),
    [
        ((0, 0, 255), (0, 0, 255), 0.0, 0.05),  # same red
        ((0, 0, 255), (0, 0, 120), 0.0, 0.05),  # red in shadow: hue and saturation unchanged
        ((0, 0, 255), (255, 0, 0), 0.95, 1.0),  # red against blue
    ],
)
def test_bhattacharyya_distance(a, b, low: float, high: float) -> None:
    image = image_with([a, b])
    assert low <= bhattacharyya(histogram(image, BOXES[0]), histogram(image, BOXES[1])) <= high


def test_boxes_outside_or_tiny_give_no_histogram() -> None:
    boxes = np.array([[300, 300, 340, 380], [10, 10, 14, 14]], np.float32)
    image = image_with([(0, 0, 255)])
    for box in boxes:
        assert core_window(image.shape, box) is None and box_core(image, box) is None
    missing = np.full(HUE_BINS * SATURATION_BINS, np.nan, np.float32)
    assert np.isnan(bhattacharyya(missing, missing))
