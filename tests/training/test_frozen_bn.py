"""A fine-tune keeps the base's BatchNorm statistics; its weights still learn."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vidal.training import fine_tune

from conftest import SAMPLE_MODEL

pytestmark = pytest.mark.slow


def _dataset(root: Path) -> Path:
    """Six frames of the sample clip with one box each, as a YOLO dataset."""
    images, labels = root / "images", root / "labels"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    capture = cv2.VideoCapture(str(SAMPLE_MODEL.parent / "crossing.mp4"))
    for k in range(6):
        ok, image = capture.read()
        assert ok
        cv2.imwrite(str(images / f"f{k}.jpg"), image)
        (labels / f"f{k}.txt").write_text("0 0.5 0.5 0.2 0.4\n")
    capture.release()
    data = root / "dataset.yaml"
    data.write_text(f"train: {images}\nval: {images}\nnames:\n  0: person\n")
    return data


def _state(weights: Path) -> dict[str, np.ndarray]:
    import torch

    model = torch.load(weights, map_location="cpu", weights_only=False)["model"]
    return {k: v.float().numpy().copy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("frozen", [True, False])
def test_fine_tuning_keeps_batchnorm_statistics_unless_asked(tmp_path: Path, frozen: bool) -> None:
    base = _state(SAMPLE_MODEL)
    weights = fine_tune(str(SAMPLE_MODEL), _dataset(tmp_path / "data"), tmp_path / "run", epochs=2, imgsz=64,
                        batch=3, device="cpu", hyp={"val": False, "lr0": 0.01}, frozen_bn=frozen)
    tuned = _state(weights)
    stats = [k for k in base if k.endswith(("running_mean", "running_var"))]
    learned = [k for k in base if k.endswith(".weight")]
    assert stats and learned
    same_stats = all(np.array_equal(base[k], tuned[k]) for k in stats)
    assert same_stats == frozen
    assert any(not np.allclose(base[k], tuned[k]) for k in learned)
