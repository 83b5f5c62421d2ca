"""``vidal mine`` with a representation strategy: embeddings in the run folder and on the samples."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vidal.cli import app
from vidal.config import load_config
from vidal.errors import ConfigError
from vidal.pipeline import build_detector, mine_source, needs_embeddings
from vidal.runs import EMBEDDING_FRAMES_FILE, EMBEDDINGS_FILE
from vidal.video import open_source

from conftest import SAMPLE_MODEL, SAMPLE_VIDEO, ScriptedDetector

runner = CliRunner()


def selected_frames(run: Path) -> list[int]:
    with (run / "selection.csv").open() as handle:
        return [int(row["frame"]) for row in csv.DictReader(handle)]


def processed_frames(run: Path) -> list[int]:
    with (run / "frames.csv").open() as handle:
        return [int(row["frame"]) for row in csv.DictReader(handle)]


@pytest.mark.slow
@pytest.mark.fiftyone
def test_mine_coreset_writes_embeddings_and_pushes_them(fo, dataset_name: str, tmp_path: Path) -> None:
    result = runner.invoke(app, [
        "mine", str(SAMPLE_VIDEO), "--model", str(SAMPLE_MODEL), "--out", str(tmp_path), "--end", "90",
        "--budget", "6", "--strategy", "coreset", "--dataset", dataset_name,
    ])
    assert result.exit_code == 0, result.output
    run = next(p for p in tmp_path.iterdir() if p.is_dir())
    embeddings, frames = np.load(run / EMBEDDINGS_FILE), np.load(run / EMBEDDING_FRAMES_FILE)
    assert embeddings.shape == (90, 448) and embeddings.dtype == np.float32
    assert frames.tolist() == processed_frames(run) == list(range(1, 91))
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    picked = selected_frames(run)
    assert len(picked) == len(set(picked)) == 6
    summary = json.loads((run / "summary.json").read_text())
    assert summary["selection"]["strategy"] == "coreset"
    assert summary["selection"]["embeddings"] == {"file": EMBEDDINGS_FILE, "frames": 90, "dimensions": 448,
                                                  "bytes_per_frame": 1792}
    # min_gap_s 0.2 at 25 fps: picks more than 5 frames apart
    assert np.diff(np.sort(picked)).min() > 5
    # each sample carries its frame's embedding, which FiftyOne Brain reads
    dataset = fo.load_dataset(dataset_name)
    assert sorted(dataset.values("frame_number")) == sorted(picked)
    for sample in dataset:
        np.testing.assert_allclose(sample["embedding"], embeddings[sample.frame_number - 1], rtol=1e-6)
    import fiftyone.brain as fob

    visual = fob.compute_visualization(dataset, embeddings="embedding", method="pca", num_dims=2)
    assert np.asarray(visual.current_points).shape == (6, 2)


def test_only_the_representation_strategies_compute_embeddings() -> None:
    assert not needs_embeddings(load_config())  # the default, cover
    for name in ("coreset", "typiclust", "density", "diverse"):
        assert needs_embeddings(load_config(overrides=[f"selection.strategy={name}"]))
    assert needs_embeddings(load_config(overrides=["selection.embeddings=always"]))


@pytest.mark.slow
def test_the_default_run_computes_no_embeddings(tmp_path: Path) -> None:
    config = load_config(options={"detector.model": str(SAMPLE_MODEL), "selection.budget": "3", "input.end": 20})
    detector = build_detector(config)
    assert detector.embeddings is False
    result = mine_source(open_source(SAMPLE_VIDEO), detector, config, tmp_path)
    assert not (result.run_dir / EMBEDDINGS_FILE).exists() and result.table.embedding is None
    assert "embeddings" not in result.summary.selection


@pytest.mark.parametrize("option", ["--detections", "--tracks"])
def test_imported_boxes_refuse_a_strategy_that_needs_embeddings(tmp_path: Path, scene_video: Path, option: str) -> None:
    boxes = tmp_path / "boxes.txt"
    boxes.write_text("1,1,10,10,20,20,0.9\n" if option == "--tracks" else "1,-1,10,10,20,20,0.9\n")
    result = runner.invoke(app, ["mine", "--no-push", str(scene_video), option, str(boxes), "--out",
                                 str(tmp_path / "runs"), "--budget", "2", "--strategy", "typiclust"])
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "typiclust needs frame embeddings" in errors[0], result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_detector_without_embeddings_is_refused_before_mining(tmp_path: Path, scene_video: Path) -> None:
    config = load_config(options={"selection.strategy": "density", "selection.budget": "2"})
    with pytest.raises(ConfigError, match="density needs frame embeddings, and the detector scripted detector"):
        mine_source(open_source(scene_video), ScriptedDetector(), config, tmp_path / "runs")
    assert not (tmp_path / "runs").exists()
