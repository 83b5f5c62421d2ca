"""Frame embeddings from the detector's own features, in the detection's forward pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vidal.detectors import load_detector
from vidal.errors import ModelError
from vidal.representation import normalise
from vidal.video import open_source

from conftest import SAMPLE_MODEL, SAMPLE_VIDEO, SHARED_MODEL

SHARED_PT = SHARED_MODEL.parent / "yolo11n_coco_from_openvino.pt"


@pytest.mark.slow
def test_ultralytics_embeddings_are_the_pooled_inputs_of_the_detection_head() -> None:
    frames = list(open_source(SAMPLE_VIDEO).frames(end=5))
    # batch 2 over 5 frames: a partial last batch, each frame's own row
    embedded = load_detector(str(SAMPLE_MODEL), embeddings=True, batch=2)
    plain = load_detector(str(SAMPLE_MODEL), batch=2)
    found = [d for _, d in embedded.stream(frames)]
    reference = [d for _, d in plain.stream(frames)]
    assert all(d.embedding is None for d in reference)
    for a, b in zip(found, reference):  # the same detections, with the frame's embedding
        np.testing.assert_array_equal(a.xyxy, b.xyxy)
        np.testing.assert_array_equal(a.confidence, b.confidence)
        assert a.embedding.shape == (448,) and a.embedding.dtype == np.float32
    # Ultralytics' own embed= (a separate pass that stops at the given layers) pools the same maps:
    # the outputs of layers 16, 19 and 22, which the head (layer 23) reads
    from ultralytics import YOLO

    own = YOLO(str(SAMPLE_MODEL)).predict([f.image for f in frames], embed=[16, 19, 22], imgsz=embedded.imgsz,
                                            verbose=False)
    for a, theirs in zip(found, own):
        np.testing.assert_allclose(a.embedding, theirs.numpy(), atol=1e-5)
    assert not np.allclose(found[0].embedding, found[4].embedding)


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_MODEL.exists() and SHARED_PT.exists()), reason="../shared models absent")
def test_openvino_embeddings_come_with_the_same_detections() -> None:
    frames = list(open_source(SAMPLE_VIDEO).frames(end=3))
    embedded = load_detector(str(SHARED_MODEL), embeddings=True)
    assert "OpenVINO" in embedded.description
    found = [d for _, d in embedded.stream(frames)]
    reference = [d for _, d in load_detector(str(SHARED_MODEL)).stream(frames)]
    for a, b in zip(found, reference):
        np.testing.assert_array_equal(a.xyxy, b.xyxy)
        np.testing.assert_array_equal(a.confidence, b.confidence)
        assert b.embedding is None and a.embedding.shape == (448,)
    # the int8 export's pooled head inputs point where the float model's do (the same network, quantised)
    torch_model = load_detector(str(SHARED_PT), embeddings=True, imgsz=embedded.imgsz)
    theirs = [d.embedding for _, d in torch_model.stream(frames)]
    cosine = (normalise(np.stack([d.embedding for d in found])) * normalise(np.stack(theirs))).sum(1)
    assert (cosine > 0.9).all(), cosine


@pytest.mark.skipif(not SHARED_MODEL.exists(), reason="../shared model absent")
def test_an_export_ultralytics_runs_gives_no_embeddings() -> None:
    with pytest.raises(ModelError, match="frame embeddings .* need a PyTorch"):
        load_detector(str(SHARED_MODEL), backend="ultralytics", embeddings=True)


def test_an_openvino_graph_without_a_yolo_head_is_refused(tmp_path: Path) -> None:
    import openvino as ov
    import openvino.opset13 as ops

    image = ops.parameter([1, 3, 32, 32], np.float32, name="images")
    weights = ops.constant(np.ones((6, 3, 1, 1), np.float32))
    conv = ops.convolution(image, weights, [1, 1], [0, 0], [0, 0], [1, 1])
    folder = tmp_path / "other_openvino_model"
    folder.mkdir()
    ov.save_model(ov.Model([ops.result(ops.reshape(conv, [1, 6, -1], False))], [image]), folder / "other.xml")
    (folder / "metadata.yaml").write_text("task: detect\nimgsz: [32, 32]\nnames: {0: a, 1: b}\n")
    assert load_detector(str(folder)).names == {0: "a", 1: "b"}  # a loadable model
    with pytest.raises(ModelError, match="no YOLO detection head found in the OpenVINO graph"):
        load_detector(str(folder), embeddings=True)
