"""``vidal train`` on a real FiftyOne dataset with real (tiny) Ultralytics trainings."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidal.cli import app
from vidal.dataset import push_run
from vidal.dataset.lineage import latest_model, latest_model_path, models
from vidal.dataset.schema import TAG_REVIEWED
from vidal.training import TrainingPlan
from vidal.training import train as train_from_dataset

from conftest import REPO, SAMPLE_MODEL, mine_run

pytestmark = [pytest.mark.fiftyone, pytest.mark.slow]
runner = CliRunner()
TINY = {"epochs": 1, "imgsz": 64, "batch": 4, "min_steps": 0}


def _reviewed(fo, name: str, video: Path, runs: Path, labels: dict[int, str] | None = None, review: int = 16) -> str:
    push_run(mine_run(video, runs, budget=16, names=labels or {0: "person"}), name)
    dataset = fo.load_dataset(name)
    for sample in dataset.sort_by("frame_number").limit(review):
        sample.tags = [TAG_REVIEWED]
        sample.save()
    return name


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every attempt to reach a host other than this machine."""
    attempts: list[str] = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo
    local = ("127.0.0.1", "localhost", "::1")

    def connect(self, address):  # type: ignore[no-untyped-def]
        host = address[0] if isinstance(address, tuple) else str(address)
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in local:
            attempts.append(str(host))
            raise OSError("network disabled in tests")
        return real_connect(self, address)

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host not in local and host is not None:
            attempts.append(str(host))
            raise socket.gaierror("network disabled in tests")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


def test_train_records_a_versioned_model_offline(
    fo, dataset_name: str, tmp_path: Path, scene_video: Path, offline: list[str]
) -> None:
    _reviewed(fo, dataset_name, scene_video, tmp_path / "runs")
    result = train_from_dataset(dataset_name, base=str(SAMPLE_MODEL), out_root=tmp_path / "out", **TINY)
    assert offline == []
    record = result.record
    assert record.version == 1 and record.parent is None
    assert Path(record.base) == SAMPLE_MODEL.resolve()
    assert result.model_path.is_file() and result.model_path.parent == result.run_dir
    assert sorted(p.name for p in result.run_dir.iterdir()) == [
        "data", "metrics.json", "model.pt", "record.json", "split.json", "ultralytics", "ultralytics.log", "val"]
    assert not list((tmp_path / "out").glob(".*partial*"))
    # The exported data names no staging folder: it stays usable from the final run folder.
    assert "partial" not in (result.run_dir / "data" / "dataset.yaml").read_text()
    train, val = set(record.train_samples), set(record.val_samples)
    reviewed = set(fo.load_dataset(dataset_name).match_tags(TAG_REVIEWED).values("id"))
    assert train and val and not train & val and train | val <= reviewed
    for side in ("base", "new"):
        scores = getattr(record.metrics, side).as_dict()
        assert 0 <= scores["map50"] <= 1 and 0 <= scores["map"] <= scores["map50"] + 1e-9
        assert set(scores["per_class"]) <= {"person"}
    assert json.loads((result.run_dir / "metrics.json").read_text()) == record.metrics.as_dict()
    assert latest_model_path(dataset_name) == str(result.model_path.resolve())

    # A second training starts from the first model by default: the lineage links them.
    second = train_from_dataset(dataset_name, out_root=tmp_path / "out", **TINY)
    assert second.record.version == 2 and second.record.parent == record.key
    assert Path(second.record.base) == result.model_path.resolve()
    assert latest_model(dataset_name).key == second.record.key


