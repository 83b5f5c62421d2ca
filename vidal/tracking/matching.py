"""Box overlap and linear assignment. The only importer of ``lap``."""

from __future__ import annotations

from dataclasses import dataclass

import lap
import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``xyxy`` boxes.

    Args:
        a: Shape ``(N, 4)``.
        b: Shape ``(M, 4)``.

    Returns:
        IoU matrix, shape ``(N, M)``, float64.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


@dataclass
class Assignment:
    """Result of one linear assignment over a cost matrix of shape ``(N, M)``.

    Attributes:
        matches: Matched ``(row, col)`` pairs, shape ``(K, 2)``, int64.
        unmatched_rows: Rows (tracks) left without a match.
        unmatched_cols: Columns (detections) left without a match.
        cost: Cost of each match, shape ``(K,)``.
        next_cost: The cheapest alternative cost of each match: the lowest cost of the
            same row with another column or of the same column with another row, shape
            ``(K,)``; ``inf`` where there is none. ``next_cost - cost`` is the margin of the
            decision.
    """

    matches: np.ndarray
    unmatched_rows: np.ndarray
    unmatched_cols: np.ndarray
    cost: np.ndarray
    next_cost: np.ndarray


def linear_assignment(cost: np.ndarray, threshold: float) -> Assignment:
    """Minimum-cost matching with a cost limit (Jonker-Volgenant via ``lap``).

    Args:
        cost: Cost matrix, shape ``(N, M)``.
        threshold: Pairs costing more than this are never matched.

    Returns:
        The :class:`Assignment`.
    """
    n, m = cost.shape
    if n == 0 or m == 0:
        empty = np.zeros(0)
        return Assignment(np.zeros((0, 2), np.int64), np.arange(n), np.arange(m), empty, empty)
    _, row_to_col, col_to_row = lap.lapjv(cost, extend_cost=True, cost_limit=threshold)
    rows = np.flatnonzero(row_to_col >= 0)
    cols = row_to_col[rows].astype(np.int64)
    matches = np.stack([rows, cols], axis=1)
    chosen = cost[rows, cols]
    next_cost = np.full(len(rows), np.inf)
    for k, (r, c) in enumerate(matches):
        row = np.delete(cost[r], c)
        col = np.delete(cost[:, c], r)
        candidates = np.r_[row, col]
        if len(candidates):
            next_cost[k] = candidates.min()
    return Assignment(
        matches=matches,
        unmatched_rows=np.flatnonzero(row_to_col < 0),
        unmatched_cols=np.flatnonzero(col_to_row < 0),
        cost=chosen,
        next_cost=next_cost,
    )
