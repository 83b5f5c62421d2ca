"""A long video detected in chunks, each a task of its own, then tracked, scored and selected
in one pass from the chunks' detections: the run folder is the serial run's (vidal.chunks)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pytest

from vidal.chunks import StoredDetections, chunk_files, detect_chunk, plan_chunks
from vidal.config import load_config
from vidal.scale import MineTask, mine_task
from vidal.types import Detections, Frame
from vidal.video import open_source

from conftest import SCENE_FRAMES, ScriptedDetector, write_scene_video

# summary.json names the run's time (and the chunks), config.yaml the output folder
VARYING = {"summary.json", "config.yaml"}


class CountingDetector(ScriptedDetector):
    """The scripted detector, noting each frame it detects."""

    def __init__(self) -> None:
        super().__init__(misses={20: [0], 21: [0]}, low={40: [1]})
        self.seen: list[int] = []

    def stream(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, Detections]]:
        for frame, found in super().stream(frames):
            self.seen.append(frame.index)
            yield frame, found


def task_for(video: Path, out: Path, *overrides: str) -> MineTask:
    config = load_config(overrides=["selection.budget=6", "selection.min_gap_s=0.1", f"output.out={out}", *overrides])
    return MineTask(config, video)


def run_files(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file() and p.name not in VARYING}


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return write_scene_video(tmp_path / "scene.mp4")


@pytest.mark.parametrize(("overrides", "expected"), [
    ([], [(1, 25), (26, 50), (51, None)]),
    (["input.start=3", "input.end=60", "input.stride=2"], [(3, 25), (27, 49), (51, 59)]),
    (["input.stride=5"], [(1, 21), (26, 46), (51, None)]),  # 1 s of video a chunk, 5 frames
])
def test_a_long_video_is_cut_into_chunks_that_hold_each_frame_once(video: Path, tmp_path: Path, overrides: list[str],
                                                                    expected: list[tuple[int, int | None]]) -> None:
    task = task_for(video, tmp_path / "runs", "scale.chunk_s=1", *overrides)
    source = open_source(video)
    chunks = plan_chunks(task.config, source)
    assert [(c.first, c.last) for c in chunks] == expected
    assert len({c.folder for c in chunks}) == 1
    numbers = [f.index for c in chunks for f in source.frames(c.first, c.last, c.stride)]
    config = task.config.input
    assert numbers == [f.index for f in source.frames(config.start, config.end, config.stride)]


@pytest.mark.parametrize("overrides", [["scale.chunk_s=0"], ["scale.chunk_s=3"], ["input.stride=2", "scale.chunk_s=2.6"]])
def test_a_video_no_longer_than_a_chunk_is_not_cut(video: Path, tmp_path: Path, overrides: list[str]) -> None:
    assert SCENE_FRAMES / 25 < 3
    assert plan_chunks(task_for(video, tmp_path, *overrides).config, open_source(video)) == []


def test_frames_from_files_are_not_cut(video: Path, scene_images: Path, tmp_path: Path) -> None:
    assert plan_chunks(task_for(scene_images, tmp_path, "scale.chunk_s=1").config, open_source(scene_images)) == []
    detections = tmp_path / "det.txt"
    detections.write_text("1,-1,10,10,20,20,0.9,-1,-1,-1\n")
    imported = task_for(video, tmp_path, "scale.chunk_s=1", f"detector.detections={detections}")
    assert plan_chunks(imported.config, open_source(video)) == []


def detect_all(task: MineTask, source_path: Path, detector: ScriptedDetector) -> Path:
    """Every chunk of ``task`` detected (as workers would); the chunk folder."""
    out = Path(task.config.output.out)
    chunks = plan_chunks(task.config, open_source(source_path))
    assert len(chunks) == 3
    for chunk in chunks:
        assert detect_chunk(source_path, out, chunk, detector).processed > 0
    return out / chunks[0].folder


def test_the_run_mined_from_chunks_is_the_serial_run(video: Path, tmp_path: Path) -> None:
    serial = mine_task(task_for(video, tmp_path / "serial"), detector=CountingDetector())
    task = task_for(video, tmp_path / "chunked", "scale.chunk_s=1")
    folder = detect_all(task, video, CountingDetector())
    here = CountingDetector()
    stored = StoredDetections(folder, here)
    chunked = mine_task(task, source=open_source(video), detector=stored)
    assert here.seen == []  # nothing detected again
    assert stored.chunk_timings()["chunks"] == 3 and stored.chunk_timings()["detected_again"] == 0
    assert run_files(chunked.run_dir) == run_files(serial.run_dir)
    assert chunked.selected == serial.selected


def test_a_frame_that_decoded_otherwise_in_its_chunk_or_is_in_none_is_detected_again(video: Path, tmp_path: Path) -> None:
    serial = mine_task(task_for(video, tmp_path / "serial"), detector=CountingDetector())
    task = task_for(video, tmp_path / "chunked", "scale.chunk_s=1")
    folder = detect_all(task, video, CountingDetector())
    (first, _, _), (_, _, middle), (_, _, last) = chunk_files(folder)
    assert first == 1
    with np.load(middle) as data:  # as if the seek had landed one frame off for two frames
        arrays = {name: data[name] for name in data.files}
    arrays["fingerprint"][[3, 4]] ^= np.uint64(1)
    np.savez(middle, **arrays)
    last.unlink()  # as if its task had never run
    here = CountingDetector()
    stored = StoredDetections(folder, here)
    chunked = mine_task(task, source=open_source(video), detector=stored)
    assert here.seen == [29, 30, *range(51, SCENE_FRAMES + 1)]
    assert stored.chunk_timings()["detected_again"] == len(here.seen)
    assert run_files(chunked.run_dir) == run_files(serial.run_dir)


def test_a_chunk_detected_already_is_not_detected_again(video: Path, tmp_path: Path) -> None:
    task = task_for(video, tmp_path / "runs", "scale.chunk_s=1")
    out = Path(task.config.output.out)
    chunk = plan_chunks(task.config, open_source(video))[1]
    detector = CountingDetector()
    assert detect_chunk(video, out, chunk, detector).processed == 25
    [(_, _, written)] = chunk_files(out / chunk.folder)
    before = written.stat().st_mtime_ns
    again = detect_chunk(video, out, chunk, detector)
    assert again.skipped and detector.seen == list(range(26, 51))
    assert written.stat().st_mtime_ns == before
    assert not list(written.parent.glob("*.partial-*"))  # written whole, its temporary file gone
