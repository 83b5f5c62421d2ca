"""Detections or finished tracks from another system, read from MOTChallenge text files.

``vidal mine VIDEO --detections det.txt`` hands another detector's boxes to vidal's own
ByteTrack, so every signal is computed as for a model vidal runs; ``--tracks tracks.txt``
replays another tracker's finished tracks (:mod:`vidal.tracking.replay`).

Layout of a line: ``frame,id,x,y,w,h,conf[,class,...]``, MOTChallenge's: ``frame`` 1-based,
``x,y,w,h`` the top-left corner and size in pixels. ``id`` is -1 in a detections file (as in
MOTChallenge's ``det.txt``) and the track identity in a tracks file. ``conf`` is a score in
``[0, 1]``; a tracks file may give -1 for "no score", read as 1 (a certain box). Column 8,
if present, is the class: the 1-based line of the classes file (as ``vidal propagate
--mot-out`` writes and ``vidal label --classes`` reads it), -1 for none (MOTChallenge's
world ``x``). Class names come from ``--classes-file``, else a ``classes.txt`` beside the
file, else one class, :data:`DEFAULT_CLASS`. Inside vidal class ids are 0-based (line ``i`` of
the classes file is class ``i - 1``), as a YOLO model's.

Per-class scores: a file whose lines all have exactly ``8 + C`` columns, ``C >= 2`` the number
of classes the classes file names, and whose class column holds a class (not -1), gives each
box's score for every class in columns 9 to ``8 + C``, in the order of the classes file
(``frame,-1,x,y,w,h,conf,class,s_1,...,s_C``), each in ``[0, 1]``; the ``class_margin``
signal reads them. MOTChallenge's own layouts are never read so: their class column is -1
(``det.txt``: ``...,conf,-1,-1,-1``) or they have 9 columns. Columns after the 8th of any
other file are not read. A class of -1 on some line of a file with per-class scores is
refused, as is a line with another number of columns.

Every row is checked when the file is read, and against the video before a run folder is
created (:meth:`ImportedDetections.check_input`); a bad row is refused with ``file:line``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vidal.concurrency import PREFETCH_FRAMES, prefetch
from vidal.detectors.base import resolve_classes
from vidal.detectors.boxes import clip_boxes
from vidal.errors import ConfigError, InputError
from vidal.mot import check_seqinfo_size, read_classes, refuse_repeated_ids, refuse_rows
from vidal.types import ArrayTable, Detections, Frame
from vidal.video import FRAME_COUNT_TOLERANCE, VideoInfo

if TYPE_CHECKING:
    from vidal.tracking.replay import TrackReplay

logger = logging.getLogger(__name__)

CLASSES_FILE = "classes.txt"
SEQINFO_FILE = "seqinfo.ini"
# The one class of a file without class column or classes file.
DEFAULT_CLASS = "object"
# Columns up to the class (frame, id, x, y, w, h, conf, class).
MIN_COLUMNS = 7
CLASS_COLUMN = 7
# Fewest classes with per-class score columns: one class's score is the box's score.
MIN_SCORED_CLASSES = 2
# A class of -1 (or no class column): the file has no classes.
NO_CLASS = -1
# A tracks file's score of -1: the tracker gave none.
NO_SCORE = -1.0
# Trackers report boxes a little beyond the border (a Kalman box of a person walking out,
# MOTChallenge ground truth extrapolated over the hidden part): by up to a quarter of the image
# on MOT17-05. A box reaching beyond by more than half the image belongs to a larger image.
MAX_OVERSHOOT = 0.5


@dataclass
class ImportedRows(ArrayTable):
    """The rows of a detections or tracks file as parallel arrays (``N`` rows), in file order.

    Attributes:
        frame: 1-based frame numbers ``(N,)`` int64.
        track_id: Track identities ``(N,)`` int64; -1 in a detections file.
        xyxy: Boxes ``(N, 4)`` float32, pixel ``x1, y1, x2, y2``, as in the file (not clipped).
        confidence: Scores ``(N,)`` float32 in ``[0, 1]``.
        class_id: vidal's 0-based class ids ``(N,)`` int64.
        line: Each row's line number in the file ``(N,)`` int64, for messages.
        class_scores: Per-class scores ``(N, C)`` float32 (class ``k`` in column ``k``), or
            ``(N, 0)`` for a file without them (module docstring).
    """

    frame: np.ndarray
    track_id: np.ndarray
    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    line: np.ndarray
    class_scores: np.ndarray


def _table(path: Path, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The first :data:`CLASS_COLUMN` + 1 columns of every non-blank line as float64, and the line numbers;
    the ``classes`` columns after them too if the lines have exactly that many more (per-class scores).

    Raises:
        InputError: The file is missing, unreadable, empty, a line has fewer than 7
            columns or another count than the first, or a field is not a finite number.
    """
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from error
    numbers, rows = [], []
    width = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        parts = [part.strip() for part in line.split(",")]
        if not width:
            if len(parts) < MIN_COLUMNS:
                raise InputError(
                    f"{path}:{number}: {len(parts)} columns; expected frame,id,x,y,w,h,conf[,class,...] (at least 7)"
                )
            width = len(parts)
        elif len(parts) != width:
            raise InputError(f"{path}:{number}: {len(parts)} columns, but line {numbers[0]} has {width}")
        numbers.append(number)
        rows.append(parts)
    if not rows:
        raise InputError(f"{path} holds no rows")
    lines = np.array(numbers, np.int64)
    kept = width if _has_score_columns(width, classes) else CLASS_COLUMN + 1
    rows = [parts[:kept] for parts in rows]
    try:
        data = np.array(rows, dtype=np.float64)
    except ValueError:
        for k, parts in enumerate(rows):  # the slow way, only to name the line
            for value in parts:
                try:
                    float(value)
                except ValueError:
                    raise InputError(f"{path}:{lines[k]}: {value!r} is not a number") from None
        raise  # pragma: no cover - numpy refused what float() reads
    refuse_rows(path, lines, ~np.isfinite(data).all(1), "not a finite number")
    return data, lines


