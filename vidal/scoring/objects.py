"""The objects of one frame that the uncertainty signals score.

Built from the tracker's :class:`~vidal.tracking.TrackerStep` and the frame's detections:
every tracked object (with the detection it took), every lost track still in the buffer
(its predicted box: a possibly missed object), and every detection no track took.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from vidal.tracking import TrackerStep
from vidal.types import ArrayTable, Detections


class Kind(IntEnum):
    """Where an object of the table comes from."""

    TRACKED = 0
    """A track matched to a detection in this frame."""
    PREDICTED = 1
    """A lost track with no detection: the tracker's predicted box."""
    UNMATCHED = 2
    """A detection that no track took and that started no track."""


@dataclass
class ObjectTable(ArrayTable):
    """Objects of one frame as parallel arrays (``N`` objects).

    Attributes:
        kind: :class:`Kind`, shape ``(N,)``, int8.
        track_id: Track identity, -1 for unmatched detections, ``(N,)`` int64.
        xyxy: Boxes ``(N, 4)`` float32.
        confidence: Detection score, NaN for predicted boxes, ``(N,)`` float32.
        class_id: Class, ``(N,)`` int64.
        det_index: Index into the frame's detections, -1 for predicted boxes.
        stage: Association stage (:class:`~vidal.tracking.bytetrack.Stage`), ``(N,)``.
        cost: Assignment cost of the match, NaN where none, ``(N,)`` float32.
        next_cost: Cheapest alternative cost, inf where none, ``(N,)`` float32.
        reactivated: Lost track found again in this frame, ``(N,)`` bool.
        confirmed: Confirmed track (False for tentative births and detections).
        age: Steps since the track's birth (0 for detections), ``(N,)`` int32.
        missed: Steps since the track's last detection, ``(N,)`` int32.
    """

    kind: np.ndarray
    track_id: np.ndarray
    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    det_index: np.ndarray
    stage: np.ndarray
    cost: np.ndarray
    next_cost: np.ndarray
    reactivated: np.ndarray
    confirmed: np.ndarray
    age: np.ndarray
    missed: np.ndarray

    @classmethod
    def build(cls, step: TrackerStep, detections: Detections) -> ObjectTable:
        """Collect the objects of a frame from its tracker step and detections."""
        tracks, lost = step.tracks, step.lost
        taken = np.zeros(len(detections), bool)
        taken[tracks.det_index[tracks.det_index >= 0]] = True
        free = np.flatnonzero(~taken)
        n_free = len(free)
        parts = [
            (Kind.TRACKED, tracks),
            (Kind.PREDICTED, lost),
        ]
        columns: dict[str, list[np.ndarray]] = {name: [] for name in cls.__dataclass_fields__}
        for kind, ts in parts:
            columns["kind"].append(np.full(len(ts), kind, np.int8))
            for name in columns:
                if name != "kind":
                    columns[name].append(getattr(ts, name))
        columns["kind"].append(np.full(n_free, Kind.UNMATCHED, np.int8))
        columns["track_id"].append(np.full(n_free, -1, np.int64))
        columns["xyxy"].append(detections.xyxy[free])
        columns["confidence"].append(detections.confidence[free])
        columns["class_id"].append(detections.class_id[free])
        columns["det_index"].append(free.astype(np.int64))
        columns["stage"].append(np.zeros(n_free, np.int8))
        columns["cost"].append(np.full(n_free, np.nan, np.float32))
        columns["next_cost"].append(np.full(n_free, np.inf, np.float32))
        columns["reactivated"].append(np.zeros(n_free, bool))
        columns["confirmed"].append(np.zeros(n_free, bool))
        columns["age"].append(np.zeros(n_free, np.int32))
        columns["missed"].append(np.zeros(n_free, np.int32))
        return cls(**{name: np.concatenate(values) for name, values in columns.items()})
