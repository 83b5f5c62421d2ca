"""MOTChallenge text files: reading ground truth and tracker output.

Layout of a line: ``frame,id,x,y,w,h,flag,...`` with ``frame`` 1-based and ``x,y,w,h`` the
top-left corner and size in pixels. Column 7 is the "consider" flag in ground truth (0 =
ignore this box) and the score in tracker output. The columns after it differ between
MOT15 and MOT17: :func:`read_mot` does not read them, :func:`read_gt` reads the class of the
ground-truth layouts in :data:`GT_LAYOUTS`.

SoccerNet-Tracking sequences (10-column MOT15 layout, no class column) name each track's role
in a ``gameinfo.ini`` beside ``gt/``: :func:`read_gameinfo` reads it and :func:`gameinfo_classes`
turns the roles into class names.
"""

from __future__ import annotations

import configparser
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidal.errors import InputError
from vidal.types import ArrayTable

logger = logging.getLogger(__name__)


@dataclass
class MotBoxes(ArrayTable):
    """Boxes of a MOTChallenge file as parallel arrays (``N`` rows).

    Attributes:
        frame: 1-based frame numbers ``(N,)`` int64.
        track_id: Identities ``(N,)`` int64.
        xyxy: Boxes ``(N, 4)`` float32.
        flag: Column 7: consider flag (gt) or score (tracker) ``(N,)`` float32.
    """

    frame: np.ndarray
    track_id: np.ndarray
    xyxy: np.ndarray
    flag: np.ndarray

    def at(self, frame: int) -> MotBoxes:
        """The rows of one frame."""
        return self[self.frame == frame]


def _lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    """The non-blank lines of a MOTChallenge file as ``(line number, columns)``."""
    if not path.is_file():
        raise InputError(f"MOT file not found: {path}")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from error
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line:
            yield number, line.replace(" ", "").split(",")


def _numbers(path: Path, number: int, parts: list[str]) -> list[float]:
    try:
        values = [float(value) for value in parts]
    except ValueError as error:
        raise InputError(f"{path}:{number}: not a number ({error})") from error
    if not np.isfinite(values).all():
        raise InputError(f"{path}:{number}: not a finite number ({','.join(parts)})")
    return values


def read_mot(path: str | Path) -> MotBoxes:
    """Read a MOTChallenge gt or result file (any number of columns >= 7).

    Raises:
        InputError: The file is missing or a line is malformed.
    """
    path = Path(path)
    rows: list[list[float]] = []
    for number, parts in _lines(path):
        if len(parts) < 7:
            raise InputError(f"{path}:{number}: expected at least 7 comma-separated columns, got {len(parts)}")
        rows.append(_numbers(path, number, parts[:7]))
    data = np.array(rows, dtype=np.float64).reshape(-1, 7)
    xyxy = np.c_[data[:, 2], data[:, 3], data[:, 2] + data[:, 4], data[:, 3] + data[:, 5]].astype(np.float32)
    return MotBoxes(data[:, 0].astype(np.int64), data[:, 1].astype(np.int64), xyxy, data[:, 6].astype(np.float32))


# Ground-truth layouts, told apart by their column count (fixed by the MOTChallenge
# benchmarks), and the column holding the class (0-based), if any. MOT15's columns 8-10 are
# world coordinates (-1 when unknown), not classes: its ground truth is all pedestrians.
GT_LAYOUTS: dict[int, tuple[str, int | None]] = {
    7: ("frame,id,left,top,width,height,flag", None),
    9: ("MOT16/17/20: frame,id,left,top,width,height,flag,class,visibility", 7),
    10: ("MOT15: frame,id,left,top,width,height,flag,x,y,z", None),
}
# The class of every row of a layout without a class column.
NO_CLASS = -1


@dataclass
class MotGroundTruth(ArrayTable):
    """The rows of a MOTChallenge ground-truth file as parallel arrays (``N`` rows).

    Attributes:
        frame: 1-based frame numbers ``(N,)`` int64.
        track_id: Identities ``(N,)`` int64.
        xyxy: Boxes ``(N, 4)`` float32, pixel ``x1, y1, x2, y2``.
        flag: The "consider" flag ``(N,)`` float32 (0: ignore the row).
        class_id: MOTChallenge class ``(N,)`` int64 (1 pedestrian, ...), :data:`NO_CLASS` in a
            layout without a class column.
        line: The row's line number in the file ``(N,)`` int64, for messages.
    """

    frame: np.ndarray
    track_id: np.ndarray
    xyxy: np.ndarray
    flag: np.ndarray
    class_id: np.ndarray
    line: np.ndarray


