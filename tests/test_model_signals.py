"""Signals that ask the model for more than its boxes, through ``vidal mine`` on the sample model:
the class-distribution signals (per-class scores) and the test-time-view committee."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vidal.cli import app

from conftest import SAMPLE_MODEL, SAMPLE_VIDEO

runner = CliRunner()
FRAMES = 20
CLASS_SIGNALS = ("class_margin", "class_entropy", "variation_ratio")
RUN_FILES = ("frames.csv", "objects.csv", "regions.csv", "selection.csv", "track_states.csv", "tracks.txt")


def mine(out: Path, *options: str) -> Path:
    result = runner.invoke(app, ["mine", "--no-push", str(SAMPLE_VIDEO), "--model", str(SAMPLE_MODEL), "--end",
                                 str(FRAMES), "--budget", "3", "--out", str(out), *options])
    assert result.exit_code == 0, result.output
    return out / SAMPLE_VIDEO.stem


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mine(tmp_path_factory.mktemp("default"))


def test_auto_class_signals_leave_a_default_run_unchanged(default: Path, tmp_path: Path) -> None:
    """vidal's own detector gives no per-class scores unless asked: ``auto`` is off, the run is the
    run without the signals, byte for byte; switched on, the model's class scores are read."""
    signals = yaml.safe_load((default / "config.yaml").read_text())["scoring"]["signals"]
    assert all(signals[name]["enabled"] is False for name in CLASS_SIGNALS)
    off = mine(tmp_path / "off", *(f"--set=scoring.signals.{name}.enabled=false" for name in CLASS_SIGNALS))
    for name in RUN_FILES:
        assert (default / name).read_bytes() == (off / name).read_bytes(), name
    assert not any(name in (default / "objects.csv").read_text() for name in CLASS_SIGNALS)
    on = mine(tmp_path / "on", *(f"--set=scoring.signals.{name}.enabled=true" for name in CLASS_SIGNALS))
    text = (on / "objects.csv").read_text()
    assert all(name in text for name in CLASS_SIGNALS)  # person or robot: the model hesitates somewhere
    assert (on / "tracks.txt").read_bytes() == (default / "tracks.txt").read_bytes()  # the same boxes


def test_committee_scores_the_boxes_the_views_disagree_on(default: Path, tmp_path: Path) -> None:
    """Off by default; on, each frame also runs mirrored: the tracks stay the detector's own, and
    the objects get the committee's disagreement among their reasons."""
    signals = yaml.safe_load((default / "config.yaml").read_text())["scoring"]["signals"]
    assert signals["committee"]["enabled"] is False
    assert "committee" not in (default / "objects.csv").read_text()
    run = mine(tmp_path, "--set", "scoring.signals.committee.enabled=true")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["config"]["scoring"]["signals"]["committee"]["enabled"] is True
    assert summary["config"]["scoring"]["committee_views"] == ["flip"]
    assert (run / "tracks.txt").read_bytes() == (default / "tracks.txt").read_bytes()
    objects = list(csv.DictReader((run / "objects.csv").open()))
    flagged = [r for r in objects if "committee" in r["reasons"]]
    assert flagged and len(flagged) < len(objects)  # some boxes, not all
    assert all(r["kind"] != "predicted" for r in flagged)
    frames = list(csv.DictReader((run / "frames.csv").open()))
    plain = list(csv.DictReader((default / "frames.csv").open()))
    assert sum(float(r["score"]) for r in frames) > sum(float(r["score"]) for r in plain)


def test_committee_strategy_turns_the_signal_on_and_ranks_by_it(default: Path, tmp_path: Path) -> None:
    """``--strategy committee``: query-by-committee as a strategy by name; the committee signal is
    turned on for it (the run's config says so), the tracks stay the detector's own."""
    run = mine(tmp_path, "--strategy", "committee")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["config"]["selection"]["strategy"] == "committee"
    assert summary["config"]["scoring"]["signals"]["committee"]["enabled"] is True
    assert (run / "tracks.txt").read_bytes() == (default / "tracks.txt").read_bytes()
    picked = [int(r["frame"]) for r in csv.DictReader((run / "selection.csv").open())]
    assert len(picked) == 3 and len(set(picked)) == 3


def test_committee_strategy_needs_a_model(tmp_path: Path) -> None:
    detections = tmp_path / "det.txt"
    detections.write_text("1,-1,10,10,20,40,0.9\n")
    result = runner.invoke(app, ["mine", "--no-push", str(SAMPLE_VIDEO), "--detections", str(detections), "--end",
                                 "5", "--strategy", "committee", "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and "the committee strategy runs a model" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_committee_strategy_without_members_is_refused_before_loading(tmp_path: Path) -> None:
    result = runner.invoke(app, ["mine", "--no-push", str(SAMPLE_VIDEO), "--model", str(tmp_path / "none.pt"),
                                 "--strategy", "committee", "--set", "scoring.committee_views=[]",
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and "the committee strategy needs members" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
