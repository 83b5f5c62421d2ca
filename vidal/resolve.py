"""What the pipeline keeps of each processed frame, and for how long.

A frame's record (its objects and their signals) can change after the frame was scored: the
track-level signals (a short track, a fragmentation, a class confusion) are known only when a
track ends, and with ``--classes`` which objects a run reports depends on the class a track
had most often. :class:`FrameLedger` keeps a record while something can still change it
(:meth:`vidal.scoring.TrackHistory.open_from` says up to where), hands it on, final and in
frame order, as soon as nothing can, and moves records that stay open for long (a frame with
a box of a track that lives on) to a file, with the few values that arrive for them later. So
memory does not grow with the length of the video: what is kept of a resolved frame is the
few numbers of :class:`TableBuilder` that the selection needs, and the record itself on disk
(:class:`SpillFile`), read back for the selected frames.
"""

from __future__ import annotations

import pickle
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidal.scoring import (
    SUSPECT_MIN_UNCERTAINTY,
    Kind,
    ObjectTable,
    combine,
    detection_entropy,
    least_confidence,
    object_shares,
    suspect_events,
    switch_points,
)
from vidal.selection import FrameTable


@dataclass
class FrameRecord:
    """What the pipeline keeps of a processed frame (small: no image).

    Attributes:
        frame: 1-based frame number.
        timestamp: Seconds from the start of the source.
        score: Frame score.
        reasons: Signals that make the score.
        objects: The scored objects.
        uncertainty: Per-object uncertainty ``(N,)``.
        detections: Number of detections.
        signals: Weighted per-object signal values, by signal name.
    """

    frame: int
    timestamp: float
    score: float
    reasons: list[str]
    objects: ObjectTable
    uncertainty: np.ndarray
    detections: int
    signals: dict[str, np.ndarray]

    def set_signals(self, values: list[tuple[str, int, float]]) -> None:
        """Set deferred signals ``(name, object index, value)`` and re-aggregate the frame once.

        A value only raises the signal's current one; signals the run does not use are
        ignored.
        """
        changed = False
        for name, index, value in values:
            if name in self.signals and value > self.signals[name][index]:
                self.signals[name][index] = value
                changed = True
        if changed:
            self._aggregate()

    def keep(self, rows: np.ndarray) -> None:
        """Keep only the objects ``rows`` (boolean ``(N,)``) and re-aggregate the frame."""
        if rows.all():
            return
        self.objects = self.objects[rows]
        self.signals = {name: values[rows] for name, values in self.signals.items()}
        self._aggregate()

    def _aggregate(self) -> None:
        scored = combine(self.signals, len(self.objects))
        self.score, self.uncertainty, self.reasons = scored.score, scored.object_uncertainty, scored.reasons


class SpillFile:
    """Items pickled one after the other into an unnamed temporary file, read back by position.

    The file has no name (it is gone when closed, or when the process ends); nothing of an
    item stays in memory but its offset.

    Args:
        folder: Where the file lives (the run's staging folder: same disk as the outputs).
    """

    def __init__(self, folder: Path | None = None) -> None:
        self._file = tempfile.TemporaryFile(dir=folder)
        self._offsets = array("q", [0])

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def append(self, item: Any) -> int:
        """Write ``item``; return its position."""
        self._file.seek(self._offsets[-1])
        self._file.write(pickle.dumps(item, pickle.HIGHEST_PROTOCOL))
        self._offsets.append(self._file.tell())
        return len(self) - 1

    def read(self, position: int) -> Any:
        """The item at ``position``."""
        self._file.seek(self._offsets[position])
        return pickle.loads(self._file.read(self._offsets[position + 1] - self._offsets[position]))

    def __iter__(self) -> Iterator[Any]:
        for position in range(len(self)):
            yield self.read(position)

    def close(self) -> None:
        self._file.close()


