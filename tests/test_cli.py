"""The command line: one-line errors, exit codes, no half-written run folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidal.cli import app

from conftest import SHARED_MODEL

runner = CliRunner()
needs_shared_model = pytest.mark.skipif(not SHARED_MODEL.exists(), reason="../shared model absent")


def mine(*args: str):
    return runner.invoke(app, ["mine", "--no-push", *args])


def assert_one_line_error(result, text: str, code: int = 2) -> None:
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert text in result.output.replace("\n", " ")
    assert "Traceback" not in result.output


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and "vidal 0.1.0" in result.output


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["missing.mp4"], "input not found"),
        (["{video}", "--stride", "0"], "input.stride"),
        (["{video}", "--budget", "500"], "larger than the 64 frames"),
        (["{video}", "--budget", "ten"], "selection.budget"),
        (["{video}", "--set", "tracker.nope=1"], "tracker.nope"),
        (["{video}", "--out", "{file}/sub"], "cannot create output folder"),
        (["{video}", "--model", "{tmp}/absent.pt"], "model not found"),
        (["{video}", "--model", "{file}"], "cannot load model"),
        (["{text}"], "not a readable video"),
        (["{empty}"], "no videos or frame images"),
        (["{video}", "--start", "100"], "no frames to process"),
    ],
)
def test_bad_input_one_line_error(tmp_path: Path, scene_video: Path, args: list[str], text: str) -> None:
    afile = tmp_path / "weights.pt"
    afile.write_text("not a model")
    textfile = tmp_path / "notes.mp4"
    textfile.write_text("hello")
    (tmp_path / "empty").mkdir()
    out = tmp_path / "runs"
    filled = [
        a.format(video=scene_video, file=afile, tmp=tmp_path, text=textfile, empty=tmp_path / "empty") for a in args
    ]
    if "--out" not in filled:
        filled += ["--out", str(out)]
    result = mine(*filled)
    assert_one_line_error(result, text)
    assert not out.exists() or not list(out.iterdir())


@needs_shared_model
def test_unknown_class_name(tmp_path: Path, scene_video: Path) -> None:
    out = tmp_path / "runs"
    result = mine(str(scene_video), "--model", str(SHARED_MODEL), "--classes", "persn", "--out", str(out))
    assert_one_line_error(result, "unknown class name 'persn'")
    assert not out.exists() or list(out.iterdir()) == []


def test_offline_default_model_says_how_to_pass_one(tmp_path: Path, scene_video: Path) -> None:
    result = mine(str(scene_video), "--model", "yolo11n.pt", "--out", str(tmp_path / "runs"))
    if result.exit_code == 0:  # pragma: no cover - a machine with internet downloaded it
        pytest.skip("yolo11n.pt was downloadable here")
    assert_one_line_error(result, "--model")


@needs_shared_model
def test_several_inputs_one_folder_each(tmp_path: Path, scene_video: Path, scene_images: Path) -> None:
    out = tmp_path / "runs"
    result = mine(str(scene_video), str(scene_images), "--model", str(SHARED_MODEL), "--budget", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["SEQ-01", "scene"]
    for run in out.iterdir():
        assert len(list((run / "frames").iterdir())) == 2


@pytest.mark.parametrize(("command", "hints"), [
    ("train", ["[default: {MIN_STEPS}]", "[default: the base's]", "[default: the first GPU, else the CPU]"]),
    ("mine", ["[default: vidal-runs]", "[default: the dataset's, or ~/.vidal/media]"]),
])
def test_help_shows_the_defaults_written_in_the_help_text(command: str, hints: list[str]) -> None:
    # Typer reads help as Rich markup, where an unescaped "[default: ...]" is a tag and vanishes.
    from vidal.detectors.training import MIN_STEPS

    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    shown = " ".join(result.output.split())
    for hint in hints:
        assert hint.format(MIN_STEPS=MIN_STEPS) in shown
