"""Per-video memory of tracks that some signals need: class votes and track lengths.

Owned by the pipeline, one per video; signals stay plain functions of their context. The
history holds only live tracks (entries are dropped when the tracker removes a track), so
its size does not grow with the length of the video.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from vidal.scoring.objects import Kind, ObjectTable
from vidal.tracking.bytetrack import RemovedTrack


@dataclass
class _TrackMemory:
    classes: Counter[int] = field(default_factory=Counter)
    places: list[tuple[int, int]] = field(default_factory=list)  # (record index, object index)


class TrackHistory:
    """Class votes and object positions of the live tracks of one video."""

    def __init__(self) -> None:
        self._tracks: dict[int, _TrackMemory] = {}

    def majority_class(self, objects: ObjectTable) -> np.ndarray:
        """Per object, the class its track had most often before this frame (-1 if none)."""
        out = np.full(len(objects), -1, np.int64)
        for k, track_id in enumerate(objects.track_id):
            memory = self._tracks.get(int(track_id))
            if memory is not None and memory.classes:
                out[k] = memory.classes.most_common(1)[0][0]
        return out

    def record(self, record_index: int, objects: ObjectTable) -> None:
        """Remember the frame's tracked objects (after they were scored)."""
        for k in np.flatnonzero(objects.kind == Kind.TRACKED):
            memory = self._tracks.setdefault(int(objects.track_id[k]), _TrackMemory())
            memory.classes[int(objects.class_id[k])] += 1
            memory.places.append((record_index, int(k)))

    def close(self, removed: RemovedTrack) -> list[tuple[int, int]]:
        """Forget a removed track; return where its objects were, for deferred signals."""
        memory = self._tracks.pop(removed.track_id, None)
        return [] if memory is None else memory.places
