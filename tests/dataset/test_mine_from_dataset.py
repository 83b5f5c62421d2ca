"""``vidal mine --from-dataset NAME --field FIELD``: tracks kept in a FiftyOne dataset, mined end to end."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vidal.cli import app

from conftest import SCENE_FRAMES, SCENE_SIZE, scene_boxes

pytestmark = pytest.mark.fiftyone
runner = CliRunner()
WIDTH, HEIGHT = SCENE_SIZE


def _detections(fo, frame: int, with_index: bool = True):
    out = []
    for k, (x1, y1, x2, y2) in enumerate(scene_boxes(frame).tolist()):
        if k == 0 and 20 <= frame <= 22:  # a gap in track 11
            continue
        out.append(fo.Detection(label="square" if k < 2 else "disc", confidence=0.9,
                                bounding_box=[x1 / WIDTH, y1 / HEIGHT, (x2 - x1) / WIDTH, (y2 - y1) / HEIGHT],
                                index=11 + k if with_index else None))
    return fo.Detections(detections=out)


def _video_dataset(fo, name: str, video: Path, with_index: bool = True) -> None:
    dataset = fo.Dataset(name)
    sample = fo.Sample(filepath=str(video))
    for frame in range(1, SCENE_FRAMES + 1):
        sample.frames[frame] = fo.Frame(tracked=_detections(fo, frame, with_index))
    dataset.add_sample(sample)


def test_video_dataset_with_tracked_detections_mined_and_pushed(
    fo, dataset_name: str, tmp_path: Path, scene_video: Path
) -> None:
    _video_dataset(fo, dataset_name, scene_video)
    target = f"{dataset_name}-mined"
    out = tmp_path / "runs"
    result = runner.invoke(app, ["mine", "--from-dataset", dataset_name, "--field", "tracked", "--budget", "4",
                                 "--out", str(out), "--dataset", target, "--media-dir", str(tmp_path / "media")])
    assert result.exit_code == 0, result.output
    assert "pushed to dataset" in result.output and "4 new" in result.output
    run = out / scene_video.stem
    rows = list(csv.reader((run / "tracks.txt").open()))
    assert {int(r[1]) for r in rows} == {11, 12, 13}
    assert len(rows) == 3 * SCENE_FRAMES - 3
    # the boxes are the dataset's, in pixels
    frame5 = {int(r[1]): [float(v) for v in r[2:6]] for r in rows if r[0] == "5"}
    x1, y1, x2, y2 = scene_boxes(5)[1]
    np.testing.assert_allclose(frame5[12], [x1, y1, x2 - x1, y2 - y1], atol=0.01)
    states = {(int(r["frame"]), int(r["track_id"])): r for r in csv.DictReader((run / "track_states.csv").open())}
    assert "reactivation" in states[(23, 11)]["reasons"]
    assert (out / "from-dataset" / f"{dataset_name}.tracked" / scene_video.stem / "classes.txt").read_text() == \
        "disc\nsquare\n"
    pushed = fo.load_dataset(target)
    assert len(pushed) == 4 and set(pushed.distinct("predictions.detections.label")) == {"square", "disc"}


def test_detections_without_track_ids_refused(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    _video_dataset(fo, dataset_name, scene_video, with_index=False)
    out = tmp_path / "runs"
    result = runner.invoke(app, ["mine", "--from-dataset", dataset_name, "--field", "tracked", "--no-push",
                                 "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "without a track id in Detection.index" in result.output
    result = runner.invoke(app, ["mine", "--from-dataset", dataset_name, "--field", "nope", "--no-push",
                                 "--out", str(out)])
    assert result.exit_code == 2 and "has no Detections field 'nope' (its Detections fields: tracked)" in \
        result.output.replace("\n", " "), result.output
    assert not (out / scene_video.stem).exists()


def test_frame_dataset_mined_as_its_image_folder(fo, dataset_name: str, tmp_path: Path, scene_images: Path) -> None:
    """An image dataset of a sequence's frames: the folder is the input, an image's place in it its frame number."""
    dataset = fo.Dataset(dataset_name)
    images = sorted((scene_images / "img1").iterdir())
    dataset.add_samples([fo.Sample(filepath=str(path), tracked=_detections(fo, k)) for k, path in
                         enumerate(images, start=1) if k != 5])  # a frame not in the dataset: no boxes there
    out = tmp_path / "runs"
    result = runner.invoke(app, ["mine", "--from-dataset", dataset_name, "--field", "tracked", "--budget", "2",
                                 "--no-push", "--out", str(out)])
    assert result.exit_code == 0, result.output
    runs = [p for p in out.iterdir() if p.name != "from-dataset"]
    assert len(runs) == 1
    rows = list(csv.reader((runs[0] / "tracks.txt").open()))
    assert sorted({int(r[0]) for r in rows}) == [k for k in range(1, 13) if k != 5]
    frame7 = {int(r[1]): [float(v) for v in r[2:6]] for r in rows if r[0] == "7"}
    x1, y1, x2, y2 = scene_boxes(7)[0]
    np.testing.assert_allclose(frame7[11], [x1, y1, x2 - x1, y2 - y1], atol=0.01)
