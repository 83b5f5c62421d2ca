"""Core array containers shared by the detector, the tracker and the scoring.

Boxes are pixel ``xyxy`` float32 everywhere inside vidal. Frame numbers are 1-based, as in
MOTChallenge: frame ``k`` is the ``k``-th frame of the source video or image sequence,
whatever ``--start`` or ``--stride`` skip.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeVar

import numpy as np

A = TypeVar("A", bound="ArrayTable")


class ArrayTable:
    """Mixin for dataclasses of parallel arrays: length and row selection.

    Every field must be an array with one row per item; indexing with a boolean mask,
    integer indices or a slice selects the same rows of every field.
    """

    def __len__(self) -> int:
        return len(getattr(self, fields(self)[0].name))  # type: ignore[arg-type]

    def __getitem__(self: A, index: Any) -> A:
        return type(self)(**{f.name: getattr(self, f.name)[index] for f in fields(self)})  # type: ignore[arg-type]


@dataclass(kw_only=True)
class TrackColumns(ArrayTable):
    """What the tracker records about ``N`` boxes of one step, as parallel arrays.

    The one declaration of these columns: :class:`~vidal.tracking.TrackSet` (the tracker's
    tracks of a step) adds the Kalman box, :class:`~vidal.scoring.ObjectTable` (the objects
    of a frame that the signals score) adds where each object comes from, and says what
    its rows without a track or without a detection hold.

    Attributes:
        track_id: Track identities, from 1, shape ``(N,)``, int64.
        xyxy: Boxes, shape ``(N, 4)``, float32: the matched detection's box, or the
            Kalman prediction where there is no detection.
        confidence: Score of the matched detection, NaN for a prediction, ``(N,)`` float32.
        class_id: Class of the latest detection, shape ``(N,)``, int64.
        det_index: Index of the matched detection in the frame's detections, -1 if none,
            shape ``(N,)``, int64.
        stage: Association stage (:class:`~vidal.tracking.bytetrack.Stage`), ``(N,)`` int8.
        cost: Assignment cost of the match (NaN if none), shape ``(N,)``, float32.
        next_cost: Cheapest alternative cost (inf if none), shape ``(N,)``, float32.
        reactivated: The track was lost and got a detection again, shape ``(N,)``, bool.
        confirmed: The track has been matched at least twice (or was born on the first
            frame), shape ``(N,)``, bool.
        age: Steps since the track's birth, shape ``(N,)``, int32.
        missed: Consecutive steps without a detection, shape ``(N,)``, int32.
    """

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


def _check_rows(name: str, array: np.ndarray, n: int, tail: tuple[int, ...] = ()) -> None:
    expected = (n, *tail)
    if array.shape != expected:
        raise ValueError(f"{name} must have shape {expected}, got {array.shape}")


@dataclass
class Detections:
    """Detections of one frame as parallel arrays.

    Attributes:
        xyxy: Boxes, shape ``(N, 4)``, float32, pixel ``x1, y1, x2, y2``.
        confidence: Detection scores, shape ``(N,)``, float32 in ``[0, 1]``.
        class_id: Class indices of the detector, shape ``(N,)``, int64.
        class_scores: Each box's score for every class of the detector, shape ``(N, C)``,
            float32 in ``[0, 1]`` (column ``k`` for class ``k``); ``None`` when the detector
            does not give them (only the best class is known).
        embedding: The frame's embedding from the detector's features (:mod:`vidal.embeddings`),
            ``(D,)`` float32: one for the frame, not per box (row selection keeps it); ``None``
            when not computed.
        committee: Each box's disagreement among test-time views of the frame, shape ``(N,)``,
            float32 in ``[0, 1]`` (:mod:`vidal.detectors.committee`); ``None`` without a committee.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    class_scores: np.ndarray | None = None
    embedding: np.ndarray | None = None
    committee: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = len(self.xyxy)
        self.confidence = np.asarray(self.confidence, dtype=np.float32)
        self.class_id = np.asarray(self.class_id, dtype=np.int64)
        _check_rows("confidence", self.confidence, n)
        _check_rows("class_id", self.class_id, n)
        if self.class_scores is not None:
            self.class_scores = np.asarray(self.class_scores, dtype=np.float32)
            if self.class_scores.ndim != 2 or len(self.class_scores) != n:
                raise ValueError(f"class_scores must have shape ({n}, C), got {self.class_scores.shape}")
        if self.committee is not None:
            self.committee = np.asarray(self.committee, dtype=np.float32)
            _check_rows("committee", self.committee, n)

    @classmethod
    def empty(cls) -> Detections:
        """Return detections with no boxes."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice) -> Detections:
        """Select detections by boolean mask, integer indices or slice (class scores and committee included; the
        frame's embedding kept)."""
        scores = None if self.class_scores is None else self.class_scores[index]
        committee = None if self.committee is None else self.committee[index]
        return Detections(self.xyxy[index], self.confidence[index], self.class_id[index], scores,
                          embedding=self.embedding, committee=committee)


@dataclass
class Frame:
    """A decoded frame.

    Attributes:
        index: 1-based frame number in the source.
        timestamp: Seconds from the start of the source.
        image: BGR image, shape ``(H, W, 3)``, uint8.
    """

    index: int
    timestamp: float
    image: np.ndarray
