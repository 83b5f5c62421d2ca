"""Decoding with OpenCV: video files and image-sequence folders, streamed frame by frame.

This is the only module that opens videos or reads frame images. Frames are numbered from
1 in source order (MOTChallenge's convention): frame ``k`` of a video is its ``k``-th
decoded frame, frame ``k`` of an image folder is its ``k``-th image in name order.
"""

from __future__ import annotations

import configparser
import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidal.errors import DecodeError, InputError
from vidal.types import Frame

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"}
)
# Frame rate assumed for an image folder without a MOTChallenge seqinfo.ini: the rate of
# most MOT17 sequences and of ByteTrack's tuning (its track buffer is given at 30 fps).
DEFAULT_IMAGE_FPS = 30.0
# Bytes read per chunk when hashing a source's content.
HASH_CHUNK = 1 << 20
# Containers estimate CAP_PROP_FRAME_COUNT; a shortfall this small at the end is not an error.
FRAME_COUNT_TOLERANCE = 1


@dataclass(frozen=True)
class VideoInfo:
    """What is known of a source before decoding it.

    Attributes:
        path: The video file or the folder of frame images.
        kind: ``"video"`` or ``"images"``.
        width: Frame width in pixels.
        height: Frame height in pixels.
        fps: Frames per second (from the container or seqinfo.ini).
        frame_count: Number of frames; for videos the container's figure, which may be an
            estimate.
    """

    path: Path
    kind: str
    width: int
    height: int
    fps: float
    frame_count: int

    @property
    def name(self) -> str:
        """A short name for run folders: the file stem, or the sequence folder's name."""
        if self.kind == "video":
            return self.path.stem
        return self.path.parent.name if self.path.name == "img1" else self.path.name


def frame_numbers(frame_count: int, start: int = 1, end: int | None = None, stride: int = 1) -> range:
    """The 1-based frame numbers a ``start``/``end``/``stride`` selection visits.

    Args:
        frame_count: Number of frames in the source.
        start: First frame, 1-based, inclusive.
        end: Last frame, inclusive; ``None`` for the end of the source.
        stride: Keep every ``stride``-th frame from ``start``.

    Returns:
        The frame numbers, in order.
    """
    if stride < 1:
        raise InputError(f"stride must be at least 1, got {stride}")
    if start < 1:
        raise InputError(f"start must be at least 1 (frames are numbered from 1), got {start}")
    last = frame_count if end is None else min(end, frame_count)
    if end is not None and end < start:
        raise InputError(f"end ({end}) is before start ({start})")
    return range(start, last + 1, stride)


