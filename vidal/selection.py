"""Frame selection: which frames to send to a human, given their scores and a budget.

Selection is separate from scoring: a strategy is a plain function registered by name,
taking a :class:`FrameTable`, a budget, a minimum gap and a ``numpy`` random generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from vidal.representation import density, k_center_greedy, kmeans, typicality


@dataclass
class FrameTable:
    """Per-frame figures of a run, for ``F`` processed frames.

    Attributes:
        frame: 1-based frame numbers, increasing, ``(F,)`` int64.
        score: The frame score of the full strategy, ``(F,)`` float64.
        least_confidence: Mean of ``1 - score`` over the frame's detections (0 without
            detections), ``(F,)``: the "least confident" baseline.
        entropy: Sum of the binary entropy of the frame's detection scores, ``(F,)``.
        committee: Sum of the ``committee`` signal over the frame's objects (the committee's
            disagreement on its detections), ``(F,)``; empty without the signal.
        events: The suspect events each frame shows, as parallel arrays over ``M``
            (frame, event) pairs: ``"frame_index"`` (index into the table, ``(M,)`` int64),
            ``"event"`` (event id, ``(M,)`` int64) and ``"value"`` (the share of the frame's
            score that the event makes, ``(M,)`` float64). Empty: every frame stands alone.
        labelled: Frame numbers labelled already, ``(K,)`` int64 (:func:`select` sets it
            for the strategies).
        stretches: The track boxes of the run as parallel arrays over ``B`` boxes:
            ``"frame_index"`` (index into the table, ``(B,)`` int64) and ``"stretch"`` (the
            box's track stretch between identity breaks, :func:`stretch_ids`, ``(B,)`` int64);
            what the ``propagate`` strategy covers; optionally ``"track_id"`` and
            ``"class_id"`` (``(B,)`` int64: the class balance, :func:`balance_classes`, and
            :func:`class_coverage`). Empty: unknown.
        boxes: Number of detections per frame, ``(F,)`` int64 (the ``boxcount`` baseline).
            Empty: unknown.
        switches: The likely identity switches (:func:`vidal.scoring.switch_points`) as
            parallel arrays over ``P`` points: ``"frame_index"`` (index into the table,
            ``(P,)`` int64) and ``"value"`` (``(P,)`` float64); what the ``cover`` strategy
            covers besides the events. Empty: none known.
        embedding: Each frame's embedding from the detector's features (:mod:`vidal.embeddings`),
            L2-normalised, ``(F, D)`` float32, for the strategies of :data:`EMBEDDING_STRATEGIES`;
            ``None``: not computed.
        labelled_embedding: The embeddings of labelled frames the run processed, ``(K, D)``
            float32 (:func:`select` sets it with :attr:`labelled`); ``None``: none.
    """

    frame: np.ndarray
    score: np.ndarray
    least_confidence: np.ndarray
    entropy: np.ndarray
    events: dict[str, np.ndarray] = field(default_factory=dict)
    labelled: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    stretches: dict[str, np.ndarray] = field(default_factory=dict)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    switches: dict[str, np.ndarray] = field(default_factory=dict)
    embedding: np.ndarray | None = None
    labelled_embedding: np.ndarray | None = None
    committee: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.frame)

    def subset(self, keep: np.ndarray) -> FrameTable:
        """The rows ``keep`` (boolean ``(F,)``) of the table, its events re-indexed."""
        index = np.full(len(self), -1, np.int64)
        index[keep] = np.arange(int(keep.sum()))
        events: dict[str, np.ndarray] = {}
        if self.events:
            rows = keep[self.events["frame_index"]]
            events = {name: values[rows] for name, values in self.events.items()}
            events["frame_index"] = index[events["frame_index"]]
        stretches: dict[str, np.ndarray] = {}
        if self.stretches:
            rows = keep[self.stretches["frame_index"]]
            stretches = {name: values[rows] for name, values in self.stretches.items()}
            stretches["frame_index"] = index[stretches["frame_index"]]
        switches: dict[str, np.ndarray] = {}
        if self.switches:
            rows = keep[self.switches["frame_index"]]
            switches = {"frame_index": index[self.switches["frame_index"][rows]], "value": self.switches["value"][rows]}
        return FrameTable(
            frame=self.frame[keep], score=self.score[keep], least_confidence=self.least_confidence[keep],
            entropy=self.entropy[keep], events=events, labelled=self.labelled, stretches=stretches,
            boxes=self.boxes[keep] if len(self.boxes) else self.boxes, switches=switches,
            embedding=None if self.embedding is None else self.embedding[keep],
            labelled_embedding=self.labelled_embedding,
            committee=self.committee[keep] if len(self.committee) else self.committee,
        )


Strategy = Callable[[FrameTable, int, int, np.random.Generator], np.ndarray]
STRATEGIES: dict[str, Strategy] = {}


def register_strategy(name: str) -> Callable[[Strategy], Strategy]:
    """Register a selection strategy under ``name``."""

    def decorate(function: Strategy) -> Strategy:
        STRATEGIES[name] = function
        return function

    return decorate


def greedy_with_gap(values: np.ndarray, frames: np.ndarray, budget: int, min_gap: int) -> np.ndarray:
    """Pick the highest values, keeping picked frames more than ``min_gap`` frames apart.

    Neighbouring frames of a video are near-duplicates; a labeling budget spent on ten
    frames of one moment teaches little. If the gap leaves fewer than ``budget``
    candidates, the rest of the budget is filled by value alone.

    Args:
        values: Per-frame value, ``(F,)``.
        frames: 1-based frame numbers, ``(F,)``.
        budget: How many frames to pick.
        min_gap: Minimum distance in frame numbers between picks (0 for none).

    Returns:
        Indices into ``values``, sorted by decreasing value, ``(min(budget, F),)``.
    """
    order = np.lexsort((frames, -values))
    budget = min(budget, len(values))
    picked: list[int] = []
    chosen_frames: list[int] = []
    for index in order:
        if len(picked) == budget:
            break
        frame = int(frames[index])
        if min_gap > 0 and any(abs(frame - other) <= min_gap for other in chosen_frames):
            continue
        picked.append(int(index))
        chosen_frames.append(frame)
    if len(picked) < budget:
        taken = set(picked)
        picked.extend(int(i) for i in order if int(i) not in taken)
        picked = picked[:budget]
    return np.asarray(picked, dtype=np.int64)


# Share of a suspect event's value that a frame still earns once another selected frame
# shows the event. At 1 a second frame of one occlusion would be worth nothing, and frames
# full of expected errors would be passed over for quiet frames with one fresh event; at 0
# the budget goes to the ten frames of the worst occlusion. One half: a frame must show
# twice the uncertainty in known events to beat one with fresh ones.
EVENT_DISCOUNT = 0.5


def greedy_events(
    values: np.ndarray,
    frames: np.ndarray,
    events: dict[str, np.ndarray],
    budget: int,
    min_gap: int,
    anchors: np.ndarray | None = None,
    covered: np.ndarray | None = None,
    points: dict[str, np.ndarray] | None = None,
    discount: float = EVENT_DISCOUNT,
) -> np.ndarray:
    """Pick frames by value, discounting the suspect events already shown, with a gap.

    A greedy maximisation of the total value of the selection, where the part of a frame's
    value that comes from an event already in a selected frame counts only
    :data:`EVENT_DISCOUNT` of itself: the budget spreads over distinct mistakes (one frame
    per occlusion, switch or short track rather than ten of one), while a frame with many
    expected errors still goes first. Frames within ``min_gap`` of a selected one are
    near-duplicates and suppressed (temporal non-maximum suppression); if that leaves fewer
    than ``budget`` candidates the rest is filled by value alone.

    Frames within ``min_gap`` of an anchor (a frame labelled already) are suppressed from
    the start, as those near a pick are.

    Once no open frame has any value left (fewer uncertain frames than the budget), the rest
    of the budget is spread evenly over the time that no pick and no ``covered`` frame shows
    yet (:func:`spread_picks`), rather than taken from the start of the video.

    Args:
        values: Per-frame value, ``(F,)``.
        frames: 1-based frame numbers, increasing, ``(F,)``.
        events: Frame-event pairs, as :attr:`FrameTable.events`.
        budget: How many frames to pick.
        min_gap: Minimum distance in frame numbers between picks (0 for none).
        anchors: Frame numbers labelled already (default none).
        covered: Frame numbers whose time counts as covered when the budget is spread
            (labelled frames; default: ``anchors``).
        points: Moments to cover, ``{"frame_index", "value"}`` as :attr:`FrameTable.switches`:
            a frame also gains the value of every point within ``min_gap`` frames of it that no
            pick covers yet (a pick shows its moment; default none).
        discount: The share of a shown event's value that other frames still earn
            (:data:`EVENT_DISCOUNT`; 1: shown events keep their value).

    Returns:
        Indices into ``values`` in the order picked, ``(min(budget, F),)``.
    """
    n = len(values)
    budget = min(budget, n)
    index = events.get("frame_index", np.zeros(0, np.int64))
    event = events.get("event", np.zeros(0, np.int64))
    share = events.get("value", np.zeros(0))
    gain = np.asarray(values, np.float64).copy()
    open_ = np.ones(n, bool)
    shown: set[int] = set()
    picked: list[int] = []
    if anchors is not None:
        open_ &= ~near(frames, anchors, min_gap)
    point_frame = np.zeros(0, np.int64)
    if points is not None and len(points.get("frame_index", ())):
        order = np.argsort(frames[points["frame_index"]], kind="stable")
        point_frame = frames[points["frame_index"]][order]
        point_value = np.asarray(points["value"], np.float64)[order]
        first = np.searchsorted(point_frame, frames - min_gap)
        last = np.searchsorted(point_frame, frames + min_gap, side="right")
    while len(picked) < budget and open_.any():
        total = gain
        if len(point_frame):
            running = np.concatenate([[0.0], np.cumsum(point_value)])
            total = gain + running[last] - running[first]
        best = int(np.flatnonzero(open_)[np.argmax(total[open_])])
        if total[best] <= 0.0:
            break
        picked.append(best)
        open_[best] = False
        if min_gap > 0:
            open_ &= np.abs(frames - frames[best]) > min_gap
        if len(point_frame):
            point_value[first[best]:last[best]] = 0.0
        fresh = {int(e) for e in event[index == best]} - shown
        if fresh:
            shown |= fresh
            hit = np.isin(event, list(fresh))
            np.subtract.at(gain, index[hit], (1.0 - discount) * share[hit])
    if len(picked) < budget and open_.any():
        known = anchors if covered is None else covered
        seen = np.concatenate([frames[picked], np.zeros(0, np.int64) if known is None else np.asarray(known, np.int64)])
        picked.extend(spread_picks(frames, open_, seen, budget - len(picked), min_gap).tolist())
    if len(picked) < budget:
        taken = set(picked)
        picked.extend(int(i) for i in np.lexsort((frames, -values)) if int(i) not in taken)
        picked = picked[:budget]
    return np.asarray(picked, dtype=np.int64)


def spread_picks(frames: np.ndarray, open_: np.ndarray, covered: np.ndarray, count: int, min_gap: int) -> np.ndarray:
    """Pick up to ``count`` of the ``open_`` frames, spread evenly over the uncovered time.

    Farthest-point picking: each pick is the open frame farthest from every covered frame
    and every earlier pick, the video's ends counting as mirrors (a frame ``d`` frames
    inside an end is ``2 d`` from its mirror image), so picks in an empty video land on the
    centres of equal bins, as ``uniform``'s do, and a stretch between two covered frames
    gets its middle. Ties go to the earlier frame. Picks stay more than ``min_gap`` apart.

    Args:
        frames: 1-based frame numbers, increasing, ``(F,)``.
        open_: Which frames may be picked, ``(F,)`` bool (not modified).
        covered: Frame numbers already shown (picked or labelled), ``(K,)``.
        count: How many frames to pick.
        min_gap: Minimum distance in frame numbers between picks.

    Returns:
        Indices into ``frames`` in the order picked, ``(<= count,)``.
    """
    if len(frames) == 0:
        return np.zeros(0, np.int64)
    frames = np.asarray(frames, np.float64)
    first, last = frames[0] - 0.5, frames[-1] + 0.5
    distance = 2.0 * np.minimum(frames - first, last - frames)
    for other in np.asarray(covered, np.float64):
        np.minimum(distance, np.abs(frames - other), out=distance)
    allowed = open_.copy()
    out: list[int] = []
    while len(out) < count and allowed.any():
        best = int(np.flatnonzero(allowed)[np.argmax(distance[allowed])])
        out.append(best)
        np.minimum(distance, np.abs(frames - frames[best]), out=distance)
        allowed &= np.abs(frames - frames[best]) > min_gap
    return np.asarray(out, np.int64)


@register_strategy("vidal")
def select_by_score(table: FrameTable, budget: int, min_gap: int, rng: np.random.Generator) -> np.ndarray:
    """The full strategy: the frames with the most expected mistakes, spread over distinct
    suspect events, near-duplicates in time suppressed (:func:`greedy_events`); when too few
    frames are uncertain, the rest spread over the time nothing covers yet."""
    return greedy_events(table.score, table.frame, table.events, budget, min_gap, covered=table.labelled)


@register_strategy("cover")
def select_cover(table: FrameTable, budget: int, min_gap: int, rng: np.random.Generator) -> np.ndarray:
    """vidal's default: the frames with the most expected mistakes, each likely identity switch
    counted once, in the first pick within ``min_gap`` frames of it (the same moment).

    A frame is worth its score (its expected mistakes) plus the likely identity switches
    (:attr:`FrameTable.switches`) within ``min_gap`` of it that no pick covers yet; picks stay
    more than ``min_gap`` apart. The switches, which no frame score singles out (a crowd of
    doubtful objects outweighs one switch), spread the budget over distinct moments instead
    of the crowded frames where uncertainty piles up. Measured against ``vidal`` on the shared
    videos with ground truth (``tools/bench_selection.py``, 5% budget), the ID-switch recall
    rose on both soccer games and ADL-Rundle-6 (0.75 -> 0.87, 0.60 -> 0.76, 0.73 -> 0.79 of
    the oracle's), and the lift stayed above ``uniform``'s on all five real videos, where
    ``vidal``'s fell below it on ADL-Rundle-6. Discounting events already shown, as ``vidal``
    does, lowered the lift on ADL-Rundle-6 below ``uniform``'s again: here they keep their
    value. Without switches this is ``vidal`` without the event discount.
    """
    return greedy_events(table.score, table.frame, table.events, budget, min_gap, covered=table.labelled,
                         points=table.switches, discount=1.0)


@register_strategy("coverage")
def select_with_coverage(table: FrameTable, budget: int, min_gap: int, rng: np.random.Generator) -> np.ndarray:
    """vidal's strategy held to coverage in time: typical frames first, uncertain ones later.

    With few labels a detector learns more from frames that cover the video than from its
    worst moments (Hacohen et al., "Active learning on a budget", ICML 2022); with many,
    from its mistakes. Here the gap between picks, and between a pick and a labelled frame,
    is at least half the ``spacing`` of frames evenly spread over the table's span once the
    labelled frames and the budget share it (and at least ``min_gap``); within that,
    :func:`greedy_events` picks by score. A small budget spreads like ``uniform``, taking
    the most uncertain frame of each stretch; as labels accumulate the spacing shrinks
    towards ``min_gap`` and the strategy becomes ``vidal``'s. Half: the midpoint between
    evenly spaced picks (a gap of ``spacing``) and none, not tuned.
    """
    if len(table) == 0:
        return np.zeros(0, np.int64)
    first, last = int(table.frame.min()), int(table.frame.max())
    anchors = np.asarray(table.labelled, np.int64)
    inside = int(((anchors >= first) & (anchors <= last)).sum())
    spacing = (last - first + 1) / (inside + min(budget, len(table)))
    gap = max(min_gap, int(spacing / 2))
    return greedy_events(table.score, table.frame, table.events, budget, gap, anchors)


def stretch_ids(frame_index: np.ndarray, track_id: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """Number the stretches of a run's tracks: a track's boxes from one identity break (an
    uncertain event after which the box may be another object) to the next.

    Args:
        frame_index: Each box's frame (index or number), ``(B,)``.
        track_id: Each box's track, ``(B,)``.
        breaks: An identity break happens at the box, ``(B,)`` bool.

    Returns:
        A stretch id per box, ``(B,)`` int64.
    """
    order = np.lexsort((frame_index, track_id))
    new = np.ones(len(order), bool)
    if len(order):
        t = np.asarray(track_id)[order]
        new[1:] = (t[1:] != t[:-1]) | np.asarray(breaks, bool)[order][1:]
    ids = np.empty(len(order), np.int64)
    ids[order] = np.cumsum(new) - 1
    return ids


@register_strategy("propagate")
def select_for_propagation(table: FrameTable, budget: int, min_gap: int, rng: np.random.Generator) -> np.ndarray:
    """Keyframes for propagation (``vidal propagate``): the frames from which a human's labels
    spread furthest along the tracks.

    A keyframe confirms every track stretch on it (the track's boxes between identity
    breaks); a box the tracker missed is carried by optical flow between neighbouring
    keyframes, which works best when keyframes are evenly spaced. So the video is cut into
    ``budget`` even bins (with frames labelled already, a refined grid, as ``uniform``'s), and
    each keyframe goes to the frame in the middle half of its bin that confirms the most track
    boxes no keyframe confirms yet, bins with the most to gain first. Ties go to the bin's
    centre. Without track stretches this is ``uniform``.
    """
    grid = select_uniform(table, budget, min_gap, rng)
    if not table.stretches or not len(grid):
        return grid
    n = len(table)
    index, stretch = table.stretches["frame_index"], table.stretches["stretch"]
    weight = np.bincount(stretch).astype(np.float64)
    covered = np.zeros(len(weight), bool)
    labelled = np.isin(table.frame, np.asarray(table.labelled, np.int64))
    covered[np.unique(stretch[labelled[index]])] = True
    centres = np.sort(grid)
    edges = np.r_[0, (centres[1:] + centres[:-1] + 1) // 2, n]
    windows = []
    for k, centre in enumerate(centres):
        lo, hi = edges[k], edges[k + 1]
        quarter = (hi - lo) // 4
        windows.append((max(lo + quarter, 0), min(hi - quarter, n), int(centre)))
    picked: dict[int, int] = {}
    while len(picked) < len(windows):
        gain = np.bincount(index, weights=np.where(covered[stretch], 0.0, weight[stretch]), minlength=n)
        best_bin, best_frame, best_gain = -1, -1, -1.0
        for k, (lo, hi, centre) in enumerate(windows):
            if k in picked:
                continue
            span = gain[lo:hi] if hi > lo else gain[centre:centre + 1]
            offset = lo if hi > lo else centre
            # the highest gain, nearest the centre on ties
            candidates = np.flatnonzero(span == span.max()) + offset
            frame = int(candidates[np.argmin(np.abs(candidates - centre))])
            if span.max() > best_gain:
                best_bin, best_frame, best_gain = k, frame, float(span.max())
        picked[best_bin] = best_frame
        covered[np.unique(stretch[index == best_frame])] = True
    return np.array(list(picked.values()), np.int64)


@register_strategy("confidence")
def select_least_confident(
    table: FrameTable, budget: int, min_gap: int, rng: np.random.Generator
) -> np.ndarray:
    """Baseline: frames whose detections are least confident on average; no tracking."""
    return greedy_with_gap(table.least_confidence, table.frame, budget, 0)


@register_strategy("entropy")
def select_entropy(table: FrameTable, budget: int, min_gap: int, rng: np.random.Generator) -> np.ndarray:
    """Baseline: frames with the largest summed detection-score entropy; no tracking."""
    return greedy_with_gap(table.entropy, table.frame, budget, 0)


@register_strategy("committee")
def select_committee(table: FrameTable, budget: int, min_gap: int, rng: np.random.Generator) -> np.ndarray:
    """Query-by-committee: the frames whose detections the committee disagrees on most (the
    ``committee`` signal summed over the frame: test-time views, other model versions),
    ``min_gap`` apart; no tracking.

    Raises:
        ValueError: The table has no committee values (a run without the committee signal).
    """
    if len(table) and len(table.committee) != len(table):
        raise ValueError("the committee strategy needs the committee signal's values: mine with "
                         "--strategy committee (it turns the signal on)")
    return greedy_with_gap(table.committee, table.frame, budget, min_gap)


@register_strategy("boxcount")
def select_boxcount(table: FrameTable, budget: int, min_gap: int, rng: np.random.Generator) -> np.ndarray:
    """Baseline: the frames with the most detections, ``min_gap`` apart; no uncertainty.

    What a frame score summed over objects drifts towards (crowded frames hold the most
    expected mistakes: the bias of image-level detection active learning, BLAD/ComPAS,
    CVPR 2023): a strategy that beats it does more than count boxes. Without box counts in
    the table it falls back to the number of track boxes per frame.
    """
    boxes = table.boxes
    if not len(boxes):
        index = table.stretches.get("frame_index", np.zeros(0, np.int64))
        boxes = np.bincount(index, minlength=len(table))
    return greedy_with_gap(np.asarray(boxes, np.float64), table.frame, budget, min_gap)


@register_strategy("random")
def select_random(table: FrameTable, budget: int, min_gap: int, rng: np.random.Generator) -> np.ndarray:
    """Baseline: frames drawn uniformly at random without replacement."""
    return rng.choice(len(table), size=min(budget, len(table)), replace=False).astype(np.int64)


@register_strategy("uniform")
def select_uniform(table: FrameTable, budget: int, min_gap: int, rng: np.random.Generator) -> np.ndarray:
    """Baseline: frames evenly spaced over the video (centre of each of ``budget`` bins).

    With frames labelled already between the table's first and last frame, the picks refine
    the grid they make instead of landing beside them (:func:`refine_grid`): over rounds of
    active learning the labelled frames are uniform's own earlier picks, and each round's
    picks fill the gaps its predecessors left.
    """
    n = len(table)
    budget = min(budget, n)
    if n == 0:
        return np.zeros(0, np.int64)
    labelled = np.asarray(table.labelled, np.int64)
    inside = labelled[(labelled >= table.frame[0]) & (labelled <= table.frame[-1])]
    if len(inside):
        return refine_grid(table.frame, inside, budget)
    positions = ((np.arange(budget) + 0.5) * n / budget).astype(np.int64)
    return np.unique(np.clip(positions, 0, n - 1))


def refine_grid(frames: np.ndarray, labelled: np.ndarray, count: int) -> np.ndarray:
    """Pick ``count`` of ``frames`` so that they and the ``labelled`` frames make one even grid.

    The frames and the labelled ones, in order, share ``L + count`` points evenly spaced
    over their positions; each labelled frame takes the free point nearest to it (ties to
    the earlier point), and each point left takes the free frame nearest to it (ties to
    the earlier frame). A round of ``count`` after ``2 count`` labelled frames fills the
    middle third of every gap; one after ``count`` can only take a side of each (the grid
    of ``2 count`` points does not hold the first round's).

    Args:
        frames: 1-based frame numbers that may be picked, increasing, ``(F,)``.
        labelled: Frame numbers labelled already, ``(L,)``.
        count: How many frames to pick.

    Returns:
        Indices into ``frames``, increasing, ``(<= count,)``.
    """
    pool = np.union1d(frames, labelled)
    taken = np.isin(pool, labelled)
    grid = list((np.arange(int(taken.sum()) + count) + 0.5) * len(pool) / (int(taken.sum()) + count))
    for position in np.flatnonzero(taken):
        grid.pop(int(np.argmin([abs(point - position) for point in grid])))
    free = ~taken & np.isin(pool, frames)
    chosen: list[int] = []
    for point in grid:
        options = np.flatnonzero(free)
        if len(options) == 0:
            break
        best = int(options[np.argmin(np.abs(options - point))])
        chosen.append(best)
        free[best] = False
    return np.sort(np.searchsorted(frames, pool[chosen])).astype(np.int64)


# The strategies that need frame embeddings (FrameTable.embedding): the pipeline computes them
# only for these, or when selection.embeddings is "always".
EMBEDDING_STRATEGIES = frozenset({"coreset", "typiclust", "density", "diverse"})
# ``diverse`` draws its picks from this many candidates per frame of the budget.
DIVERSE_POOL = 4
# Information density's exponent (Settles & Craven, 2008): 1 weighs uncertainty and density alike.
DENSITY_BETA = 1.0


def _embedding(table: FrameTable, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The table's embeddings and those of its labelled frames (``(0, D)`` for none).

    Raises:
        ValueError: The table has no embeddings.
    """
    if table.embedding is None:
        raise ValueError(f"strategy {name!r} needs frame embeddings (FrameTable.embedding), and the table has none")
    labelled = table.labelled_embedding
    if labelled is None:
        labelled = np.zeros((0, table.embedding.shape[1]), np.float32)
    return table.embedding, labelled


@register_strategy("coreset")
def select_coreset(table: FrameTable, budget: int, min_gap: int, rng: np.random.Generator) -> np.ndarray:
    """Core-set: the frames farthest, in the detector's feature space, from every labelled
    frame and earlier pick (k-center greedy, :func:`vidal.representation.k_center_greedy`).

    Sener & Savarese, "Active learning for convolutional neural networks: a core-set approach",
    ICLR 2018: the labelled frames and the picks cover the video's look within the smallest
    radius; no uncertainty. Seeded with the labelled frames' embeddings; picks more than
    ``min_gap`` frames apart (and from the labelled frames) while the video allows.
    """
    points, seeds = _embedding(table, "coreset")
    allowed = ~near(table.frame, table.labelled, min_gap) if min_gap > 0 else None
    return k_center_greedy(points, budget, seeds=seeds, frames=table.frame, min_gap=min_gap, allowed=allowed)


@register_strategy("typiclust")
def select_typiclust(table: FrameTable, budget: int, min_gap: int, rng: np.random.Generator) -> np.ndarray:
    """TypiClust: the most typical frame of each of the largest clusters no labelled frame is in.

    Hacohen, Dekel & Weinshall, "Active learning on a budget: opposite strategies suit high and
    low budgets", ICML 2022: with few labels, typical examples teach more than uncertain ones.
    The frames and the labelled ones are clustered by k-means into ``labelled + budget``
    clusters (:func:`vidal.representation.kmeans`, seeded by ``rng``); clusters without a
    labelled frame come first, largest first, and each gives its most typical frame (the
    inverse of the mean distance to its 20 nearest neighbours in the cluster:
    :func:`vidal.representation.typicality`) that is more than ``min_gap`` frames from the picks.
    Clusters whose frames are all too close give theirs in a second pass, without the gap; a
    budget still left goes to the most typical frames.
    """
    points, seeds = _embedding(table, "typiclust")
    n = len(points)
    budget = min(budget, n)
    if budget < 1:
        return np.zeros(0, np.int64)
    every = np.concatenate([points, seeds]).astype(np.float32)
    labels = kmeans(every, min(len(seeds) + budget, len(every)), rng)
    typical = typicality(every, labels)[:n]
    sizes = np.bincount(labels)
    covered = np.zeros(len(sizes), bool)
    covered[labels[n:]] = True
    order = sorted(np.unique(labels[:n]).tolist(), key=lambda c: (covered[c], -sizes[c], c))
    open_ = ~near(table.frame, table.labelled, min_gap) if min_gap > 0 else np.ones(n, bool)
    picked: list[int] = []
    used: set[int] = set()
    for gap in (True, False):
        for cluster in order:
            if len(picked) == budget:
                break
            if cluster in used:
                continue
            members = np.flatnonzero((labels[:n] == cluster) & (open_ if gap else True))
            members = members[~np.isin(members, picked)]
            if not len(members):
                continue
            best = int(members[np.argmax(typical[members])])
            picked.append(best)
            used.add(cluster)
            if min_gap > 0:
                open_ &= np.abs(table.frame - table.frame[best]) > min_gap
    if len(picked) < budget:
        rest = np.setdiff1d(np.arange(n), picked)
        picked.extend(int(i) for i in rest[greedy_with_gap(typical[rest], table.frame[rest], budget - len(picked), 0)])
    return np.asarray(picked, np.int64)


@register_strategy("density")
def select_density(
    table: FrameTable, budget: int, min_gap: int, rng: np.random.Generator, beta: float = DENSITY_BETA
) -> np.ndarray:
    """Information density: the frame score times the frame's mean similarity to the other
    frames, to the power ``beta`` (``selection.density_beta``).

    Settles & Craven, "An analysis of active learning strategies for sequence labeling tasks",
    EMNLP 2008: uncertainty alone picks outliers (a dark frame, a glitch); weighting by how
    much a frame resembles the rest picks the uncertain frames that stand for many. The
    similarity is the cosine of the detector's pooled features, its mean rescaled to ``[0, 1]``
    over the frames (:func:`vidal.representation.density`: the frames of a video are all alike
    to within a percent). Picked as ``cover`` picks without its switches: by value, ``min_gap``
    apart, the rest spread over the uncovered time.
    """
    points, _ = _embedding(table, "density")
    values = np.asarray(table.score, np.float64) * density(points) ** beta
    return greedy_events(values, table.frame, {}, budget, min_gap, covered=table.labelled)


@register_strategy("diverse")
def select_diverse(table: FrameTable, budget: int, min_gap: int, rng: np.random.Generator) -> np.ndarray:
    """Uncertain, then diverse: ``cover``'s best :data:`DIVERSE_POOL` x ``budget`` frames are the
    candidates, and the picks are drawn from them by k-means++ seeding on the frame embeddings,
    each candidate's chance its frame score times its squared distance to the nearest labelled
    frame or earlier pick (the first pick, with nothing labelled: ``cover``'s first).

    After PPAL (Yang et al., "Plug and play active learning for object detection", CVPR 2024):
    uncertainty first, then diversity among the uncertain, so the budget does not go to many
    views of one confusing scene; with labels accumulating, the labelled frames push the picks
    elsewhere. The candidates keep ``cover``'s ``min_gap``; the draw is seeded by ``rng``.
    """
    points, seeds = _embedding(table, "diverse")
    pool = select_cover(table, min(len(table), DIVERSE_POOL * budget), min_gap, rng)
    if len(pool) <= budget:
        return pool
    candidates = points[pool].astype(np.float64)
    weight = np.maximum(np.asarray(table.score, np.float64)[pool], 1e-6)  # spread fill frames: a last resort
    nearest = np.full(len(pool), np.inf)
    for seed in seeds.astype(np.float64):
        np.minimum(nearest, ((candidates - seed) ** 2).sum(1), out=nearest)
    frames = table.frame[pool]
    open_ = np.ones(len(pool), bool)  # more than min_gap frames from every pick
    picked: list[int] = []
    for _ in range(budget):
        if np.isinf(nearest).all():
            pick = 0  # nothing labelled, nothing picked: the most uncertain candidate
        else:
            left = open_ if open_.any() else np.isin(np.arange(len(pool)), picked, invert=True)
            chance = np.where(left, weight * np.where(np.isinf(nearest), 0.0, nearest), 0.0)
            total = chance.sum()
            if total <= 0.0:  # every candidate left sits on a pick or a labelled frame: the best ranked
                pick = int(np.flatnonzero(left)[0])
            else:
                pick = int(rng.choice(len(pool), p=chance / total))
        picked.append(pick)
        open_[pick] = False
        if min_gap > 0:
            open_ &= np.abs(frames - frames[pick]) > min_gap
        np.minimum(nearest, ((candidates - candidates[pick]) ** 2).sum(1), out=nearest)
    return pool[np.asarray(picked, np.int64)]


def _labelled_embedding(table: FrameTable, labelled: np.ndarray) -> np.ndarray | None:
    """The embeddings of the ``labelled`` frames that ``table`` holds, after those it carries
    (:attr:`FrameTable.labelled_embedding`); ``None`` without embeddings."""
    if table.embedding is None:
        return table.labelled_embedding
    rows = table.embedding[np.isin(table.frame, labelled)]
    return rows if table.labelled_embedding is None else np.concatenate([table.labelled_embedding, rows])


def _label(part: FrameTable, table: FrameTable, labelled: np.ndarray) -> None:
    """Set ``labelled`` as ``part``'s labelled frames, with their embeddings (those ``table`` holds)."""
    part.labelled = np.asarray(labelled, np.int64)
    part.labelled_embedding = _labelled_embedding(table, part.labelled)


# How a budget larger than the uncertain frames is met: spread over the uncovered time, or not at all.
FILLS = ("spread", "none")


def near(frames: np.ndarray, others: np.ndarray, min_gap: int) -> np.ndarray:
    """Per frame of ``frames``, whether it is within ``min_gap`` frame numbers of one of
    ``others`` (or is one of them), ``(F,)`` bool."""
    others = np.unique(np.asarray(others, np.int64))
    if len(others) == 0:
        return np.zeros(len(frames), bool)
    position = np.searchsorted(others, frames)
    before = np.abs(frames - others[np.clip(position - 1, 0, len(others) - 1)])
    after = np.abs(others[np.clip(position, 0, len(others) - 1)] - frames)
    return np.minimum(before, after) <= min_gap


def select(
    table: FrameTable,
    budget: int,
    *,
    strategy: str | Strategy = "vidal",
    min_gap: int = 0,
    rng: np.random.Generator | None = None,
    labelled: np.ndarray | list[int] | tuple[int, ...] = (),
    fill: str = "spread",
    class_share: float = 0.0,
    density_beta: float = DENSITY_BETA,
) -> np.ndarray:
    """Select up to ``budget`` frames.

    Frames already labelled are never selected, and frames within ``min_gap`` of them only
    when the rest of the video cannot fill the budget: a frame next to a labelled one is a
    near-duplicate of what the detector will already learn from (in an active-learning
    round, most of the most uncertain frames sit next to the last round's picks).

    When fewer frames than the budget have a score above 0, ``fill="spread"`` (vidal's and
    coverage's way) spreads the rest evenly over the time not yet covered; ``fill="none"``
    never selects a frame whose score is 0, so the budget is an upper bound.

    Args:
        table: The run's per-frame figures.
        budget: Number of frames to select.
        strategy: A registered name or a strategy function.
        min_gap: Minimum distance in frame numbers between selected frames.
        rng: Random generator for random strategies (default: seeded with 0).
        labelled: Frame numbers already labelled (for example reviewed in the dataset).
        fill: ``"spread"`` or ``"none"`` (see above).
        class_share: Each class of the run's tracks gets at least this share of the budget
            in frames that show it, where it has enough frames (:func:`balance_classes`);
            0 for none.
        density_beta: The exponent of the ``density`` strategy's similarity (:func:`select_density`).

    Returns:
        Indices into ``table``, in selection order (most valuable first where the
        strategy ranks).

    Raises:
        ValueError: Unknown strategy name or fill (the message lists the valid ones).
    """
    if fill not in FILLS:
        raise ValueError(f"unknown fill {fill!r}; valid: {', '.join(FILLS)}")
    if fill == "none":
        keep = table.score > 0
        rows = np.flatnonzero(keep)
        part = table.subset(keep)
        # the labelled frames' embeddings, before a score of 0 drops their rows
        part.labelled_embedding = _labelled_embedding(table, np.asarray(labelled, np.int64))
        return rows[select(part, budget, strategy=strategy, min_gap=min_gap, rng=rng, labelled=labelled,
                           class_share=class_share, density_beta=density_beta)]
    if isinstance(strategy, str):
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; valid: {', '.join(sorted(STRATEGIES))}")
        strategy = STRATEGIES[strategy]
    if strategy is select_density and density_beta != DENSITY_BETA:
        strategy = partial(select_density, beta=density_beta)
    if budget < 1 or len(table) == 0:
        return np.zeros(0, np.int64)
    rng = rng if rng is not None else np.random.default_rng(0)
    picked = _select_spread(table, budget, strategy, min_gap, rng, labelled)
    if class_share > 0:
        picked = balance_classes(table, picked, budget, class_share, strategy, min_gap, rng, labelled)
    return picked


def _select_spread(
    table: FrameTable, budget: int, strategy: Strategy, min_gap: int, rng: np.random.Generator,
    labelled: np.ndarray | list[int] | tuple[int, ...],
) -> np.ndarray:
    """:func:`select`'s picks of ``strategy``, labelled frames and their neighbours left out."""
    if len(labelled) == 0:
        return strategy(table, budget, min_gap, rng)
    known = np.asarray(labelled, np.int64)
    if table.stretches:
        # A track stretch on a labelled frame is confirmed already: no pick gains from it.
        on_labelled = np.isin(table.frame[table.stretches["frame_index"]], known)
        keep = ~np.isin(table.stretches["stretch"], table.stretches["stretch"][on_labelled])
        table = replace(table, stretches={name: values[keep] for name, values in table.stretches.items()})
    taken = np.isin(table.frame, known)
    close = near(table.frame, known, min_gap) & ~taken
    picked = np.zeros(0, np.int64)
    for allowed in (~taken & ~close, close):
        left = budget - len(picked)
        if left <= 0 or not allowed.any():
            continue
        rows = np.flatnonzero(allowed)
        part = table.subset(allowed)
        _label(part, table, np.concatenate([known, table.frame[picked]]))
        chosen = rows[strategy(part, left, min_gap, rng)]
        picked = np.concatenate([picked, chosen])
    return picked.astype(np.int64)


# The classes of the run's tracks together never take more than this share of the budget
# through the class balance: the rest is the strategy's, however many rare classes a
# detector of 80 classes reports.
CLASS_RESERVE_MAX = 0.5


def class_frames(table: FrameTable) -> dict[int, np.ndarray]:
    """Per class of the table's track boxes (``stretches["class_id"]``; -1, a class the run
    does not want, is left out), which frames show one, ``(F,)`` bool; empty without class ids."""
    if "class_id" not in table.stretches:
        return {}
    index, classes = table.stretches["frame_index"], table.stretches["class_id"]
    shown: dict[int, np.ndarray] = {}
    for class_id in np.unique(classes[classes >= 0]).tolist():
        present = np.zeros(len(table), bool)
        present[index[classes == class_id]] = True
        shown[int(class_id)] = present
    return shown


def balance_classes(
    table: FrameTable,
    picked: np.ndarray,
    budget: int,
    share: float,
    strategy: Strategy,
    min_gap: int,
    rng: np.random.Generator,
    labelled: np.ndarray | list[int] | tuple[int, ...] = (),
) -> np.ndarray:
    """Give each class of the run's tracks at least ``share`` of the budget in frames that show it.

    A rare class (the ball of a soccer game, the bicycles of a street) is in few frames and
    small, so it holds little of any frame's score and a score-driven selection passes it by,
    while a detector fine-tuned on the selection learns a class only from frames that show it.
    So each class, rarest first (fewest frames), gets ``ceil(share * budget)`` selected
    frames showing it, or as many as it has: missing ones are picked by ``strategy`` among the
    frames showing the class (away from the picks by ``min_gap`` where possible), and replace
    the last picks that no class's quota needs. All classes together take at most
    :data:`CLASS_RESERVE_MAX` of the budget. With one class nothing changes.

    Args:
        table: The frame table, with ``"class_id"`` in its stretches (else nothing changes).
        picked: The strategy's picks, indices into ``table`` in selection order.
        budget: The budget (frames).
        share: The minimum share of the budget per class, in ``(0, 1]``.
        strategy: The strategy that picked ``picked``.
        min_gap: Minimum distance in frame numbers between picks.
        rng: Random generator of the strategy.
        labelled: Frame numbers labelled already (never picked).

    Returns:
        Indices into ``table``, the strategy's picks first (in their order), then the ones added
        for rare classes; as many as ``picked``.
    """
    shown = class_frames(table)
    if len(shown) < 2 or len(picked) == 0:
        return picked
    quota = math.ceil(share * budget)
    room = int(CLASS_RESERVE_MAX * budget)
    order = list(np.asarray(picked, np.int64).tolist())
    open_ = ~np.isin(table.frame, np.asarray(labelled, np.int64))
    needed: set[int] = set()
    for class_id in sorted(shown, key=lambda c: (int(shown[c].sum()), c)):
        present = shown[class_id]
        have = [i for i in order if present[i]]
        free = present & open_
        free[order] = False
        missing = min(quota - len(have), int(free.sum()), room)
        needed |= set(have[:quota])
        if missing <= 0:
            continue
        spaced = free & ~near(table.frame, table.frame[order], min_gap)
        pool = spaced if spaced.sum() >= missing else free
        part = table.subset(pool)
        _label(part, table, np.concatenate([np.asarray(labelled, np.int64), table.frame[order]]))
        extra = np.flatnonzero(pool)[strategy(part, missing, min_gap, rng)][:missing].tolist()
        spare = [i for i in reversed(order) if i not in needed][: len(extra)]
        extra = extra[: len(spare)]
        order = [i for i in order if i not in set(spare)] + extra
        needed |= set(extra)
        room -= len(extra)
    return np.asarray(order, np.int64)


def class_coverage(table: FrameTable, picked: np.ndarray) -> dict[int, dict[str, float]]:
    """Per class of the run's tracks, how much of it the selection shows.

    Args:
        table: The frame table, with ``"track_id"`` and ``"class_id"`` in its stretches.
        picked: Selected indices into ``table``.

    Returns:
        Class id to ``{"frames", "selected_frames", "frame_share", "tracks", "selected_tracks",
        "track_share"}``: the frames that show the class and the selected ones among them, the
        tracks with a box of the class and those with one on a selected frame. Empty without
        class ids.
    """
    if "class_id" not in table.stretches or "track_id" not in table.stretches:
        return {}
    index, classes, tracks = (table.stretches[k] for k in ("frame_index", "class_id", "track_id"))
    chosen = np.zeros(len(table), bool)
    chosen[np.asarray(picked, np.int64)] = True
    coverage: dict[int, dict[str, float]] = {}
    for class_id, present in class_frames(table).items():
        rows = classes == class_id
        all_tracks = np.unique(tracks[rows])
        seen = np.unique(tracks[rows & chosen[index]])
        frames, selected = int(present.sum()), int((present & chosen).sum())
        coverage[class_id] = {
            "frames": frames, "selected_frames": selected, "frame_share": round(selected / frames, 4),
            "tracks": len(all_tracks), "selected_tracks": len(seen),
            "track_share": round(len(seen) / len(all_tracks), 4),
        }
    return coverage
