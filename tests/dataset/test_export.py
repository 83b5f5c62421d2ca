"""``vidal export``: what it may replace, how it names frames, what its files hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidal.cli import app
from vidal.dataset import push_run
from vidal.dataset.schema import TAG_REVIEWED
from vidal.outputs import MARKER_FILE

from conftest import REPO, mine_run, write_scene_video

pytestmark = pytest.mark.fiftyone
runner = CliRunner()


def _review_all(fo, name: str) -> int:
    dataset = fo.load_dataset(name)
    for sample in dataset:
        sample.tags.append(TAG_REVIEWED)
        sample.save()
    return len(dataset)


@pytest.fixture
def reviewed(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> str:
    push_run(mine_run(scene_video, tmp_path / "runs"), dataset_name)
    _review_all(fo, dataset_name)
    return dataset_name


def _export(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["export", *args])
    return result.exit_code, result.output


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's project folder as the working directory, inside a home directory of its own."""
    home = tmp_path / "home"
    folder = home / "project"
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "main.py").write_text("print('mine')\n")
    (home / "notes.txt").write_text("mine\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(folder)
    return folder


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        (".", "it is the current directory"),
        ("~", "it is the home directory"),
        ("..", "it is the home directory"),
        ("../..", "it holds the current directory"),
        ("LINK", "it is the current directory"),  # a symlink to the working directory
    ],
)
@pytest.mark.parametrize("overwrite", [True, False])
def test_export_refuses_the_working_and_home_directories_and_their_parents(
    reviewed: str, tmp_path: Path, project: Path, where: str, reason: str, overwrite: bool
) -> None:
    if where == "LINK":
        (tmp_path / "link").symlink_to(project, target_is_directory=True)
        where = str(tmp_path / "link")
    before = _files(tmp_path / "home")
    code, output = _export(os.path.expanduser(where), "--dataset", reviewed, *(["--overwrite"] if overwrite else []))
    assert code == 2, output
    assert output.startswith("error: refusing to export to") and reason in output
    assert len(output.strip().splitlines()) == 1
    assert _files(tmp_path / "home") == before
    assert not list(tmp_path.glob(".*partial*")) and not list((tmp_path / "home").glob(".*partial*"))


def test_export_refuses_the_root_folder(fo) -> None:
    # The dataset does not exist: even a regression could not reach a deletion.
    code, output = _export("/", "--dataset", "no-such-dataset", "--overwrite")
    assert code == 2 and "refusing to export to /: it holds the current directory" in output


