"""The selection benchmark's figures: episodes, lift, coverage, ID-switch recall and the greedy oracle."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import import_tool
from vidal.evaluation import FrameErrors


@pytest.fixture(scope="module")
def bench():
    return import_tool("bench_selection")


def errors_of(miss_ids: list[list[int]], fp_ids: list[list[int]], switch_ids: list[list[int]]) -> FrameErrors:
    count = lambda ids: np.array([len(i) for i in ids])  # noqa: E731
    return FrameErrors(np.arange(1, len(miss_ids) + 1), count(miss_ids), count(fp_ids), count(switch_ids),
                       miss_ids, fp_ids, switch_ids)


def test_episodes_are_runs_per_identity_and_single_switches(bench) -> None:
    # gt 7 missed in frames 1-3 and again in 6; track 9 a false positive in 4-5; gt 7 switches in 8.
    errors = errors_of([[7], [7], [7], [], [], [7], [], []], [[], [], [], [9], [9], [], [], []],
                       [[], [], [], [], [], [], [], [7]])
    found, switches = bench.episodes(errors)
    assert sorted((e.first, e.last) for e in found) == [(1, 3), (4, 5), (6, 6), (8, 8)]
    assert switches == [8]


def test_figures_count_lift_coverage_and_recall(bench) -> None:
    errors = errors_of([[1, 2]] + [[]] * 19, [[]] * 20, [[]] * 15 + [[1]] + [[]] * 4)
    found, switches = bench.episodes(errors)
    f = bench.figures([1], errors, found, switches)
    # frame 1 holds 2 of the 3 errors of 20 frames: lift (2/1) / (3/20)
    assert f["lift"] == pytest.approx(2 / (3 / 20))
    assert f["coverage"] == pytest.approx(2 / 3)  # both miss episodes, not the switch at 16
    assert f["switch_recall"] == 0.0
    assert bench.figures([11], errors, found, switches)["switch_recall"] == 1.0  # 5 frames before it
    assert bench.figures([10], errors, found, switches)["switch_recall"] == 0.0


def test_greedy_cover_takes_the_frame_inside_most_spans_first(bench) -> None:
    frames = np.arange(1, 31)
    spans = [(1, 3), (2, 4), (3, 5), (20, 22), (28, 30)]
    assert bench.greedy_cover(frames, spans, 2) == [3, 20]  # 3 hits three spans; then the earliest of one
    assert sorted(bench.greedy_cover(frames, spans, 3)) == [3, 20, 28]
    assert len(bench.greedy_cover(frames, spans, 40)) == 30


def test_gt_boxes_leave_out_the_roles_asked(bench, tmp_path) -> None:
    seq = tmp_path / "SNMOT-x"
    (seq / "gt").mkdir(parents=True)
    (seq / "gt" / "gt.txt").write_text("1,1,0,0,10,10,1,-1,-1,-1\n1,2,5,5,3,3,1,-1,-1,-1\n2,1,1,0,10,10,1,-1,-1,-1\n")
    (seq / "gameinfo.ini").write_text("num_tracklets=2\ntrackletID_1= player team left;7\ntrackletID_2= ball;1\n")
    assert bench.gt_boxes(seq / "gt" / "gt.txt", ("ball",)).track_id.tolist() == [1, 1]
    assert bench.gt_boxes(seq / "gt" / "gt.txt", ()).track_id.tolist() == [1, 2, 1]


def test_the_summary_gives_the_share_of_the_oracle_and_the_goals(bench) -> None:
    figures = {"lift": 1.2, "coverage": 0.6, "switch_recall": 0.9}
    rows = {bench.ORACLES["lift"]: {**figures, "lift": 2.4}, bench.ORACLES["coverage"]: {**figures, "coverage": 0.75},
            bench.ORACLES["switch_recall"]: {**figures, "switch_recall": 1.0}, bench.DEFAULT: figures,
            **{b: {"lift": 1.0, "coverage": 0.5, "switch_recall": 0.5} for b in bench.BASELINES}}
    assert bench.ratio(rows, bench.DEFAULT, "coverage") == pytest.approx(0.8)
    text = bench.summary_table([("clip", rows, {"overhead": 0.02})])
    assert "**0.60 / 0.75 (0.80)**" in text and "**0.90 / 1.00 (0.90)**" in text and "**1.20 / 2.40 (0.50)**" in text
    assert "episode coverage >= 0.8 of the oracle's in 1 of 1 videos" in text


def test_a_cached_run_is_keyed_on_every_scoring_setting(bench) -> None:
    """The committee's views change what mining computes (another inference per view): a run
    mined with other views is not reused."""
    settings = bench.mining_settings("m.pt", [], ["scoring.committee_views=[flip,scale]", "selection.strategy=vidal",
                                                  "scoring.signals.committee.enabled=true"])
    assert "scoring.committee_views=[flip,scale]" in settings and "scoring.signals.committee.enabled=true" in settings
    assert not any(s.startswith("selection.strategy") for s in settings)
