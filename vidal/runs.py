"""The run folder of ``vidal mine``: its files, their columns, and the typed rows that write
and read them.

This module owns the format: the pipeline writes a run through it, and the push, the API
(:func:`load_run`) and the tools read it back through it, as typed rows rather than
``dict[str, str]``. The README's run-folder table describes the same files.

Frame numbers are 1-based source frame numbers (MOTChallenge's convention) in every file.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vidal.errors import InputError
from vidal.outputs import CsvStream, write_csv, write_json
from vidal.types import ArrayTable

TRACKS_FILE = "tracks.txt"
FRAMES_FILE = "frames.csv"
SELECTION_FILE = "selection.csv"
REGIONS_FILE = "regions.csv"
OBJECTS_FILE = "objects.csv"
SUMMARY_FILE = "summary.json"
TRACK_STATES_FILE = "track_states.csv"
TIMELINE_FILE = "timeline.png"
CONFIG_FILE = "config.yaml"
FRAMES_DIR = "frames"
# Frame embeddings (written when the strategy needs them: vidal.embeddings): (F, D) float32 rows,
# L2-normalised, and their 1-based frame numbers (F,) int64.
EMBEDDINGS_FILE = "embeddings.npy"
EMBEDDING_FRAMES_FILE = "embedding_frames.npy"
# The kind of the record a push leaves on the dataset for a mining run.
MINE_RUN_KIND = "vidal_mine"

FRAME_COLUMNS = ["frame", "timestamp", "score", "reasons", "objects", "detections", "tracked", "predicted"]
SELECTION_COLUMNS = ["rank", "frame", "timestamp", "score", "reasons", "image"]
OBJECT_COLUMNS = [
    "frame", "track_id", "kind", "x1", "y1", "x2", "y2", "confidence", "class_id", "class", "uncertainty",
    "reasons", "region",
]
TRACK_STATE_COLUMNS = ["frame", "track_id", "kind", "class_id", "confidence", "uncertainty", "reasons"]
REGION_COLUMNS = ["frame", "track_id", "kind", "x1", "y1", "x2", "y2", "confidence", "class", "uncertainty", "reasons"]


def frame_image(frame: int) -> str:
    """The selected frame's image, relative to the run folder (``frames/000123.jpg``)."""
    return f"{FRAMES_DIR}/{frame:06d}.jpg"


def _reasons(text: str) -> tuple[str, ...]:
    return tuple(r for r in text.split(";") if r)


@dataclass(frozen=True)
class FrameRow:
    """One processed frame (``frames.csv``)."""

    frame: int
    timestamp: float
    score: float
    reasons: tuple[str, ...]
    objects: int
    detections: int
    tracked: int
    predicted: int

    def cells(self) -> list[Any]:
        return [self.frame, f"{self.timestamp:.3f}", f"{self.score:.4f}", ";".join(self.reasons), self.objects,
                self.detections, self.tracked, self.predicted]

    @classmethod
    def parse(cls, row: dict[str, str]) -> FrameRow:
        return cls(int(row["frame"]), float(row["timestamp"]), float(row["score"]), _reasons(row["reasons"]),
                   int(row["objects"]), int(row["detections"]), int(row["tracked"]), int(row["predicted"]))


