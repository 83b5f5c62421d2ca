from __future__ import annotations

import numpy as np
import pytest

from vidal.tracking.matching import box_iou, linear_assignment


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),
        ([0, 0, 10, 10], [2, 2, 8, 8], 36 / 100),
    ],
)
def test_box_iou(a: list[float], b: list[float], expected: float) -> None:
    assert box_iou(np.array([a]), np.array([b]))[0, 0] == pytest.approx(expected)


def test_box_iou_empty_shapes() -> None:
    assert box_iou(np.zeros((0, 4)), np.zeros((3, 4))).shape == (0, 3)


def test_assignment_respects_threshold_and_reports_margin() -> None:
    cost = np.array([[0.1, 0.3, 0.9], [0.2, 0.95, 0.9]])
    result = linear_assignment(cost, threshold=0.5)
    assert sorted(map(tuple, result.matches.tolist())) == [(0, 1), (1, 0)]
    assert result.unmatched_cols.tolist() == [2]
    by_row = {int(r): k for k, (r, _) in enumerate(result.matches)}
    # row 0 took col 1 (0.3); its best alternative is col 0 at 0.1 in its own row
    assert result.next_cost[by_row[0]] == pytest.approx(0.1)
    assert result.cost[by_row[1]] == pytest.approx(0.2)


def test_assignment_no_alternative_is_inf() -> None:
    result = linear_assignment(np.array([[0.2]]), threshold=0.5)
    assert result.next_cost.tolist() == [np.inf]


def test_assignment_empty() -> None:
    result = linear_assignment(np.zeros((0, 2)), 0.5)
    assert len(result.matches) == 0 and result.unmatched_cols.tolist() == [0, 1]