class TableBuilder:
    """The selection's :class:`~vidal.selection.FrameTable`, built one final record at a time.

    Keeps a few numbers per frame, twelve bytes per track box (its frame, its stretch between
    identity breaks and its track, as 4-byte indices: the stretches are numbered as the boxes
    come, as :func:`~vidal.selection.stretch_ids` numbers them at once, up to the order of the
    numbers) and per track its class counts, so each box gets its track's most frequent class
    once every box is in.

    Args:
        breaks: The signals that break a track's identity (``propagation.breaks``).
        aggregate: How a frame's objects make the score the strategies rank by
            (:func:`vidal.scoring.object_shares`; ``sum`` is the records' own score).
        top_k: The ``k`` of ``aggregate="topk"``.
        classes: The wanted class ids (``--classes``; ``None``: all), the ones the class
            balance counts: a track of another class gets class -1.
    """

    def __init__(
        self, breaks: Iterable[str], aggregate: str = "sum", top_k: int = 3, classes: Iterable[int] | None = None
    ) -> None:
        self.breaks = set(breaks)
        self.aggregate, self.top_k = aggregate, top_k
        self.classes = None if classes is None else {int(c) for c in classes}
        self._clear()

    def _clear(self) -> None:
        # indices as 4-byte ints (2**31 frames is a year of 60 fps video)
        self.box_frame, self.box_stretch, self.box_track, self.event_frame, self.switch_frame = (
            array("i") for _ in range(5))
        self.frame, self.boxes, self.event = (array("q") for _ in range(3))
        self.score, self.least_confidence, self.entropy, self.event_value, self.switch_value, self.committee = (
            array("d") for _ in range(6))
        self.tracks: list[int] = []  # track ids by track index
        self.track_index: dict[int, int] = {}
        self.track_classes: list[dict[int, int]] = []  # class counts by track index
        self.stretch_of: dict[int, int] = {}  # track index -> its current stretch
        self.stretch_count = 0

    def __len__(self) -> int:
        return len(self.frame)

    def add(self, record: FrameRecord) -> None:
        """Add the next frame's final record."""
        k, objects, uncertainty = len(self.frame), record.objects, record.uncertainty
        shares = None if self.aggregate == "sum" else object_shares(uncertainty, self.aggregate, self.top_k)
        self.frame.append(record.frame)
        self.score.append(record.score if shares is None else float((shares * uncertainty).sum()))
        self.least_confidence.append(least_confidence(objects))
        self.entropy.append(detection_entropy(objects))
        committee = record.signals.get("committee")
        if committee is not None:
            self.committee.append(float(committee.sum()))
        self.boxes.append(record.detections)
        events = suspect_events([objects], [uncertainty], None if shares is None else [shares])
        if len(events["event"]):
            self.event_frame.extend([k] * len(events["event"]))
            self.event.extend(events["event"].tolist())
            self.event_value.extend(events["value"].tolist())
        switches = switch_points([record.signals])
        if len(switches["value"]):
            self.switch_frame.extend([k] * len(switches["value"]))
            self.switch_value.extend(switches["value"].tolist())
        rows = np.flatnonzero(objects.kind == Kind.TRACKED)
        if not len(rows):
            return
        cut = np.zeros(len(rows), bool)
        for name, values in record.signals.items():
            if name in self.breaks:
                cut |= values[rows] >= SUSPECT_MIN_UNCERTAINTY
        for track, class_id, broken in zip(objects.track_id[rows].tolist(), objects.class_id[rows].tolist(),
                                           cut.tolist()):
            index = self.track_index.get(track)
            if index is None:
                index = self.track_index[track] = len(self.tracks)
                self.tracks.append(track)
                self.track_classes.append({})
            if broken or index not in self.stretch_of:
                self.stretch_of[index] = self.stretch_count
                self.stretch_count += 1
            counts = self.track_classes[index]
            counts[class_id] = counts.get(class_id, 0) + 1
            self.box_frame.append(k)
            self.box_stretch.append(self.stretch_of[index])
            self.box_track.append(index)

    def track_class(self) -> np.ndarray:
        """Each track's most frequent class (the smallest id on ties), by track index; -1
        for a track whose class is not wanted."""
        majority = [min(counts, key=lambda c: (-counts[c], c)) for counts in self.track_classes]
        if self.classes is not None:
            majority = [c if c in self.classes else -1 for c in majority]
        return np.array(majority, np.int64)

    def stretches(self) -> dict[str, np.ndarray]:
        """The track boxes (``frame_index``, ``track_id``), their stretches between identity
        breaks and their tracks' classes (``class_id``)."""
        if not len(self.box_frame):
            return {}
        track = np.array(self.box_track, np.int64)
        return {"frame_index": np.array(self.box_frame, np.int64), "stretch": np.array(self.box_stretch, np.int64),
                "track_id": np.array(self.tracks, np.int64)[track], "class_id": self.track_class()[track]}

    def table(self, release: bool = False) -> FrameTable:
        """The table of every frame added so far; ``release``: then forget them (the builder
        starts over), so that the figures are not held twice."""

        def column(values: array) -> np.ndarray:
            """``values`` as a new int64 (integer ``values``) or float64 array."""
            return np.array(values, np.int64 if values.typecode in "iq" else np.float64)

        table = FrameTable(
            stretches=self.stretches(),
            frame=column(self.frame),
            score=column(self.score),
            least_confidence=column(self.least_confidence),
            entropy=column(self.entropy),
            events={"frame_index": column(self.event_frame), "event": column(self.event),
                    "value": column(self.event_value)},
            boxes=column(self.boxes),
            switches={"frame_index": column(self.switch_frame), "value": column(self.switch_value)},
            committee=column(self.committee),
        )
        if release:
            self._clear()
        return table