def _has_score_columns(width: int, classes: int) -> bool:
    """Whether lines of ``width`` columns may hold per-class scores for ``classes`` classes (module docstring)."""
    return classes >= MIN_SCORED_CLASSES and width == CLASS_COLUMN + 1 + classes


def _class_scores(path: Path, data: np.ndarray, lines: np.ndarray, file_class: np.ndarray) -> np.ndarray:
    """The per-class score columns of ``data`` ``(N, 8 + C)`` as ``(N, C)`` float32, checked; ``(N, 0)`` if
    the file has none (its class column -1 throughout: MOTChallenge's world coordinates)."""
    if data.shape[1] <= CLASS_COLUMN + 1 or (file_class == NO_CLASS).all():
        return np.zeros((len(data), 0), np.float32)
    scores = data[:, CLASS_COLUMN + 1 :]
    refuse_rows(path, lines, file_class == NO_CLASS, f"class {NO_CLASS} on a line with per-class scores "
                f"(the {scores.shape[1]} columns after the class): give the box's class")
    refuse_rows(path, lines, ((scores < 0) | (scores > 1)).any(1), "per-class scores must be in [0, 1]")
    return scores.astype(np.float32)


def read_rows(path: str | Path, *, tracks: bool, names: dict[int, str]) -> ImportedRows:
    """Read and check a detections or tracks file (layout: the module docstring).

    Args:
        path: The file.
        tracks: A tracks file (column 2 the identity) rather than detections (column 2 -1).
        names: vidal's class names by 0-based id (:func:`read_names`).

    Returns:
        Its rows, in file order, with the per-class scores where the file gives them.

    Raises:
        InputError: A malformed line (not a number, a frame below 1, an id that does not fit
            the kind of file, an empty box, a score outside ``[0, 1]``, a class the classes
            file does not name, an identity twice in a frame, a per-class score outside
            ``[0, 1]`` or a class of -1 beside them); the message names the line.
    """
    path = Path(path)
    data, lines = _table(path, len(names))
    frame, ids, score = data[:, 0], data[:, 1], data[:, 6]
    refuse_rows(path, lines, (frame < 1) | (frame != np.round(frame)), "frame must be an integer from 1")
    if tracks:
        refuse_rows(path, lines, (ids < 0) | (ids != np.round(ids)), "track id must be an integer from 0")
        score = np.where(score == NO_SCORE, 1.0, score)
        refuse_rows(path, lines, (score < 0) | (score > 1), "score must be in [0, 1] (or -1: none)")
    else:
        refuse_rows(path, lines, ids != -1, "column 2 must be -1 in a detections file (a track id? pass it with --tracks)")
        refuse_rows(path, lines, (score < 0) | (score > 1), "score must be in [0, 1]")
    refuse_rows(path, lines, (data[:, 4] <= 0) | (data[:, 5] <= 0), "box width and height must be positive")
    file_class = data[:, CLASS_COLUMN] if data.shape[1] > CLASS_COLUMN else np.full(len(data), NO_CLASS, np.float64)
    refuse_rows(path, lines, (file_class != np.round(file_class)) | ((file_class < 1) & (file_class != NO_CLASS)),
            f"class must be an integer from 1, the line of the classes file (or {NO_CLASS}: none)")
    class_scores = _class_scores(path, data, lines, file_class)
    class_id = np.where(file_class == NO_CLASS, 0, file_class - 1).astype(np.int64)
    unknown = ~np.isin(class_id, np.fromiter(names, np.int64, len(names)))
    if unknown.any():
        k = int(np.argmax(unknown))
        named = f"classes 1..{len(names)}" if len(names) > 1 else f"one class ({names[0]!r})"
        raise InputError(
            f"{path}:{lines[k]}: class {int(file_class[k])} is not named: the classes file names {named}"
            + ("" if len(names) > 1 or names[0] != DEFAULT_CLASS else f"; put {CLASSES_FILE} beside the file or "
               "pass --classes-file")
        )
    frame, track_id = frame.astype(np.int64), ids.astype(np.int64)
    if tracks:
        refuse_repeated_ids(path, lines, frame, track_id, "track")
    x, y, w, h = data[:, 2], data[:, 3], data[:, 4], data[:, 5]
    xyxy = np.stack([x, y, x + w, y + h], axis=1).astype(np.float32)
    return ImportedRows(frame, track_id, xyxy, score.astype(np.float32), class_id, lines, class_scores)


