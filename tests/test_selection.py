from __future__ import annotations

import numpy as np
import pytest

from vidal.selection import (
    EVENT_DISCOUNT,
    STRATEGIES,
    FrameTable,
    class_coverage,
    greedy_events,
    greedy_with_gap,
    select,
    stretch_ids,
)


def table(scores: list[float]) -> FrameTable:
    n = len(scores)
    values = np.array(scores, float)
    # embeddings for the representation strategies: unit vectors turning with the score
    angle = values / (1 + values.max(initial=0.0)) * np.pi / 2
    embedding = np.c_[np.cos(angle), np.sin(angle)].astype(np.float32)
    return FrameTable(np.arange(1, n + 1), values, values[::-1].copy(), values * 2, embedding=embedding,
                      committee=values / 2)


def test_greedy_with_gap_skips_neighbours() -> None:
    scores = np.array([0, 5, 9, 8, 0, 0, 0, 7, 0, 0], float)
    frames = np.arange(1, 11)
    # gap 1: frame 3 (9), not frame 4 (neighbour), frame 8 (7), not frame 2, then frame 1
    assert greedy_with_gap(scores, frames, budget=3, min_gap=1).tolist() == [2, 7, 0]
    # gap 2 leaves no third candidate: the budget is filled by value (frame 4)
    assert greedy_with_gap(scores, frames, budget=3, min_gap=2).tolist() == [2, 7, 3]


def test_greedy_fills_budget_when_gap_too_strict() -> None:
    picked = greedy_with_gap(np.arange(5, dtype=float), np.arange(1, 6), budget=4, min_gap=10)
    assert sorted(picked.tolist()) == [1, 2, 3, 4]
    assert len(set(picked.tolist())) == 4


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("budget", [1, 3, 10, 50])
def test_every_strategy_returns_distinct_frames_within_budget(strategy: str, budget: int) -> None:
    t = table([float(i % 7) for i in range(20)])
    picked = select(t, budget, strategy=strategy, min_gap=1, rng=np.random.default_rng(1))
    assert len(picked) == min(budget, 20)
    assert len(set(picked.tolist())) == len(picked)
    assert all(0 <= i < 20 for i in picked)


def test_random_is_reproducible_with_seed() -> None:
    t = table([0.0] * 100)
    a = select(t, 10, strategy="random", rng=np.random.default_rng(7))
    b = select(t, 10, strategy="random", rng=np.random.default_rng(7))
    c = select(t, 10, strategy="random", rng=np.random.default_rng(8))
    assert a.tolist() == b.tolist() != c.tolist()


def test_uniform_spreads_over_video() -> None:
    assert select(table([0.0] * 100), 4, strategy="uniform").tolist() == [12, 37, 62, 87]


def test_uniform_spaces_its_picks_around_labelled_frames() -> None:
    t = table([0.0] * 100)
    labelled: list[int] = []
    for _ in range(3):  # rounds of active learning: each labels uniform's picks
        picks = t.frame[select(t, 4, strategy="uniform", labelled=labelled)].tolist()
        assert len(picks) == 4 and not set(picks) & set(labelled)
        labelled += picks
    assert labelled[:4] == [13, 38, 63, 88]  # the first round: the bins' centres
    # Three rounds of four make the grid of twelve (one frame every 100 / 12), where
    # picks that ignore the labels land beside them (12, 13, 14, 37, 38, 39, ...).
    assert sorted(labelled) == [5, 13, 20, 30, 38, 45, 55, 63, 70, 80, 88, 95]
    assert np.diff(sorted(labelled)).min() >= 7
    # Labelled frames outside the table's span leave the bins as they are.
    assert select(t, 4, strategy="uniform", labelled=[150, 300]).tolist() == [12, 37, 62, 87]


def test_vidal_picks_highest_scores() -> None:
    assert select(table([1, 9, 1, 1, 1, 8, 1, 1, 1, 7]), 3, strategy="vidal", min_gap=1).tolist() == [1, 5, 9]


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="valid: .*random"):
        select(table([1.0]), 1, strategy="best")