@dataclass(frozen=True)
class ObjectRow:
    """One scored object of a selected frame (``objects.csv``; ``regions.csv`` holds those with
    ``region`` set, the objects a reviewer should look at).

    Attributes:
        kind: ``tracked``, ``predicted`` (a lost track's predicted box: a likely missed
            object) or ``unmatched`` (a detection no track took).
        xyxy: The box in pixels.
        confidence: The detection score; ``None`` for a predicted box.
        class_name: The class's name (the ``class`` column).
        reasons: The signals that make its uncertainty, strongest first.
    """

    frame: int
    track_id: int
    kind: str
    xyxy: tuple[float, float, float, float]
    confidence: float | None
    class_id: int
    class_name: str
    uncertainty: float
    reasons: tuple[str, ...]
    region: bool

    def cells(self) -> list[Any]:
        return [
            self.frame, self.track_id, self.kind, *(f"{v:.1f}" for v in self.xyxy),
            "" if self.confidence is None else f"{self.confidence:.4f}", self.class_id, self.class_name,
            f"{self.uncertainty:.4f}", ";".join(self.reasons), int(self.region),
        ]

    @classmethod
    def parse(cls, row: dict[str, str]) -> ObjectRow:
        x1, y1, x2, y2 = (float(row[k]) for k in ("x1", "y1", "x2", "y2"))
        return cls(
            int(row["frame"]), int(row["track_id"]), row["kind"], (x1, y1, x2, y2),
            float(row["confidence"]) if row["confidence"] else None, int(row["class_id"]), row["class"],
            float(row["uncertainty"]), _reasons(row["reasons"]), row["region"] == "1",
        )


@dataclass(frozen=True)
class SelectedFrame:
    """A selected frame (``selection.csv``), most valuable first, with its scored objects.

    Attributes:
        image: Its JPEG, relative to the run folder.
        objects: Its rows of ``objects.csv``, most uncertain first.
    """

    rank: int
    frame: int
    timestamp: float
    score: float
    reasons: tuple[str, ...]
    image: str
    objects: tuple[ObjectRow, ...] = ()

    def cells(self) -> list[Any]:
        return [self.rank, self.frame, f"{self.timestamp:.3f}", f"{self.score:.4f}", ";".join(self.reasons), self.image]

    @property
    def regions(self) -> tuple[ObjectRow, ...]:
        """The objects to review."""
        return tuple(o for o in self.objects if o.region)


@dataclass(frozen=True)
class InputRecord:
    """The mined input (``summary.json``'s ``input``)."""

    path: str
    sha256: str
    kind: str
    width: int
    height: int
    fps: float
    frame_count: int


@dataclass
class Summary:
    """``summary.json``: what was mined, with what, and what came out.

    Attributes:
        run_id: The run's key on a dataset.
        started: UTC start time, ISO 8601.
        model: The detector's description; ``model_path`` the file (absolute where it exists).
        classes: The model's classes by id (as strings, as JSON keys are).
        labels: The classes the run reports (``--classes``, else all).
        frames: ``convention``, ``processed``, ``first``, ``last``, ``stride``.
        counts: ``detections``, ``tracks``, ``track_rows``, ``selected``, class confusions.
        selection: Strategy, budget, gaps, frames and how the budget was filled.
        timings: Seconds per stage (``stages``; CPU seconds of its thread: ``stages_cpu``; of the
            whole process while processing: ``processing_cpu_seconds``), processing rate, the first frame's seconds and
            the rate after it (``first_frame_seconds``, ``steady_frames_per_second``), writing time.
        complete: ``False`` when decoding stopped early (``stopped_after_frame``, ``error``).
        config: The resolved configuration; ``versions`` the packages'.
    """

    run_id: str
    started: str
    input: InputRecord
    model: str
    model_path: str
    classes: dict[str, str]
    labels: list[str]
    frames: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    selection: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    complete: bool = True
    stopped_after_frame: int | None = None
    error: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], source: Path) -> Summary:
        """Read a parsed ``summary.json``.

        Raises:
            InputError: A field a run cannot do without is missing (an older vidal's run).
        """
        missing = [key for key in ("run_id", "labels", "input") if key not in data]
        if missing:
            raise InputError(f"{source} lacks {', '.join(missing)}: mined by an older vidal? mine again")
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        try:
            known["input"] = InputRecord(**{k: data["input"][k] for k in InputRecord.__dataclass_fields__})
        except (KeyError, TypeError) as error:
            raise InputError(f"{source}: its input record is incomplete ({error})") from error
        known.setdefault("started", "")
        known.setdefault("model", "")
        known.setdefault("model_path", "")
        known.setdefault("classes", {})
        return cls(**known)