def read_names(path: Path, classes_file: str | Path | None) -> dict[int, str]:
    """vidal's class names (0-based ids) for a file: ``classes_file``, else a
    :data:`CLASSES_FILE` beside ``path``, else :data:`DEFAULT_CLASS` alone.

    Raises:
        InputError: The classes file is missing, unreadable, empty or has a blank line.
    """
    if classes_file is None:
        beside = path.parent / CLASSES_FILE
        if not beside.is_file():
            return {0: DEFAULT_CLASS}
        classes_file = beside
        logger.info("class names from %s", beside)
    elif not Path(classes_file).is_file():
        raise InputError(f"classes file not found: {classes_file}")
    return {number - 1: name for number, name in read_classes(classes_file).items()}


def find_seqinfo(path: Path) -> Path | None:
    """A MOTChallenge ``seqinfo.ini`` beside the file, or beside its folder (``SEQ/det/det.txt``)."""
    for candidate in (path.parent / SEQINFO_FILE, path.parent.parent / SEQINFO_FILE):
        if candidate.is_file():
            return candidate
    return None


class ImportedDetections:
    """Detections from another system's file, as a :class:`~vidal.detectors.Detector`.

    Each frame gets the file's rows of that frame in file order (the order the tracker
    receives them in: ByteTrack numbers new tracks in it), those scoring more than ``conf``
    (the floor vidal's own detectors apply), boxes clipped to the image. Like vidal's
    detectors it returns every class; ``classes`` says which are wanted. Non-maximum
    suppression is the other system's.

    Args:
        path: The detections file.
        classes: Class names or ids of interest; ``None`` for all.
        classes_file: Class names, line ``i`` for class ``i`` of the file; ``None``: a
            ``classes.txt`` beside the file, else one class.
        conf: Minimum score (strictly above), as vidal's detectors.

    Raises:
        InputError: The file or its classes file is malformed (the message names the line).
        ConfigError: A class of ``classes`` is not named.
    """

    tracks_file = False

    def __init__(
        self,
        path: str | Path,
        *,
        classes: Sequence[str | int] | None = None,
        classes_file: str | Path | None = None,
        conf: float = 0.1,
    ) -> None:
        self.path = Path(path)
        self.names = read_names(self.path, classes_file)
        self.classes = resolve_classes(self.names, classes)
        self.rows = read_rows(self.path, tracks=self.tracks_file, names=self.names)
        self.conf = conf
        order = np.argsort(self.rows.frame, kind="stable")
        self._sorted = self.rows[order]
        kind = "tracks" if self.tracks_file else "detections"
        scored = f", per-class scores of {len(self.names)} classes" if self.has_class_scores else ""
        self.description = f"{kind} from {self.path} ({len(self.rows)} rows{scored}; no detector run)"

    @property
    def has_class_scores(self) -> bool:
        """Whether the file gives every box's per-class scores (module docstring)."""
        return self.rows.class_scores.shape[1] > 0

    def check_input(self, info: VideoInfo) -> None:
        """Refuse a file that cannot be this video's, before anything is written.

        Raises:
            InputError: Its ``seqinfo.ini`` gives another image size; a frame past the end of
                the video; a box wholly outside the image or reaching more than
                :data:`MAX_OVERSHOOT` of it beyond the border. The message names the line.
        """
        path, rows = self.path, self.rows
        self._check_seqinfo(info)
        last = info.frame_count + (FRAME_COUNT_TOLERANCE if info.kind == "video" else 0)
        refuse_rows(path, rows.line, rows.frame > last,
                f"frame past the end of {info.path} ({info.frame_count} frames): is the file for another video?")
        xyxy = rows.xyxy.astype(np.float64)
        w, h = info.width, info.height
        outside = (xyxy[:, 2] <= 0) | (xyxy[:, 3] <= 0) | (xyxy[:, 0] >= w) | (xyxy[:, 1] >= h)
        refuse_rows(path, rows.line, outside, f"box wholly outside the {w}x{h} image of {info.path}: "
                "is the file for another video?")
        beyond = np.maximum(np.maximum(-xyxy[:, 0], xyxy[:, 2] - w) / w, np.maximum(-xyxy[:, 1], xyxy[:, 3] - h) / h)
        refuse_rows(path, rows.line, beyond > MAX_OVERSHOOT, f"box reaches more than {MAX_OVERSHOOT:.0%} of the image "
                f"beyond the border of the {w}x{h} image of {info.path}: is the file for another video?")

    def _check_seqinfo(self, info: VideoInfo) -> None:
        found = find_seqinfo(self.path)
        if found is None:
            return
        check_seqinfo_size(found, info.width, info.height, info.path, f"is {self.path.name} for another video?")

    def rows_of(self, frame: Frame) -> ImportedRows:
        """The rows of one frame (file order), boxes clipped to its image."""
        rows = self._sorted
        start, stop = np.searchsorted(rows.frame, [frame.index, frame.index + 1])
        chosen = rows[start:stop]
        if not self.tracks_file:
            chosen = chosen[chosen.confidence > self.conf]
        height, width = frame.image.shape[:2]
        chosen.xyxy = clip_boxes(chosen.xyxy, width, height)
        return chosen

    def stream(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, Detections]]:
        """Each frame with the file's detections of it (empty where the file has none).

        The frames are decoded ahead in a thread (OpenCV releases the GIL): with no network to
        run, decoding is most of the time per frame, and it overlaps tracking and scoring.
        """
        for frame in prefetch(frames, PREFETCH_FRAMES):
            rows = self.rows_of(frame)
            scores = rows.class_scores if self.has_class_scores else None
            yield frame, Detections(rows.xyxy, rows.confidence, rows.class_id, scores)


