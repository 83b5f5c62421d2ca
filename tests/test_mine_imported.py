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


def _square_rows(track_id: int, frames: Iterable[int], start: tuple[float, float], velocity: float) -> list[str]:
    return [f"{f},{track_id},{start[0] + velocity * (f - 1):.2f},{start[1]:.2f},24,24,0.9" for f in frames]


def test_tracks_replayed_with_track_level_signals(scene_video: Path, tmp_path: Path) -> None:
    """Another tracker's tracks on the scene: a gap, a short track; no association signal."""
    rows = (
        _square_rows(1, [f for f in range(1, 65) if not 20 <= f <= 22], (10.0, 40.0), 2.0)
        + _square_rows(2, range(1, 65), (140.0, 46.0), -2.0)
        + _square_rows(9, range(30, 33), (80.0, 70.0), 0.0)
    )
    path = tmp_path / "tracks.txt"
    path.write_text("\n".join(rows) + "\n")
    out = tmp_path / "runs"
    result = runner.invoke(app, ["mine", "--no-push", str(scene_video), "--tracks", str(path), "--budget", "4",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "association signal" in result.output and result.output.count("association signal") == 1
    run = out / scene_video.stem
    states = list(csv.DictReader((run / "track_states.csv").open()))
    by = {(int(r["frame"]), int(r["track_id"])): r for r in states}
    assert by[(21, 1)]["kind"] == "predicted" and "missed" in by[(21, 1)]["reasons"]
    assert by[(23, 1)]["kind"] == "tracked" and "reactivation" in by[(23, 1)]["reasons"]
    assert all("short_track" in by[(f, 9)]["reasons"] for f in (30, 31, 32))
    assert not any("short_track" in r["reasons"] for r in states if r["track_id"] != "9")
    assert not any("association" in r["reasons"] for r in states)
    # tracks.txt holds the file's boxes and identities, nothing else
    written = {(int(r[0]), int(r[1])): [float(v) for v in r[2:6]] for r in read_tracks(run / "tracks.txt")}
    given = {(int(r.split(",")[0]), int(r.split(",")[1])): [float(v) for v in r.split(",")[2:6]] for r in rows}
    assert written.keys() == given.keys()
    assert all(np.allclose(written[k], given[k], atol=0.01) for k in given)
    import yaml

    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["scoring"]["signals"]["association"]["enabled"] is False
    assert config["detector"]["tracks"] == str(path)


def test_per_class_scores_give_the_class_margin_signal(scene_video: Path, tmp_path: Path) -> None:
    """Two boxes alike but for their class scores: the one between two classes gets class_margin."""
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "classes.txt").write_text("person\ncar\n")
    path = folder / "det.txt"
    path.write_text("".join(f"{f},-1,10,40,24,24,0.9,1,0.9,0.002\n{f},-1,140,46,24,24,0.9,1,0.9,0.85\n"
                            for f in range(1, 65)))
    out = tmp_path / "runs"
    result = runner.invoke(app, ["mine", "--no-push", str(scene_video), "--detections", str(path), "--budget", "4",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.count("class_margin signal") == 1, result.output  # said once
    run = out / scene_video.stem
    states = list(csv.DictReader((run / "track_states.csv").open()))
    assert len({r["track_id"] for r in states}) == 2
    clear = {r["track_id"] for r in states if r["frame"] == "2" and "class_margin" not in r["reasons"]}
    torn = {r["track_id"] for r in states if r["frame"] == "2" and "class_margin" in r["reasons"]}
    assert len(clear) == 1 and len(torn) == 1
    objects = list(csv.DictReader((run / "objects.csv").open()))
    boxes = {r["track_id"]: float(r["x1"]) for r in objects}
    assert boxes[torn.pop()] > 100 and boxes[clear.pop()] < 50  # the box at x=140 is the ambiguous one
    assert objects and all(("class_margin" in r["reasons"]) == (float(r["x1"]) > 100) for r in objects)
    import json

    import yaml

    assert yaml.safe_load((run / "config.yaml").read_text())["scoring"]["signals"]["class_margin"]["enabled"] is True
    summary = json.loads((run / "summary.json").read_text())
    assert summary["config"]["scoring"]["signals"]["class_margin"]["enabled"] is True

    for name in ("class_entropy", "variation_ratio"):  # the other class-distribution signals, on alike
        assert summary["config"]["scoring"]["signals"][name]["enabled"] is True
        assert all((name in r["reasons"]) == (float(r["x1"]) > 100) for r in objects)

    plain = folder / "plain.txt"
    plain.write_text("".join(line.rsplit(",", 2)[0] + "\n" for line in path.read_text().splitlines()))
    result = runner.invoke(app, ["mine", "--no-push", str(scene_video), "--detections", str(plain), "--budget", "4",
                                 "--out", str(tmp_path / "plain")])
    assert result.exit_code == 0, result.output
    run = tmp_path / "plain" / scene_video.stem
    text = (run / "track_states.csv").read_text()
    assert not any(name in text for name in ("class_margin", "class_entropy", "variation_ratio"))
    signals = yaml.safe_load((run / "config.yaml").read_text())["scoring"]["signals"]
    assert signals["class_margin"]["enabled"] is signals["class_entropy"]["enabled"] is signals["variation_ratio"][
        "enabled"] is False


def test_committee_is_left_out_without_a_model(scene_video: Path, tmp_path: Path) -> None:
    """Another system's boxes cannot be run on views of the frame: said, and off in the run's config."""
    path = tmp_path / "det.txt"
    path.write_text("".join(f"{f},-1,10,40,24,24,0.9\n" for f in range(1, 65)))
    result = runner.invoke(app, ["mine", "--no-push", str(scene_video), "--detections", str(path), "--budget", "4",
                                 "--out", str(tmp_path / "runs"), "--set", "scoring.signals.committee.enabled=true"])
    assert result.exit_code == 0, result.output
    assert result.output.count("committee signal needs a model") == 1, result.output
    import yaml

    config = yaml.safe_load((tmp_path / "runs" / scene_video.stem / "config.yaml").read_text())
    assert config["scoring"]["signals"]["committee"]["enabled"] is False