class FrameSource:
    """A video file or image folder that can be decoded, streaming, any number of times."""

    def __init__(self, info: VideoInfo, images: Sequence[Path] = ()) -> None:
        self.info = info
        self._images = list(images)
        self._hash: str | None = None

    @property
    def images(self) -> list[Path]:
        """The frame images of an image folder, in frame order (frame ``k`` is image ``k``); empty for a video."""
        return list(self._images)

    def frames(self, start: int = 1, end: int | None = None, stride: int = 1, *, seek: bool = False) -> Iterator[Frame]:
        """Decode frames in order.

        Args:
            start: First frame, 1-based, inclusive.
            end: Last frame, inclusive; ``None`` for the end.
            stride: Keep every ``stride``-th frame.
            seek: Jump to ``start`` (OpenCV seeks to the key frame before it and decodes on from
                there) instead of decoding every frame before it. A container can make the jump
                land on another frame; callers that need the exact frame check what they got
                (:mod:`vidal.chunks` compares each frame's fingerprint with a sequential decode).

        Yields:
            The decoded frames. Memory does not grow with the length of the source.

        Raises:
            DecodeError: Decoding broke before the end; ``frame`` says the last good one.
        """
        wanted = frame_numbers(self.info.frame_count, start, end, stride)
        if self.info.kind == "images":
            yield from self._image_frames(wanted)
        else:
            yield from self._video_frames(wanted, end, seek=seek)

    def content_hash(self) -> str:
        """A SHA-256 of the source's content: the video file's bytes, or the images' bytes in order.

        It identifies a video wherever it is stored and however it is named, so mining a copy
        or a renamed file finds the frames already mined (a mined frame is keyed by this hash
        and its number). A folder's hash covers its frame images in frame order, each
        prefixed with its length.

        Raises:
            InputError: A file cannot be read.
        """
        if self._hash is not None:  # computed once: a long video takes seconds to read
            return self._hash
        digest = hashlib.sha256()
        images = self.info.kind == "images"
        for path in self._images if images else [self.info.path]:
            try:
                if images:
                    digest.update(path.stat().st_size.to_bytes(8, "little"))
                with path.open("rb") as handle:
                    while chunk := handle.read(HASH_CHUNK):
                        digest.update(chunk)
            except OSError as error:
                raise InputError(f"cannot read {path}: {error.strerror}") from error
        self._hash = digest.hexdigest()
        return self._hash

    def read(self, indices: Sequence[int]) -> Iterator[Frame]:
        """Decode only the given 1-based frame numbers, in increasing order."""
        wanted = sorted(set(indices))
        if self.info.kind == "images":
            yield from self._image_frames(wanted)
            return
        if not wanted:
            return
        keep = set(wanted)
        for frame in self._video_frames(range(wanted[0], wanted[-1] + 1), wanted[-1], keep):
            yield frame

    def _image_frames(self, wanted: Sequence[int]) -> Iterator[Frame]:
        expected = (self.info.height, self.info.width)
        last_good = 0
        for index in wanted:
            path = self._images[index - 1]
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise DecodeError(f"cannot read image {path}", frame=last_good)
            if image.shape[:2] != expected:
                raise DecodeError(
                    f"image {path} is {image.shape[1]}x{image.shape[0]}, the sequence is "
                    f"{expected[1]}x{expected[0]}",
                    frame=last_good,
                )
            last_good = index
            yield Frame(index, (index - 1) / self.info.fps, image)

    def _video_frames(
        self, wanted: range, end: int | None, keep: set[int] | None = None, *, seek: bool = False
    ) -> Iterator[Frame]:
        capture = cv2.VideoCapture(str(self.info.path))
        try:
            if not capture.isOpened():
                raise InputError(f"cannot open video {self.info.path}")
            index = 0
            if seek and wanted and wanted[0] > 1 and capture.set(cv2.CAP_PROP_POS_FRAMES, wanted[0] - 1):
                index = wanted[0] - 1  # the next frame grabbed is frame wanted[0]
            last_good = index
            for target in wanted:
                while index < target:
                    grabbed = capture.grab()
                    if not grabbed:
                        self._check_shortfall(index, end)
                        return
                    index += 1
                    last_good = index
                if keep is not None and target not in keep:
                    continue
                ok, image = capture.retrieve()
                if not ok or image is None:
                    raise DecodeError(
                        f"cannot decode frame {target} of {self.info.path}", frame=last_good - 1
                    )
                yield Frame(target, (target - 1) / self.info.fps, image)
            # The container's frame count can under-estimate: decode any frames past it.
            if end is None and keep is None and wanted:
                step = wanted.step
                next_target = wanted[-1] + step
                while True:
                    while index < next_target:
                        if not capture.grab():
                            return
                        index += 1
                    ok, image = capture.retrieve()
                    if not ok or image is None:
                        return
                    yield Frame(next_target, (next_target - 1) / self.info.fps, image)
                    next_target += step
        finally:
            capture.release()

    def _check_shortfall(self, decoded: int, end: int | None) -> None:
        expected = self.info.frame_count if end is None else min(end, self.info.frame_count)
        if decoded < expected - FRAME_COUNT_TOLERANCE:
            raise DecodeError(
                f"decoding of {self.info.path} stopped at frame {decoded} of {expected}: "
                "the file is truncated or corrupt",
                frame=decoded,
            )


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _sequence_fps(folder: Path) -> float:
    """Frame rate from a MOTChallenge ``seqinfo.ini`` beside ``img1/``, if there is one."""
    for candidate in (folder / "seqinfo.ini", folder.parent / "seqinfo.ini"):
        if candidate.is_file():
            parser = configparser.ConfigParser()
            try:
                parser.read(candidate)
                return float(parser["Sequence"]["frameRate"])
            except (configparser.Error, KeyError, ValueError) as error:
                raise InputError(f"{candidate}: no valid [Sequence] frameRate ({error})") from error
    return DEFAULT_IMAGE_FPS


def open_source(path: str | Path) -> FrameSource:
    """Open a video file, an image folder, or a MOTChallenge sequence folder (with ``img1/``).

    Args:
        path: The input path.

    Returns:
        A :class:`FrameSource` whose ``info`` is filled in.

    Raises:
        InputError: The path is missing, holds no frames, or is not a readable video.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"input not found: {path}")
    if path.is_dir():
        folder = path / "img1" if (path / "img1").is_dir() else path
        images = _image_files(folder)
        if not images:
            raise InputError(f"no frame images ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder {folder}")
        first = cv2.imread(str(images[0]), cv2.IMREAD_COLOR)
        if first is None:
            raise InputError(f"cannot read image {images[0]}")
        fps = _sequence_fps(folder if folder.name != "img1" else folder.parent)
        info = VideoInfo(folder, "images", first.shape[1], first.shape[0], fps, len(images))
        return FrameSource(info, images)
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise InputError(f"not a readable video: {path}")
        ok, first = capture.read()
        if not ok or first is None:
            raise InputError(f"video has no decodable frames: {path}")
        fps = capture.get(cv2.CAP_PROP_FPS)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    if not np.isfinite(fps) or fps <= 0:
        logger.warning("%s reports no frame rate; assuming %.0f fps", path, DEFAULT_IMAGE_FPS)
        fps = DEFAULT_IMAGE_FPS
    info = VideoInfo(path, "video", first.shape[1], first.shape[0], float(fps), max(count, 1))
    return FrameSource(info)


def expand_inputs(paths: Sequence[str | Path]) -> list[Path]:
    """Expand command-line inputs: a folder of video files becomes its videos.

    A folder holding frame images (directly or in ``img1/``) stays one image sequence.

    Raises:
        InputError: A path is missing or a folder holds neither videos nor frames.
    """
    expanded: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise InputError(f"input not found: {path}")
        if path.is_dir() and not (path / "img1").is_dir() and not _image_files(path):
            videos = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            sequences = sorted(p for p in path.iterdir() if p.is_dir() and (p / "img1").is_dir())
            if not videos and not sequences:
                raise InputError(f"no videos or frame images in folder {path}")
            expanded.extend(videos + sequences)
        else:
            expanded.append(path)
    return expanded