class ImportedTracks(ImportedDetections):
    """Finished tracks from another tracker's file: each frame's boxes as detections, their
    identities replayed by :class:`~vidal.tracking.replay.TrackReplay` instead of ByteTrack.

    Every row is kept, whatever its score: the other tracker reported it.
    """

    tracks_file = True

    def replay(self, track_buffer: int) -> TrackReplay:
        """A tracker that replays the file's identities (``track_buffer``: see :class:`TrackReplay`)."""
        from vidal.tracking.replay import TrackReplay

        return TrackReplay(self.rows.frame, self.rows.track_id, track_buffer=track_buffer)


def load_imported(
    *,
    detections: str | Path | None = None,
    tracks: str | Path | None = None,
    classes: Sequence[str | int] | None = None,
    classes_file: str | Path | None = None,
    conf: float = 0.1,
) -> ImportedDetections:
    """Read another system's detections or tracks (one of the two).

    Raises:
        ConfigError: Both or neither are given, or a class of ``classes`` is not named.
        InputError: The file or its classes file is malformed.
    """
    if (detections is None) == (tracks is None):
        raise ConfigError("give either detections or tracks, not both" if detections
                          else "no detections nor tracks given")
    if tracks is not None:
        return ImportedTracks(tracks, classes=classes, classes_file=classes_file)
    return ImportedDetections(detections, classes=classes, classes_file=classes_file, conf=conf)
