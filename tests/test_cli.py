"""The command line: one-line errors, exit codes, no half-written run folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidal.cli import app

from conftest import SAMPLE_MODEL, SHARED_MODEL, write_scene_video

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
    from vidal.training import MIN_STEPS

    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    shown = " ".join(result.output.split())
    for hint in hints:
        assert hint.format(MIN_STEPS=MIN_STEPS) in shown


def _absent_gpu() -> str:
    """A CUDA index past this machine's GPUs (``0`` where there is none)."""
    import torch

    return str(torch.cuda.device_count())


@pytest.mark.parametrize("device", ["cuda:{n}", "{n}", "0,{n}", "gpu", "cpu:0"])
def test_mine_refuses_a_device_before_loading_anything(tmp_path: Path, scene_video: Path, device: str) -> None:
    value = device.format(n=_absent_gpu())
    out = tmp_path / "runs"
    # The model does not exist either: the device is checked first.
    result = mine(str(scene_video), "--model", str(tmp_path / "absent.pt"), "--device", value, "--out", str(out))
    assert_one_line_error(result, f"device {value!r}")
    assert "this machine has cpu" in result.output.replace("\n", " ")
    assert not out.exists()


def test_train_refuses_a_device_before_reading_the_dataset(tmp_path: Path) -> None:
    value = f"cuda:{_absent_gpu()}"
    result = runner.invoke(app, ["train", "--dataset", "no-such-dataset", "--device", value, "--out", str(tmp_path)])
    assert_one_line_error(result, f"device {value!r} is not available: this machine has cpu")


# The files of an OpenVINO export, by the name they get in a test folder.
OPENVINO_FILES = {"m.xml": "yolo11n.xml", "m.bin": "yolo11n.bin", "metadata.yaml": "metadata.yaml"}


@pytest.mark.parametrize(
    ("files", "cut", "text"),
    [
        (("m.bin", "metadata.yaml"), None, "no OpenVINO .xml file in the folder"),
        (("m.bin",), None, "no OpenVINO .xml file in the folder"),
        (("m.xml", "metadata.yaml"), None, "its weights m.bin are missing"),
        (("m.xml",), None, "its weights m.bin are missing"),
        (("m.xml", "m.bin", "metadata.yaml"), "m.xml", "Start-end tags mismatch"),
        (("m.xml", "m.bin", "metadata.yaml"), "m.bin", "Incorrect weights in bin file"),
    ],
)
@needs_shared_model
def test_broken_openvino_folder_one_line_error(
    tmp_path: Path, scene_video: Path, files: tuple[str, ...], cut: str | None, text: str
) -> None:
    folder = tmp_path / "m_openvino_model"
    folder.mkdir()
    for name in files:
        data = (SHARED_MODEL / OPENVINO_FILES[name]).read_bytes()
        (folder / name).write_bytes(data[:3000] if name == cut else data)
    result = mine(str(scene_video), "--model", str(folder), "--out", str(tmp_path / "runs"))
    assert_one_line_error(result, text)


def _file(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (lambda d: (d / "m").mkdir() or d / "m", "the folder is empty"),
        (lambda d: _file(d / "m" / "notes.txt", b"x").parent, "not a supported model format"),
        (lambda d: _file(d / "m.pt", b""), "the file is empty"),
        (lambda d: _file(d / "m.onnx", b""), "the file is empty"),
        (lambda d: _file(d / "m.pt", SAMPLE_MODEL.read_bytes()[:50_000]), "truncated"),
        (lambda d: _file(d / "m.pt", bytes(range(256)) * 20), "cannot load model"),
    ],
)
def test_broken_model_file_or_folder_one_line_error(tmp_path: Path, scene_video: Path, make, text: str) -> None:
    result = mine(str(scene_video), "--model", str(make(tmp_path)), "--out", str(tmp_path / "runs"))
    assert_one_line_error(result, text)


def test_truncated_video_says_each_thing_once(tmp_path: Path) -> None:
    video = write_scene_video(tmp_path / "scene.avi", fourcc="MJPG")
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    result = mine(str(video), "--model", str(SAMPLE_MODEL), "--budget", "2", "--out", str(tmp_path / "runs"))
    assert result.exit_code == 3, result.output
    text = " ".join(result.output.split())
    assert text.count("the file is truncated or corrupt") == 1, result.output
    assert text.count("error:") == 1 and "error: 1 of 1 inputs stopped early (scene)" in text


def test_an_openvino_device_for_a_pytorch_model_is_refused(tmp_path: Path, scene_video: Path) -> None:
    result = mine(str(scene_video), "--model", str(SAMPLE_MODEL), "--device", "intel:cpu", "--out", str(tmp_path))
    assert_one_line_error(result, "device 'intel:cpu' is an OpenVINO device")