def events(pairs: list[tuple[int, int, float]]) -> dict[str, np.ndarray]:
    frame_index, event, value = zip(*pairs)
    return {"frame_index": np.array(frame_index), "event": np.array(event), "value": np.array(value, float)}


def test_greedy_events_spreads_over_distinct_events() -> None:
    # frames 0-2 show one occlusion (event 1); frame 6 a switch (event 2), less uncertain
    scores = np.array([5.0, 4.8, 4.6, 0, 0, 0, 3.0, 0, 0, 0])
    table = events([(0, 1, 5.0), (1, 1, 4.8), (2, 1, 4.6), (6, 2, 3.0)])
    frames = np.arange(1, 11)
    assert greedy_events(scores, frames, table, budget=2, min_gap=0).tolist() == [0, 6]
    # without events the same frames are near-duplicates only within the gap
    assert greedy_with_gap(scores, frames, budget=2, min_gap=0).tolist() == [0, 1]


def test_greedy_events_keeps_frames_with_much_else() -> None:
    # frame 1 shows event 1 again (3 of its 8), but its other uncertainty still beats frame 4
    scores = np.array([9.0, 8.0, 0, 0, 5.0])
    table = events([(0, 1, 3.0), (1, 1, 3.0), (4, 2, 5.0)])
    picked = greedy_events(scores, np.arange(1, 6), table, budget=2, min_gap=0)
    assert 8.0 - (1 - EVENT_DISCOUNT) * 3.0 > 5.0
    assert picked.tolist() == [0, 1]


@pytest.mark.parametrize("min_gap", [0, 1, 3])
def test_greedy_events_gap_and_fill(min_gap: int) -> None:
    scores = np.array([9.0, 8.0, 7.0, 6.0])
    picked = greedy_events(scores, np.arange(1, 5), events([(0, 1, 9.0)]), budget=3, min_gap=min_gap)
    assert len(set(picked.tolist())) == 3 and picked[0] == 0
    if min_gap == 1:
        assert picked.tolist()[:2] == [0, 2]


def test_near_marks_frames_within_the_gap() -> None:
    from vidal.selection import near

    frames = np.arange(1, 21)
    assert np.flatnonzero(near(frames, np.array([5, 15]), 2)).tolist() == [2, 3, 4, 5, 6, 12, 13, 14, 15, 16]
    assert not near(frames, np.array([], np.int64), 2).any()


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_labelled_frames_and_their_neighbours_are_left_out(strategy: str) -> None:
    t = table([float(i % 7) for i in range(40)])
    labelled = [6, 7, 20, 33]
    picked = t.frame[select(t, 5, strategy=strategy, min_gap=2, rng=np.random.default_rng(3), labelled=labelled)]
    assert len(picked) == 5 and len(set(picked.tolist())) == 5
    assert all(min(abs(int(f) - l) for l in labelled) > 2 for f in picked)


def test_neighbours_of_labelled_frames_fill_the_budget_only_when_nothing_else_is_left() -> None:
    t = table([1.0] * 10)
    # frames 1-10, labelled 3 and 8, gap 2: every other frame is within 2 of one of them
    picked = t.frame[select(t, 4, strategy="vidal", min_gap=2, labelled=[3, 8])]
    assert len(picked) == 4 and not set(picked.tolist()) & {3, 8}
    # a budget larger than the unlabelled frames gives every unlabelled frame once
    everything = t.frame[select(t, 20, strategy="vidal", min_gap=2, labelled=[3, 8])]
    assert sorted(everything.tolist()) == [1, 2, 4, 5, 6, 7, 9, 10]


def test_vidal_prefers_uncertain_frames_away_from_labelled_ones() -> None:
    scores = [0.0] * 30
    scores[10], scores[11], scores[25] = 9.0, 8.0, 5.0
    t = table(scores)
    # frame 11 (index 10) is labelled: its neighbour frame 12 (score 8) is a near-duplicate
    picked = t.frame[select(t, 1, strategy="vidal", min_gap=2, labelled=[11])]
    assert picked.tolist() == [26]


