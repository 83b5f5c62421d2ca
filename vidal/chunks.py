"""Long videos cut in time, so that one video keeps a whole cluster busy.

With ``--workers`` or ``--ray``, a video longer than ``scale.chunk_s`` is cut into chunks of
that length. Each chunk is a task of its own that decodes its frames (seeking to its first
one) and runs the detector on them (:func:`detect_chunk`), writing the detections to a chunk
file in the output folder. Once every chunk of the video is done, one pass in the parent
decodes the video, tracks, scores and selects over the whole of it, with each frame's
detections read back from the chunk files (:class:`StoredDetections`): the run folder is the
serial run's, byte for byte.

Why detections, and not tracks stitched across an overlap: detecting is nearly all of mining's
time (the shared int8 YOLO11n: 130 of 142 ms a 1080p frame on this machine's 2 cores; tracking
and scoring 12 ms, decoding 14). Tracking each chunk and stitching the tracks on shared frames
would save only the rest, at the price of identity errors at every seam and of the track-level
signals (a track cut at a seam looks short-lived, fragmented or re-activated), and the
selection would no longer be the serial run's. The cost is a second decode of the video in the
final pass, which also reads each selected frame's pixels and the appearance signal's.

A seek can land on another frame than asked in some containers, so each chunk records a
fingerprint of every frame it detected (:func:`fingerprint`), and the final pass, which decodes
the video frame by frame from its start, detects again, here, any frame whose fingerprint
differs (or that no chunk holds), and says so. Chunk files are written whole or not at all; a
chunk whose file exists is not detected again (a command run again after a failure resumes);
the chunk folder goes once the video's run folder is made.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidal.concurrency import PREFETCH_FRAMES, UntilError, prefetch
from vidal.detectors import Detector
from vidal.errors import DecodeError
from vidal.types import Detections, Frame
from vidal.video import FrameSource, frame_numbers, open_source

if TYPE_CHECKING:
    from vidal.config import VidalConfig

logger = logging.getLogger(__name__)

CHUNKS_SUFFIX = ".chunks-"
CHUNK_FILE = "chunk-{first:08d}-{last:08d}.npz"
# Every n-th pixel row and column goes into a frame's fingerprint.
FINGERPRINT_STEP = 8


@dataclass(frozen=True)
class Chunk:
    """Frames ``first`` to ``last`` (1-based, inclusive, every ``stride``-th) of a video, whose
    detections go to ``folder`` (a folder name in the output folder: the same on every node).

    ``last`` is ``None`` for the last chunk: it decodes to the end of the video, beyond the
    container's frame count if the count is short (as a serial run does).
    """

    folder: str
    first: int
    last: int | None
    stride: int = 1

    def file_name(self, end: int) -> str:
        return CHUNK_FILE.format(first=self.first, last=end)


def fingerprint(image: np.ndarray) -> int:
    """A 64-bit digest of a subsample of ``image``'s pixels: two decodes of one frame agree."""
    sample = np.ascontiguousarray(image[::FINGERPRINT_STEP, ::FINGERPRINT_STEP])
    return int.from_bytes(hashlib.blake2b(sample.tobytes(), digest_size=8).digest(), "little")


