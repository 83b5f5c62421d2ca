from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from vidal.config import load_config
from vidal.errors import InputError, PartialRunError
from vidal.evaluation import evaluate_tracking
from vidal.mot import MotBoxes, read_mot
from vidal.pipeline import mine_source
from vidal.runs import read_track_states
from vidal.video import open_source

from conftest import SCENE_FRAMES, ScriptedDetector, scene_boxes


def gt_of_scene() -> MotBoxes:
    rows = [(f, i + 1, *b) for f in range(1, SCENE_FRAMES + 1) for i, b in enumerate(scene_boxes(f))]
    a = np.array(rows)
    return MotBoxes(a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2:6].astype(np.float32), np.ones(len(a), np.float32))


def test_mine_writes_a_complete_run(tmp_path: Path, scene_video: Path) -> None:
    detector = ScriptedDetector(noise=1.0, misses={20: [0], 21: [0]}, low={40: [1]})
    config = load_config(overrides=["selection.budget=6", "selection.min_gap_s=0.2"])
    result = mine_source(open_source(scene_video), detector, config, tmp_path / "runs")
    run = result.run_dir
    assert run == tmp_path / "runs" / "scene"
    assert sorted(p.name for p in run.iterdir()) == [
        "config.yaml", "frames", "frames.csv", "objects.csv", "regions.csv", "selection.csv", "summary.json", "timeline.png",
        "track_states.csv", "tracks.txt",
    ]
    assert not [p for p in (tmp_path / "runs").iterdir() if p.name.startswith(".")]

    tracks = read_mot(run / "tracks.txt")
    assert tracks.frame.min() == 1 and tracks.frame.max() == SCENE_FRAMES
    scores = evaluate_tracking(gt_of_scene(), tracks)
    assert scores.id_switches == 0 and scores.mota > 0.98  # gaps at 20-21 are interpolated

    frames = list(csv.DictReader((run / "frames.csv").open()))
    assert [int(r["frame"]) for r in frames] == list(range(1, SCENE_FRAMES + 1))
    assert int(frames[19]["predicted"]) == 1  # the missed object is a predicted box at frame 20
    states = read_track_states(run)
    assert int(states.predicted[states.frame == 20].sum()) == 1  # ... and a predicted row of track_states.csv
    assert "missed" in str(states.reasons[(states.frame == 21) & states.predicted][0]).split(";")
    selection = list(csv.DictReader((run / "selection.csv").open()))
    assert len(selection) == 6 == len(result.selected)
    chosen = [int(r["frame"]) for r in selection]
    assert all(abs(a - b) > 5 for i, a in enumerate(chosen) for b in chosen[i + 1 :])
    assert all((run / r["image"]).is_file() for r in selection)
    assert float(selection[0]["score"]) >= float(selection[-1]["score"])

    regions = list(csv.DictReader((run / "regions.csv").open()))
    assert regions and {int(r["frame"]) for r in regions} <= set(chosen)
    assert all(float(r["uncertainty"]) >= 0.35 and r["reasons"] for r in regions)
    assert {r["kind"] for r in regions} <= {"tracked", "predicted", "unmatched"}

    summary = json.loads((run / "summary.json").read_text())
    assert summary["complete"] is True
    assert summary["counts"]["selected"] == 6
    assert summary["frames"]["processed"] == SCENE_FRAMES
    assert summary["config"]["selection"]["budget"] == "6"
    assert "numpy" in summary["versions"]


def test_stride_keeps_source_frame_numbers(tmp_path: Path, scene_video: Path) -> None:
    config = load_config(overrides=["input.stride=4", "input.start=3", "selection.budget=2"])
    result = mine_source(open_source(scene_video), ScriptedDetector(), config, tmp_path)
    tracks = read_mot(result.run_dir / "tracks.txt")
    assert sorted(set(tracks.frame.tolist())) == list(range(3, SCENE_FRAMES + 1, 4))
    assert set(result.selected) <= set(range(3, SCENE_FRAMES + 1, 4))