def test_subset_keeps_events_aligned() -> None:
    t = table([1.0, 2.0, 3.0, 4.0])
    t.events = {"frame_index": np.array([0, 2, 3]), "event": np.array([7, 7, 8]), "value": np.array([1.0, 2.0, 3.0])}
    sub = t.subset(np.array([False, True, True, True]))
    assert sub.frame.tolist() == [2, 3, 4]
    assert sub.events["frame_index"].tolist() == [1, 2] and sub.events["event"].tolist() == [7, 8]


def test_coverage_spreads_a_small_budget_and_takes_the_uncertain_frame_of_each_stretch() -> None:
    # 100 frames; a hot moment (frames 45, 48, 51) that vidal spends three of five frames on
    scores = [0.1] * 100
    for frame, score in {45: 9.0, 48: 8.5, 51: 8.0, 7: 3.0, 33: 4.0, 61: 5.0, 88: 2.0, 89: 1.9}.items():
        scores[frame - 1] = score
    t = table(scores)
    assert sorted(t.frame[select(t, 5, strategy="vidal", min_gap=2)].tolist()) == [33, 45, 48, 51, 61]
    # spacing 100 / 5 = 20: picks more than 10 apart, each the peak of its stretch
    picked = t.frame[select(t, 5, strategy="coverage", min_gap=2)].tolist()
    assert picked == [45, 61, 33, 7, 88]


def test_coverage_keeps_away_from_labelled_frames_and_narrows_as_labels_accumulate() -> None:
    t = table([1.0] * 100)
    # 4 labelled + budget 4 share 100 frames: spacing 12.5, picks more than 6 from every
    # labelled frame and from each other (vidal, keeping only its gap of 2, takes frames 1, 4, 7, 13)
    labelled = [10, 30, 70, 90]
    picked = t.frame[select(t, 4, strategy="coverage", min_gap=2, labelled=labelled)].tolist()
    assert len(picked) == 4
    assert all(abs(f - other) > 6 for f in picked for other in labelled + picked if other != f)
    # with 40 labelled frames the spacing (100 / 44) falls under min_gap: coverage is vidal's gap
    many = list(range(1, 101, 3))[:40]
    t2 = table([float(i % 5) for i in range(100)])
    assert sorted(select(t2, 4, strategy="coverage", min_gap=1, labelled=many).tolist()) == sorted(
        select(t2, 4, strategy="vidal", min_gap=1, labelled=many).tolist())


def test_coverage_on_an_empty_table_picks_nothing() -> None:
    assert select(table([]), 3, strategy="coverage").tolist() == []


@pytest.mark.parametrize("strategy", ["vidal", "coverage"])
def test_frames_without_uncertainty_fill_the_budget_spread_over_the_uncovered_time(strategy: str) -> None:
    # 100 frames, only frames 50 and 53 have a score: the other 4 picks go where nothing is
    # covered yet, evenly (not frames 1, 4, 7, 10 from the start of the video)
    scores = [0.0] * 100
    scores[49], scores[52] = 2.0, 1.0
    t = table(scores)
    picked = t.frame[select(t, 6, strategy=strategy, min_gap=2)].tolist()
    assert picked[:1] == [50] and len(picked) == 6 == len(set(picked))
    filled = sorted(picked[2:] if strategy == "vidal" else [f for f in picked if f not in (50, 53)])
    assert strategy == "coverage" or picked[1] == 53
    gaps = np.diff([0] + sorted(picked) + [101])
    assert gaps.max() <= 20, sorted(picked)  # spread: no stretch left uncovered (even: 100 / 6)
    assert filled[0] > 3 and filled[-1] > 70


