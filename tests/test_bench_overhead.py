"""The scoring-overhead benchmark: its detect-and-track arm does the mining run's detection and
tracking work, and nothing of scoring (its tracks are the mining run's, byte for byte)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO, import_tool

pytestmark = pytest.mark.slow


def test_detect_and_track_writes_the_tracks_mining_writes(tmp_path: Path) -> None:
    from vidal.config import load_config
    from vidal.pipeline import build_detector
    from vidal.video import open_source

    bench = import_tool("bench_overhead")
    video = REPO / "sample_videos" / "crossing.mp4"
    config = load_config(None, [f"detector.model={REPO / 'sample_videos' / 'crossing_yolo11n.pt'}", "input.end=40"])
    detector = build_detector(config)
    seconds, stage_wall, stage_cpu, cpu = bench.mine_seconds(open_source(video), detector, config, tmp_path / "mine")
    bare, bare_cpu = bench.detect_and_track_seconds(open_source(video), detector, config, tmp_path / "bare")
    assert 0 < stage_wall < seconds and 0 < stage_cpu < cpu and bare > 0 and bare_cpu > 0
    mined = (tmp_path / "mine" / "crossing" / "tracks.txt").read_bytes()
    assert mined.count(b"\n") > 40
    assert (tmp_path / "bare" / "tracks.txt").read_bytes() == mined


def test_table_gives_the_median_pair_and_range() -> None:
    bench = import_tool("bench_overhead")
    pairs = [bench.Pair(10.0, 9.8, 0.5, 0.3, 18.0, 17.64), bench.Pair(10.0, 9.6, 0.5, 0.3, 18.0, 17.46),
             bench.Pair(10.0, 10.1, 0.5, 0.3, 18.0, 17.73)]
    row = bench.table({"clip": (100, pairs)}).splitlines()[-1]
    # added: +2%, +4%, -1% of the wall (mean 1.67%, SD 2.52%); +2%, +3%, +1.5% of the CPU
    assert row == "| clip | 100 | 10.00 | 9.80 | +2.0% (-1.0% to +4.0%) | +1.7% +- 2.9% | +2.0% | 5.0% | 1.7% |"
