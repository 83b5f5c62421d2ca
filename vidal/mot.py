"""MOTChallenge text files: reading ground truth and tracker output.

Layout of a line: ``frame,id,x,y,w,h,flag,...`` with ``frame`` 1-based and ``x,y,w,h`` the
top-left corner and size in pixels. Column 7 is the "consider" flag in ground truth (0 =
ignore this box) and the score in tracker output. The columns after it differ between
MOT15 and MOT17: :func:`read_mot` does not read them, :func:`read_gt` reads the class of the
ground-truth layouts in :data:`GT_LAYOUTS`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidal.errors import InputError
from vidal.types import ArrayTable


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


def _check_rows(path: Path, lines: np.ndarray, bad: np.ndarray, message: str) -> None:
    """Raise on the first row where ``bad`` is true, naming its line."""
    if bad.any():
        raise InputError(f"{path}:{int(lines[np.argmax(bad)])}: {message}")


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
    _check_rows(path, line, (data[:, 0] < 1) | (data[:, 0] != np.round(data[:, 0])), "frame must be an integer from 1")
    _check_rows(path, line, data[:, 1] != np.round(data[:, 1]), "id must be an integer")
    _check_rows(path, line, (data[:, 4] <= 0) | (data[:, 5] <= 0), "box width and height must be positive")
    _check_rows(
        path, line, (classes != np.round(classes)) | ((classes < 1) & (classes != NO_CLASS)),
        f"class must be an integer from 1 (or {NO_CLASS}: none)",
    )
    frame, track_id = data[:, 0].astype(np.int64), data[:, 1].astype(np.int64)
    # As TrackEval does, refuse an identity twice in one frame: no box can be chosen.
    order = np.lexsort((track_id, frame))  # stable: a repeated pair keeps file order
    repeated = (np.diff(frame[order]) == 0) & (np.diff(track_id[order]) == 0)
    if repeated.any():
        at = int(np.argmax(repeated))
        first, again = order[at], order[at + 1]
        raise InputError(
            f"{path}:{line[again]}: id {track_id[again]} again in frame {frame[again]} (first at line {line[first]})"
        )
    xyxy = np.c_[data[:, 2], data[:, 3], data[:, 2] + data[:, 4], data[:, 3] + data[:, 5]].astype(np.float32)
    return MotGroundTruth(
        frame,
        track_id,
        xyxy,
        data[:, 6].astype(np.float32),
        classes.astype(np.int64),
        line,
    )

