"""Real data from ../shared: skipped where it is absent, run in CI where it is present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidal.cli import app
from vidal.evaluation import evaluate_tracking
from vidal.mot import read_mot

from conftest import SHARED, SHARED_MODEL

TUD_CAMPUS = SHARED / "data" / "mot" / "TUD-Campus"
pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not (SHARED_MODEL.exists() and TUD_CAMPUS.exists()), reason="../shared absent"),
]

# Checked-in baseline (BENCHMARKS.md, tools/bench_tracking.py): Ultralytics' own ByteTrack
# scores MOTA 0.337 / IDF1 0.611 on TUD-Campus with this model; vidal must not fall below it.
CAMPUS_BASELINE = {"mota": 0.337, "idf1": 0.611}


def test_mine_tud_campus_end_to_end(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["mine", str(TUD_CAMPUS / "TUD-Campus.mp4"), "--model", str(SHARED_MODEL), "--classes", "person", "--no-push",
         "--out", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    run = tmp_path / "TUD-Campus"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["frames"]["processed"] == 71
    assert summary["counts"]["selected"] == 4  # 5% of 71, rounded up
    scores = evaluate_tracking(read_mot(TUD_CAMPUS / "gt" / "gt.txt"), read_mot(run / "tracks.txt"))
    assert scores.mota >= CAMPUS_BASELINE["mota"]
    assert scores.idf1 >= CAMPUS_BASELINE["idf1"]
