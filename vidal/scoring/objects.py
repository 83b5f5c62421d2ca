"""The objects of one frame that the uncertainty signals score.

Built from the tracker's :class:`~vidal.tracking.TrackerStep` and the frame's detections:
every tracked object (with the detection it took), every lost track still in the buffer
(its predicted box: a possibly missed object), and every detection no track took.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum

import numpy as np

from vidal.tracking import TrackerStep
from vidal.types import Detections, TrackColumns


class Kind(IntEnum):
    """Where an object of the table comes from."""

    TRACKED = 0
    """A track matched to a detection in this frame."""
    PREDICTED = 1
    """A lost track with no detection: the tracker's predicted box."""
    UNMATCHED = 2
    """A detection that no track took and that started no track."""


# TrackColumns' field names, read once (dataclasses.fields costs more than a frame's columns).
_TRACK_COLUMNS = tuple(f.name for f in fields(TrackColumns))


@dataclass(kw_only=True)
class ObjectTable(TrackColumns):
    """Objects of one frame as parallel arrays (``N`` objects): the :class:`TrackColumns`
    of every tracked object, lost track and free detection, and where each comes from.

    A predicted box (a lost track) has no detection: confidence NaN, ``det_index`` -1. An
    unmatched detection has no track: ``track_id`` -1, stage 0, cost NaN, ``next_cost``
    inf, not reactivated nor confirmed, age and missed 0.

    Attributes:
        kind: :class:`Kind`, shape ``(N,)``, int8.
    """

    kind: np.ndarray

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
            for name in _TRACK_COLUMNS:
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

    def committee_of(self, detections: Detections) -> np.ndarray | None:
        """Each object's detection's committee disagreement (:attr:`Detections.committee`),
        ``(N,)`` float32, NaN for predicted boxes; ``None`` if the detections have none."""
        return self._per_object(detections.committee)

    def class_scores_of(self, detections: Detections) -> np.ndarray | None:
        """Each object's detection's per-class scores (:attr:`Detections.class_scores`),
        ``(N, C)`` float32, NaN rows for predicted boxes (no detection); ``None`` if the
        detections have none. ``detections`` are the frame's, as given to :meth:`build`."""
        return self._per_object(detections.class_scores)

    def _per_object(self, rows: np.ndarray | None) -> np.ndarray | None:
        """``rows`` (one per detection) mapped to this table's objects: NaN for predicted boxes."""
        if rows is None:
            return None
        out = np.full((len(self), *rows.shape[1:]), np.nan, np.float32)
        has = self.det_index >= 0
        out[has] = rows[self.det_index[has]]
        return out