class FrameLedger:
    """The records of a run's frames, from scoring until nothing can change them.

    Records are numbered in the order they are added (the index the track history and its
    deferred signals use). :meth:`settle` hands every record before a given index to
    ``finish``, in order, once: a record handed on is final. A record still open more than
    ``window`` records after the newest is moved to a :class:`SpillFile`; the values that
    :meth:`update` gives it meanwhile wait beside it and are set when it is read back.

    Args:
        finish: Called with each final record, in order.
        window: How many recent records stay in memory while open.
        folder: The folder of the spill file.
    """

    def __init__(self, finish: Callable[[FrameRecord], None], window: int, folder: Path | None = None) -> None:
        self._finish = finish
        self._window = window
        self._folder = folder
        self._open: dict[int, FrameRecord] = {}
        self._spilled: dict[int, int] = {}  # record index -> position in the spill file
        self._waiting: dict[int, list[tuple[str, int, float]]] = {}  # values for spilled records
        self._spill: SpillFile | None = None
        self._count = 0
        self._next = 0  # the first record not handed on yet
        self._checked = 0  # the records before it were handed on or spilled

    def __len__(self) -> int:
        return self._count

    @property
    def spilled(self) -> int:
        """How many records went to the spill file."""
        return 0 if self._spill is None else len(self._spill)

    def add(self, record: FrameRecord) -> int:
        """Add the newest record; return its index."""
        self._open[self._count] = record
        self._count += 1
        return self._count - 1

    def update(self, index: int, values: list[tuple[str, int, float]]) -> None:
        """Set deferred signal values on record ``index`` (:meth:`FrameRecord.set_signals`).

        Raises:
            RuntimeError: The record was handed on already (the history's horizon was wrong).
        """
        if index < self._next:
            raise RuntimeError(f"record {index} changed after it was final (records up to {self._next - 1} are)")
        record = self._open.get(index)
        if record is not None:
            record.set_signals(values)
        else:
            self._waiting.setdefault(index, []).extend(values)

    def settle(self, horizon: int) -> None:
        """Hand on every record before ``horizon`` (nothing can change them); spill old open ones."""
        while self._next < min(horizon, self._count):
            self._finish(self._take(self._next))
            self._next += 1
        for index in range(max(self._next, self._checked), self._count - self._window):
            if self._spill is None:
                self._spill = SpillFile(self._folder)
            self._spilled[index] = self._spill.append(self._open.pop(index))
        self._checked = max(self._checked, self._count - self._window)

    def _take(self, index: int) -> FrameRecord:
        record = self._open.pop(index, None)
        if record is None and self._spill is not None:
            record = self._spill.read(self._spilled.pop(index))
            record.set_signals(self._waiting.pop(index, []))
        if record is None:
            raise RuntimeError(f"record {index} is neither open nor spilled")
        return record

    def close(self) -> None:
        """Drop the spill file."""
        if self._spill is not None:
            self._spill.close()