def refuse_rows(path: Path, lines: np.ndarray, bad: np.ndarray, message: str) -> None:
    """Raise on the first row where ``bad`` is true, naming its line."""
    if bad.any():
        raise InputError(f"{path}:{int(lines[np.argmax(bad)])}: {message}")


def refuse_repeated_ids(path: Path, lines: np.ndarray, frame: np.ndarray, track_id: np.ndarray, noun: str = "id") -> None:
    """Refuse, as TrackEval does, an identity twice in one frame (no box can be chosen), naming
    the line of its second row and of its first."""
    order = np.lexsort((track_id, frame))  # stable: a repeated pair keeps file order
    repeated = (np.diff(frame[order]) == 0) & (np.diff(track_id[order]) == 0)
    if repeated.any():
        at = int(np.argmax(repeated))
        first, again = order[at], order[at + 1]
        raise InputError(f"{path}:{lines[again]}: {noun} {track_id[again]} again in frame {frame[again]} "
                         f"(first at line {lines[first]})")


def check_seqinfo_size(found: Path, width: int, height: int, video: Path, question: str) -> None:
    """Refuse a MOTChallenge ``seqinfo.ini`` whose ``imWidth``/``imHeight`` differ from the video's.

    Args:
        found: The ``seqinfo.ini``.
        width: The video's frame width.
        height: The video's frame height.
        video: The video, for the message.
        question: How the message ends (``"is it the ground truth of another video?"``).

    Raises:
        InputError: The file is unreadable, or states another size.
    """
    parser = configparser.ConfigParser()
    try:
        parser.read(found)
        sequence = parser["Sequence"] if parser.has_section("Sequence") else {}
        stated = {key: int(sequence[key]) for key in ("imWidth", "imHeight") if key in sequence}
    except (configparser.Error, ValueError) as error:
        raise InputError(f"{found}: not a valid seqinfo.ini ({error})") from error
    actual = {"imWidth": width, "imHeight": height}
    for key, value in stated.items():
        if value != actual[key]:
            raise InputError(f"{found} gives {key}={value} but {video} has {actual[key]}: {question}")


def read_gt(path: str | Path) -> MotGroundTruth:
    """Read a MOTChallenge ground-truth file in one of the :data:`GT_LAYOUTS`.

    Args:
        path: A ``gt.txt``.

    Returns:
        Its rows, every one of them (flag and class are for the caller to apply).

    Raises:
        InputError: The file is missing or empty, is not in one layout, or a line is
            malformed (not a number, a frame below 1, a non-integer id or class, an empty box);
            the message names the line.
    """
    path = Path(path)
    rows: list[list[float]] = []
    lines: list[int] = []
    columns = 0
    for number, parts in _lines(path):
        if not columns:
            if len(parts) not in GT_LAYOUTS:
                known = "; ".join(f"{n} ({name})" for n, (name, _) in GT_LAYOUTS.items())
                raise InputError(
                    f"{path}:{number}: {len(parts)} columns is no MOTChallenge ground-truth layout; expected {known}"
                )
            columns = len(parts)
        elif len(parts) != columns:
            raise InputError(f"{path}:{number}: {len(parts)} columns, but line {lines[0]} has {columns}")
        rows.append(_numbers(path, number, parts))
        lines.append(number)
    if not rows:
        raise InputError(f"{path} holds no ground-truth rows")
    data = np.array(rows, dtype=np.float64)
    line = np.array(lines, dtype=np.int64)
    class_column = GT_LAYOUTS[columns][1]
    classes = data[:, class_column] if class_column is not None else np.full(len(data), NO_CLASS, np.float64)
    refuse_rows(path, line, (data[:, 0] < 1) | (data[:, 0] != np.round(data[:, 0])), "frame must be an integer from 1")
    refuse_rows(path, line, data[:, 1] != np.round(data[:, 1]), "id must be an integer")
    refuse_rows(path, line, (data[:, 4] <= 0) | (data[:, 5] <= 0), "box width and height must be positive")
    refuse_rows(
        path, line, (classes != np.round(classes)) | ((classes < 1) & (classes != NO_CLASS)),
        f"class must be an integer from 1 (or {NO_CLASS}: none)",
    )
    frame, track_id = data[:, 0].astype(np.int64), data[:, 1].astype(np.int64)
    refuse_repeated_ids(path, line, frame, track_id)
    xyxy = np.c_[data[:, 2], data[:, 3], data[:, 2] + data[:, 4], data[:, 3] + data[:, 5]].astype(np.float32)
    return MotGroundTruth(
        frame,
        track_id,
        xyxy,
        data[:, 6].astype(np.float32),
        classes.astype(np.int64),
        line,
    )