def test_spread_fill_keeps_away_from_labelled_frames() -> None:
    t = table([0.0] * 100)
    picked = t.frame[select(t, 2, strategy="vidal", min_gap=2, labelled=[20, 80])].tolist()
    # 20 and 80 cover their stretches: the middle of the stretch between them, then the
    # middle of one of its halves (15 from 20 and 50; frame 7 is 13 from the end's mirror)
    assert picked == [50, 35]


def test_fill_none_stops_short_at_the_frames_with_a_score() -> None:
    scores = [0.0] * 30
    scores[10], scores[20] = 1.0, 3.0
    t = table(scores)
    assert t.frame[select(t, 5, strategy="vidal", min_gap=2, fill="none")].tolist() == [21, 11]
    assert len(select(t, 5, strategy="vidal", min_gap=2)) == 5


def test_stretch_ids_cut_tracks_at_breaks() -> None:
    frame = np.array([1, 2, 3, 4, 1, 2, 3])
    track = np.array([1, 1, 1, 1, 2, 2, 2])
    breaks = np.array([False, False, True, False, False, False, False])
    ids = stretch_ids(frame, track, breaks)
    assert ids.tolist() == [0, 0, 1, 1, 2, 2, 2]


def _stretch_table(n: int, boxes: list[tuple[int, int]]) -> FrameTable:
    """A table of ``n`` frames whose track boxes are ``(frame index, stretch)`` pairs."""
    index = np.array([b[0] for b in boxes], np.int64)
    stretch = np.array([b[1] for b in boxes], np.int64)
    return FrameTable(frame=np.arange(1, n + 1), score=np.zeros(n), least_confidence=np.zeros(n), entropy=np.zeros(n),
                      stretches={"frame_index": index, "stretch": stretch})


def test_propagate_places_each_keyframe_where_it_confirms_the_most_boxes() -> None:
    # 100 frames, budget 2: bins [0, 50) and [50, 100), centres 25 and 75, windows [12, 37) and [62, 87).
    # A long stretch lives on frame indices 30-36 only, two short ones everywhere else in the first bin.
    boxes = [(i, 0) for i in range(30, 37)] + [(i, 1) for i in range(0, 50)] + [(i, 2) for i in range(50, 100)]
    picked = sorted(select(_stretch_table(100, boxes), 2, strategy="propagate").tolist())
    assert 30 <= picked[0] <= 36  # confirms stretches 0 and 1 at once
    assert picked[1] == 75  # every frame of the second bin confirms stretch 2 alone: the centre
    # Without stretches it is uniform.
    plain = _stretch_table(100, [])
    plain.stretches = {}
    assert sorted(select(plain, 2, strategy="propagate").tolist()) == sorted(select(plain, 2, strategy="uniform").tolist())


def test_propagate_skips_stretches_a_labelled_frame_confirms() -> None:
    # Stretch 0 on 30-36 is confirmed already by labelled frame 31 (index 30); stretch 3 on 14-16 is not.
    boxes = [(i, 0) for i in range(30, 37)] + [(i, 3) for i in range(14, 17)]
    table = _stretch_table(100, boxes)
    picked = select(table, 2, strategy="propagate", labelled=[31], min_gap=0)
    assert any(14 <= p <= 16 for p in picked.tolist())


def classed_table(classes_in: dict[int, range], frames: int = 100) -> FrameTable:
    """Scores falling from frame 1; one track per class, in the given frames."""
    t = table([float(frames - i) for i in range(frames)])
    index = np.concatenate([np.array(list(r)) - 1 for r in classes_in.values()]).astype(np.int64)
    class_id = np.concatenate([np.full(len(r), c) for c, r in classes_in.items()]).astype(np.int64)
    t.stretches = {"frame_index": index, "stretch": class_id, "track_id": class_id, "class_id": class_id}
    return t


