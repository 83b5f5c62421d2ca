"""``vidal propagate``: reviewed frames labelling the frames their tracks cover, on real FiftyOne datasets."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import vidal
from vidal.cli import app
from vidal.dataset import push_run
from vidal.dataset.label import label_from_mot
from vidal.dataset.propagate import _records, propagate_dataset
from vidal.dataset.records import MiningRecord
from vidal.dataset.schema import PSEUDO_LABELS, TAG_PROPAGATED, TAG_REVIEWED, TAG_TO_REVIEW, VIEW_PROPAGATED
from vidal.errors import DatasetError

from conftest import SCENE_FRAMES, mine_run
from test_label import scene_rows, write_gt

pytestmark = pytest.mark.fiftyone
runner = CliRunner()


@pytest.fixture
def labelled(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> tuple[str, Path, Path]:
    """A dataset with 6 frames of the scene video mined and labelled from its ground truth."""
    run_dir = mine_run(scene_video, tmp_path / "runs")
    push_run(run_dir, dataset_name)
    label_from_mot(dataset_name, write_gt(tmp_path / "seq", scene_rows()), scene_video)
    return dataset_name, scene_video, run_dir


def snapshot(dataset, field: str) -> dict[str, object]:
    """Each sample's ``field`` as stored (ids included) and its tags, by sample id."""
    dataset.reload()
    return {s.id: (s[field].to_json() if s.has_field(field) and s[field] is not None else None, sorted(s.tags))
            for s in dataset}


def test_propagate_writes_pseudo_labels_and_leaves_reviewed_frames_alone(fo, labelled) -> None:
    name, video, _ = labelled
    dataset = fo.load_dataset(name)
    reviewed = {s.frame_number for s in dataset.match_tags(TAG_REVIEWED)}
    truth_before = snapshot(dataset, "ground_truth")
    report = propagate_dataset(name, stride=4)
    (v,) = report.videos
    assert v.keyframes == 6 and v.processed == SCENE_FRAMES
    expected = {f for f in range(1, SCENE_FRAMES + 1, 4)} - reviewed
    assert (v.added, v.updated, v.unchanged, v.kept) == (len(expected), 0, 0, 0)
    dataset.reload()
    propagated = dataset.match_tags(TAG_PROPAGATED)
    assert set(propagated.values("frame_number")) == expected and report.propagated == len(expected)
    for sample in propagated:
        assert sample.tags == [TAG_PROPAGATED] and Path(sample.filepath).is_file()
        assert sample.ground_truth is None or sample.ground_truth.detections == []
        boxes = sample[PSEUDO_LABELS].detections
        assert len(boxes) == 3  # the three squares, carried by their tracks
        for det in boxes:
            assert det.label == "square" and 0 < det.confidence < 1 and det.index in (1, 2, 3)
            assert det.source in ("track", "unconfirmed") and set(det.keyframes) <= reviewed
            assert bool(det.keyframes) == (det.source == "track")
    sources = propagated.values(f"{PSEUDO_LABELS}.detections.source", unwind=True)
    assert sources.count("track") > 0.8 * len(sources)
    # the human's ground truth is byte for byte what it was, and its samples are untouched
    assert {k: v for k, v in snapshot(dataset, "ground_truth").items() if k in truth_before} == truth_before
    assert all(not s.has_field(PSEUDO_LABELS) or s[PSEUDO_LABELS] is None for s in dataset.match_tags(TAG_REVIEWED))
    view = dataset.load_saved_view(VIEW_PROPAGATED)
    confidence = [min(d.confidence for d in s[PSEUDO_LABELS].detections) for s in view]
    assert len(view) == len(expected) and confidence == sorted(confidence)


def test_propagate_again_changes_nothing(fo, labelled) -> None:
    name, _, _ = labelled
    propagate_dataset(name, stride=4)
    dataset = fo.load_dataset(name)
    before = snapshot(dataset, PSEUDO_LABELS), snapshot(dataset, "ground_truth"), len(dataset)
    report = propagate_dataset(name, stride=4)
    (v,) = report.videos
    assert (v.added, v.updated) == (0, 0) and v.unchanged == v.frames > 0
    assert (snapshot(dataset, PSEUDO_LABELS), snapshot(dataset, "ground_truth"), len(dataset)) == before


