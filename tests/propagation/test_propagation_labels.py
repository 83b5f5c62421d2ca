"""Propagated labels: duplicates, their MOTChallenge form (:mod:`vidal.propagation.labels`) and
their quality against ground truth (:func:`vidal.evaluation.label_quality`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vidal.evaluation import LabelQuality, label_quality
from vidal.mot import read_mot
from vidal.propagation import Labels, Source, drop_duplicates, write_mot_labels
from vidal.propagation.labels import drop_contained, inside_share


def labels(*rows: tuple[int, int, list[float], str, float, Source]) -> Labels:
    """Labels from ``(frame, object_id, xyxy, label, confidence, source)`` rows."""
    n = len(rows)
    return Labels(frame=np.array([r[0] for r in rows], np.int64), object_id=np.array([r[1] for r in rows], np.int64),
                  xyxy=np.array([r[2] for r in rows], np.float32).reshape(-1, 4),
                  label=np.array([r[3] for r in rows], object), confidence=np.array([r[4] for r in rows], np.float32),
                  source=np.array([r[5] for r in rows], np.int8), keyframe_before=np.full(n, -1, np.int64),
                  keyframe_after=np.full(n, -1, np.int64))


BOX = [0, 0, 100, 100]
NEAR = [0, 0, 100, 110]  # IoU 0.91 with BOX
SHIFTED = [0, 20, 100, 120]  # IoU 0.67 with BOX, 0.75 with NEAR


def kept(result: Labels) -> list[int]:
    return sorted(result.object_id.tolist())


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_drop_duplicates_keeps_the_surer_of_two_labels_of_one_class(order: tuple[int, int]) -> None:
    rows = [(3, 1, BOX, "car", 0.6, Source.TRACK), (3, 2, NEAR, "car", 0.9, Source.FOLLOWED)]
    assert kept(drop_duplicates(labels(*[rows[k] for k in order]), 0.7)) == [2]


def test_drop_duplicates_keeps_labels_below_the_iou() -> None:
    rows = labels((3, 1, BOX, "car", 0.6, Source.UNCONFIRMED), (3, 2, SHIFTED, "car", 0.9, Source.TRACK))
    assert kept(drop_duplicates(rows, 0.7)) == [1, 2]
    assert kept(drop_duplicates(rows, 0.6)) == [2]


def test_drop_duplicates_keeps_two_confirmed_tracks_that_cross() -> None:
    # Keyframes matched the two tracks to two human boxes: two objects, however much they overlap.
    rows = labels((3, 1, BOX, "car", 0.85, Source.TRACK), (3, 2, NEAR, "car", 0.95, Source.TRACK))
    assert kept(drop_duplicates(rows, 0.7)) == [1, 2]


def test_drop_duplicates_keeps_different_classes_and_frames() -> None:
    rows = labels((3, 1, BOX, "car", 0.6, Source.TRACK), (3, 2, BOX, "truck", 0.9, Source.TRACK),
                  (4, 3, BOX, "car", 0.9, Source.TRACK))
    assert kept(drop_duplicates(rows, 0.7)) == [1, 2, 3]


def test_drop_duplicates_never_drops_a_human_label() -> None:
    rows = labels((3, 1, BOX, "car", 1.0, Source.HUMAN), (3, 2, NEAR, "car", 1.0, Source.HUMAN),
                  (3, 3, BOX, "car", 0.95, Source.TRACK))
    assert kept(drop_duplicates(rows, 0.7)) == [1, 2]


def test_drop_duplicates_a_dropped_label_drops_nothing() -> None:
    # 1 drops 2; 2 would drop 3, but 3 overlaps 1 too little to be its duplicate
    rows = labels((3, 1, BOX, "car", 0.9, Source.TRACK), (3, 2, NEAR, "car", 0.8, Source.UNCONFIRMED),
                  (3, 3, SHIFTED, "car", 0.7, Source.UNCONFIRMED))
    assert kept(drop_duplicates(rows, 0.7)) == [1, 3]


def test_drop_duplicates_of_nothing() -> None:
    assert len(drop_duplicates(Labels.empty(), 0.7)) == 0


UPPER_BODY = [20, 0, 80, 50]  # wholly inside BOX, IoU 0.3 with it
HALF_OUT = [50, 0, 150, 50]  # half inside BOX


def test_inside_share_is_the_share_of_the_first_box() -> None:
    share = inside_share(np.array([UPPER_BODY, HALF_OUT, BOX], np.float32), np.array([BOX], np.float32))
    np.testing.assert_allclose(share[:, 0], [1.0, 0.5, 1.0])
    assert inside_share(np.zeros((0, 4), np.float32), np.array([BOX], np.float32)).shape == (0, 1)


@pytest.mark.parametrize("whole", [Source.TRACK, Source.HUMAN, Source.FOLLOWED, Source.INTERPOLATED])
def test_drop_contained_drops_an_unconfirmed_part_of_a_confirmed_label(whole: Source) -> None:
    rows = labels((1, 1, BOX, "person", 0.95, whole), (1, 2, UPPER_BODY, "person", 0.7, Source.UNCONFIRMED),
                  (1, 3, HALF_OUT, "person", 0.7, Source.UNCONFIRMED))
    assert kept(drop_contained(rows, 0.8)) == [1, 3]
    assert kept(drop_contained(rows, 0.4)) == [1]


def test_drop_contained_keeps_confirmed_labels_other_classes_and_frames() -> None:
    rows = labels((1, 1, BOX, "person", 0.95, Source.TRACK), (1, 2, UPPER_BODY, "person", 0.95, Source.TRACK),
                  (1, 3, UPPER_BODY, "bicycle", 0.7, Source.UNCONFIRMED),
                  (2, 4, UPPER_BODY, "person", 0.7, Source.UNCONFIRMED),
                  (3, 5, BOX, "person", 0.7, Source.UNCONFIRMED), (3, 6, UPPER_BODY, "person", 0.7, Source.UNCONFIRMED))
    # a confirmed part stays (a reviewed frame matched it: a person behind another); an
    # unconfirmed label inside another unconfirmed one is no part of anything confirmed
    assert kept(drop_contained(rows, 0.8)) == [1, 2, 3, 4, 5, 6]
    assert len(drop_contained(Labels.empty(), 0.8)) == 0


def test_write_mot_labels_rows_and_classes(tmp_path: Path) -> None:
    rows = labels((7, 2, [10.5, 20.25, 40.5, 80.0], "truck", 0.85, Source.TRACK),
                  (3, 9, [1, 2, 11, 22], "car", 0.123456, Source.FOLLOWED),
                  (3, 4, [5, 6, 15, 26], "car", 0.97, Source.HUMAN))
    path = write_mot_labels(tmp_path / "out", "video", rows, ["car", "person", "truck"])
    assert path == tmp_path / "out" / "video.txt"
    assert path.read_text().splitlines() == [
        "3,4,5.00,6.00,10.00,20.00,1.0000,1,-1,-1",  # by frame, then id; a human box's conf is 1
        "3,9,1.00,2.00,10.00,20.00,0.1235,1,-1,-1",
        "7,2,10.50,20.25,30.00,59.75,0.8500,3,-1,-1",  # class 3: the third line of classes.txt
    ]
    assert (tmp_path / "out" / "classes.txt").read_text() == "car\nperson\ntruck\n"
    back = read_mot(path)
    np.testing.assert_allclose(back.xyxy, [[5, 6, 15, 26], [1, 2, 11, 22], [10.5, 20.25, 40.5, 80]])


def test_labels_keyframes_of_a_row() -> None:
    rows = labels((3, 1, BOX, "car", 0.9, Source.TRACK), (3, 2, BOX, "car", 0.9, Source.TRACK))
    rows.keyframe_before[:] = [1, -1]
    rows.keyframe_after[:] = [8, 8]
    assert rows.keyframes(0) == (1, 8) and rows.keyframes(1) == (8,)


def boxes(*rows: tuple[int, list[float], str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.float32).reshape(-1, 4),
            np.array([r[2] for r in rows], object))


GT = boxes((1, [0, 0, 10, 10], "person"), (1, [20, 0, 30, 10], "car"), (2, [0, 0, 10, 10], "person"),
           (9, [0, 0, 10, 10], "person"))


def test_label_quality_class_mismatch_and_missed_frame() -> None:
    scored = boxes((1, [1, 0, 11, 10], "person"),  # right: IoU 0.82
                   (1, [20, 0, 30, 10], "person"),  # on the car but called a person: wrong, and the car missed
                   (9, [50, 50, 60, 60], "person"))  # frame 9 is not scored
    quality = label_quality(GT, scored, [1, 2])  # frame 2 has no labels: its person is missed
    assert quality == LabelQuality(1, 1, 2)
    assert quality.precision == pytest.approx(0.5) and quality.recall == pytest.approx(1 / 3)
    assert quality.f1 == pytest.approx(0.4)


def test_label_quality_one_to_one_and_ignore_regions() -> None:
    scored = boxes((1, [0, 0, 10, 10], "person"), (1, [0, 0, 10, 11], "person"),  # two labels on one person
                   (1, [20, 0, 30, 10], "car"), (2, [0, 0, 10, 10], "person"),
                   (2, [100, 100, 140, 140], "person"), (2, [200, 0, 220, 20], "car"))
    ignore = (np.array([2, 1]), np.array([[102, 100, 142, 140], [200, 0, 220, 20]], np.float32))
    quality = label_quality(GT, scored, [1, 2], ignore)
    # frame 1: person right, its double wrong, car right; frame 2: person right, the label in the
    # ignore region counts neither way; the car on frame 2 is wrong (the ignore region is frame 1's)
    assert quality == LabelQuality(3, 2, 0)
    assert label_quality(GT, scored, [1, 2]) == LabelQuality(3, 3, 0)


def test_label_quality_of_no_boxes_is_perfect() -> None:
    empty = boxes()
    quality = label_quality(empty, empty, [1, 2])
    assert quality == LabelQuality(0, 0, 0) and quality.precision == 1.0 and quality.recall == 1.0
    assert quality + LabelQuality(2, 1, 3) == LabelQuality(2, 1, 3)
