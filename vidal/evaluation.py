"""Tracking metrics (MOTA, IDF1, HOTA) with TrackEval, on MOTChallenge files.

TrackEval's metric classes are used directly on data built here, with the MOTChallenge
pre-processing: ground-truth boxes flagged 0 are ignore regions, and tracker boxes that
match them (IoU >= 0.5) are removed before scoring, as TrackEval's MOTChallenge loader does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vidal.mot import MotBoxes
from vidal.tracking.matching import box_iou, linear_assignment

# CLEAR-MOT and IDF1 count a match at IoU >= 0.5 (Bernardin & Stiefelhagen, 2008).
MATCH_IOU = 0.5


@dataclass
class TrackingScores:
    """Headline tracking metrics of one sequence."""

    mota: float
    idf1: float
    hota: float
    id_switches: int
    false_positives: int
    misses: int
    gt_boxes: int
    tracker_boxes: int

    def as_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def _relabel(ids: np.ndarray) -> tuple[np.ndarray, int]:
    unique, inverse = np.unique(ids, return_inverse=True)
    return inverse.astype(np.int64), len(unique)


def _sequence_data(gt: MotBoxes, tracks: MotBoxes, frames: Sequence[int]) -> dict[str, object]:
    gt_ids_all, n_gt = _relabel(gt.track_id) if len(gt) else (gt.track_id, 0)
    tr_ids_all, n_tr = _relabel(tracks.track_id) if len(tracks) else (tracks.track_id, 0)
    data: dict[str, object] = {"gt_ids": [], "tracker_ids": [], "similarity_scores": []}
    kept_gt_ids: set[int] = set()
    kept_tr_ids: set[int] = set()
    n_gt_dets = n_tr_dets = 0
    for frame in frames:
        g = gt.frame == frame
        t = tracks.frame == frame
        g_xyxy, g_ids, g_flag = gt.xyxy[g], gt_ids_all[g], gt.flag[g]
        t_xyxy, t_ids = tracks.xyxy[t], tr_ids_all[t]
        ignore = g_flag == 0
        if ignore.any() and len(t_xyxy):
            iou = box_iou(g_xyxy, t_xyxy)
            cost = np.where(iou >= MATCH_IOU, 1.0 - iou, 1e6)
            assignment = linear_assignment(cost, 1.0 - MATCH_IOU)
            drop = [c for r, c in assignment.matches if ignore[r]]
            keep_t = np.ones(len(t_xyxy), bool)
            keep_t[drop] = False
            t_xyxy, t_ids = t_xyxy[keep_t], t_ids[keep_t]
        g_xyxy, g_ids = g_xyxy[~ignore], g_ids[~ignore]
        data["gt_ids"].append(g_ids)  # type: ignore[union-attr]
        data["tracker_ids"].append(t_ids)  # type: ignore[union-attr]
        data["similarity_scores"].append(box_iou(g_xyxy, t_xyxy))  # type: ignore[union-attr]
        kept_gt_ids.update(g_ids.tolist())
        kept_tr_ids.update(t_ids.tolist())
        n_gt_dets += len(g_ids)
        n_tr_dets += len(t_ids)
    # TrackEval wants contiguous ids over the kept boxes.
    gt_map = {old: new for new, old in enumerate(sorted(kept_gt_ids))}
    tr_map = {old: new for new, old in enumerate(sorted(kept_tr_ids))}
    data["gt_ids"] = [np.array([gt_map[i] for i in ids], np.int64) for ids in data["gt_ids"]]  # type: ignore[attr-defined]
    data["tracker_ids"] = [np.array([tr_map[i] for i in ids], np.int64) for ids in data["tracker_ids"]]  # type: ignore[attr-defined]
    data.update(
        num_timesteps=len(frames),
        num_gt_ids=len(gt_map),
        num_tracker_ids=len(tr_map),
        num_gt_dets=n_gt_dets,
        num_tracker_dets=n_tr_dets,
    )
    return data


def evaluate_tracking(gt: MotBoxes, tracks: MotBoxes, frames: Sequence[int] | None = None) -> TrackingScores:
    """Score tracker output against ground truth.

    Args:
        gt: Ground truth (flag 0 rows are ignore regions).
        tracks: Tracker output.
        frames: The frames to score (default: every frame of the ground truth).

    Returns:
        The :class:`TrackingScores`.
    """
    from trackeval.metrics import CLEAR, HOTA, Identity

    if frames is None:
        frames = list(range(1, int(gt.frame.max()) + 1)) if len(gt) else []
    data = _sequence_data(gt, tracks, frames)
    quiet = {"PRINT_CONFIG": False, "THRESHOLD": MATCH_IOU}
    clear = CLEAR(quiet).eval_sequence(data)
    identity = Identity(quiet).eval_sequence(data)
    hota = HOTA().eval_sequence(data)
    return TrackingScores(
        mota=float(clear["MOTA"]),
        idf1=float(identity["IDF1"]),
        hota=float(np.mean(hota["HOTA"])),
        id_switches=int(clear["IDSW"]),
        false_positives=int(clear["CLR_FP"]),
        misses=int(clear["CLR_FN"]),
        gt_boxes=int(data["num_gt_dets"]),  # type: ignore[arg-type]
        tracker_boxes=int(data["num_tracker_dets"]),  # type: ignore[arg-type]
    )


@dataclass
class FrameErrors:
    """Tracking errors per frame, from CLEAR-MOT matching (``F`` frames).

    Attributes:
        frame: Frame numbers ``(F,)``.
        misses: Ground-truth boxes with no tracker box, ``(F,)``.
        false_positives: Tracker boxes with no ground-truth box, ``(F,)``.
        id_switches: Ground-truth identities matched to another track than last time, ``(F,)``.
        miss_ids: Per frame, the ground-truth ids missed.
        fp_ids: Per frame, the tracker ids of false positives.
        switch_ids: Per frame, the ground-truth ids that switched.
    """

    frame: np.ndarray
    misses: np.ndarray
    false_positives: np.ndarray
    id_switches: np.ndarray
    miss_ids: list[list[int]]
    fp_ids: list[list[int]]
    switch_ids: list[list[int]]

    @property
    def total(self) -> np.ndarray:
        """All errors per frame."""
        return self.misses + self.false_positives + self.id_switches


def frame_errors(gt: MotBoxes, tracks: MotBoxes, frames: Sequence[int] | None = None) -> FrameErrors:
    """CLEAR-MOT errors frame by frame (Bernardin & Stiefelhagen, 2008).

    A ground-truth box keeps last frame's tracker if they still overlap at IoU >= 0.5;
    the rest are matched by maximum IoU (Hungarian). A switch is counted when a
    ground-truth identity is matched to a different tracker id than at its last match.
    Ground-truth boxes flagged 0 are ignore regions: tracker boxes on them count nothing.
    """
    if frames is None:
        last = max(int(gt.frame.max()) if len(gt) else 0, int(tracks.frame.max()) if len(tracks) else 0)
        frames = list(range(1, last + 1))
    last_match: dict[int, int] = {}
    previous: dict[int, int] = {}
    out = {"misses": [], "fps": [], "switches": [], "miss_ids": [], "fp_ids": [], "switch_ids": []}
    for frame in frames:
        g, t = gt.at(frame), tracks.at(frame)
        ignore = g.flag == 0
        iou = box_iou(g.xyxy, t.xyxy)
        matched_t: set[int] = set()
        pairs: dict[int, int] = {}
        for gi in range(len(g)):
            if ignore[gi]:
                continue
            gid = int(g.track_id[gi])
            if gid in previous:
                hits = np.flatnonzero((t.track_id == previous[gid]) & (iou[gi] >= MATCH_IOU))
                if len(hits) and int(hits[0]) not in matched_t:
                    pairs[gi] = int(hits[0])
                    matched_t.add(int(hits[0]))
        rows = [i for i in range(len(g)) if i not in pairs and not ignore[i]]
        cols = [j for j in range(len(t)) if j not in matched_t]
        if rows and cols:
            sub = iou[np.ix_(rows, cols)]
            cost = np.where(sub >= MATCH_IOU, 1.0 - sub, 1e6)
            for r, c in linear_assignment(cost, 1.0 - MATCH_IOU).matches:
                pairs[rows[r]] = cols[c]
                matched_t.add(cols[c])
        # Tracker boxes on ignore regions are neither matches nor false positives.
        free = [j for j in range(len(t)) if j not in matched_t]
        ignored_rows = np.flatnonzero(ignore)
        if len(ignored_rows) and free:
            sub = iou[np.ix_(ignored_rows, free)]
            cost = np.where(sub >= MATCH_IOU, 1.0 - sub, 1e6)
            for _, c in linear_assignment(cost, 1.0 - MATCH_IOU).matches:
                matched_t.add(free[c])
        switches = []
        current: dict[int, int] = {}
        for gi, tj in pairs.items():
            gid, tid = int(g.track_id[gi]), int(t.track_id[tj])
            if gid in last_match and last_match[gid] != tid:
                switches.append(gid)
            last_match[gid] = tid
            current[gid] = tid
        previous = current
        missed = [int(g.track_id[i]) for i in range(len(g)) if i not in pairs and not ignore[i]]
        false_pos = [int(t.track_id[j]) for j in range(len(t)) if j not in matched_t]
        out["misses"].append(len(missed))
        out["fps"].append(len(false_pos))
        out["switches"].append(len(switches))
        out["miss_ids"].append(missed)
        out["fp_ids"].append(false_pos)
        out["switch_ids"].append(switches)
    return FrameErrors(
        frame=np.asarray(list(frames), np.int64),
        misses=np.asarray(out["misses"], np.int64),
        false_positives=np.asarray(out["fps"], np.int64),
        id_switches=np.asarray(out["switches"], np.int64),
        miss_ids=out["miss_ids"],
        fp_ids=out["fp_ids"],
        switch_ids=out["switch_ids"],
    )


@dataclass
class LabelQuality:
    """Labels scored against ground truth box by box: a label is right when it overlaps an
    unmatched ground-truth box of its class at IoU >= 0.5 (one-to-one, optimal per frame)."""

    true_positives: int
    false_positives: int
    misses: int

    @property
    def precision(self) -> float:
        n = self.true_positives + self.false_positives
        return self.true_positives / n if n else 1.0

    @property
    def recall(self) -> float:
        n = self.true_positives + self.misses
        return self.true_positives / n if n else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: LabelQuality) -> LabelQuality:
        return LabelQuality(self.true_positives + other.true_positives, self.false_positives + other.false_positives,
                            self.misses + other.misses)


def label_quality(
    gt: tuple[np.ndarray, np.ndarray, np.ndarray],
    labels: tuple[np.ndarray, np.ndarray, np.ndarray],
    frames: Sequence[int],
    ignore: tuple[np.ndarray, np.ndarray] | None = None,
) -> LabelQuality:
    """Score labelled boxes against ground truth on ``frames``.

    Args:
        gt: ``(frame (N,), xyxy (N, 4), class name (N,))`` of the ground truth.
        labels: The same for the labels scored.
        frames: The frames scored (a frame without labels counts its ground truth as missed).
        ignore: ``(frame, xyxy)`` of ignore regions (MOTChallenge flag 0): labels matching one
            at IoU >= 0.5 count neither way.
    """
    total = LabelQuality(0, 0, 0)
    gf, gb, gl = gt
    lf, lb, ll = labels
    for number in frames:
        g, p = gf == number, lf == number
        boxes, names = lb[p], ll[p]
        if ignore is not None and len(boxes):
            regions = ignore[1][ignore[0] == number]
            if len(regions):
                kept = box_iou(boxes, regions).max(axis=1) < MATCH_IOU
                boxes, names = boxes[kept], names[kept]
        for name in set(gl[g].tolist()) | set(names.tolist()):
            a, b = gb[g][gl[g] == name], boxes[names == name]
            matched = len(linear_assignment(1.0 - box_iou(a, b), 1.0 - MATCH_IOU).matches) if len(a) and len(b) else 0
            total += LabelQuality(matched, len(b) - matched, len(a) - matched)
    return total