def test_of_two_runs_started_and_pushed_in_one_second_the_one_recorded_last_is_the_latest(fo, labelled) -> None:
    # start and push times are to the second; a run's key (random after its time) must not decide
    name, _, _ = labelled
    dataset = fo.load_dataset(name)
    (key,) = dataset.list_runs()
    record = MiningRecord.from_config(dataset.get_run_info(key).config.serialize())
    assert record is not None and record.video_hash
    for copy in ("mine_29991231_235959_ffffff", "mine_20000101_000000_000000"):  # recorded in this order
        time.sleep(0.01)
        dataset.register_run(copy, dataset.init_run(**record.to_config()))
    order = [k for k, _ in _records(dataset, record.video_hash)]
    assert order == ["mine_20000101_000000_000000", "mine_29991231_235959_ffffff", key]


def test_mined_samples_waiting_for_review_get_pseudo_labels_too(fo, labelled, tmp_path: Path) -> None:
    name, video, _ = labelled
    again = push_run(mine_run(video, tmp_path / "runs", budget="100%", noise=2.0, seed=3), name)
    assert again.added == SCENE_FRAMES - 6
    dataset = fo.load_dataset(name)
    drafts = {s.id: s.ground_truth.to_json() for s in dataset.match_tags(TAG_TO_REVIEW)}
    (v,) = propagate_dataset(name, stride=4).videos
    assert v.run_id == again.run_id  # the latest run's tracks
    assert (v.added, v.updated, v.frames) == (0, SCENE_FRAMES - 6, SCENE_FRAMES - 6)
    dataset.reload()
    for sample in dataset.match_tags(TAG_TO_REVIEW):
        assert sorted(sample.tags) == [TAG_PROPAGATED, TAG_TO_REVIEW]
        assert sample.ground_truth.to_json() == drafts[sample.id]  # the draft to correct stays as it was
        assert len(sample[PSEUDO_LABELS].detections) == 3


def test_a_corrected_propagated_sample_is_kept_and_becomes_a_keyframe(fo, labelled) -> None:
    name, _, _ = labelled
    propagate_dataset(name, stride=4)
    dataset = fo.load_dataset(name)
    corrected, edited = dataset.match_tags(TAG_PROPAGATED).sort_by("frame_number")[1:3]
    # A reviewer keeps two of the three squares (the third one deleted: the human says it is not there) ...
    corrected.ground_truth = fo.Detections(detections=[d.copy() for d in corrected[PSEUDO_LABELS].detections
                                                       if d.index != 3])
    corrected.tags = [TAG_REVIEWED]
    corrected.save()
    # ... and starts correcting another without tagging it reviewed yet.
    edited.ground_truth = fo.Detections(detections=[corrected.ground_truth.detections[0].copy()])
    edited.save()
    kept = snapshot(dataset.select([corrected.id, edited.id]), "ground_truth"), \
        snapshot(dataset.select([corrected.id, edited.id]), PSEUDO_LABELS)
    (v,) = propagate_dataset(name, stride=4).videos
    assert v.keyframes == 7 and v.kept == 1
    assert (snapshot(dataset.select([corrected.id, edited.id]), "ground_truth"),
            snapshot(dataset.select([corrected.id, edited.id]), PSEUDO_LABELS)) == kept
    dataset.reload()
    frame = corrected.frame_number
    uses = [d for s in dataset.match_tags(TAG_PROPAGATED).match_tags(TAG_REVIEWED, bool=False)
            for d in s[PSEUDO_LABELS].detections if frame in d.keyframes]
    assert uses and {d.index for d in uses} <= {1, 2, 3}  # neighbours now take labels from the corrected frame


def test_propagate_command_with_mot_out(fo, labelled, tmp_path: Path) -> None:
    name, video, _ = labelled
    result = runner.invoke(app, ["propagate", "--dataset", name, "--stride", "8", "--mot-out", str(tmp_path / "mot")])
    assert result.exit_code == 0, result.output
    assert "scene.mp4: 6 reviewed frames over 64 processed" in result.output
    assert "labels:" in result.output and " track" in result.output and "new" in result.output
    assert (tmp_path / "mot" / "classes.txt").read_text() == "square\n"
    rows = np.loadtxt(tmp_path / "mot" / "scene.txt", delimiter=",", ndmin=2)
    assert rows.shape[1] == 10 and set(rows[:, 0].astype(int)) == set(range(1, SCENE_FRAMES + 1))
    reviewed = set(fo.load_dataset(name).match_tags(TAG_REVIEWED).values("frame_number"))
    human = np.isin(rows[:, 0], list(reviewed))
    assert (rows[human, 6] == 1).all() and ((rows[~human, 6] > 0) & (rows[~human, 6] < 1)).all()
    assert (rows[:, 7] == 1).all() and (rows[:, 8:] == -1).all()
    assert len(fo.load_dataset(name).match_tags(TAG_PROPAGATED)) == len(set(range(1, SCENE_FRAMES + 1, 8)) - reviewed)


