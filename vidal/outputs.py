"""Writing outputs safely: run folders built in staging and renamed into place, streamed
``tracks.txt``, CSV, JSON and the timeline plot (what a run folder holds: :mod:`vidal.runs`).

A run is built in a hidden staging folder beside its final place and renamed into place
only when complete, so a failed run leaves nothing half-written behind.

vidal deletes only folders it created itself: each one holds a marker file,
:data:`MARKER_FILE`, written as the folder is created, and nothing is deleted without it,
nor the current directory, the home directory or a parent of either. Folders and files are
created with the modes the umask gives (a teammate can read a run).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import secrets
import shutil
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vidal import __version__
from vidal.errors import OutputError

logger = logging.getLogger(__name__)

MARKER_FILE = ".vidal.json"
RUN_KIND = "run"
EXPORT_KIND = "export"
_STAGING = ".partial-"


def _host_key() -> str:
    """This machine in a staging folder's name: a process id means something only on its own
    machine, and an output folder on shared storage holds the staging folders of several."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _staging_name(name: str) -> str:
    return f".{name}{_STAGING}{os.getpid()}-{_host_key()}-{secrets.token_hex(4)}"


def ensure_writable(root: Path) -> None:
    """Create ``root`` if needed and check that files can be created in it.

    Raises:
        OutputError: The folder cannot be created or written.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create output folder {root}: {error.strerror}") from error
    if not os.access(root, os.W_OK | os.X_OK):
        raise OutputError(f"output folder is not writable: {root}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def write_marker(folder: Path, kind: str) -> None:
    """Mark ``folder`` as created by vidal (``kind``: :data:`RUN_KIND` or :data:`EXPORT_KIND`)."""
    write_json(folder / MARKER_FILE, {"created_by": "vidal", "kind": kind, "version": __version__})


def marker_kind(folder: Path) -> str | None:
    """The kind in ``folder``'s vidal marker; ``None`` without a valid one (or for a symlink)."""
    marker = folder / MARKER_FILE
    if folder.is_symlink() or marker.is_symlink() or not marker.is_file():
        return None
    try:
        data = json.loads(marker.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("created_by") != "vidal":
        return None
    kind = data.get("kind")
    return kind if isinstance(kind, str) else None


def protected_reason(path: Path) -> str | None:
    """Why vidal must never replace or delete ``path``, or ``None``.

    The current directory, the home directory and every parent of either (``/`` included)
    are protected, whichever way they are named (``.``, ``~``, a symlink).
    """
    target = path.resolve()
    places = {}
    for what, where in (("the current directory", Path.cwd), ("the home directory", Path.home)):
        try:
            places[what] = where().resolve()
        except (OSError, KeyError, RuntimeError):  # a deleted working directory, no home known
            pass
    for what, place in places.items():
        if target == place:
            return f"it is {what}"
    for what, place in places.items():
        if target in place.parents:
            return f"it holds {what}"
    return None


def remove_tree(path: Path, kinds: tuple[str, ...]) -> bool:
    """Delete a folder vidal created: only with a marker of one of ``kinds``, never a protected one.

    Returns:
        Whether the folder was deleted.
    """
    if path.is_symlink() or not path.is_dir() or marker_kind(path) not in kinds or protected_reason(path):
        logger.debug("not deleting %s: not a folder vidal created", path)
        return False
    shutil.rmtree(path, ignore_errors=True)
    return True


def make_staging(root: Path, name: str, kind: str) -> Path:
    """Create the hidden staging folder ``.NAME.partial-PID-HOST-XXXXXXXX`` in ``root``, marked as vidal's.

    Unlike :func:`tempfile.mkdtemp` (mode ``0700``), the folder gets the umask's mode.

    Raises:
        OutputError: The folder cannot be created.
    """
    for _ in range(100):
        path = root / _staging_name(name)
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as error:
            raise OutputError(f"cannot create a folder in {root}: {error.strerror}") from error
        try:
            write_marker(path, kind)
        except OSError as error:
            shutil.rmtree(path, ignore_errors=True)
            raise OutputError(f"cannot write in {root}: {error.strerror}") from error
        return path
    raise OutputError(f"cannot create a folder in {root}: every name tried exists")


def remove_abandoned(root: Path) -> list[Path]:
    """Delete the staging folders of runs whose process died (killed before it could clean up).

    A staging folder is named ``.NAME.partial-PID-HOST-XXXX`` and holds vidal's marker; one whose
    process still runs (a concurrent ``vidal mine``) is left alone, and so are one made on
    another machine (on shared storage: its process cannot be looked up from here) and a
    folder that merely matches the name.

    Returns:
        The folders removed.
    """
    removed = []
    for path in root.glob(f".*{_STAGING}*"):
        pid_text, *rest = path.name.rsplit(_STAGING, 1)[1].split("-")
        here = len(rest) < 2 or rest[0] == _host_key()  # PID-XXXX: made before hosts were named
        if here and pid_text.isdigit() and not _alive(int(pid_text)) and remove_tree(path, (RUN_KIND, EXPORT_KIND)):
            removed.append(path)
    return removed


class RunFolder:
    """A run folder under construction.

    Args:
        root: The folder that holds runs.
        name: The run's name; ``name-2``, ``name-3``... if taken.
        kind: What the folder is (its marker says it): :data:`RUN_KIND` or :data:`EXPORT_KIND`.
    """

    def __init__(self, root: Path, name: str, kind: str = RUN_KIND) -> None:
        ensure_writable(root)
        self.root = root
        self.name = name
        self.kind = kind
        remove_abandoned(root)
        self.staging = make_staging(root, name, kind)

    def path(self, relative: str) -> Path:
        """Path of a file inside the staging folder."""
        return self.staging / relative

    def commit(self) -> Path:
        """Move the finished run into place and return its final path.

        A run folder is never deleted once in place, so its marker goes (a process killed
        in between leaves a marker there, which is harmless).
        """
        target = self.root / self.name
        suffix = 2
        while True:
            try:
                os.rename(self.staging, target)  # fails if target exists and is not empty
                (target / MARKER_FILE).unlink(missing_ok=True)
                return target
            except OSError:
                if not target.exists():
                    raise
                target = self.root / f"{self.name}-{suffix}"
                suffix += 1

    def replace(self) -> Path:
        """Move the finished folder into place, replacing one of the same kind that vidal wrote.

        The marker stays, so that the next :meth:`replace` may replace it. The old folder is
        renamed aside first and deleted only once the new one is in place, so a failure
        leaves one of the two whole.

        Raises:
            OutputError: The place is taken by something vidal did not write.
        """
        target = self.root / self.name
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            raise OutputError(f"{target} is not a folder vidal wrote; not replacing it")
        try:
            os.rename(self.staging, target)  # an empty folder or no folder: done
            return target
        except OSError:
            if not target.exists():
                raise
        if marker_kind(target) != self.kind or protected_reason(target):
            raise OutputError(f"{target} is not empty and was not written by vidal; not replacing it")
        old = self.root / _staging_name(self.name)
        os.rename(target, old)
        try:
            os.rename(self.staging, target)
        except OSError:
            os.rename(old, target)
            raise
        remove_tree(old, (self.kind,))
        return target

    def discard(self) -> None:
        """Delete the staging folder."""
        remove_tree(self.staging, (self.kind,))


class TrackWriter:
    """Writes ``tracks.txt`` in MOTChallenge format, sorted by frame, streaming.

    Lines are ``frame,id,x,y,w,h,conf,-1,-1,-1`` with a 1-based frame, the top-left corner
    and size in pixels, and the detection score (``-1`` for interpolated boxes). The last
    ``history`` frames are held back so that boxes the tracker reports late (the first
    frame of a track confirmed one frame later, interpolated gaps) land in order; memory
    is bounded by that window.

    Args:
        path: The file to write.
        history: How many recent frames stay open for late boxes.
    """

    def __init__(self, path: Path, history: int) -> None:
        self._file = path.open("w", newline="")
        self._history = history
        self._open: dict[int, list[tuple[int, np.ndarray, float]]] = {}
        self._order: list[int] = []
        self.rows = 0
        self.dropped = 0

    def add(self, frame: int, track_ids: np.ndarray, xyxy: np.ndarray, confidence: np.ndarray) -> None:
        """Add boxes of a frame (the current one or one still open)."""
        if frame not in self._open:
            if self._order and frame < self._order[0]:
                self.dropped += len(track_ids)
                return
            if self._order and frame < self._order[-1]:
                # A frame skipped by the stride is never reported late; refuse rather than reorder.
                self.dropped += len(track_ids)
                return
            self._open[frame] = []
            self._order.append(frame)
        rows = self._open[frame]
        for track_id, box, score in zip(track_ids, xyxy, confidence):
            rows.append((int(track_id), box, float(score)))

    def advance(self) -> None:
        """Write out frames that can no longer receive late boxes."""
        while len(self._order) > self._history:
            self._flush(self._order.pop(0))

    def _flush(self, frame: int) -> None:
        for track_id, box, score in sorted(self._open.pop(frame), key=lambda row: row[0]):
            x1, y1, x2, y2 = (float(v) for v in box)
            conf = -1.0 if not np.isfinite(score) else score
            self._file.write(
                f"{frame},{track_id},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{conf:.4f},-1,-1,-1\n"
            )
            self.rows += 1

    def close(self) -> None:
        """Write out everything and close the file."""
        while self._order:
            self._flush(self._order.pop(0))
        self._file.close()


def keep_tracks(path: Path, track_ids: set[int]) -> int:
    """Rewrite a finished ``tracks.txt`` with the rows of ``track_ids`` only; return how many.

    A track's class is known only once it ended, after its rows were written.
    """
    kept = 0
    temporary = path.with_name(f".{path.name}.partial")
    with path.open() as source, temporary.open("w", newline="") as target:
        for line in source:
            if int(line.split(",", 2)[1]) in track_ids:
                target.write(line)
                kept += 1
    os.replace(temporary, path)
    return kept


class CsvStream:
    """A CSV file written row by row as rows become known, a header first (:func:`write_csv`'s format).

    Args:
        path: The file to write.
        header: Its column names.
    """

    def __init__(self, path: Path, header: list[str]) -> None:
        self._file = path.open("w", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(header)

    def write(self, row: list[Any]) -> None:
        self._writer.writerow(row)

    def write_rows(self, rows: Iterable[list[Any]]) -> None:
        self._writer.writerows(rows)

    def close(self) -> None:
        self._file.close()


def write_csv(path: Path, header: list[str], rows: Iterable[list[Any]]) -> None:
    """Write a CSV file with a header row."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write pretty JSON."""
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def write_timeline(
    path: Path, frames: np.ndarray, scores: np.ndarray, selected: np.ndarray, title: str
) -> None:
    """Plot the frame score over time with the selected frames marked (drawn with OpenCV).

    OpenCV is already loaded for decoding; a plotting library would add a second of
    start-up to every run for one small chart.

    Args:
        path: PNG file to write.
        frames: Frame numbers ``(F,)``.
        scores: Frame scores ``(F,)``.
        selected: Indices of selected frames into ``frames``.
        title: Plot title.
    """
    width, height = 1000, 300
    left, right, top, bottom = 70, 20, 36, 44
    image = np.full((height, width, 3), 255, np.uint8)
    x0, x1 = float(frames.min()), float(max(frames.max(), frames.min() + 1))
    y1 = float(max(scores.max(), 1e-6)) * 1.05
    plot_w, plot_h = width - left - right, height - top - bottom

    def to_px(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        px = left + (np.asarray(x, float) - x0) / (x1 - x0) * plot_w
        py = top + plot_h - np.asarray(y, float) / y1 * plot_h
        return np.stack([px, py], axis=-1).round().astype(np.int32)

    font, grey, dark = cv2.FONT_HERSHEY_SIMPLEX, (200, 200, 200), (40, 40, 40)
    for k in range(5):
        value = y1 * k / 4
        y = int(round(top + plot_h - value / y1 * plot_h))
        cv2.line(image, (left, y), (width - right, y), grey, 1)
        cv2.putText(image, f"{value:.1f}", (8, y + 4), font, 0.4, dark, 1, cv2.LINE_AA)
    for k in range(6):
        value = x0 + (x1 - x0) * k / 5
        x = int(round(left + (value - x0) / (x1 - x0) * plot_w))
        cv2.line(image, (x, top), (x, top + plot_h), grey, 1)
        cv2.putText(image, f"{value:.0f}", (x - 12, height - bottom + 18), font, 0.4, dark, 1, cv2.LINE_AA)
    cv2.rectangle(image, (left, top), (width - right, top + plot_h), dark, 1)
    cv2.polylines(image, [to_px(frames, scores)], False, (176, 114, 76), 1, cv2.LINE_AA)
    for x, y in to_px(frames[selected], scores[selected]):
        cv2.circle(image, (int(x), int(y)), 4, (85, 85, 221), -1, cv2.LINE_AA)
    cv2.putText(image, title, (left, 22), font, 0.5, dark, 1, cv2.LINE_AA)
    cv2.putText(image, "frame", (width // 2 - 20, height - 8), font, 0.45, dark, 1, cv2.LINE_AA)
    cv2.putText(image, "score; red: selected", (width - right - 170, 22), font, 0.45, (85, 85, 221), 1, cv2.LINE_AA)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"cannot write {path}")