@dataclass
class MinedRun:
    """A run folder written by ``vidal mine``, read back (:func:`load_run`).

    Attributes:
        path: The run folder.
        summary: Its ``summary.json``.
        selected: The selected frames, most valuable first, each with its objects.
    """

    path: Path
    summary: Summary
    selected: list[SelectedFrame]

    @property
    def run_id(self) -> str:
        return self.summary.run_id

    @property
    def labels(self) -> list[str]:
        return list(self.summary.labels)

    @property
    def video_hash(self) -> str:
        return self.summary.input.sha256

    @property
    def complete(self) -> bool:
        return self.summary.complete

    @property
    def regions(self) -> list[ObjectRow]:
        """Every region to review, frame by frame in the selection's order."""
        return [row for frame in self.selected for row in frame.regions]

    def image(self, frame: SelectedFrame) -> Path:
        """The path of a selected frame's image."""
        return self.path / frame.image

    def frames(self) -> list[FrameRow]:
        """Every processed frame (read from ``frames.csv`` on each call)."""
        return [FrameRow.parse(row) for row in _read_csv(self.path / FRAMES_FILE)]

    def embeddings(self) -> dict[int, np.ndarray]:
        """The selected frames' embeddings (:func:`read_embeddings`) by frame number, ``(D,)``
        float32 each; empty when the run computed none."""
        found = read_embeddings(self.path)
        if found is None:
            return {}
        frames, rows = found
        wanted = {frame.frame for frame in self.selected}
        return {int(f): rows[k].astype(np.float32) for k, f in enumerate(frames.tolist()) if f in wanted}


def read_embeddings(run_dir: str | Path) -> tuple[np.ndarray, np.ndarray] | None:
    """A run folder's frame numbers ``(F,)`` int64 and embeddings ``(F, D)`` (float32, memory-mapped),
    or ``None`` when it has none.

    Raises:
        InputError: The files are unreadable or do not match.
    """
    path, frames_path = Path(run_dir) / EMBEDDINGS_FILE, Path(run_dir) / EMBEDDING_FRAMES_FILE
    if not path.is_file():
        return None
    try:
        rows, frames = np.load(path, mmap_mode="r"), np.load(frames_path)
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read the embeddings of {run_dir}: {error}") from error
    if rows.ndim != 2 or frames.shape != (len(rows),):
        raise InputError(f"{run_dir}: {EMBEDDINGS_FILE} {rows.shape} does not match {EMBEDDING_FRAMES_FILE} {frames.shape}")
    return frames, rows


def write_frames(folder: Path, rows: Iterable[FrameRow]) -> None:
    write_csv(folder / FRAMES_FILE, FRAME_COLUMNS, (row.cells() for row in rows))


def write_selection(folder: Path, frames: Iterable[SelectedFrame]) -> list[SelectedFrame]:
    """Write ``selection.csv``, ``objects.csv`` (every object of the selected frames) and
    ``regions.csv`` (the objects to review), a frame at a time.

    Returns:
        The frames without their objects (what the run's summary needs; the objects of a
        long video's budget are many).
    """
    keep = [OBJECT_COLUMNS.index(c) for c in REGION_COLUMNS]
    written: list[SelectedFrame] = []
    streams = [CsvStream(folder / name, header) for name, header in
               ((SELECTION_FILE, SELECTION_COLUMNS), (OBJECTS_FILE, OBJECT_COLUMNS), (REGIONS_FILE, REGION_COLUMNS))]
    try:
        selection, objects, regions = streams
        for frame in frames:
            selection.write(frame.cells())
            rows = [o.cells() for o in frame.objects]
            objects.write_rows(rows)
            regions.write_rows([row[i] for i in keep] for row in rows if row[-1])
            written.append(replace(frame, objects=()))
    finally:
        for stream in streams:
            stream.close()
    return written


