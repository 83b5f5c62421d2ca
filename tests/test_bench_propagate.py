"""The propagation label-quality benchmark's yardsticks: interpolation of the ground truth's own
identities between keyframes, and precision / recall by class."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import import_tool


@pytest.fixture(scope="module")
def bench():
    return import_tool("bench_propagate")


def truth(bench):
    # object 1 (person) on frames 1-9 moving 10 px a frame; object 2 (ball) on frames 1-3 only
    frames = np.r_[np.arange(1, 10), np.arange(1, 4)]
    xyxy = np.array([[10 * f, 0, 10 * f + 20, 40] for f in range(1, 10)] + [[200, 200, 210, 210]] * 3, np.float32)
    label = np.array(["person"] * 9 + ["sports ball"] * 3, object)
    ids = np.r_[np.ones(9, np.int64), np.full(3, 2)]
    return bench.Truth(frames, xyxy, label, (np.zeros(0, np.int64), np.zeros((0, 4), np.float32)), ids)


def test_interpolate_truth_moves_each_identity_between_its_keyframes(bench) -> None:
    frames, xyxy, label = bench.interpolate_truth(truth(bench), [1, 5, 9])
    person = label == "person"
    assert frames[person].tolist() == list(range(1, 10))
    np.testing.assert_allclose(xyxy[person][:, 0], 10 * np.arange(1, 10))  # linear motion is exact
    assert frames[~person].tolist() == [1]  # the ball is on keyframe 1 only: nothing after its last


def test_by_class_scores_each_class_alone(bench) -> None:
    t = truth(bench)
    labels = bench.interpolate_truth(t, [1, 5, 9])
    found = bench.by_class(t, labels, list(range(1, 10)))
    assert found["person"] == (1.0, 1.0)
    assert found["sports ball"] == (1.0, pytest.approx(1 / 3))
    one_class = bench.Truth(t.frame[:9], t.xyxy[:9], t.label[:9], t.ignore, t.track_id[:9])
    assert bench.by_class(one_class, labels, list(range(1, 10))) == {}


def test_mining_line_names_the_detector_and_its_time_per_frame(bench, tmp_path) -> None:
    import json

    run = tmp_path / "runs" / "clip_one"
    run.mkdir(parents=True)
    summary = {
        "run_id": "r", "started": "2026-12-04T00:00:00Z", "model": "m_openvino_model (OpenVINO, imgsz 1280)",
        "model_path": "m", "classes": {"0": "person"}, "labels": ["person"],
        "input": {"path": "clip.mp4", "sha256": "", "kind": "video", "width": 1920, "height": 1080, "fps": 25.0,
                  "frame_count": 100},
        "frames": {"processed": 100}, "timings": {"processing_seconds": 3.2},
    }
    (run / "summary.json").write_text(json.dumps(summary))
    video = bench.Video("clip one", tmp_path / "clip.mp4", tmp_path / "gt.txt", tmp_path / "m", ["person"])
    assert bench.mining_line(video, tmp_path) == (
        "- clip one: m_openvino_model (OpenVINO, imgsz 1280); 32 ms per frame (decode, detect, track, score)")