def test_an_interrupted_training_leaves_the_previous_model_current(
    fo, dataset_name: str, tmp_path: Path, scene_video: Path
) -> None:
    _reviewed(fo, dataset_name, scene_video, tmp_path / "runs")
    first = train_from_dataset(dataset_name, base=str(SAMPLE_MODEL), out_root=tmp_path / "out", **TINY)

    def interrupt(epoch: int, epochs: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_from_dataset(dataset_name, out_root=tmp_path / "out", on_epoch=interrupt, **dict(TINY, epochs=2))
    assert latest_model(dataset_name).key == first.record.key
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [first.run_dir.name]


def test_a_small_review_trains_in_more_smaller_steps(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    from vidal.training import FINE_TUNE, MIN_STEPS, plan_training

    _reviewed(fo, dataset_name, scene_video, tmp_path / "runs")
    plan = plan_training(dataset_name, base=str(SAMPLE_MODEL), epochs=2, batch=16, out_root=tmp_path / "out")
    assert 0 < len(plan.train_ids) <= 16  # one batch: one optimizer step per epoch
    assert (plan.epochs_asked, plan.epochs) == (2, MIN_STEPS)
    assert plan.hyp["lr0"] == pytest.approx(FINE_TUNE["lr0"] * 2 / MIN_STEPS)
    # A learning rate of the caller's is spread the same way; 0 steps asks for exactly the epochs.
    plan = plan_training(dataset_name, base=str(SAMPLE_MODEL), epochs=4, batch=16, out_root=tmp_path / "out",
                         hyp={"lr0": 0.008}, min_steps=8)
    assert plan.epochs == 8 and plan.hyp["lr0"] == pytest.approx(0.004)
    plan = plan_training(dataset_name, base=str(SAMPLE_MODEL), epochs=2, out_root=tmp_path / "out", min_steps=0)
    assert plan.epochs == 2 and "lr0" not in plan.hyp


def test_the_plan_comes_before_the_run_folder_and_stopping_there_records_nothing(
    fo, dataset_name: str, tmp_path: Path, scene_video: Path
) -> None:
    _reviewed(fo, dataset_name, scene_video, tmp_path / "runs")
    out, plans = tmp_path / "out", []

    class Stop(Exception):
        pass

    def on_plan(plan: TrainingPlan) -> None:
        plans.append(plan)
        assert list(out.iterdir()) == []  # checked writable, nothing in it yet
        raise Stop

    with pytest.raises(Stop):
        train_from_dataset(dataset_name, base=str(SAMPLE_MODEL), out_root=out, on_plan=on_plan, **TINY)
    [plan] = plans
    assert plan.base == str(SAMPLE_MODEL) and plan.train_ids and plan.val_ids and plan.epochs == TINY["epochs"]
    assert list(out.iterdir()) == [] and latest_model(dataset_name) is None


@pytest.mark.parametrize("out", [[], ["--out", "models"]], ids=["default-out", "relative-out"])
def test_the_readme_command_trains_into_the_current_folder_twice(
    fo, dataset_name: str, tmp_path: Path, scene_video: Path, out: list[str]
) -> None:
    """``vidal train --dataset NAME`` as the README gives it, run by a user in a folder of theirs.

    Ultralytics files a relative ``project`` under its ``runs_dir``, which for a virtual
    environment inside the repository (the README's install) is ``runs`` in the folder the
    user runs from; the settings say so here, in a fresh config folder. The command runs in
    a process of its own: under pytest, Ultralytics files relative projects elsewhere.
    """
    _reviewed(fo, dataset_name, scene_video, tmp_path / "mined")
    cwd, config = tmp_path / "work", tmp_path / "ultralytics-config"
    cwd.mkdir()
    settings = config / "Ultralytics" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"runs_dir": "runs"}))
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env.update(YOLO_CONFIG_DIR=str(config), PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]))
    command = [sys.executable, "-m", "vidal.cli", "train", "--dataset", dataset_name, "--epochs", "1", "--imgsz",
               "64", "--batch", "4", "--min-steps", "0", *out]
    for base in (["--base", str(SAMPLE_MODEL)], []):  # the second starts from the first's model
        done = subprocess.run([*command, *base], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(settings.read_text())["runs_dir"] == "runs"  # Ultralytics kept it
    root = cwd / (out[1] if out else "vidal-runs")
    assert [p.name for p in cwd.iterdir()] == [root.name]  # no ./runs
    assert sorted(p.name for p in root.iterdir()) == [f"train-{dataset_name}", f"train-{dataset_name}-2"]
    for run in root.iterdir():
        assert (run / "metrics.json").is_file()
        assert [p.name for p in run.rglob("*.pt")] == ["model.pt"]  # Ultralytics' weights are not kept
    dataset = fo.load_dataset(dataset_name)
    dataset.reload()  # the runs were recorded by other processes
    first, second = models(dataset)
    assert Path(first.model_path) == (root / f"train-{dataset_name}" / "model.pt").resolve()
    assert Path(second.base) == Path(first.model_path) and second.parent == first.key


def _train(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["train", *args])
    return result.exit_code, result.output


def test_training_with_no_reviewed_samples_is_refused(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    _reviewed(fo, dataset_name, scene_video, tmp_path / "runs", review=0)
    code, output = _train("--dataset", dataset_name, "--base", str(SAMPLE_MODEL), "--out", str(tmp_path / "out"))
    assert code == 2 and "no reviewed samples" in output and len(output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # a refused training creates nothing


def test_labels_the_base_does_not_know_are_refused(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    _reviewed(fo, dataset_name, scene_video, tmp_path / "runs", labels={0: "cyclist"})
    code, output = _train("--dataset", dataset_name, "--base", str(SAMPLE_MODEL), "--out", str(tmp_path / "out"))
    assert code == 2 and "cyclist" in output and "person, robot" in output
    assert latest_model(dataset_name) is None and not (tmp_path / "out").exists()


def test_an_unwritable_output_folder_is_refused(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    _reviewed(fo, dataset_name, scene_video, tmp_path / "runs")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, output = _train("--dataset", dataset_name, "--base", str(SAMPLE_MODEL), "--out", str(blocker / "out"))
    assert code == 2 and "output folder" in output
    assert latest_model(dataset_name) is None


@pytest.mark.parametrize("export", ["yolo11n_openvino_model", "model.onnx", "model.engine"])
def test_an_exported_base_is_refused(fo, dataset_name: str, tmp_path: Path, scene_video: Path, export: str) -> None:
    _reviewed(fo, dataset_name, scene_video, tmp_path / "runs")
    base = tmp_path / export
    base.mkdir() if export.endswith("_model") else base.write_bytes(b"\0")
    code, output = _train("--dataset", dataset_name, "--base", str(base), "--out", str(tmp_path / "out"))
    assert code == 2 and "pass --base with a .pt" in output


def test_mine_latest_without_a_trained_model_is_refused(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    _reviewed(fo, dataset_name, scene_video, tmp_path / "runs")
    result = runner.invoke(app, ["mine", str(scene_video), "--model", "latest", "--dataset", dataset_name,
                                 "--out", str(tmp_path / "mined")])
    assert result.exit_code == 2 and "no model trained on dataset" in result.output