@dataclass(kw_only=True)
class TrackStates(ArrayTable):
    """Every tracked object of every processed frame (``track_states.csv``): what propagation
    needs beside ``tracks.txt``'s boxes, over ``N`` rows.

    Attributes:
        frame: 1-based frame numbers, ``(N,)`` int64.
        track_id: Track identities, ``(N,)`` int64.
        predicted: A lost track's predicted box (no detection in the frame), ``(N,)`` bool.
        class_id: The detector's class of the track's latest detection, ``(N,)`` int64.
        confidence: The detection score, NaN for a predicted box, ``(N,)`` float32.
        uncertainty: The object's uncertainty, ``(N,)`` float32.
        reasons: The signals of at least ``SUSPECT_MIN_UNCERTAINTY``, ``;``-joined, ``(N,)`` object.
    """

    frame: np.ndarray
    track_id: np.ndarray
    predicted: np.ndarray
    class_id: np.ndarray
    confidence: np.ndarray
    uncertainty: np.ndarray
    reasons: np.ndarray

    def any_reason(self, names: Iterable[str]) -> np.ndarray:
        """Rows whose reasons include one of ``names``, ``(N,)`` bool."""
        wanted = set(names)
        return np.array([bool(wanted & set(str(r).split(";"))) for r in self.reasons], bool)


def write_track_states(folder: Path, rows: Iterable[list[Any]]) -> None:
    """Write ``track_states.csv`` from rows in :data:`TRACK_STATE_COLUMNS` order."""
    write_csv(folder / TRACK_STATES_FILE, TRACK_STATE_COLUMNS, rows)


def read_track_states(run_dir: str | Path) -> TrackStates:
    """Read a run folder's ``track_states.csv``.

    Raises:
        InputError: It is missing (a run of a vidal before 0.x that did not write it) or malformed.
    """
    path = Path(run_dir) / TRACK_STATES_FILE
    if not path.is_file():
        raise InputError(f"{run_dir} has no {TRACK_STATES_FILE} (mined by an older vidal?): mine the video again")
    rows = _read_csv(path)
    try:
        return TrackStates(
            frame=np.array([int(r["frame"]) for r in rows], np.int64),
            track_id=np.array([int(r["track_id"]) for r in rows], np.int64),
            predicted=np.array([r["kind"] == "predicted" for r in rows], bool),
            class_id=np.array([int(r["class_id"]) for r in rows], np.int64),
            confidence=np.array([float(r["confidence"]) if r["confidence"] else np.nan for r in rows], np.float32),
            uncertainty=np.array([float(r["uncertainty"]) for r in rows], np.float32),
            reasons=np.array([r["reasons"] for r in rows], object),
        )
    except (KeyError, ValueError) as error:
        raise InputError(f"{path} is malformed ({error})") from error


def write_summary(folder: Path, summary: Summary) -> None:
    write_json(folder / SUMMARY_FILE, summary.to_json())


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from error


def read_summary(run_dir: Path) -> Summary:
    """Read a run folder's ``summary.json``.

    Raises:
        InputError: There is none, or it is unreadable or incomplete.
    """
    path = Path(run_dir) / SUMMARY_FILE
    if not path.is_file():
        raise InputError(f"{run_dir} is not a vidal run folder (no {SUMMARY_FILE})")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"cannot read {path}: {error}") from error
    return Summary.from_json(data, path)


def load_run(run_dir: str | Path) -> MinedRun:
    """Read a run folder written by ``vidal mine``.

    Raises:
        InputError: It is not a complete vidal run folder (a missing file or frame image).
    """
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    objects: dict[int, list[ObjectRow]] = {}
    try:
        for row in _read_csv(run_dir / OBJECTS_FILE):
            parsed = ObjectRow.parse(row)
            objects.setdefault(parsed.frame, []).append(parsed)
        selected = []
        for row in _read_csv(run_dir / SELECTION_FILE):
            if not (run_dir / row["image"]).is_file():
                raise InputError(f"{run_dir}: frame image {row['image']} is missing")
            number = int(row["frame"])
            selected.append(SelectedFrame(int(row["rank"]), number, float(row["timestamp"]), float(row["score"]),
                                          _reasons(row["reasons"]), row["image"], tuple(objects.get(number, ()))))
    except (KeyError, ValueError) as error:
        raise InputError(f"{run_dir}: a table is malformed ({error})") from error
    return MinedRun(run_dir, summary, selected)
