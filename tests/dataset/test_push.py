"""Pushing runs into FiftyOne: fields, idempotence, protected corrections, bad input and faults."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vidal.dataset import push_run
from vidal.dataset.connection import check_name
from vidal.dataset.report import dataset_status
from vidal.dataset.schema import TAG_REVIEWED, TAG_TO_REVIEW, VIEW_REVIEWED, VIEW_TO_REVIEW, fingerprint
from vidal.errors import DatasetError, InputError, OutputError

from conftest import mine_run

pytestmark = pytest.mark.fiftyone


def selection(run: Path) -> list[dict[str, str]]:
    with (run / "selection.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_push_writes_every_field(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    run = mine_run(scene_video, tmp_path / "runs")
    report = push_run(run, dataset_name)
    dataset = fo.load_dataset(dataset_name)
    summary = json.loads((run / "summary.json").read_text())
    selected = selection(run)
    assert (report.added, report.updated, report.protected, report.total) == (len(selected), 0, 0, len(selected))
    assert sorted(dataset.values("frame_number")) == sorted(int(r["frame"]) for r in selected)
    assert set(dataset.distinct("video_hash")) == {summary["input"]["sha256"]}
    for sample in dataset:
        assert Path(sample.filepath).is_file() and str(Path(os.environ["VIDAL_HOME"])) in sample.filepath
        assert sample.vidal_key == f"{sample.video_hash}:{sample.frame_number}"
        assert sample.video_path == str(scene_video.resolve())
        assert sample.timestamp == pytest.approx((sample.frame_number - 1) / 25, abs=1e-3)
        assert sample.uncertainty > 0 and sample.reasons
        assert sample.mining_run == summary["run_id"] and sample.mining_runs == [summary["run_id"]]
        assert sample.model == "scripted detector"
        assert sample.tags == [TAG_TO_REVIEW]
        predictions = sample.predictions.detections
        assert predictions and all(d.label == "square" and d.index >= 1 for d in predictions if d.kind == "tracked")
        assert all(0 <= v <= 1 for d in predictions for v in d.bounding_box)
        assert all(d.uncertainty >= 0 and isinstance(d.reasons, list) for d in predictions)
        draft = sample.ground_truth.detections
        assert {d.index for d in draft} <= {d.index for d in predictions}
        assert sample.draft_fingerprint == fingerprint(sample.ground_truth)
    regions = [d for s in dataset for d in s.suspect_regions.detections]
    assert regions and all(d.uncertainty >= 0.35 and d.label == d.reasons[0] for d in regions)
    assert "missed" in {d.label for d in regions}  # the misses at frames 20-21 are suspect regions
    assert dataset.list_runs() == [summary["run_id"]]
    record = dataset.get_run_info(summary["run_id"]).config
    assert (record.status, record.added, record.selected) == ("complete", len(selected), len(selected))
    assert dataset.list_saved_views() == [VIEW_TO_REVIEW, VIEW_REVIEWED]
    uncertainties = dataset.load_saved_view(VIEW_TO_REVIEW).values("uncertainty")
    assert uncertainties == sorted(uncertainties, reverse=True)
    assert dataset.active_label_schemas == ["ground_truth"]
    assert dataset.label_schemas["ground_truth"]["classes"] == ["square"]
    assert dataset.default_classes == ["square"]


def test_push_again_changes_nothing_but_the_run(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    first = mine_run(scene_video, tmp_path / "runs")
    push_run(first, dataset_name)
    again = push_run(first, dataset_name)
    assert again.added == 0 and again.updated == again.total == len(selection(first))
    second_run = mine_run(scene_video, tmp_path / "runs", noise=2.0, seed=1)
    second = push_run(second_run, dataset_name)
    dataset = fo.load_dataset(dataset_name)
    keys = dataset.values("vidal_key")
    union = {int(r["frame"]) for run in (first, second_run) for r in selection(run)}
    assert len(keys) == len(set(keys)) == second.total == len(union)
    assert len(dataset.list_runs()) == 2


def test_human_corrections_survive_a_new_model(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    run = mine_run(scene_video, tmp_path / "runs", budget=8)
    push_run(run, dataset_name)
    dataset = fo.load_dataset(dataset_name)
    samples = list(dataset.sort_by("frame_number"))
    edited, reviewed, untouched = samples[0], samples[1], samples[2]
    box = edited.ground_truth.detections[0]
    box.bounding_box = [0.1, 0.1, 0.2, 0.2]  # the reviewer moves a box
    edited.save()
    reviewed.tags.append(TAG_REVIEWED)  # the reviewer accepts a draft as it is
    reviewed.save()
    kept = {s.id: fingerprint(dataset[s.id].ground_truth) for s in (edited, reviewed)}
    untouched_before = fingerprint(untouched.ground_truth)

    # Mine again with another model (other boxes), selecting every frame so all samples are touched.
    rerun = mine_run(scene_video, tmp_path / "runs", budget="100%", noise=3.0, seed=7)
    report = push_run(rerun, dataset_name)
    assert report.protected == 2 and report.updated == len(samples) - 2
    assert report.added + report.updated + report.protected == len(selection(rerun))
    dataset.reload()
    for sample_id, digest in kept.items():
        assert fingerprint(dataset[sample_id].ground_truth) == digest
    assert dataset[edited.id].ground_truth.detections[0].bounding_box == [0.1, 0.1, 0.2, 0.2]
    assert TAG_REVIEWED in dataset[reviewed.id].tags
    fresh = dataset[untouched.id]
    assert fresh.mining_run == json.loads((rerun / "summary.json").read_text())["run_id"]
    assert fingerprint(fresh.ground_truth) != untouched_before  # an untouched draft follows the new model
    assert fresh.draft_fingerprint == fingerprint(fresh.ground_truth)
    assert len(dataset) == len(set(dataset.values("vidal_key")))


def test_other_classes_are_refused(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    push_run(mine_run(scene_video, tmp_path / "runs"), dataset_name)
    before = fo.load_dataset(dataset_name).count()
    other = mine_run(scene_video, tmp_path / "runs", names={0: "circle"})
    with pytest.raises(DatasetError, match="has classes"):
        push_run(other, dataset_name)
    assert fo.load_dataset(dataset_name).count() == before


@pytest.mark.parametrize("name", ["", " lead", "a/b", "x" * 101, "ünï", "$where"])
def test_invalid_dataset_names(name: str) -> None:
    with pytest.raises(DatasetError, match="invalid dataset name"):
        check_name(name)


def test_foreign_dataset_is_refused(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    fo.Dataset(dataset_name, persistent=True)
    with pytest.raises(DatasetError, match="not made by vidal"):
        push_run(mine_run(scene_video, tmp_path / "runs"), dataset_name)


def test_not_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a vidal run folder"):
        push_run(tmp_path, "whatever")


def test_missing_media_is_reported_and_restored(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    media = tmp_path / "media"
    run = mine_run(scene_video, tmp_path / "runs")
    push_run(run, dataset_name, media_dir=media)
    shutil.rmtree(media)
    status = dataset_status(dataset_name)
    assert status.missing_images == status.mined > 0
    push_run(run, dataset_name)  # the dataset remembers its media folder
    assert dataset_status(dataset_name).missing_images == 0
    assert all(Path(p).is_file() for p in fo.load_dataset(dataset_name).values("filepath"))


def test_media_files_get_the_umask_mode(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    run = mine_run(scene_video, tmp_path / "runs")
    previous = os.umask(0o022)
    try:
        push_run(run, dataset_name, media_dir=tmp_path / "media")
    finally:
        os.umask(previous)
    files = [p for p in (tmp_path / "media").rglob("*") if p.is_file()]
    assert len(files) == 6 and {p.stat().st_mode & 0o777 for p in files} == {0o644}


def test_unwritable_media_folder(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="media folder"):
        push_run(mine_run(scene_video, tmp_path / "runs"), dataset_name, media_dir=blocker / "media")
    assert not fo.dataset_exists(dataset_name)


PUSH = "import sys; from vidal.dataset import push_run; print(push_run(sys.argv[1], sys.argv[2]))"


def test_two_processes_push_at_once(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    runs = [mine_run(scene_video, tmp_path / "runs", budget=10, noise=n, seed=n) for n in (1, 2)]
    procs = [
        subprocess.Popen([sys.executable, "-c", PUSH, str(run), dataset_name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for run in runs
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    dataset = fo.load_dataset(dataset_name)
    keys = dataset.values("vidal_key")
    wanted = {int(r["frame"]) for run in runs for r in selection(run)}
    assert len(keys) == len(set(keys)) == len(wanted)
    assert set(dataset.values("frame_number")) == wanted
    assert {dataset.get_run_info(k).config.status for k in dataset.list_runs()} == {"complete"}


def test_push_killed_midway_then_again(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    run = mine_run(scene_video, tmp_path / "runs", budget=60)
    proc = subprocess.Popen([sys.executable, "-c", PUSH, str(run), dataset_name], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if fo.dataset_exists(dataset_name) and fo.load_dataset(dataset_name).count() >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    dataset = fo.load_dataset(dataset_name)
    partial = dataset.count()
    assert 3 <= partial < 60, "the kill came too late to test a half-done push"
    for sample in dataset:  # whole samples only
        assert sample.ground_truth is not None and sample.predictions is not None and sample.vidal_key
    assert dataset.get_run_info(dataset.list_runs()[0]).config.status == "pushing"
    report = push_run(run, dataset_name)
    dataset.reload()
    assert report.added == 60 - partial and dataset.count() == 60
    assert len(set(dataset.values("vidal_key"))) == 60


def test_unreachable_database(tmp_path: Path) -> None:
    env = dict(os.environ, FIFTYONE_DATABASE_URI="mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=1500")
    result = subprocess.run(
        [sys.executable, "-m", "vidal.cli", "status", "--dataset", "x"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot reach FiftyOne's database (mongodb://127.0.0.1:9" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
