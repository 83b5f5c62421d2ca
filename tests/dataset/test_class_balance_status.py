"""Class balance: a rare class gets its share of the budget, reported in summary.json and ``vidal status``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vidal.cli import app
from vidal.config import load_config
from vidal.dataset import push_run
from vidal.pipeline import mine_source
from vidal.video import open_source

from conftest import ScriptedDetector, scene_boxes

pytestmark = pytest.mark.fiftyone
runner = CliRunner()
BALL_FRAMES = range(50, 59)


def boxes(frame: int) -> np.ndarray:
    """The scene's two moving squares, and its third object (the "ball") only in frames 50-58."""
    return scene_boxes(frame) if frame in BALL_FRAMES else scene_boxes(frame)[:2]


def classes(frame: int) -> np.ndarray:
    return np.array([0, 0, 1] if frame in BALL_FRAMES else [0, 0])


def mine(video: Path, out: Path, share: float) -> dict:
    detector = ScriptedDetector(boxes=boxes, class_ids=classes, names={0: "person", 1: "ball"}, noise=1.0,
                                misses={20: [0], 21: [0], 30: [1]}, low={40: [1], 10: [0]})
    config = load_config(overrides=["selection.budget=6", "selection.min_gap_s=0.1", f"selection.class_share={share}"])
    run = mine_source(open_source(video), detector, config, out).run_dir
    return json.loads((run / "summary.json").read_text()) | {"run_dir": str(run)}


def test_a_rare_class_gets_its_share_and_status_shows_the_coverage(
    fo, dataset_name: str, tmp_path: Path, scene_video: Path
) -> None:
    plain = mine(scene_video, tmp_path / "plain", 0.0)
    ball_picks = [f for f in plain["selection"]["frames"] if f in BALL_FRAMES]
    assert len(ball_picks) < 2  # the ball is certain: the score alone passes it by

    balanced = mine(scene_video, tmp_path / "balanced", 0.3)  # ceil(0.3 * 6) = 2 frames showing each class
    frames = balanced["selection"]["frames"]
    assert len(frames) == 6 == len(set(frames))
    assert len([f for f in frames if f in BALL_FRAMES]) == 2
    # the picks that made way for the ball were the strategy's last ones: its first four stay
    assert frames[:4] == plain["selection"]["frames"][:4]
    coverage = balanced["selection"]["class_coverage"]
    assert coverage["ball"] == {"frames": 9, "selected_frames": 2, "frame_share": round(2 / 9, 4), "tracks": 1,
                                "selected_tracks": 1, "track_share": 1.0}
    assert coverage["person"]["frames"] == 64 and coverage["person"]["selected_frames"] == 6
    assert plain["selection"]["class_coverage"]["ball"]["selected_frames"] == len(ball_picks)

    push_run(Path(balanced["run_dir"]), dataset_name)
    shown = runner.invoke(app, ["status", "--dataset", dataset_name])
    assert shown.exit_code == 0, shown.output
    rows = [" ".join(line.replace("│", " ").split()) for line in shown.output.splitlines()]
    people = coverage["person"]
    assert f"{balanced['run_id']} ball 2 of 9 1 of 1" in rows
    assert f"{balanced['run_id']} person 6 of 64 {people['selected_tracks']} of {people['tracks']}" in rows
