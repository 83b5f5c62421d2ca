"""ByteTrack (Zhang et al., ECCV 2022), with every association decision kept.

The algorithm follows the paper and its reference implementation, with the defaults of
Ultralytics' ``bytetrack.yaml``: detections above ``track_high_thresh`` are matched first
to all tracked and lost tracks (IoU cost fused with the detection score), the remaining
tracked tracks are then matched to low-score detections (``track_low_thresh`` to
``track_high_thresh``), new tracks need a second matched frame to be confirmed (except on
the first frame), and lost tracks are kept ``track_buffer`` processed frames for
re-activation (Ultralytics counts frames; the paper's reference scales by fps / 30).

Unlike a black-box tracker, each :meth:`ByteTracker.update` returns a :class:`TrackerStep`
that says, for every track, which detection it took (by index, never re-matched by IoU
afterwards), at which association stage, at what cost, and how close the next-best
alternative was; which lost tracks were only predicted; which tracks were born, confirmed,
re-activated or removed. The uncertainty signals are computed from these records.

Two outputs go beyond the online tracker and are reported as :class:`Backfill` records,
never hidden: the first frame of a track that is confirmed one frame later, and the boxes
of a track's missed frames, interpolated linearly once the track is re-activated (the
interpolation that ByteTrack's authors apply to their MOT17/MOT20 results). A writer that
holds the last ``track_buffer`` frames can insert them in place.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from vidal.tracking.kalman import KalmanFilterXYAH, xyah_to_xyxy, xyxy_to_xyah
from vidal.tracking.matching import box_iou, linear_assignment
from vidal.types import Detections, TrackColumns

logger = logging.getLogger(__name__)

# Cost threshold for a tentative track's second frame (reference implementation).
UNCONFIRMED_MATCH_THRESH = 0.7
# Cost threshold for the second association with low-score detections (reference).
LOW_SCORE_MATCH_THRESH = 0.5
# Tracked and lost tracks closer than this IoU distance are duplicates (reference).
DUPLICATE_IOU_DISTANCE = 0.15


class Stage(IntEnum):
    """How a track got its box in a step."""

    PREDICTED = 0
    HIGH = 1
    LOW = 2
    UNCONFIRMED = 3
    BIRTH = 4


class _State(IntEnum):
    TRACKED = 1
    LOST = 2
    REMOVED = 3


@dataclass
class _Track:
    track_id: int
    mean: np.ndarray
    covariance: np.ndarray
    score: float
    class_id: int
    start_step: int
    start_frame: int
    last_step: int
    last_frame: int
    last_xyxy: np.ndarray
    state: _State = _State.TRACKED
    confirmed: bool = False
    hits: int = 1
    reactivations: int = 0
    det_index: int = -1
    stage: Stage = Stage.BIRTH
    cost: float = float("nan")
    next_cost: float = float("inf")
    reactivated: bool = False


def kalman_boxes(tracks: list[_Track]) -> np.ndarray:
    """The Kalman filter's boxes of ``tracks`` as ``xyxy``, ``(N, 4)`` float64, converted in one
    call rather than one per track."""
    return xyah_to_xyxy(np.array([t.mean[:4] for t in tracks], np.float64).reshape(len(tracks), 4))


@dataclass(kw_only=True)
class TrackSet(TrackColumns):
    """Tracks of one step as parallel arrays (``N`` tracks): the :class:`TrackColumns`
    and the Kalman filter's box.

    Attributes:
        kalman_xyxy: The Kalman filter's box after this step, shape ``(N, 4)``, float32.
    """

    kalman_xyxy: np.ndarray

    @classmethod
    def from_tracks(cls, tracks: list[_Track], step: int, predicted: bool) -> TrackSet:
        n = len(tracks)
        kalman = kalman_boxes(tracks).astype(np.float32)
        if predicted:
            boxes = kalman
        else:
            boxes = np.array([t.last_xyxy for t in tracks], np.float32).reshape(n, 4)
        return cls(
            track_id=np.array([t.track_id for t in tracks], np.int64),
            xyxy=boxes,
            kalman_xyxy=kalman,
            confidence=np.array([np.nan if predicted else t.score for t in tracks], np.float32),
            class_id=np.array([t.class_id for t in tracks], np.int64),
            det_index=np.array([-1 if predicted else t.det_index for t in tracks], np.int64),
            stage=np.array([Stage.PREDICTED if predicted else t.stage for t in tracks], np.int8),
            cost=np.array([np.nan if predicted else t.cost for t in tracks], np.float32),
            next_cost=np.array([np.inf if predicted else t.next_cost for t in tracks], np.float32),
            reactivated=np.array([t.reactivated and not predicted for t in tracks], bool),
            confirmed=np.array([t.confirmed for t in tracks], bool),
            age=np.array([step - t.start_step for t in tracks], np.int32),
            missed=np.array([step - t.last_step for t in tracks], np.int32),
        )


@dataclass
class Backfill:
    """Boxes of a track for frames before the current one, known only now.

    Attributes:
        track_id: The track.
        kind: ``"birth"`` (the first frame of a track confirmed one step later) or
            ``"gap"`` (frames a re-activated track missed, interpolated linearly).
        frames: 1-based frame numbers, shape ``(K,)``, int64.
        xyxy: Boxes, shape ``(K, 4)``, float32.
        confidence: Detection score for a birth; NaN for interpolated boxes; ``(K,)``.
        class_id: The track's class.
    """

    track_id: int
    kind: str
    frames: np.ndarray
    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: int


@dataclass
class RemovedTrack:
    """A track that ended in this step.

    Attributes:
        track_id: The track.
        reason: ``"unconfirmed"`` (a new track not seen again), ``"lost"`` (lost for
            longer than the buffer, or lost when the video ended), ``"duplicate"`` (a
            younger copy of another track) or ``"end"`` (still tracked when the video ended).
        first_frame: Frame of its first detection.
        last_frame: Frame of its last detection.
        hits: Number of frames with a detection.
        reactivations: How often it was re-activated after being lost.
        last_xyxy: Its last detected box, shape ``(4,)``.
    """

    track_id: int
    reason: str
    first_frame: int
    last_frame: int
    hits: int
    reactivations: int
    last_xyxy: np.ndarray


@dataclass
class TrackerStep:
    """Everything one :meth:`ByteTracker.update` decided.

    Attributes:
        frame: The 1-based frame number passed to ``update``.
        tracks: Tracks with a detection in this frame (confirmed or tentative).
        lost: Lost tracks still in the buffer, with their predicted boxes.
        backfills: Boxes for earlier frames that became known in this step.
        removed: Tracks that ended in this step.
    """

    frame: int
    tracks: TrackSet
    lost: TrackSet
    backfills: list[Backfill] = field(default_factory=list)
    removed: list[RemovedTrack] = field(default_factory=list)

    @property
    def output(self) -> TrackSet:
        """The confirmed tracks of this frame, as a tracker would report them."""
        return self.tracks[self.tracks.confirmed]


class ByteTracker:
    """ByteTrack. All state lives in the instance; create one per video.

    Args:
        track_high_thresh: Detections at or above this score go to the first association.
        track_low_thresh: Detections above this score (and below the high threshold) go to
            the second association.
        new_track_thresh: Unmatched detections at or above this score start new tracks.
        track_buffer: Processed frames a lost track is kept for re-activation.
        match_thresh: Cost threshold of the first association.
        fuse_score: Multiply IoU by the detection score in the first association's cost.
        interpolate_gaps: Report linearly interpolated boxes for the frames a re-activated
            track missed, up to ``max_gap`` frames.
        max_gap: Longest gap, in steps, that is interpolated.
    """

    def __init__(
        self,
        *,
        track_high_thresh: float = 0.25,
        track_low_thresh: float = 0.1,
        new_track_thresh: float = 0.25,
        track_buffer: int = 30,
        match_thresh: float = 0.8,
        fuse_score: bool = True,
        interpolate_gaps: bool = True,
        max_gap: int = 5,
    ) -> None:
        self.track_high_thresh = track_high_thresh
        self.track_low_thresh = track_low_thresh
        self.new_track_thresh = new_track_thresh
        self.track_buffer = track_buffer
        self.match_thresh = match_thresh
        self.fuse_score = fuse_score
        self.interpolate_gaps = interpolate_gaps
        self.max_gap = max_gap
        self.max_time_lost = track_buffer
        self._kalman = KalmanFilterXYAH()
        self._tracked: list[_Track] = []
        self._lost: list[_Track] = []
        self._step = 0
        self._next_id = 1
        self._frames: deque[int] = deque(maxlen=self.max_time_lost + 2)

    @property
    def history_frames(self) -> int:
        """How many past steps a backfill can reach: a writer must hold this many."""
        return self.max_time_lost + 1

    def update(self, detections: Detections, frame: int) -> TrackerStep:
        """Advance the tracker by one processed frame.

        Args:
            detections: This frame's detections (all of them, low scores included).
            frame: The 1-based frame number, increasing from call to call.

        Returns:
            The :class:`TrackerStep` of this frame.
        """
        self._step += 1
        step = self._step
        self._frames.append(frame)
        for track in self._tracked + self._lost:
            track.reactivated = False
            track.det_index = -1
        scores = detections.confidence
        high = np.flatnonzero(scores >= self.track_high_thresh)
        low = np.flatnonzero((scores > self.track_low_thresh) & (scores < self.track_high_thresh))

        unconfirmed = [t for t in self._tracked if not t.confirmed]
        confirmed = [t for t in self._tracked if t.confirmed]
        pool = confirmed + self._lost
        self._predict(pool)

        backfills: list[Backfill] = []
        matched: list[_Track] = []
        lost_now: list[_Track] = []
        removed: list[RemovedTrack] = []

        # First association: high-score detections with tracked and lost tracks.
        cost = self._iou_cost(pool, detections.xyxy[high])
        if self.fuse_score and cost.size:
            cost = 1.0 - (1.0 - cost) * scores[high][None, :]
        first = linear_assignment(cost, self.match_thresh)
        for (row, col), c, nc in zip(first.matches, first.cost, first.next_cost):
            track = pool[row]
            was_lost = track.state == _State.LOST
            if was_lost:
                backfills.extend(self._gap_backfill(track, detections.xyxy[high[col]]))
            self._apply(track, detections, int(high[col]), frame, Stage.HIGH, c, nc)
            track.reactivated = was_lost
            if was_lost:
                track.reactivations += 1
            matched.append(track)

        # Second association: remaining tracked tracks with low-score detections.
        remaining = [pool[i] for i in first.unmatched_rows if pool[i].state == _State.TRACKED]
        second = linear_assignment(self._iou_cost(remaining, detections.xyxy[low]), LOW_SCORE_MATCH_THRESH)
        for (row, col), c, nc in zip(second.matches, second.cost, second.next_cost):
            self._apply(remaining[row], detections, int(low[col]), frame, Stage.LOW, c, nc)
            matched.append(remaining[row])
        for row in second.unmatched_rows:
            track = remaining[row]
            track.state = _State.LOST
            lost_now.append(track)

        # Tentative tracks get their second frame from the leftover high-score detections.
        left = high[first.unmatched_cols]
        cost = self._iou_cost(unconfirmed, detections.xyxy[left])
        if self.fuse_score and cost.size:
            cost = 1.0 - (1.0 - cost) * scores[left][None, :]
        third = linear_assignment(cost, UNCONFIRMED_MATCH_THRESH)
        for (row, col), c, nc in zip(third.matches, third.cost, third.next_cost):
            track = unconfirmed[row]
            backfills.append(
                Backfill(
                    track.track_id,
                    "birth",
                    np.array([track.start_frame], np.int64),
                    track.last_xyxy[None].astype(np.float32),
                    np.array([track.score], np.float32),
                    track.class_id,
                )
            )
            self._apply(track, detections, int(left[col]), frame, Stage.UNCONFIRMED, c, nc)
            matched.append(track)
        for row in third.unmatched_rows:
            track = unconfirmed[row]
            track.state = _State.REMOVED
            removed.append(self._removed(track, "unconfirmed"))

        # Births.
        births: list[_Track] = []
        for col in third.unmatched_cols:
            index = int(left[col])
            if scores[index] < self.new_track_thresh:
                continue
            births.append(self._birth(detections, index, frame, step))

        # Lost tracks past the buffer end.
        still_lost: list[_Track] = []
        for track in self._lost:
            if track.state != _State.LOST:
                continue
            if step - track.last_step > self.max_time_lost:
                track.state = _State.REMOVED
                removed.append(self._removed(track, "lost"))
            else:
                still_lost.append(track)

        tracked = [t for t in matched if t.state == _State.TRACKED] + births
        lost = still_lost + lost_now
        tracked, lost = self._remove_duplicates(tracked, lost, removed)
        self._tracked, self._lost = tracked, lost
        return TrackerStep(
            frame=frame,
            tracks=TrackSet.from_tracks(tracked, step, predicted=False),
            lost=TrackSet.from_tracks(lost, step, predicted=True),
            backfills=backfills,
            removed=removed,
        )

    def finish(self) -> list[RemovedTrack]:
        """End the video: remove every live track and report it.

        Lost tracks are reported with reason ``"lost"`` (they would have timed out) and
        tracks still tracked with ``"end"``. The tracker is empty afterwards.
        """
        ended = [self._removed(t, "lost") for t in self._lost] + [self._removed(t, "end") for t in self._tracked]
        self._tracked, self._lost = [], []
        return ended

    def _predict(self, tracks: list[_Track]) -> None:
        if not tracks:
            return
        mean = np.stack([t.mean for t in tracks]).copy()
        covariance = np.stack([t.covariance for t in tracks])
        for i, track in enumerate(tracks):
            if track.state != _State.TRACKED:
                mean[i, 7] = 0.0  # a lost track's height stops changing (reference)
        mean, covariance = self._kalman.multi_predict(mean, covariance)
        for i, track in enumerate(tracks):
            track.mean, track.covariance = mean[i], covariance[i]

    def _iou_cost(self, tracks: list[_Track], boxes: np.ndarray) -> np.ndarray:
        if not tracks or len(boxes) == 0:
            return np.zeros((len(tracks), len(boxes)))
        predicted = kalman_boxes(tracks)
        return 1.0 - box_iou(predicted, boxes)

    def _apply(
        self,
        track: _Track,
        detections: Detections,
        index: int,
        frame: int,
        stage: Stage,
        cost: float,
        next_cost: float,
    ) -> None:
        box = detections.xyxy[index]
        track.mean, track.covariance = self._kalman.update(track.mean, track.covariance, xyxy_to_xyah(box))
        track.state = _State.TRACKED
        track.confirmed = True
        track.hits += 1
        track.score = float(detections.confidence[index])
        track.class_id = int(detections.class_id[index])
        track.last_step = self._step
        track.last_frame = frame
        track.last_xyxy = box.copy()
        track.det_index = index
        track.stage = stage
        track.cost = float(cost)
        track.next_cost = float(next_cost)

    def _birth(self, detections: Detections, index: int, frame: int, step: int) -> _Track:
        box = detections.xyxy[index]
        mean, covariance = self._kalman.initiate(xyxy_to_xyah(box))
        track = _Track(
            track_id=self._next_id,
            mean=mean,
            covariance=covariance,
            score=float(detections.confidence[index]),
            class_id=int(detections.class_id[index]),
            start_step=step,
            start_frame=frame,
            last_step=step,
            last_frame=frame,
            last_xyxy=box.copy(),
            confirmed=step == 1,
            det_index=index,
        )
        self._next_id += 1
        return track

    def _gap_backfill(self, track: _Track, new_box: np.ndarray) -> list[Backfill]:
        if not self.interpolate_gaps:
            return []
        gap_steps = self._step - track.last_step - 1
        if gap_steps < 1 or gap_steps > self.max_gap:
            return []
        frames = np.array(list(self._frames)[-(gap_steps + 1) : -1], np.int64)
        t = (np.arange(1, gap_steps + 1) / (gap_steps + 1))[:, None]
        boxes = (1 - t) * track.last_xyxy[None] + t * new_box[None]
        return [
            Backfill(
                track.track_id,
                "gap",
                frames,
                boxes.astype(np.float32),
                np.full(gap_steps, np.nan, np.float32),
                track.class_id,
            )
        ]

    def _removed(self, track: _Track, reason: str) -> RemovedTrack:
        return RemovedTrack(
            track.track_id,
            reason,
            track.start_frame,
            track.last_frame,
            track.hits,
            track.reactivations,
            track.last_xyxy.copy(),
        )

    def _remove_duplicates(
        self, tracked: list[_Track], lost: list[_Track], removed: list[RemovedTrack]
    ) -> tuple[list[_Track], list[_Track]]:
        """Drop the younger of a tracked and a lost track that overlap almost fully."""
        if not tracked or not lost:
            return tracked, lost
        distance = 1.0 - box_iou(
            kalman_boxes(tracked), kalman_boxes(lost)
        )
        drop_tracked: set[int] = set()
        drop_lost: set[int] = set()
        for i, j in zip(*np.nonzero(distance < DUPLICATE_IOU_DISTANCE)):
            age_tracked = tracked[i].last_step - tracked[i].start_step
            age_lost = lost[j].last_step - lost[j].start_step
            if age_tracked > age_lost:
                drop_lost.add(int(j))
            else:
                drop_tracked.add(int(i))
        for j in drop_lost:
            lost[j].state = _State.REMOVED
            removed.append(self._removed(lost[j], "lost"))
        for i in drop_tracked:
            tracked[i].state = _State.REMOVED
            removed.append(self._removed(tracked[i], "duplicate"))
        return (
            [t for i, t in enumerate(tracked) if i not in drop_tracked],
            [t for j, t in enumerate(lost) if j not in drop_lost],
        )