def test_class_balance_gives_a_rare_class_its_share() -> None:
    t = classed_table({0: range(1, 101), 32: range(81, 91)})
    plain = select(t, 10, strategy="vidal", min_gap=2)
    assert not any(80 <= i < 90 for i in plain)  # the score alone never reaches frames 81-90
    balanced = select(t, 10, strategy="vidal", min_gap=2, class_share=0.2)
    assert len(balanced) == 10 == len(set(balanced.tolist()))
    assert sum(80 <= i < 90 for i in balanced) == 2 and balanced[:8].tolist() == plain[:8].tolist()
    assert all(abs(a - b) > 2 for k, a in enumerate(balanced) for b in balanced[k + 1:])
    coverage = class_coverage(t, balanced)
    assert coverage[32] == {"frames": 10, "selected_frames": 2, "frame_share": 0.2, "tracks": 1, "selected_tracks": 1,
                            "track_share": 1.0}


def test_class_balance_keeps_a_single_class_run_and_caps_what_rare_classes_take() -> None:
    single = classed_table({0: range(1, 101)})
    plain = select(single, 10, strategy="vidal").tolist()
    assert select(single, 10, strategy="vidal", class_share=0.5).tolist() == plain
    many = classed_table({0: range(1, 101), **{c: range(10 * c + 1, 10 * c + 4) for c in range(1, 10)}})
    picked = select(many, 10, strategy="vidal", class_share=0.1)
    rare = [i for i in picked if i >= 10 and i % 10 < 3]
    # nine rare classes, one frame each wanted: they take half the budget, the strategy's first five stay
    assert len(picked) == 10 and len(rare) == 5 and picked[:5].tolist() == [0, 1, 2, 3, 4]


def test_class_balance_never_picks_labelled_frames() -> None:
    t = classed_table({0: range(1, 101), 32: range(81, 84)})
    picked = select(t, 10, strategy="vidal", min_gap=0, class_share=0.2, labelled=[81, 82])
    assert t.frame[picked].tolist().count(83) == 1 and not {81, 82} & set(t.frame[picked].tolist())


def test_cover_takes_each_likely_switch_once_within_its_moment() -> None:
    # Frames 41, 44 and 80 score 0.5; switches are likely at frames 40 and 42 (one moment) and 80.
    scores = [0.0] * 100
    scores[40] = scores[43] = scores[79] = 0.5
    t = table(scores)
    t.switches = {"frame_index": np.array([39, 41, 79]), "value": np.array([1.0, 1.0, 1.0])}
    # frame 41 covers both switches of its moment (2.5); frame 44's window holds the switch at 42,
    # covered already (0.5 left), so frame 80 and its switch (1.5) come first
    assert t.frame[select(t, 3, strategy="cover", min_gap=2)].tolist() == [41, 80, 44]
    assert t.frame[select(t, 3, strategy="vidal", min_gap=2)].tolist() == [41, 44, 80]  # ties: earlier first
    t.switches = {}
    assert t.frame[select(t, 3, strategy="cover", min_gap=2)].tolist() == [41, 44, 80]


def test_default_strategy_is_cover() -> None:
    from vidal.config import load_config

    assert load_config().selection.strategy == "cover"


def test_committee_takes_the_frames_the_committee_disagrees_on_most() -> None:
    """Query-by-committee ranks by the committee's summed disagreement, not the frame score, and
    keeps ``min_gap``; a table without committee values (the signal off) is refused."""
    n = 12
    t = FrameTable(np.arange(1, n + 1), np.arange(n, dtype=float), np.zeros(n), np.zeros(n),
                   committee=np.array([0, 4, 5, 0, 0, 0, 0, 0, 3, 0, 0, 0], float))
    assert t.frame[select(t, 2, strategy="committee", min_gap=1)].tolist() == [3, 9]  # 2 is 3's neighbour
    assert t.frame[select(t, 2, strategy="vidal", min_gap=1)].tolist() == [12, 10]
    assert t.subset(t.committee > 0).committee.tolist() == [4, 5, 3]
    with pytest.raises(ValueError, match="needs the committee signal"):
        select(FrameTable(np.arange(1, 4), np.ones(3), np.zeros(3), np.zeros(3)), 1, strategy="committee")
