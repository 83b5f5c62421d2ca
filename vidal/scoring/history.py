"""Per-video memory of tracks that some signals need.

Owned by the pipeline, one per video; signals stay plain functions of their context. For
each live track the history keeps its class votes, where its objects are in the run's
records (for the signals resolved when the track ends), when it was re-found after a gap
(flicker), its last clean appearance (appearance change), the new tracks born near it
while it was lost (fragmentation) and, when only some classes are wanted, the best score
at which it was given a wanted class and its detections of other classes (class
confusion). Entries are dropped when the tracker removes a track, and of a long track's
places only the first and last few that a deferred signal can reach are kept, so the memory
does not grow with the length of the video; only the ids of the tracks of a wanted class are
kept. :meth:`TrackHistory.open_from` tells the pipeline which records a live track may still
change: the earlier ones are final.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from vidal.scoring.appearance import bhattacharyya, box_core, core_histogram, core_windows
from vidal.scoring.objects import Kind, ObjectTable
from vidal.scoring.signals import (
    CLEAN_IOU,
    CONFUSION_IOU,
    ESTABLISHED_HITS,
    FLICKER_WINDOW,
    FRAGMENT_DISTANCE,
    FRAGMENT_FRAMES,
    SHORT_TRACK_HITS,
    away_from_border,
    decision_probability,
    is_wanted,
    max_overlap,
)
from vidal.tracking.bytetrack import RemovedTrack, Stage


# The places of a track a deferred signal can reach: every place of a track with at most
# SHORT_TRACK_HITS detections (short_track), the first FRAGMENT_FRAMES (fragmentation of the
# track it was born near) and the last FRAGMENT_FRAMES (its own fragmentation). A track has at
# least as many detections (hits) as places, so one with more places is not short.
HEAD_PLACES = max(SHORT_TRACK_HITS, FRAGMENT_FRAMES)
TAIL_PLACES = FRAGMENT_FRAMES


class Deferred(NamedTuple):
    """A signal value known only after a track ended, for one object of an earlier frame."""

    signal: str
    record_index: int
    object_index: int
    value: float


@dataclass
class _TrackMemory:
    classes: Counter[int] = field(default_factory=Counter)
    # (record index, object index): the first HEAD_PLACES and the last TAIL_PLACES
    places: list[tuple[int, int]] = field(default_factory=list)
    regained: list[int] = field(default_factory=list)  # record indices of re-activations
    # The last clean view: its record index and core window while the track stays clean
    # (nothing copied), its pixels once the track is lost or crowded (copied from the
    # previous frame then), and their histogram once compared.
    clean_view: tuple[int, tuple[int, int, int, int]] | None = None
    reference: np.ndarray | None = None
    reference_histogram: np.ndarray | None = None
    interrupted: bool = False  # lost or crowded since the last clean view
    newborns: list[_TrackMemory] = field(default_factory=list)  # tracks born near it while lost
    wanted_score: float = 0.0  # best score of its detections of a wanted class
    others: list[tuple[int, int, float]] = field(default_factory=list)  # (record, object, score) of other classes
    first_predicted: int | None = None  # record index of its first predicted box (with wanted classes)


class TrackHistory:
    """What the signals need to remember about the tracks of one video.

    Args:
        width: Frame width in pixels.
        height: Frame height in pixels.
        wanted_classes: The class ids of interest; ``None`` for all.
        decision_threshold: The score from which the tracker trusts a detection (the class
            confusion values map scores around it).

    Attributes:
        wanted_tracks: Ids of the removed tracks of a wanted class: the class the detector
            gave them most often (with ``wanted_classes`` only).
    """

    def __init__(
        self, width: int, height: int, wanted_classes: list[int] | None = None, decision_threshold: float = 0.25
    ) -> None:
        self.width = width
        self.height = height
        self.wanted_classes = None if wanted_classes is None else np.asarray(wanted_classes, np.int64)
        self.decision_threshold = decision_threshold
        self.wanted_tracks: set[int] = set()
        self._tracks: dict[int, _TrackMemory] = {}
        self._pending: tuple[np.ndarray, np.ndarray] | None = None  # this frame's clean mask and image
        self._previous: tuple[int, np.ndarray] | None = None  # the last frame's record index and image
        self._now: tuple[ObjectTable, np.ndarray] | None = None  # the last table's _wanted_now

    def majority_class(self, objects: ObjectTable) -> np.ndarray:
        """Per object, the class its track had most often before this frame (-1 if none)."""
        out = [-1] * len(objects)
        for k, track_id in enumerate(objects.track_id.tolist()):
            memory = self._tracks.get(track_id)
            if memory is not None and memory.classes:
                classes = memory.classes
                out[k] = next(iter(classes)) if len(classes) == 1 else classes.most_common(1)[0][0]
        return np.array(out, np.int64)

    def wanted_score(self, objects: ObjectTable) -> np.ndarray:
        """Per object, the best score at which the detector gave it a wanted class so far,
        this frame included: its track's detections, its own, or a detection of a wanted
        class on the same box (IoU of at least
        :data:`~vidal.scoring.signals.CONFUSION_IOU`); 0 if never; ``(N,)`` float64."""
        out = self._wanted_now(objects).copy()
        for k, track_id in enumerate(objects.track_id.tolist()):
            memory = self._tracks.get(track_id)
            if memory is not None and memory.wanted_score > out[k]:
                out[k] = memory.wanted_score
        return out

    def _wanted_now(self, objects: ObjectTable) -> np.ndarray:
        """Per object, the best score of a wanted class given to its box in this frame (kept
        for the frame's table: :meth:`wanted_score` and :meth:`record` both ask; do not modify)."""
        if self._now is not None and self._now[0] is objects:
            return self._now[1]
        out = self._compute_wanted_now(objects)
        self._now = (objects, out)
        return out

    def _compute_wanted_now(self, objects: ObjectTable) -> np.ndarray:
        own = objects.kind != Kind.PREDICTED
        wanted = own & is_wanted(objects.class_id, self.wanted_classes)
        out = np.where(wanted, objects.confidence, 0.0).astype(np.float64)
        out[np.isnan(out)] = 0.0
        if wanted.any() and (own & ~wanted).any():
            from vidal.tracking.matching import box_iou

            others, twins = np.flatnonzero(own & ~wanted), np.flatnonzero(wanted)
            iou = box_iou(objects.xyxy[others], objects.xyxy[twins])
            best = np.where(iou >= CONFUSION_IOU, objects.confidence[twins][None, :], 0.0).max(1)
            out[others] = np.maximum(out[others], best)
        return out

    def recent_gaps(self, record_index: int, objects: ObjectTable) -> np.ndarray:
        """Per object, how often its track was re-found after a gap in the last
        :data:`~vidal.scoring.signals.FLICKER_WINDOW` frames, this one included; ``(N,)``."""
        out = (objects.reactivated & (objects.kind == Kind.TRACKED)).astype(np.int64)
        for k, track_id in enumerate(objects.track_id.tolist()):
            memory = self._tracks.get(track_id)
            if memory is not None and memory.regained:
                out[k] += sum(1 for r in memory.regained if record_index - r < FLICKER_WINDOW)
        return out

    def appearance_distance(
        self, objects: ObjectTable, image: np.ndarray | None, overlap: np.ndarray | None = None
    ) -> np.ndarray:
        """Per object, how far its look moved across an interruption; ``(N,)`` float64.

        A tracked object seen clean (no overlap with any other object) after its track was
        lost or crowded is compared with the track's last clean view (Bhattacharyya
        distance of hue-saturation histograms). NaN where there is nothing to compare. Call
        once per frame, before :meth:`record`, with the frame's BGR image (``None``: no
        appearance) and, if known, each object's largest IoU with another
        (:func:`~vidal.scoring.signals.max_overlap`).
        """
        n = len(objects)
        out = np.full(n, np.nan)
        if image is None or n == 0:
            self._pending = None
            return out
        if overlap is None:
            overlap = max_overlap(objects.xyxy)
        # Only clean views are kept or compared: the pixels of a crowded box mix two objects.
        clean = (objects.kind == Kind.TRACKED) & (overlap < CLEAN_IOU)
        for k in np.flatnonzero(clean):
            memory = self._tracks.get(int(objects.track_id[k]))
            if memory is None or not memory.interrupted or memory.reference is None:
                continue
            core = box_core(image, objects.xyxy[k])
            if core is None:
                continue
            if memory.reference_histogram is None:
                memory.reference_histogram = core_histogram(memory.reference)
            out[k] = bhattacharyya(memory.reference_histogram, core_histogram(core))
        self._pending = (clean, image)
        return out

    def record(self, record_index: int, objects: ObjectTable) -> None:
        """Remember the frame's objects (after they were scored)."""
        pending, self._pending = self._pending, None
        # Python lists: indexing numpy arrays one element at a time costs more than the work.
        track_ids, class_ids = objects.track_id.tolist(), objects.class_id.tolist()
        reactivated = objects.reactivated.tolist()
        wanted = is_wanted(objects.class_id, self.wanted_classes).tolist()
        scores = objects.confidence.tolist()
        wanted_now = self._wanted_now(objects).tolist() if self.wanted_classes is not None else None
        clean, image = pending if pending is not None else (None, None)
        clean_list = clean.tolist() if clean is not None else None
        windows = core_windows(image.shape, objects.xyxy) if image is not None else None
        for k in np.flatnonzero(objects.kind == Kind.TRACKED).tolist():
            memory = self._tracks.get(track_ids[k])
            if memory is None:
                memory = self._tracks[track_ids[k]] = _TrackMemory()
            memory.classes[class_ids[k]] += 1
            memory.places.append((record_index, k))
            if len(memory.places) > HEAD_PLACES + TAIL_PLACES:
                del memory.places[HEAD_PLACES]
            if wanted_now is not None:
                memory.wanted_score = max(memory.wanted_score, wanted_now[k])
                if not wanted[k]:
                    memory.others.append((record_index, k, scores[k]))
            if reactivated[k]:
                memory.regained.append(record_index)
            if memory.regained:
                memory.regained = [r for r in memory.regained if record_index - r < FLICKER_WINDOW]
            if image is not None:
                window = windows[k] if clean_list[k] else None
                if window is not None:
                    memory.clean_view, memory.interrupted = (record_index, window), False
                    memory.reference = memory.reference_histogram = None
                else:
                    self._interrupt(memory, record_index)
        lost = np.flatnonzero(objects.kind == Kind.PREDICTED)
        for k in lost.tolist():
            memory = self._tracks.get(track_ids[k])
            if memory is not None:
                self._interrupt(memory, record_index)
                if self.wanted_classes is not None and memory.first_predicted is None:
                    memory.first_predicted = record_index
        self._previous = (record_index, image) if image is not None else None
        births = np.flatnonzero((objects.kind == Kind.TRACKED) & (objects.stage == Stage.BIRTH))
        if len(lost) and len(births):
            self._note_births(objects, lost, births)

    def _interrupt(self, memory: _TrackMemory, record_index: int) -> None:
        """A track is lost or crowded in this frame: keep the pixels of its last clean view
        (seen in the previous frame, whose image is still at hand) as its reference."""
        if not memory.interrupted and memory.clean_view is not None and self._previous is not None:
            seen, (y1, y2, x1, x2) = memory.clean_view
            previous_index, previous_image = self._previous
            if seen == previous_index == record_index - 1:
                memory.reference = previous_image[y1:y2, x1:x2].copy()
                memory.reference_histogram = None
        memory.interrupted = True

    def _note_births(self, objects: ObjectTable, lost: np.ndarray, births: np.ndarray) -> None:
        """Link each new track to the lost tracks whose predicted box it was born near."""
        lost_xyxy, birth_xyxy = objects.xyxy[lost], objects.xyxy[births]
        centre = lambda b: np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], 1)  # noqa: E731
        distance = np.linalg.norm(centre(lost_xyxy)[:, None] - centre(birth_xyxy)[None], axis=2)
        scale = np.maximum((lost_xyxy[:, 3] - lost_xyxy[:, 1])[:, None], (birth_xyxy[:, 3] - birth_xyxy[:, 1])[None])
        for i, j in zip(*np.nonzero(distance <= FRAGMENT_DISTANCE * scale)):
            memory = self._tracks.get(int(objects.track_id[lost[i]]))
            newborn = self._tracks.get(int(objects.track_id[births[j]]))
            if memory is not None and newborn is not None:
                memory.newborns.append(newborn)

    def open_from(self, default: int) -> int:
        """The first record index that a live track may still change; ``default`` if none.

        What :meth:`close` may still set: the places of a track that may turn out short,
        the last places of a track and the first ones of the tracks born near it while it
        was lost (fragmentation), and its objects of other classes (class confusion); with
        wanted classes also its predicted boxes, which a run reports only for a track of a
        wanted class (known when it ends). Every record before the returned index is final.
        """
        out = default
        wanted = self.wanted_classes is not None
        for memory in self._tracks.values():
            places = memory.places
            out = min(out, places[0][0] if len(places) <= SHORT_TRACK_HITS else places[-TAIL_PLACES][0])
            for newborn in memory.newborns:
                if newborn.places:
                    out = min(out, newborn.places[0][0])
            if wanted:
                if memory.others:
                    out = min(out, memory.others[0][0])
                if memory.first_predicted is not None:
                    out = min(out, memory.first_predicted)
        return out

    def close(self, removed: RemovedTrack) -> list[Deferred]:
        """Forget a removed track; return the deferred signal values it resolves.

        - ``short_track``: every object of a track that ended after at most
          :data:`~vidal.scoring.signals.SHORT_TRACK_HITS` detections (not one still tracked
          when the video ended: it may just have entered);
        - ``fragmentation``: the last :data:`~vidal.scoring.signals.FRAGMENT_FRAMES`
          objects of an established track that was lost away from the image border and
          never found again, and the first ones of every confirmed track born near its
          predicted box while it was lost;
        - ``class_confusion``: the objects of other classes of a track that the detector
          gave a wanted class at least once, itself or on a box of the same object.

        A track whose most frequent class is a wanted one is added to :attr:`wanted_tracks`.
        """
        memory = self._tracks.pop(removed.track_id, None)
        if memory is None:
            return []
        out: list[Deferred] = []
        if self.wanted_classes is not None and memory.classes:
            if bool(is_wanted(np.array([memory.classes.most_common(1)[0][0]]), self.wanted_classes)[0]):
                self.wanted_tracks.add(removed.track_id)
        if self.wanted_classes is not None and memory.wanted_score > 0:
            if memory.others:
                values = decision_probability(np.array([c for _, _, c in memory.others]), self.decision_threshold)
                out.extend(Deferred("class_confusion", r, k, float(v)) for (r, k, _), v in zip(memory.others, values))
        if removed.reason != "end" and removed.hits <= SHORT_TRACK_HITS:
            out.extend(Deferred("short_track", r, k, 1.0) for r, k in memory.places)
        box = np.asarray(removed.last_xyxy, np.float64)[None]
        newborns = [n for n in memory.newborns if len(n.places) >= 2]  # confirmed: reported tracks
        if (
            removed.reason == "lost"
            and removed.hits >= ESTABLISHED_HITS
            and newborns
            and bool(away_from_border(box, self.width, self.height)[0])
        ):
            out.extend(Deferred("fragmentation", r, k, 1.0) for r, k in memory.places[-FRAGMENT_FRAMES:])
            for newborn in newborns:
                out.extend(Deferred("fragmentation", r, k, 1.0) for r, k in newborn.places[:FRAGMENT_FRAMES])
        return out
