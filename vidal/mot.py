"""MOTChallenge text files: reading ground truth and tracker output.

Layout of a line: ``frame,id,x,y,w,h,flag,...`` with ``frame`` 1-based and ``x,y,w,h`` the
top-left corner and size in pixels. Column 7 is the "consider" flag in ground truth (0 =
ignore this box) and the score in tracker output; the columns after it differ between
MOT15 and MOT17 and are not read here.
"""

from __future__ import annotations

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


def read_mot(path: str | Path) -> MotBoxes:
    """Read a MOTChallenge gt or result file (any number of columns >= 7).

    Raises:
        InputError: The file is missing or a line is malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"MOT file not found: {path}")
    rows: list[list[float]] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        parts = line.replace(" ", "").split(",")
        if len(parts) < 7:
            raise InputError(f"{path}:{number}: expected at least 7 comma-separated columns, got {len(parts)}")
        try:
            rows.append([float(value) for value in parts[:7]])
        except ValueError as error:
            raise InputError(f"{path}:{number}: not a number ({error})") from error
    data = np.array(rows, dtype=np.float64).reshape(-1, 7)
    xyxy = np.c_[data[:, 2], data[:, 3], data[:, 2] + data[:, 4], data[:, 3] + data[:, 5]].astype(np.float32)
    return MotBoxes(data[:, 0].astype(np.int64), data[:, 1].astype(np.int64), xyxy, data[:, 6].astype(np.float32))