def read_classes(path: str | Path) -> dict[int, str]:
    """Read a classes file: one name per line, line ``i`` names MOTChallenge class ``i``.

    Raises:
        InputError: The file cannot be read, holds no name, or has a blank line between names.
    """
    path = Path(path)
    try:
        names = [line.strip() for line in path.read_text().splitlines()]
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read classes file {path}: {getattr(error, 'strerror', None) or error}") from error
    while names and not names[-1]:
        names.pop()
    if not names:
        raise InputError(f"classes file {path} holds no class name")
    if "" in names:
        raise InputError(f"{path}:{names.index('') + 1}: blank line (line i names class i)")
    return {number: name for number, name in enumerate(names, start=1)}


# SoccerNet-Tracking's gameinfo.ini: ``trackletID_<id>= <role>;<jersey>`` per gt track (roles
# ``ball``, ``player team left``, ``goalkeepers team right``, ``referee``, ``other``...), and
# ``num_tracklets=<n>`` counting those lines.
GAMEINFO_FILE = "gameinfo.ini"
BALL_ROLE = "ball"
# COCO's names, so that the labels are classes of a COCO detector's dataset.
BALL_CLASS = "sports ball"
PERSON_CLASS = "person"
_TRACKLET_KEY = re.compile(r"trackletID_(\d+)", re.IGNORECASE)
_TRACKLET_LINE = "trackletID_<id>= <role>;<jersey>"


def read_gameinfo(path: str | Path) -> dict[int, str]:
    """Read a SoccerNet ``gameinfo.ini``: the role of each ground-truth track.

    Lines other than ``trackletID_<id>=`` and ``num_tracklets=`` (game, clip and action
    metadata) are not read.

    Args:
        path: A ``gameinfo.ini``.

    Returns:
        Track id to role (the text before ``;``, stripped: ``"ball"``, ``"player team left"``...).

    Raises:
        InputError: The file is missing or unreadable, names no track, a ``trackletID_`` line
            is malformed (an id that is not an integer, no role), names a track twice, or
            ``num_tracklets`` is not the number of tracks named; the message names the line.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"gameinfo file not found: {path}")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from error
    roles: dict[int, str] = {}
    first_line: dict[int, int] = {}
    stated: tuple[int, str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        key, equals, value = (part.strip() for part in line.partition("="))
        if key.lower() == "num_tracklets":
            stated = (number, value)
        if not key.lower().startswith("trackletid_"):
            continue
        match = _TRACKLET_KEY.fullmatch(key)
        role = value.partition(";")[0].strip()
        if not equals or match is None or not role:
            raise InputError(f"{path}:{number}: expected {_TRACKLET_LINE}, got {line.strip()!r}")
        track = int(match.group(1))
        if track in roles:
            raise InputError(f"{path}:{number}: track {track} named again (first at line {first_line[track]})")
        roles[track], first_line[track] = role, number
    if not roles:
        raise InputError(f"{path} names no track: expected {_TRACKLET_LINE} lines")
    if stated is not None and stated[1] != str(len(roles)):
        raise InputError(f"{path}:{stated[0]}: num_tracklets={stated[1]} but {len(roles)} tracks are named")
    return roles


def role_class(role: str) -> str:
    """The class name of a SoccerNet role: :data:`BALL_CLASS` for the ball, else :data:`PERSON_CLASS`."""
    return BALL_CLASS if role.strip().lower() == BALL_ROLE else PERSON_CLASS


def gameinfo_classes(track_id: np.ndarray, roles: Mapping[int, str]) -> np.ndarray:
    """The class name of each ground-truth row, from its track's role.

    A track the roles do not name is a person (SoccerNet names every track; a warning is
    logged); roles of tracks without rows are not used.

    Args:
        track_id: The rows' track ids ``(N,)`` int64 (``MotGroundTruth.track_id``).
        roles: Track id to role, as :func:`read_gameinfo` returns.

    Returns:
        Class names ``(N,)`` (object array): :data:`BALL_CLASS` or :data:`PERSON_CLASS`.
    """
    track_id = np.asarray(track_id, np.int64).reshape(-1)
    tracks = np.unique(track_id)
    unnamed = [int(t) for t in tracks if int(t) not in roles]
    if unnamed:
        logger.warning(
            "%d ground-truth tracks have no role in the gameinfo (ids %s): labelled %r",
            len(unnamed), ", ".join(map(str, unnamed[:10])) + (", ..." if len(unnamed) > 10 else ""), PERSON_CLASS,
        )
    by_track = {int(t): role_class(roles[int(t)]) if int(t) in roles else PERSON_CLASS for t in tracks}
    return np.array([by_track[int(t)] for t in track_id], dtype=object)