def test_budget_larger_than_video_writes_nothing(tmp_path: Path, scene_video: Path) -> None:
    config = load_config(overrides=["selection.budget=100"])
    with pytest.raises(InputError, match="larger than the 64 frames"):
        mine_source(open_source(scene_video), ScriptedDetector(), config, tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_decode_failure_midway_keeps_processed_frames(tmp_path: Path, scene_images: Path) -> None:
    (scene_images / "img1" / "000009.jpg").write_bytes(b"\x00" * 10)
    config = load_config(overrides=["selection.budget=2"])
    with pytest.raises(PartialRunError, match="up to frame 8") as caught:
        mine_source(open_source(scene_images), ScriptedDetector(), config, tmp_path)
    run = Path(caught.value.run_dir)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["complete"] is False and summary["stopped_after_frame"] == 8
    assert read_mot(run / "tracks.txt").frame.max() == 8


def test_failure_inside_processing_leaves_no_folder(tmp_path: Path, scene_video: Path) -> None:
    class Broken(ScriptedDetector):
        def detections(self, frame: int):
            if frame == 10:
                raise RuntimeError("boom")
            return super().detections(frame)

    out = tmp_path / "runs"
    with pytest.raises(RuntimeError):
        mine_source(open_source(scene_video), Broken(), load_config(overrides=["selection.budget=2"]), out)
    assert list(out.iterdir()) == []


def test_regions_name_the_missed_object(tmp_path: Path, scene_video: Path) -> None:
    # object 3 (static) is missed for frames 10-13, far from the crossing of the others
    detector = ScriptedDetector(misses={f: [2] for f in range(10, 14)})
    config = load_config(overrides=["selection.budget=3", "selection.min_gap_s=0", "selection.strategy=vidal"])
    result = mine_source(open_source(scene_video), detector, config, tmp_path)
    # the miss goes first; its other frames then count half (one event: vidal's discount), so the crossing follows
    assert result.selected[0] in {10, 11, 12, 13, 14}
    assert len(set(result.selected) & {10, 11, 12, 13, 14}) == 1
    regions = list(csv.DictReader((result.run_dir / "regions.csv").open()))
    predicted = [r for r in regions if r["kind"] == "predicted"]
    assert predicted and all(r["track_id"] == "3" and "missed" in r["reasons"] for r in predicted)
    for r in predicted:
        box = [float(r[k]) for k in ("x1", "y1", "x2", "y2")]
        np.testing.assert_allclose(box, scene_boxes(int(r["frame"]))[2], atol=1.0)
    revived = [r for r in regions if r["frame"] == "14"]
    assert not revived or "reactivation" in revived[0]["reasons"]


def test_share_budget_counts_processed_frames(tmp_path: Path, scene_images: Path) -> None:
    (scene_images / "img1" / "000011.jpg").write_bytes(b"broken")  # 10 of 12 frames decode
    config = load_config(overrides=["selection.budget=50%", "selection.min_gap_s=0"])
    with pytest.raises(PartialRunError) as caught:
        mine_source(open_source(scene_images), ScriptedDetector(), config, tmp_path)
    summary = json.loads((Path(caught.value.run_dir) / "summary.json").read_text())
    assert summary["frames"]["processed"] == 10
    assert summary["counts"]["selected"] == 5  # 50% of the 10 processed, not of the 12 expected


def boxes_in_frames_30_and_31(frame: int) -> np.ndarray:
    return scene_boxes(frame)[2:] if frame in (30, 31) else np.zeros((0, 4), np.float32)


@pytest.mark.parametrize("fill", ["spread", "none"])
def test_a_budget_larger_than_the_uncertain_frames(tmp_path: Path, scene_video: Path, fill: str) -> None:
    # one object in frames 30 and 31 only (a short track; its predicted box after it is not
    # scored): 2 frames with a score, a budget of 6
    detector = ScriptedDetector(boxes=boxes_in_frames_30_and_31)
    config = load_config(overrides=[
        "selection.budget=6", "selection.min_gap_s=0", f"selection.fill={fill}", "scoring.signals.missed.enabled=false"])
    result = mine_source(open_source(scene_video), detector, config, tmp_path)
    summary = json.loads((result.run_dir / "summary.json").read_text())["selection"]
    assert summary["fill"] == fill and summary["uncertain_frames"] == 2
    scored = [r.frame for r in result.records if r.score > 0]
    assert scored == [30, 31]
    assert sorted(result.selected[:2]) == scored  # the uncertain frames first
    if fill == "none":
        assert result.selected == result.selected[:2] and summary["spread_frames"] == []
        return
    spread = result.selected[2:]
    assert len(spread) == 4 and summary["spread_frames"] == spread
    # spread over the time the uncertain frames leave uncovered, not frames 1, 2, 3, 4
    stretches = np.diff([0, *sorted(result.selected), SCENE_FRAMES + 1])
    assert stretches.max() <= 64 // 6 + 2, sorted(result.selected)


CAR, PHONE, PERSON = 2, 67, 0


def test_classes_report_the_wanted_objects_and_their_confusions(tmp_path: Path, scene_video: Path) -> None:
    # object 1 is a car the model calls "cell phone" in frames 21-44; object 2 a person;
    # object 3 a phone throughout. Wanted: cars.
    detector = ScriptedDetector(
        class_ids=lambda frame: [PHONE if 21 <= frame <= 44 else CAR, PERSON, PHONE],
        names={CAR: "car", PHONE: "cell phone", PERSON: "person"},
        classes=[CAR],
        low={f: [1] for f in range(1, SCENE_FRAMES + 1)},  # the person is uncertain in every frame
    )
    config = load_config(overrides=["selection.budget=10", "selection.min_gap_s=0.2"])
    result = mine_source(open_source(scene_video), detector, config, tmp_path)
    run = result.run_dir
    # the car stays one track through its "cell phone" frames; the others are not reported
    tracks = read_mot(run / "tracks.txt")
    assert set(tracks.track_id.tolist()) == {1} and tracks.frame.tolist() == list(range(1, SCENE_FRAMES + 1))
    regions = list(csv.DictReader((run / "regions.csv").open()))
    confusions = [r for r in regions if "class_confusion" in r["reasons"]]
    assert confusions and {r["class"] for r in confusions} == {"cell phone"}
    assert {int(r["frame"]) for r in confusions} <= set(range(21, 45)) and {r["track_id"] for r in confusions} == {"1"}
    objects = list(csv.DictReader((run / "objects.csv").open()))
    assert {r["class"] for r in objects} == {"car", "cell phone"} and {r["track_id"] for r in objects} == {"1"}
    # the frame score counts the car alone: the uncertain person adds nothing (frames 45-48:
    # "car" is a class flip on a track called "cell phone" most so far)
    assert all(r.score > 0.9 for r in result.records if 21 <= r.frame <= 48)
    assert all(r.score < 0.1 for r in result.records if r.frame < 21 or r.frame > 48)
    assert {f for f in result.selected if 21 <= f <= 44}
    summary = json.loads((run / "summary.json").read_text())
    assert summary["labels"] == ["car"] and summary["counts"]["tracks"] == 1
    assert summary["counts"]["class_confusions"] == 24 == summary["counts"]["class_confusion_frames"]


def test_the_steady_rate_leaves_the_first_frame_out() -> None:
    from vidal.pipeline import steady_rate

    # 100 frames in 12 s, of which the first took 3 s (imports, a GPU's start): 99 frames in 9 s
    assert steady_rate(100, 12.0, 3.0) == {"first_frame_seconds": 3.0, "steady_frames_per_second": 11.0}
    assert steady_rate(1, 2.0, 2.0) == {"first_frame_seconds": 2.0, "steady_frames_per_second": None}
    assert steady_rate(0, 0.0, None) == {}
