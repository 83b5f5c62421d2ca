from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidal.errors import DecodeError, InputError
from vidal.video import DEFAULT_IMAGE_FPS, expand_inputs, frame_numbers, open_source

from conftest import REPO, SCENE_FRAMES, SCENE_SIZE, write_scene_video


def test_video_info_and_all_frames(scene_video: Path) -> None:
    source = open_source(scene_video)
    assert source.info.kind == "video"
    assert (source.info.width, source.info.height) == SCENE_SIZE
    assert source.info.fps == pytest.approx(25.0)
    assert source.info.frame_count == SCENE_FRAMES
    frames = list(source.frames())
    assert [f.index for f in frames] == list(range(1, SCENE_FRAMES + 1))
    assert frames[25].timestamp == pytest.approx(25 / 25.0)
    assert frames[0].image.shape == (SCENE_SIZE[1], SCENE_SIZE[0], 3)


@pytest.mark.parametrize(
    ("start", "end", "stride", "expected"),
    [
        (1, None, 1, list(range(1, 65))),
        (10, 20, 1, list(range(10, 21))),
        (1, None, 5, list(range(1, 65, 5))),
        (3, 30, 7, [3, 10, 17, 24]),
        (64, None, 1, [64]),
    ],
)
def test_start_end_stride_numbering(scene_video: Path, start: int, end: int | None, stride: int, expected: list[int]) -> None:
    source = open_source(scene_video)
    assert [f.index for f in source.frames(start, end, stride)] == expected


def test_frames_decoded_with_stride_are_the_right_ones(scene_video: Path) -> None:
    source = open_source(scene_video)
    every = {f.index: f.image for f in source.frames()}
    for frame in source.frames(start=5, stride=9):
        assert np.array_equal(frame.image, every[frame.index])
    picked = list(source.read([40, 7, 40, 12]))
    assert [f.index for f in picked] == [7, 12, 40]
    assert all(np.array_equal(f.image, every[f.index]) for f in picked)


# MPEG-4 part 2 (written here, and the sample clip) and H.264 with B-frames (a real camera's file).
SEEKABLE = ["scene", "sample_videos/crossing.mp4", "../shared/data/videos/intel_car-detection.mp4"]


@pytest.mark.parametrize("name", SEEKABLE)
def test_a_seek_lands_on_the_frame_sequential_decoding_gives(tmp_path: Path, name: str) -> None:
    video = write_scene_video(tmp_path / "scene.mp4") if name == "scene" else REPO / name
    if not video.is_file():
        pytest.skip(f"{video} is not here")
    source = open_source(video)
    every = {f.index: hashlib.sha1(f.image.tobytes()).digest() for f in source.frames()}
    last = max(every)
    for start, end, stride in [(1, 10, 1), (17, 40, 1), (33, None, 3), (last - 20, None, 1), (last, None, 1)]:
        sought = list(source.frames(start, end, stride, seek=True))
        assert [f.index for f in sought] == [f.index for f in source.frames(start, end, stride)]
        assert all(hashlib.sha1(f.image.tobytes()).digest() == every[f.index] for f in sought), (start, end, stride)


@pytest.mark.parametrize(("start", "end", "stride"), [(1, None, 0), (0, None, 1), (10, 5, 1)])
def test_invalid_ranges(start: int, end: int | None, stride: int) -> None:
    with pytest.raises(InputError):
        frame_numbers(64, start, end, stride)


def test_image_sequence_uses_img1_and_seqinfo(scene_images: Path) -> None:
    source = open_source(scene_images)
    assert source.info.kind == "images"
    assert source.info.fps == 10.0
    assert source.info.frame_count == 12
    assert source.info.name == "SEQ-01"
    assert [f.index for f in source.frames(stride=4)] == [1, 5, 9]
    assert open_source(scene_images / "img1").info.name == "SEQ-01"


def test_image_folder_without_seqinfo_assumes_default_fps(scene_images: Path) -> None:
    (scene_images / "seqinfo.ini").unlink()
    assert open_source(scene_images / "img1").info.fps == DEFAULT_IMAGE_FPS


def test_corrupt_image_midway_raises_with_last_good_frame(scene_images: Path) -> None:
    (scene_images / "img1" / "000007.jpg").write_bytes(b"not a jpeg")
    source = open_source(scene_images)
    seen = []
    with pytest.raises(DecodeError) as caught:
        for frame in source.frames():
            seen.append(frame.index)
    assert seen == [1, 2, 3, 4, 5, 6]
    assert caught.value.frame == 6


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.mp4", "not found"),
        (lambda d: (d / "empty").mkdir() or d / "empty", "no frame images"),
        (lambda d: (d / "notes.mp4").write_text("hello") and d / "notes.mp4", "not a readable video"),
    ],
)
def test_bad_inputs(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(InputError, match=message):
        open_source(make(tmp_path))


def test_zero_frame_video(tmp_path: Path) -> None:
    path = tmp_path / "zero.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (64, 64))
    writer.release()
    with pytest.raises(InputError):
        open_source(path)


def test_truncated_avi_stops_with_decode_error(tmp_path: Path) -> None:
    path = write_scene_video(tmp_path / "scene.avi", fourcc="MJPG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    source = open_source(path)
    indices = []
    with pytest.raises(DecodeError) as caught:
        for frame in source.frames():
            indices.append(frame.index)
    assert 0 < len(indices) < SCENE_FRAMES
    assert caught.value.frame == indices[-1]


def test_expand_inputs_folder_of_videos(tmp_path: Path, scene_images: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    write_scene_video(videos / "b.mp4", frames=3)
    write_scene_video(videos / "a.mp4", frames=3)
    (videos / "readme.txt").write_text("x")
    assert [p.name for p in expand_inputs([videos])] == ["a.mp4", "b.mp4"]
    assert expand_inputs([scene_images]) == [scene_images]
    with pytest.raises(InputError, match="no videos"):
        (tmp_path / "nothing").mkdir()
        expand_inputs([tmp_path / "nothing"])
