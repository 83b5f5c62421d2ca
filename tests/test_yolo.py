"""YOLO label files: one normalised ``class cx cy w h`` line per box, clipped to the image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vidal.yolo import write_yolo_labels, yolo_lines


@pytest.mark.parametrize(
    ("box", "class_id", "line"),
    [
        ((20, 10, 60, 50), 0, "0 0.200000 0.300000 0.200000 0.400000"),  # inside a 200 x 100 image
        ((-20, 10, 20, 50), 3, "3 0.050000 0.300000 0.100000 0.400000"),  # clipped at the left
        ((180, 80, 240, 130), 1, "1 0.950000 0.900000 0.100000 0.200000"),  # clipped right and bottom
        ((210, 10, 260, 50), 0, None),  # wholly outside: no line
        ((50, 10, 50, 50), 0, None),  # no width
    ],
)
def test_lines(box: tuple[float, ...], class_id: int, line: str | None) -> None:
    assert yolo_lines(np.array([box], np.float32), np.array([class_id]), 200, 100) == ([line] if line else [])


def test_file_round_trips_and_empty_image_gets_empty_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    corner = rng.uniform(0, [600, 440], (20, 2))
    xyxy = np.concatenate([corner, corner + rng.uniform(5, 100, (20, 2))], axis=1)
    xyxy = xyxy.clip(0, [640, 480, 640, 480])
    assert write_yolo_labels(tmp_path / "a.txt", xyxy, np.arange(20) % 3, 640, 480) == 20
    rows = np.loadtxt(tmp_path / "a.txt")
    assert rows[:, 0].tolist() == (np.arange(20) % 3).tolist()
    cx, cy, w, h = rows[:, 1:].T
    back = np.stack([(cx - w / 2) * 640, (cy - h / 2) * 480, (cx + w / 2) * 640, (cy + h / 2) * 480], axis=1)
    np.testing.assert_allclose(back, xyxy, atol=1e-3)
    assert write_yolo_labels(tmp_path / "b.txt", np.zeros((0, 4)), [], 640, 480) == 0
    assert (tmp_path / "b.txt").read_text() == ""


def test_class_ids_must_match_boxes() -> None:
    with pytest.raises(ValueError, match=r"class_id must have shape \(2,\)"):
        yolo_lines(np.zeros((2, 4)), [0], 10, 10)