@dataclass(frozen=True)
class DetectedChunk:
    """What :func:`detect_chunk` did: ``processed`` frames in ``seconds``, or ``skipped`` (its file exists)."""

    processed: int = 0
    seconds: float = 0.0
    skipped: bool = False

    @property
    def fps(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0


def chunk_folder(source: FrameSource, config: VidalConfig) -> str:
    """The name of the chunk folder of ``source`` mined with ``config``: the input's name, and a
    key of its file (path, size, time) and of every setting the detections depend on, so a
    changed file or model makes new chunks."""
    info = source.info
    stat = info.path.stat()
    key = json.dumps({"path": str(info.path.resolve()), "size": stat.st_size, "mtime": stat.st_mtime_ns,
                      "detector": config.detector.model_dump(mode="json"),
                      "scoring": config.scoring.model_dump(mode="json"),
                      "input": config.input.model_dump(mode="json")}, sort_keys=True)
    return f".{info.name}{CHUNKS_SUFFIX}{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def plan_chunks(config: VidalConfig, source: FrameSource) -> list[Chunk]:
    """The chunks ``source`` mined with ``config`` is cut into, or ``[]`` when it is not cut: an
    image folder (its frames are read one by one wherever they are), a video no longer than
    ``scale.chunk_s``, or a setting that feeds the detector from a file (``detector.detections``,
    ``detector.tracks``)."""
    info = source.info
    seconds = config.scale.chunk_s
    if info.kind != "video" or seconds <= 0 or config.detector.detections or config.detector.tracks:
        return []
    numbers = frame_numbers(info.frame_count, config.input.start, config.input.end, config.input.stride)
    size = max(1, round(seconds * info.fps / config.input.stride))
    if len(numbers) <= size:
        return []
    folder = chunk_folder(source, config)
    chunks = []
    for at in range(0, len(numbers), size):
        part = numbers[at : at + size]
        last = None if at + size >= len(numbers) and config.input.end is None else part[-1]
        chunks.append(Chunk(folder, part[0], last, config.input.stride))
    return chunks


def _partial_name(name: str) -> str:
    return f"{name}.partial-{os.getpid()}-{socket.gethostname()}"


def detect_chunk(path: Path, out: Path, chunk: Chunk, detector: Detector) -> DetectedChunk:
    """Detect ``chunk``'s frames of the video at ``path`` and write them to its chunk file in the
    output folder ``out`` (whole, or not at all).

    A chunk whose file exists is not detected again. Decoding that breaks midway ends the chunk
    at the last good frame: the final pass decodes the video again and stops where it stops.
    """
    folder = out / chunk.folder
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.glob(f"chunk-{chunk.first:08d}-*.npz")):
        return DetectedChunk(skipped=True)
    partial = folder / _partial_name(f"chunk-{chunk.first:08d}")
    partial.touch()  # a worker killed midway leaves this (the chunk folder goes with the run)
    started = time.perf_counter()
    source = open_source(path)
    table = _ChunkTable()
    frames = source.frames(chunk.first, chunk.last, chunk.stride, seek=True)
    try:
        for frame, detections in detector.stream(frames):
            table.add(frame, detections)
    except DecodeError as error:
        logger.info("chunk from frame %d of %s: %s", chunk.first, path, error)
    if not table.frames:
        partial.unlink(missing_ok=True)
        return DetectedChunk()
    end, seconds = table.frames[-1], time.perf_counter() - started
    with partial.open("wb") as handle:
        np.savez(handle, seconds=np.float64(seconds), **table.arrays())
    os.replace(partial, folder / chunk.file_name(end))
    return DetectedChunk(processed=len(table.frames), seconds=seconds)


class _ChunkTable:
    """A chunk's detections gathered as flat arrays (:meth:`arrays`)."""

    def __init__(self) -> None:
        self.frames: list[int] = []
        self.prints: list[int] = []
        self.items: list[Detections] = []

    def add(self, frame: Frame, detections: Detections) -> None:
        self.frames.append(frame.index)
        self.prints.append(fingerprint(frame.image))
        self.items.append(detections)

    def arrays(self) -> dict[str, np.ndarray]:
        items = self.items
        out = {
            "frame": np.asarray(self.frames, np.int64),
            "fingerprint": np.asarray(self.prints, np.uint64),
            "count": np.asarray([len(d.xyxy) for d in items], np.int64),
            "xyxy": np.concatenate([d.xyxy for d in items]).astype(np.float32).reshape(-1, 4),
            "confidence": np.concatenate([d.confidence for d in items]).astype(np.float32),
            "class_id": np.concatenate([d.class_id for d in items]).astype(np.int64),
        }
        for name in ("class_scores", "committee"):
            parts = [getattr(d, name) for d in items]
            if all(p is not None for p in parts):
                out[name] = np.concatenate(parts).astype(np.float32)
        embeddings = [d.embedding for d in items]
        if all(e is not None for e in embeddings):
            out["embedding"] = np.stack(embeddings).astype(np.float32)
        return out