def test_export_overwrite_replaces_only_an_earlier_export(reviewed: str, tmp_path: Path) -> None:
    user = tmp_path / "user"
    user.mkdir()
    (user / "thesis.tex").write_text("mine")
    code, output = _export(str(user), "--dataset", reviewed, "--overwrite")
    assert code == 2 and "not empty and was not written by vidal export" in output
    assert _files(user) == {"thesis.tex": b"mine"}

    out = tmp_path / "export"
    code, output = _export(str(out), "--dataset", reviewed)
    assert code == 0, output
    assert json.loads((out / MARKER_FILE).read_text())["kind"] == "export"
    code, output = _export(str(out), "--dataset", reviewed, "--format", "coco")
    assert code == 2 and "pass --overwrite to replace it" in output
    assert (out / "dataset.yaml").is_file()
    link = tmp_path / "link"  # replaced through a symlink: the folder it names is replaced
    link.symlink_to(out, target_is_directory=True)
    code, output = _export(str(link), "--dataset", reviewed, "--format", "coco", "--overwrite")
    assert code == 0, output
    assert link.is_symlink() and sorted(p.name for p in out.iterdir()) == [MARKER_FILE, "data", "labels.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "link", "runs", "scene.mp4", "user"]


def test_export_names_frames_by_video(fo, dataset_name: str, tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    videos = {
        "scene": write_scene_video(tmp_path / "scene.mp4"),
        "other": write_scene_video(tmp_path / "other.mp4", frames=63),
        "twin": write_scene_video(tmp_path / "b" / "scene.mp4", frames=62),  # another video, same name
    }
    for k, video in enumerate(videos.values()):
        push_run(mine_run(video, tmp_path / f"runs{k}"), dataset_name)
    count = _review_all(fo, dataset_name)
    paths, hashes, frames = fo.load_dataset(dataset_name).values(["video_path", "video_hash", "frame_number"])
    hash_of = dict(zip(paths, hashes))
    prefix = {
        str(videos["scene"].resolve()): f"scene-{hash_of[str(videos['scene'].resolve())][:8]}",
        str(videos["other"].resolve()): "other",
        str(videos["twin"].resolve()): f"scene-{hash_of[str(videos['twin'].resolve())][:8]}",
    }
    expected = {f"{prefix[path]}_{frame:06d}.jpg": (path, frame) for path, frame in zip(paths, frames)}
    assert len(expected) == count
    assert len(set(frames)) < len(frames), "no frame number shared by two videos: the test shows nothing"

    for fmt, images in (("yolo", "images/train"), ("coco", "data"), ("cvat", "data")):
        out = tmp_path / fmt
        code, output = _export(str(out), "--format", fmt, "--dataset", dataset_name)
        assert code == 0, output
        assert sorted(p.name for p in (out / images).iterdir()) == sorted(expected)
    assert sorted(p.stem for p in (tmp_path / "yolo" / "labels" / "train").iterdir()) == sorted(
        Path(name).stem for name in expected
    )
    coco = json.loads((tmp_path / "coco" / "labels.json").read_text())
    assert {im["file_name"]: (im["video_path"], im["frame_number"]) for im in coco["images"]} == expected
    assert all(hash_of[im["video_path"]] == im["video_hash"] for im in coco["images"])
    names = [image.get("name") for image in ET.parse(tmp_path / "cvat" / "labels.xml").getroot().iter("image")]
    assert sorted(names) == sorted(expected)


def test_yolo_export_has_a_val_split_ultralytics_accepts(
    reviewed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "export"
    code, output = _export(str(out), "--dataset", reviewed)
    assert code == 0, output
    moved = tmp_path / "moved"  # the yaml names no absolute path: the folder can move
    out.rename(moved)
    import ultralytics.data.utils as data_utils
    from ultralytics.data.dataset import YOLODataset

    monkeypatch.setattr(data_utils, "check_font", lambda *args, **kwargs: None)  # it downloads a font
    data = data_utils.check_det_dataset(str(moved / "dataset.yaml"))
    assert data["val"] == data["train"] == str(moved / "images" / "train")
    assert data["names"] == {0: "square"}
    labelled = YOLODataset(img_path=data["val"], data=data, task="detect")
    assert len(labelled) == 6 and sum(len(label["bboxes"]) for label in labelled.labels) > 0


def test_export_prints_only_vidal_lines(reviewed: str, tmp_path: Path) -> None:
    out = tmp_path / "export"
    for fmt in ("cvat", "coco"):
        done = subprocess.run(
            [sys.executable, "-m", "vidal.cli", "export", str(out / fmt), "--format", fmt, "--dataset", reviewed],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"},
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        assert done.stdout.splitlines() == [f"exported 6 reviewed samples to {out / fmt} ({fmt})"]


def test_export_with_missing_images_touches_nothing(fo, reviewed: str, tmp_path: Path) -> None:
    out = tmp_path / "export"
    assert _export(str(out), "--dataset", reviewed)[0] == 0
    before = _files(out)
    Path(fo.load_dataset(reviewed).first().filepath).unlink()
    code, output = _export(str(out), "--dataset", reviewed, "--overwrite")
    assert code == 2 and "1 reviewed images are missing from the media folder" in output
    assert _files(out) == before and not list(tmp_path.glob(".*partial*"))


def test_export_files_get_the_umask_mode(reviewed: str, tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        assert _export(str(tmp_path / "export"), "--dataset", reviewed)[0] == 0
    finally:
        os.umask(previous)
    modes = {p.stat().st_mode & 0o777 for p in (tmp_path / "export").rglob("*")}
    assert modes == {0o755, 0o644}
