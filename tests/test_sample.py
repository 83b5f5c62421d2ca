"""The shipped sample: deterministic generator, and vidal mine on it with the shipped detector."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vidal.cli import app
from vidal.evaluation import evaluate_tracking, frame_errors
from vidal.mot import read_mot

from conftest import REPO, SAMPLE_MODEL, SAMPLE_VIDEO, import_tool

SAMPLE_GT = REPO / "sample_videos" / "crossing" / "gt" / "gt.txt"


def test_generator_reproduces_the_shipped_ground_truth(tmp_path: Path) -> None:
    write_clip = import_tool("make_sample").write_clip
    video, ids, boxes = write_clip(tmp_path, "crossing", seed=0, frames=300)
    assert (tmp_path / "crossing" / "gt" / "gt.txt").read_bytes() == SAMPLE_GT.read_bytes()
    assert ids >= 20 and boxes > 3000


def test_plaza_look_is_another_camera_on_the_same_plan() -> None:
    make_sample = import_tool("make_sample")
    LOOKS, render = make_sample.LOOKS, make_sample.render
    street = list(render(5, 20, LOOKS["street"]))
    plaza = list(render(5, 20, LOOKS["plaza"]))
    again = list(render(5, 20, LOOKS["plaza"]))
    assert all((a[1] == b[1]).all() for a, b in zip(plaza, again))  # deterministic
    # same walkers (identities, classes) in the first frame, drawn smaller on other colours
    first_street, first_plaza = street[0][2], plaza[0][2]
    assert [(v.track_id, v.class_id) for v in first_street] == [(v.track_id, v.class_id) for v in first_plaza]
    heights = lambda truth: np.median([v.box[3] for v in truth])  # noqa: E731
    assert heights(first_plaza) < 0.85 * heights(first_street)
    difference = np.abs(street[0][1].astype(int) - plaza[0][1].astype(int)).mean(axis=2)
    assert (difference > 30).mean() > 0.5  # most pixels change colour


def test_sample_ground_truth_has_crowding_and_occlusion() -> None:
    rows = np.loadtxt(SAMPLE_GT, delimiter=",")
    assert rows[:, 0].min() == 1 and rows[:, 0].max() == 300
    per_frame = np.bincount(rows[:, 0].astype(int))[1:]
    assert per_frame.max() >= 12
    assert (rows[:, 8] < 0.5).sum() > 200  # heavily occluded boxes
    assert set(rows[:, 7].astype(int)) == {1, 2}  # both classes


@pytest.mark.slow
@pytest.mark.fiftyone  # vidal mine pushes its selection
def test_mine_sample_finds_real_mistakes(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["mine", str(SAMPLE_VIDEO), "--model", str(SAMPLE_MODEL), "--out", str(tmp_path), "--budget", "15",
              "--dataset", "sample-end-to-end"]
    )
    assert result.exit_code == 0, result.output
    assert "pushed to dataset 'sample-end-to-end': 15 new" in result.output
    run = tmp_path / "crossing"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["frames"]["processed"] == 300
    gt, tracks = read_mot(SAMPLE_GT), read_mot(run / "tracks.txt")
    scores = evaluate_tracking(gt, tracks)
    # the detector is good enough to track, and imperfect enough to leave mistakes to find
    assert 0.3 < scores.mota < 0.98
    assert scores.id_switches > 0 and scores.misses > 0
    errors = frame_errors(gt, tracks, frames=range(1, 301))
    selected = [int(r["frame"]) for r in csv.DictReader((run / "selection.csv").open())]
    assert len(selected) == 15
    per_frame = dict(zip(errors.frame.tolist(), errors.total.tolist()))
    # the selected frames hold more mistakes than an average frame
    assert np.mean([per_frame[f] for f in selected]) > errors.total.mean()
