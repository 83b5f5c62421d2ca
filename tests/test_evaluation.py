from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vidal.errors import InputError
from vidal.evaluation import evaluate_tracking, frame_errors
from vidal.mot import MotBoxes, read_mot

from conftest import SHARED


def boxes(rows: list[tuple[int, int, float, float, float]], flag: float = 1.0) -> MotBoxes:
    """Rows of (frame, id, x, y, flag) with 10x10 boxes."""
    a = np.array(rows, float).reshape(-1, 5)
    xyxy = np.c_[a[:, 2], a[:, 3], a[:, 2] + 10, a[:, 3] + 10].astype(np.float32)
    return MotBoxes(a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), xyxy, a[:, 4].astype(np.float32))


GT = boxes([(f, 1, 0, 0, 1) for f in range(1, 5)] + [(f, 2, 50, 0, 1) for f in range(1, 5)])


def test_perfect_tracking() -> None:
    errors = frame_errors(GT, GT)
    assert errors.total.sum() == 0
    assert evaluate_tracking(GT, GT).mota == pytest.approx(1.0)


def test_swap_miss_and_false_positive() -> None:
    tracks = boxes(
        [(1, 7, 0, 0, 1), (2, 7, 0, 0, 1), (3, 9, 0, 0, 1), (4, 9, 0, 0, 1)]  # gt 1: 7 then 9 (switch at 3)
        + [(1, 8, 50, 0, 1), (2, 8, 50, 0, 1), (4, 8, 50, 0, 1)]  # gt 2 missed at frame 3
        + [(2, 5, 100, 100, 1)]  # false positive at frame 2
    )
    errors = frame_errors(GT, tracks)
    assert errors.id_switches.tolist() == [0, 0, 1, 0] and errors.switch_ids[2] == [1]
    assert errors.misses.tolist() == [0, 0, 1, 0] and errors.miss_ids[2] == [2]
    assert errors.false_positives.tolist() == [0, 1, 0, 0] and errors.fp_ids[1] == [5]
    scores = evaluate_tracking(GT, tracks)
    assert (scores.id_switches, scores.misses, scores.false_positives) == (1, 1, 1)


def test_ignore_regions_count_nothing() -> None:
    gt = boxes([(1, 1, 0, 0, 1), (1, 2, 50, 0, 0)])
    tracks = boxes([(1, 3, 0, 0, 1), (1, 4, 50, 0, 1)])
    assert frame_errors(gt, tracks).total.sum() == 0
    assert evaluate_tracking(gt, tracks).false_positives == 0


def test_read_mot_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_mot(tmp_path / "gt.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("1,2,3\n")
    with pytest.raises(InputError, match="bad.txt:1"):
        read_mot(bad)


@pytest.mark.shared
@pytest.mark.skipif(not (SHARED / "data").exists(), reason="../shared absent")
def test_frame_errors_agree_with_trackeval_on_real_gt() -> None:
    gt = read_mot(SHARED / "data" / "mot" / "TUD-Campus" / "gt" / "gt.txt")
    rng = np.random.default_rng(0)
    keep = rng.random(len(gt)) > 0.1  # drop 10% of boxes and jitter the rest
    tracks = MotBoxes(gt.frame[keep], gt.track_id[keep], gt.xyxy[keep] + rng.normal(0, 3, (int(keep.sum()), 4)).astype(np.float32), gt.flag[keep])
    scores, errors = evaluate_tracking(gt, tracks), frame_errors(gt, tracks)
    assert errors.misses.sum() == scores.misses
    assert errors.false_positives.sum() == scores.false_positives
    assert errors.id_switches.sum() == scores.id_switches
