"""The active-learning benchmark, reduced (one seed, two rounds, tiny images): its outputs are there and sane.

Only the outputs are checked, never the figures: they mean nothing at this size.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, import_tool

pytestmark = pytest.mark.slow


def test_reduced_run_writes_sane_rounds_plot_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "al"
    command = [sys.executable, str(REPO / "tools" / "bench_al.py"), "--scenarios", "synthetic", "--seeds", "1",
               "--rounds", "2", "--batch-frames", "3", "--imgsz", "64", "--epochs", "1", "--frames", "60",
               "--gap-s", "0.2", "--out", str(out), "--no-write", "--first-seed", "7",
               "--strategies",
               "random,uniform,entropy,vidal,vidal-no-tracking,vidal-no-diversity,vidal-cold-start,vidal-coverage",
               # the synthetic scenario starts from --synthetic-base; --base (here missing) is not read
               "--base", str(tmp_path / "missing.pt"),
               "--synthetic-base", str(REPO / "sample_videos" / "crossing_yolo11n.pt")]
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = subprocess.run(command, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "TMPDIR": str(scratch)})
    assert done.returncode == 0, done.stderr[-2000:]
    # the working folder (frames, mined runs, weights) does not outlive the run
    assert not any(scratch.glob("vidal-bench-al-*"))
    with open(out / "rounds.csv") as handle:
        rows = list(csv.DictReader(handle))
    strategies = {"random", "uniform", "entropy", "vidal", "vidal-no-tracking", "vidal-no-diversity", "vidal-cold-start",
                  "vidal-coverage"}
    assert {r["strategy"] for r in rows} == strategies
    assert {r["seed"] for r in rows} == {"7"}  # --first-seed: a fresh clip, not seed 0's
    assert len(rows) == len(strategies) * 3  # round 0 (the base) and two rounds each
    for strategy in strategies:
        mine = sorted((r for r in rows if r["strategy"] == strategy), key=lambda r: int(r["round"]))
        assert [int(r["frames"]) for r in mine] == [0, 3, 6]  # monotone labelled counts, no frame twice
        picks = [r["picked"].split() for r in mine]
        assert [len(p) for p in picks] == [0, 3, 3] and len(set(picks[1] + picks[2])) == 6
        assert all(1 <= int(p.split(":")[1]) <= 36 for p in picks[1] + picks[2])  # the pool: 60% of 60 frames
        costs = [int(r["boxes_cost"]) for r in mine]
        assert costs == sorted(costs)
        for r in mine:
            assert 0.0 <= float(r["map50"]) <= 1.0 and 0.0 <= float(r["map"]) <= 1.0
            assert int(r["boxes_added"]) + int(r["boxes_moved"]) + int(r["boxes_deleted"]) == int(r["boxes_cost"])
            assert int(r["boxes_added"]) <= int(r["gt_boxes"])
    # the cold start's first round is uniform's: the same frames, so the same model
    first = {r["strategy"]: r for r in rows if r["round"] == "1"}
    assert first["vidal-cold-start"]["map50"] == first["uniform"]["map50"]
    assert first["vidal-cold-start"]["gt_boxes"] == first["uniform"]["gt_boxes"]
    plot = out / "curve-synthetic.png"
    assert plot.is_file() and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (out / "summary.md").read_text()
    assert all(f"| {s} |" in summary for s in strategies)

    # The summary can be made again from the CSV alone, and comes out the same.
    again = tmp_path / "again"
    done = subprocess.run([sys.executable, str(REPO / "tools" / "bench_al.py"), "--summarise", str(out / "rounds.csv"),
                           "--out", str(again)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (again / "summary.md").read_text() == summary


def test_paired_table_compares_within_each_seed() -> None:
    import numpy as np

    bench_al = import_tool("bench_al")
    # vidal is above random on both seeds by 0.1 although seed 1 is much harder for both.
    auc = {"random": np.array([0.5, 0.1]), "vidal": np.array([0.6, 0.2])}
    final = {"random": np.array([0.7, 0.3]), "vidal": np.array([0.6, 0.4])}
    table = bench_al.paired_table(auc, final)
    assert "| random | +0.100 ± 0.000 (2/2) | +0.000 ± 0.100 (1/2) |" in table
    assert bench_al.paired_table({k: v[:1] for k, v in auc.items()}, final) == ""  # one seed: nothing to pair