class _ChunkFile:
    """One chunk file read back: each of its frames' :class:`Detections`."""

    def __init__(self, path: Path) -> None:
        with np.load(path) as data:
            self.arrays = {name: data[name] for name in data.files}
        self.frame = self.arrays["frame"]
        self.offsets = np.concatenate([[0], np.cumsum(self.arrays["count"])])
        self.rows = {int(f): k for k, f in enumerate(self.frame)}

    def get(self, index: int, image: np.ndarray) -> Detections | None:
        """Frame ``index``'s detections, or ``None`` when the chunk does not hold that frame as decoded here."""
        k = self.rows.get(index)
        if k is None or int(self.arrays["fingerprint"][k]) != fingerprint(image):
            return None
        a, b = int(self.offsets[k]), int(self.offsets[k + 1])
        arrays = self.arrays

        def rows(name: str) -> np.ndarray | None:
            return arrays[name][a:b].copy() if name in arrays else None

        return Detections(
            arrays["xyxy"][a:b].copy(), arrays["confidence"][a:b].copy(), arrays["class_id"][a:b].copy(),
            rows("class_scores"), arrays["embedding"][k].copy() if "embedding" in arrays else None, rows("committee"),
        )


def chunk_files(folder: Path) -> list[tuple[int, int, Path]]:
    """The chunk files in ``folder`` as ``(first, last, path)``, in frame order."""
    found = []
    for path in folder.glob("chunk-*-*.npz"):
        first, last = path.stem.split("-")[1:3]
        found.append((int(first), int(last), path))
    return sorted(found)


class StoredDetections:
    """A detector that gives each frame the detections its chunk task found, and detects with
    ``detector`` (here) any frame that no chunk holds or that decoded differently in its chunk.

    Everything but :meth:`stream` is ``detector``'s: names, classes, description, so the run
    folder records the model that detected.
    """

    def __init__(self, folder: Path, detector: Detector) -> None:
        self.folder = folder
        self.detector = detector
        self.files = chunk_files(folder)
        self.redetected: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.detector, name)

    def stream(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, Detections]]:
        """Each frame with its stored detections (read one chunk file at a time), decoding ahead
        in a worker thread; a frame no chunk holds as decoded here is detected again."""
        source = UntilError(prefetch(frames, PREFETCH_FRAMES))
        loaded: tuple[int, int, _ChunkFile] | None = None
        for frame in source:
            if loaded is None or not loaded[0] <= frame.index <= loaded[1]:
                loaded = self._load(frame.index)
            found = None if loaded is None else loaded[2].get(frame.index, frame.image)
            if found is None:
                self.redetected.append(frame.index)
                yield from self.detector.stream([frame])
            else:
                yield frame, found
        source.reraise()
        if self.redetected:
            logger.warning("%d frames of %s were not in its chunks as decoded here (first: %d): detected again here",
                           len(self.redetected), self.folder, self.redetected[0])

    def chunk_timings(self) -> dict[str, Any]:
        """For ``summary.json``: the chunks, their tasks' seconds in all (decoding and detecting),
        and the frames detected again here."""
        seconds = 0.0
        for _, _, path in self.files:
            with np.load(path) as data:
                seconds += float(data["seconds"])
        return {"chunks": len(self.files), "chunk_seconds": round(seconds, 3), "detected_again": len(self.redetected)}

    def _load(self, index: int) -> tuple[int, int, _ChunkFile] | None:
        for first, last, path in self.files:
            if first <= index <= last:
                return first, last, _ChunkFile(path)
        return None


def remove_chunks(out_root: Path, folders: Sequence[str]) -> None:
    """Delete the chunk folders ``folders`` of ``out_root`` (their video's run is made)."""
    for name in folders:
        shutil.rmtree(out_root / name, ignore_errors=True)
