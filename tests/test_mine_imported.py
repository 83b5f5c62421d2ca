"""``vidal mine --detections / --tracks``: another system's output mined end to end."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vidal.cli import app
from vidal.types import Detections, Frame

from conftest import SAMPLE_MODEL, SAMPLE_VIDEO

runner = CliRunner()
SAMPLE_CLASSES = SAMPLE_VIDEO.parent / "crossing" / "classes.txt"
FRAMES = 30


class Recorder:
    """Wraps a detector and keeps what it hands the tracker, frame by frame."""

    def __init__(self, detector) -> None:
        self.detector = detector
        self.names, self.classes, self.description = detector.names, detector.classes, detector.description
        self.seen: list[tuple[int, Detections]] = []

    def stream(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, Detections]]:
        for frame, detections in self.detector.stream(frames):
            self.seen.append((frame.index, detections))
            yield frame, detections


def write_det(path: Path, seen: list[tuple[int, Detections]]) -> Path:
    """MOTChallenge detections, floats written exactly (``repr``), class = vidal class + 1."""
    with path.open("w") as handle:
        for frame, d in seen:
            for (x1, y1, x2, y2), c, k in zip(d.xyxy.tolist(), d.confidence.tolist(), d.class_id.tolist()):
                handle.write(f"{frame},-1,{x1!r},{y1!r},{x2 - x1!r},{y2 - y1!r},{c!r},{k + 1}\n")
    return path


def read_tracks(path: Path) -> list[list[str]]:
    return list(csv.reader(path.open()))


@pytest.fixture(scope="module")
def own_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """vidal's own run of the sample model over the sample clip's first frames, and its detections as det.txt."""
    from vidal.config import load_config
    from vidal.detectors import load_detector
    from vidal.pipeline import mine_source
    from vidal.video import open_source

    folder = tmp_path_factory.mktemp("own")
    detector = Recorder(load_detector(str(SAMPLE_MODEL)))
    config = load_config(overrides=[f"input.end={FRAMES}", "selection.budget=3"])
    result = mine_source(open_source(SAMPLE_VIDEO), detector, config, folder / "runs")
    return result.run_dir, write_det(folder / "det.txt", detector.seen)


def test_detections_give_the_tracks_of_vidals_own_run(own_run: tuple[Path, Path], tmp_path: Path) -> None:
    run_dir, det = own_run
    out = tmp_path / "runs"
    result = runner.invoke(app, ["mine", "--no-push", str(SAMPLE_VIDEO), "--detections", str(det), "--classes-file",
                                 str(SAMPLE_CLASSES), "--end", str(FRAMES), "--budget", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    mined = out / SAMPLE_VIDEO.stem
    own_tracks = read_tracks(run_dir / "tracks.txt")
    assert len({row[1] for row in own_tracks}) >= 5  # the clip's walkers, tracked
    assert read_tracks(mined / "tracks.txt") == own_tracks
    assert (mined / "frames.csv").read_text() == (run_dir / "frames.csv").read_text()  # same scores, every signal
    import json

    summary = json.loads((mined / "summary.json").read_text())
    assert summary["model_path"] == str(det.resolve())
    assert summary["classes"] == {"0": "person", "1": "robot"}