def test_api_propagate(fo, labelled) -> None:
    name, video, _ = labelled
    report = vidal.propagate(dataset=name, video=video, stride=16, overrides=["propagation.follow_frames=0"])
    (v,) = report.videos
    assert report.stride == 16 and v.labels["human"] == 18 and v.added > 0


@pytest.mark.parametrize(
    ("case", "text"),
    [
        ("stride 0", "propagation.stride"),
        ("no reviewed frame", "has no reviewed frames"),
        ("other video", "has no reviewed frames of"),
        ("run folder gone", "mine it again with `vidal mine"),
        ("run folder and model gone", "and so is the file its latest run detected with"),
        ("tracks gone, folder kept", "has no tracks (tracks.txt, track_states.csv): move it away"),
        ("unknown setting", "propagation.nope"),
    ],
)
def test_propagate_command_refuses_bad_input(fo, labelled, tmp_path: Path, case: str, text: str) -> None:
    name, video, run_dir = labelled
    args = ["propagate", "--dataset", name]
    dataset = fo.load_dataset(name)
    if case == "stride 0":
        args += ["--stride", "0"]
    elif case == "no reviewed frame":
        dataset.untag_samples(TAG_REVIEWED)
    elif case == "other video":
        from conftest import write_scene_video

        args += ["--video", str(write_scene_video(tmp_path / "other.mp4", frames=20))]
    elif case == "run folder gone":  # --no-retrack: refused, not tracked again
        run_dir.rename(tmp_path / "moved")
        args += ["--no-retrack"]
    elif case == "run folder and model gone":  # the scripted detector's run has no model file to track again with
        run_dir.rename(tmp_path / "moved")
    elif case == "tracks gone, folder kept":  # a run tracked again there would go beside it, unrecorded
        (run_dir / "tracks.txt").unlink()
    else:
        args += ["--set", "propagation.nope=1"]
    before = snapshot(dataset, "ground_truth"), len(dataset)
    result = runner.invoke(app, args)
    assert result.exit_code != 0 and text in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert (snapshot(dataset, "ground_truth"), len(dataset)) == before
    assert not dataset.has_saved_view(VIEW_PROPAGATED)


@pytest.mark.slow
def test_sample_clip_mined_labelled_and_propagated(fo, dataset_name: str, tmp_path: Path) -> None:
    from conftest import REPO, SAMPLE_MODEL, SAMPLE_VIDEO

    gt = REPO / "sample_videos" / "crossing" / "gt" / "gt.txt"

    def ok(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    ok("mine", str(SAMPLE_VIDEO), "--model", str(SAMPLE_MODEL), "--dataset", dataset_name, "--budget", "5",
       "--end", "100", "--out", str(tmp_path / "runs"))
    ok("label", "--from-mot", str(gt), "--video", str(SAMPLE_VIDEO), "--dataset", dataset_name)
    dataset = fo.load_dataset(dataset_name)
    truth = snapshot(dataset, "ground_truth")
    shown = ok("propagate", "--dataset", dataset_name, "--stride", "10", "--mot-out", str(tmp_path / "mot"))
    assert "crossing.mp4: 5 reviewed frames over 100 processed" in shown and "followed" in shown
    dataset.reload()
    assert {k: v for k, v in snapshot(dataset, "ground_truth").items() if k in truth} == truth
    propagated = dataset.match_tags(TAG_PROPAGATED)
    assert len(propagated) >= 5 and propagated.count(f"{PSEUDO_LABELS}.detections") > 0
    rows = np.loadtxt(tmp_path / "mot" / "crossing.txt", delimiter=",", ndmin=2)
    assert len(np.unique(rows[:, 0])) > 80
    again = ok("propagate", "--dataset", dataset_name, "--stride", "10")
    assert " 0 new, 0 updated" in again
    # The run folder gone: the video is tracked again as that run did, into the same folder, and
    # the labels are the same (nothing rewritten); the run is not pushed again.
    (run_dir,) = (tmp_path / "runs").iterdir()
    tracks = (run_dir / "tracks.txt").read_bytes()
    run_dir.rename(tmp_path / "gone")
    before = snapshot(dataset, PSEUDO_LABELS), len(dataset), len(dataset.list_runs())
    retracked = ok("propagate", "--dataset", dataset_name, "--stride", "10")
    assert f"tracked again into {run_dir}" in retracked and " 0 new, 0 updated" in retracked
    assert (run_dir / "tracks.txt").read_bytes() == tracks
    assert (snapshot(dataset, PSEUDO_LABELS), len(dataset), len(dataset.list_runs())) == before
