from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from vidal.detectors import is_openvino_model, load_detector, resolve_classes
from vidal.detectors.boxes import decode_yolo, letterbox
from vidal.errors import ConfigError, DecodeError, ModelError
from vidal.tracking.matching import box_iou
from vidal.video import open_source

from conftest import SAMPLE_MODEL, SAMPLE_VIDEO, SHARED, SHARED_MODEL, write_scene_video

NAMES = {0: "person", 1: "bicycle", 2: "car"}


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [(None, None), ([], None), (["person"], [0]), (["Car", 0], [0, 2]), (["2", "person"], [0, 2])],
)
def test_resolve_classes(wanted, expected) -> None:
    assert resolve_classes(NAMES, wanted) == expected


@pytest.mark.parametrize(("wanted", "message"), [(["persn"], "unknown class name"), ([7], "class id 7")])
def test_resolve_classes_errors(wanted, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_classes(NAMES, wanted)


def test_letterbox_geometry() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    blob, box = letterbox(image, (640, 640))
    assert blob.shape == (1, 3, 640, 640) and blob.dtype == np.float32
    assert (box.gain, box.pad_x, box.pad_y) == (1.0, 0, 80)
    assert blob[0, :, 0, 0] == pytest.approx(114 / 255)


def test_decode_yolo_maps_back_and_suppresses() -> None:
    _, box = letterbox(np.zeros((480, 640, 3), np.uint8), (640, 640))
    anchors = np.zeros((4 + 3, 4), np.float32)
    # two overlapping "person" boxes, one "car" box, one weak box
    anchors[:4, 0] = [100, 180, 40, 80]
    anchors[:4, 1] = [102, 182, 40, 80]
    anchors[:4, 2] = [400, 300, 60, 30]
    anchors[:4, 3] = [500, 500, 20, 20]
    anchors[4, 0], anchors[4, 1], anchors[6, 2], anchors[4, 3] = 0.9, 0.8, 0.7, 0.05
    dets = decode_yolo(anchors, box, conf=0.1, iou=0.7, classes=None, max_det=300)
    assert dets.class_id.tolist() == [0, 2]
    np.testing.assert_allclose(dets.xyxy[0], [80, 60, 120, 140])  # y shifted by the 80 px pad
    only_person = decode_yolo(anchors, box, conf=0.1, iou=0.7, classes=[0], max_det=300)
    assert only_person.class_id.tolist() == [0]


def test_decode_yolo_keeps_the_class_scores_of_the_kept_boxes() -> None:
    _, box = letterbox(np.zeros((480, 640, 3), np.uint8), (640, 640))
    anchors = np.zeros((4 + 3, 3), np.float32)
    anchors[:4, 0] = [100, 180, 40, 80]
    anchors[:4, 1] = [102, 182, 40, 80]  # suppressed by the first
    anchors[:4, 2] = [400, 300, 60, 30]
    anchors[4:, 0], anchors[4:, 1], anchors[4:, 2] = [0.6, 0.5, 0.1], [0.5, 0.1, 0.1], [0.2, 0.1, 0.7]
    dets = decode_yolo(anchors, box, conf=0.1, iou=0.7, classes=None, max_det=300, class_scores=True)
    assert dets.class_id.tolist() == [2, 0]
    np.testing.assert_array_equal(dets.class_scores, anchors[4:, [2, 0]].T)  # the network's own scores
    assert decode_yolo(anchors, box, conf=0.1, iou=0.7, classes=None, max_det=300).class_scores is None


def _check_class_scores(found: list, classes: int) -> None:
    """Each box's class scores: one per class, the best its class, its class's its score."""
    assert sum(len(d) for d in found) > 5
    for d in found:
        assert d.class_scores is not None and d.class_scores.shape == (len(d), classes)
        assert (d.class_scores.argmax(1) == d.class_id).all()
        np.testing.assert_allclose(d.class_scores[np.arange(len(d)), d.class_id], d.confidence, rtol=1e-6)
        assert ((d.class_scores >= 0) & (d.class_scores <= 1)).all()


def test_ultralytics_backend_gives_class_scores_on_the_sample_model() -> None:
    frames = list(open_source(SAMPLE_VIDEO).frames(end=4))
    scored = load_detector(str(SAMPLE_MODEL), class_scores=True, batch=2)
    plain = load_detector(str(SAMPLE_MODEL), batch=2)
    assert "Ultralytics" in scored.description
    found = [d for _, d in scored.stream(frames)]
    _check_class_scores(found, len(scored.names))
    reference = [d for _, d in plain.stream(frames)]
    assert all(d.class_scores is None for d in reference)
    for a, b in zip(found, reference):  # the same detections, with their class scores
        np.testing.assert_array_equal(a.xyxy, b.xyxy)
        np.testing.assert_array_equal(a.confidence, b.confidence)
    assert any((d.class_scores.min(1) > 0).any() for d in found)  # more than the best class's score


def test_half_precision_is_on_for_a_cuda_device_only_unless_asked(monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    from vidal.detectors import device as devices
    from vidal.detectors.device import DeviceRequest

    default = load_detector(str(SAMPLE_MODEL))
    asked = load_detector(str(SAMPLE_MODEL), half=True)
    assert default.half is False and asked.half is True
    assert "half" not in default.description and "half" in asked.description
    # a CUDA device (this machine has none: the request is taken as checked; the model loads lazily on it)
    monkeypatch.setattr(devices, "check_device", lambda text: DeviceRequest(text, "cuda", (0,)))
    on_gpu = load_detector(str(SAMPLE_MODEL), device="cuda:0")
    assert on_gpu.half is True and on_gpu._kwargs["device"] == "cuda:0"
    assert load_detector(str(SAMPLE_MODEL), device="cuda:0", half=False).half is False
    # on the CPU, Ultralytics runs a PyTorch model in full precision whatever is asked
    monkeypatch.setattr(logging.getLogger("ultralytics"), "propagate", True)  # its warnings, to caplog
    frames = list(open_source(SAMPLE_VIDEO).frames(end=3))
    for (_, a), (_, b) in zip(asked.stream(frames), default.stream(frames)):
        np.testing.assert_array_equal(a.xyxy, b.xyxy)
    assert "deprecated" not in caplog.text  # the argument this Ultralytics takes (half, or quantize from 8.4.190)


@pytest.mark.skipif(not SHARED_MODEL.exists(), reason="../shared model absent")
def test_openvino_backend_gives_class_scores_on_the_sample_video() -> None:
    frames = list(open_source(SAMPLE_VIDEO).frames(end=4))
    scored = load_detector(str(SHARED_MODEL), class_scores=True)
    assert "OpenVINO" in scored.description
    found = [d for _, d in scored.stream(frames)]
    _check_class_scores(found, len(scored.names))
    reference = [d for _, d in load_detector(str(SHARED_MODEL)).stream(frames)]
    assert all(d.class_scores is None for d in reference)
    for a, b in zip(found, reference):
        np.testing.assert_array_equal(a.xyxy, b.xyxy)


def test_missing_model_paths(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model not found"):
        load_detector(str(tmp_path / "nope.pt"))
    folder = tmp_path / "x_openvino_model"
    folder.mkdir()
    (folder / "m.xml").write_text("<net/>")
    (folder / "metadata.yaml").write_text("names: {0: a}\n")
    assert is_openvino_model(folder)
    with pytest.raises(ModelError):
        load_detector(str(folder))


@pytest.mark.shared
@pytest.mark.skipif(not SHARED_MODEL.exists(), reason="../shared model absent")
def test_openvino_backend_matches_ultralytics_on_real_frames() -> None:
    source = open_source(SHARED / "data" / "mot" / "TUD-Campus" / "TUD-Campus.mp4")
    fast = load_detector(str(SHARED_MODEL), classes=["person"])
    reference = load_detector(str(SHARED_MODEL), classes=["person"], backend="ultralytics")
    assert "OpenVINO" in fast.description and "Ultralytics" in reference.description
    ours = [d for _, d in fast.stream(source.frames(end=8))]
    theirs = [d for _, d in reference.stream(source.frames(end=8))]
    assert sum(len(d) for d in ours) > 20
    for a, b in zip(ours, theirs):
        assert len(a) == len(b)
        iou = box_iou(a.xyxy, b.xyxy)
        assert (iou.max(1) > 0.99).all()
        np.testing.assert_allclose(np.sort(a.confidence), np.sort(b.confidence), atol=1e-4)


PARKING_LOT = SHARED / "data" / "videos" / "intel_car-detection.mp4"


@pytest.mark.shared
@pytest.mark.skipif(not (SHARED_MODEL.exists() and PARKING_LOT.exists()), reason="../shared data absent")
@pytest.mark.parametrize("backend", ["openvino", "ultralytics"])
def test_classes_of_interest_do_not_drop_the_other_classes(backend: str) -> None:
    # frames 74-78 of the parking lot: a car in full view that the COCO model calls "cell phone"
    detector = load_detector(str(SHARED_MODEL), classes=["car"], backend=backend)
    assert detector.classes == [2]
    found = [d for _, d in detector.stream(open_source(PARKING_LOT).frames(start=74, end=78))]
    phone = {v: k for k, v in detector.names.items()}["cell phone"]
    assert all(((d.class_id == phone) & (d.confidence > 0.7)).any() for d in found)


@pytest.mark.parametrize(
    ("model", "options", "backend"),
    [
        pytest.param(
            SHARED_MODEL, {}, "OpenVINO",  # several inference requests in flight
            marks=pytest.mark.skipif(not SHARED_MODEL.exists(), reason="../shared model absent"),
        ),
        (SAMPLE_MODEL, {"batch": 4}, "Ultralytics"),  # a partial batch pending
        (SAMPLE_MODEL, {}, "Ultralytics"),
    ],
)
def test_truncated_video_every_decoded_frame_is_detected(tmp_path: Path, model: Path, options, backend: str) -> None:
    video = write_scene_video(tmp_path / "scene.avi", fourcc="MJPG")
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    source = open_source(video)
    decoded = []
    with pytest.raises(DecodeError):
        for frame in source.frames():
            decoded.append(frame.index)
    detector = load_detector(str(model), **options)
    assert backend in detector.description
    detected = []
    with pytest.raises(DecodeError):
        for frame, _ in detector.stream(source.frames()):
            detected.append(frame.index)
    assert len(decoded) > 8 and detected == decoded


@pytest.mark.skipif(not SHARED_MODEL.exists(), reason="../shared model absent")
def test_openvino_device_runs_an_export_on_openvino() -> None:
    assert "OpenVINO" in load_detector(str(SHARED_MODEL), device="intel:cpu").description
    with pytest.raises(ConfigError, match="OpenVINO device"):
        load_detector(str(SAMPLE_MODEL), device="intel:cpu")


def test_a_dynamic_openvino_export_runs_fitted_to_the_frame(tmp_path: Path) -> None:
    # A dynamic-shape export runs, as Ultralytics runs it, on the smallest multiple of the stride
    # that holds the frame at imgsz, not on an imgsz square: a 16:9 frame at 1280 is 1280x736.
    from ultralytics import YOLO

    model = tmp_path / SAMPLE_MODEL.name
    model.write_bytes(SAMPLE_MODEL.read_bytes())
    export = Path(YOLO(str(model)).export(format="openvino", dynamic=True, half=False, imgsz=320))
    detector = load_detector(str(export), imgsz=320)
    assert "OpenVINO" in detector.description and "fitted to the frame" in detector.description
    assert detector.input_for(1080, 1920) == (192, 320)
    assert detector.input_for(1920, 1080) == (320, 192)
    assert detector.input_for(480, 640) == (256, 320)
    assert load_detector(str(export), imgsz=300).input_for(480, 640) == (256, 320)  # imgsz up to the stride
    frames = list(open_source(SAMPLE_VIDEO).frames(end=6))
    height, width = frames[0].image.shape[:2]
    assert detector.input_for(height, width) != (320, 320)  # the sample clip is not square
    ours = [d for _, d in detector.stream(frames)]
    theirs = [d for _, d in load_detector(str(export), imgsz=320, backend="ultralytics").stream(frames)]
    assert sum(len(d) for d in ours) > 5
    for a, b in zip(ours, theirs):
        assert len(a) == len(b)
        assert (box_iou(a.xyxy, b.xyxy).max(1) > 0.99).all()
        np.testing.assert_allclose(np.sort(a.confidence), np.sort(b.confidence), atol=5e-3)  # kernels differ
    # frames of another size (a folder of images) get their own input
    small = [type(f)(index=f.index + 100, timestamp=f.timestamp, image=f.image[: height // 2]) for f in frames[:2]]
    mixed = [frame.index for frame, _ in detector.stream([*frames[:2], *small])]
    assert mixed == [f.index for f in frames[:2]] + [f.index for f in small]
