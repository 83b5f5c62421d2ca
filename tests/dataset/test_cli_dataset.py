"""``vidal push``, ``status`` and ``export`` on a real FiftyOne dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidal.cli import app
from vidal.dataset import push_run
from vidal.dataset.schema import TAG_REVIEWED

from conftest import mine_run

pytestmark = pytest.mark.fiftyone
runner = CliRunner()


@pytest.fixture
def reviewed_dataset(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> str:
    push_run(mine_run(scene_video, tmp_path / "runs"), dataset_name)
    dataset = fo.load_dataset(dataset_name)
    for sample in dataset.sort_by("frame_number").limit(2):
        sample.tags.append(TAG_REVIEWED)
        sample.save()
    return dataset_name


def test_push_command_and_status(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    run = mine_run(scene_video, tmp_path / "runs")
    result = runner.invoke(app, ["push", str(run), "--dataset", dataset_name])
    assert result.exit_code == 0, result.output
    assert "6 new, 0 updated" in result.output
    result = runner.invoke(app, ["status", "--dataset", dataset_name])
    assert result.exit_code == 0, result.output
    assert f"dataset '{dataset_name}': 6 mined, 6 to review, 0 reviewed" in result.output
    run_id = json.loads((run / "summary.json").read_text())["run_id"]
    assert run_id in result.output and "complete" in result.output and "scene.mp4" in result.output


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("yolo", [".vidal.json", "dataset.yaml", "images", "labels"]),
        ("coco", [".vidal.json", "data", "labels.json"]),
        ("cvat", [".vidal.json", "data", "labels.xml"]),
    ],
)
def test_export_reviewed(reviewed_dataset: str, tmp_path: Path, fmt: str, expected: list[str]) -> None:
    out = tmp_path / fmt
    result = runner.invoke(app, ["export", str(out), "--format", fmt, "--dataset", reviewed_dataset])
    assert result.exit_code == 0, result.output
    assert "exported 2 reviewed samples" in result.output
    assert sorted(p.name for p in out.iterdir()) == expected
    if fmt == "yolo":
        labels = list((out / "labels" / "train").glob("*.txt"))
        assert len(labels) == 2 and all(line.split()[0] == "0" for f in labels for line in f.read_text().splitlines())
        assert "square" in (out / "dataset.yaml").read_text()
    again = runner.invoke(app, ["export", str(out), "--format", fmt, "--dataset", reviewed_dataset])
    assert again.exit_code == 2 and "not empty" in again.output


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["status", "--dataset", "no-such-dataset"], "no dataset 'no-such-dataset'"),
        (["status", "--dataset", "bad/name"], "invalid dataset name"),
        (["export", "OUT", "--format", "pascal", "--dataset", "x"], "unknown export format 'pascal'"),
        (["push", "NOWHERE"], "not a vidal run folder"),
        (["review", "--dataset", "no-such-dataset"], "no dataset 'no-such-dataset'"),
    ],
)
def test_dataset_commands_bad_input(fo, tmp_path: Path, args: list[str], text: str) -> None:
    args = [str(tmp_path / a) if a in ("OUT", "NOWHERE") else a for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert text in result.output and "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("error:")]) == 1


def test_export_without_reviewed_samples(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    push_run(mine_run(scene_video, tmp_path / "runs"), dataset_name)
    result = runner.invoke(app, ["export", str(tmp_path / "out"), "--dataset", dataset_name])
    assert result.exit_code == 2 and "no reviewed samples" in result.output


def test_other_classes_error_names_both_lists(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    push_run(mine_run(scene_video, tmp_path / "runs"), dataset_name)
    other = mine_run(scene_video, tmp_path / "other", names={0: "circle"})
    result = runner.invoke(app, ["push", str(other), "--dataset", dataset_name])
    assert result.exit_code == 2
    assert "has classes [square] but this model gives [circle]" in result.output
