"""Replaying another tracker's finished tracks as :class:`~vidal.tracking.TrackerStep` records.

``vidal mine --tracks FILE`` scores tracks that another tracker made. The replay reports,
step by step, what :class:`~vidal.tracking.ByteTracker` reports, so that the track-level
signals (gaps, re-activation, fragmentation, short and flickering tracks, class flips,
crowding, appearance change) are computed from the tracks themselves:

- a track with a box in a frame is tracked, its first box a birth (confirmed at once: the
  file holds the tracks the other tracker reported);
- a track without a box in a frame it has boxes after is lost, with the box a Kalman filter
  (ByteTrack's) predicts from its boxes, and re-activated when its next box comes;
- a track whose last box has passed is lost for ``track_buffer`` steps, as ByteTrack keeps
  a lost track, then removed (a :class:`~vidal.tracking.bytetrack.RemovedTrack` of reason
  ``lost``), so the missed-object and fragmentation signals see it as they see ByteTrack's.
  A gap longer than the buffer keeps its identity (the other tracker kept it) but no
  predicted box after ``track_buffer`` steps.

What the file cannot say is left out: the association's costs (cost NaN, no alternative:
the ``association`` signal is 0), tentative tracks, and boxes filled in late (the file's
boxes are the other tracker's final output, interpolations included).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidal.tracking.bytetrack import RemovedTrack, Stage, TrackerStep, TrackSet
from vidal.tracking.kalman import KalmanFilterXYAH, xyah_to_xyxy, xyxy_to_xyah
from vidal.types import Detections


@dataclass
class _Replayed:
    track_id: int
    mean: np.ndarray
    covariance: np.ndarray
    class_id: int
    start_step: int
    first_frame: int
    last_step: int
    last_frame: int
    last_xyxy: np.ndarray
    end_frame: int  # its last box in the file
    hits: int = 1
    reactivations: int = 0


class TrackReplay:
    """Replays finished tracks (an :class:`~vidal.detectors.imported.ImportedTracks` file's rows);
    the pipeline uses it as it uses a :class:`~vidal.tracking.ByteTracker`. All state lives in
    the instance.

    Args:
        frame: The rows' 1-based frame numbers ``(N,)`` int64, in file order.
        track_id: Their track identities ``(N,)`` int64.
        track_buffer: Steps a track that ended stays lost before it is removed.
    """

    def __init__(self, frame: np.ndarray, track_id: np.ndarray, *, track_buffer: int = 30) -> None:
        order = np.argsort(frame, kind="stable")
        self._frames = np.asarray(frame, np.int64)[order]
        self._ids = np.asarray(track_id, np.int64)[order]
        ids, inverse = np.unique(self._ids, return_inverse=True)
        last = np.zeros(len(ids), np.int64)
        np.maximum.at(last, inverse, self._frames)
        self._end = dict(zip(ids.tolist(), last.tolist()))
        self.track_buffer = track_buffer
        self._kalman = KalmanFilterXYAH()
        self._live: dict[int, _Replayed] = {}
        self._step = 0

    @property
    def history_frames(self) -> int:
        """No box is reported late: a writer need hold no past frame."""
        return 1

    def update(self, detections: Detections, frame: int) -> TrackerStep:
        """Advance by one processed frame.

        Args:
            detections: The frame's boxes, in the file's order of the frame's rows (as
                :meth:`~vidal.detectors.imported.ImportedDetections.stream` gives them).
            frame: The 1-based frame number, increasing from call to call.

        Raises:
            ValueError: ``detections`` are not the file's rows of ``frame``.
        """
        self._step += 1
        step = self._step
        start, stop = np.searchsorted(self._frames, [frame, frame + 1])
        ids = self._ids[start:stop]
        if len(ids) != len(detections):
            raise ValueError(f"frame {frame}: {len(detections)} boxes for the file's {len(ids)} rows")
        self._predict()
        tracked: list[tuple[_Replayed, int, Stage, bool]] = []
        for index, track_id in enumerate(ids.tolist()):
            box = detections.xyxy[index]
            track = self._live.get(track_id)
            if track is None:
                mean, covariance = self._kalman.initiate(xyxy_to_xyah(box))
                track = self._live[track_id] = _Replayed(
                    track_id, mean, covariance, int(detections.class_id[index]), step, frame, step, frame,
                    box.copy(), self._end[track_id],
                )
                tracked.append((track, index, Stage.BIRTH, False))
                continue
            reactivated = track.last_step < step - 1
            track.mean, track.covariance = self._kalman.update(track.mean, track.covariance, xyxy_to_xyah(box))
            track.hits += 1
            track.reactivations += reactivated
            track.class_id = int(detections.class_id[index])
            track.last_step, track.last_frame, track.last_xyxy = step, frame, box.copy()
            tracked.append((track, index, Stage.HIGH, reactivated))
        removed: list[RemovedTrack] = []
        lost: list[_Replayed] = []
        for track_id, track in list(self._live.items()):
            missed = step - track.last_step
            if missed == 0:
                continue
            if track.end_frame <= frame and missed > self.track_buffer:
                removed.append(self._removed(self._live.pop(track_id), "lost"))
            elif missed <= self.track_buffer:
                lost.append(track)
        return TrackerStep(
            frame=frame,
            tracks=self._tracked_set(tracked, detections, step),
            lost=self._lost_set(lost, step),
            removed=removed,
        )

    def finish(self) -> list[RemovedTrack]:
        """End the video: every live track is removed, ``end`` if it had a box in the last step, else ``lost``."""
        ended = [self._removed(t, "end" if t.last_step == self._step else "lost") for t in self._live.values()]
        self._live = {}
        return ended

    def _predict(self) -> None:
        tracks = list(self._live.values())
        if not tracks:
            return
        mean = np.stack([t.mean for t in tracks]).copy()
        covariance = np.stack([t.covariance for t in tracks])
        for i, track in enumerate(tracks):
            if track.last_step < self._step - 1:
                mean[i, 7] = 0.0  # a lost track's height stops changing (ByteTrack's reference)
        mean, covariance = self._kalman.multi_predict(mean, covariance)
        for i, track in enumerate(tracks):
            track.mean, track.covariance = mean[i], covariance[i]

    @staticmethod
    def _tracked_set(
        tracked: list[tuple[_Replayed, int, Stage, bool]], detections: Detections, step: int
    ) -> TrackSet:
        n = len(tracked)
        index = np.array([k for _, k, _, _ in tracked], np.int64)
        # The file's boxes are the other tracker's output: they are the track's box, filtered or not.
        boxes = detections.xyxy[index].reshape(n, 4).astype(np.float32)
        return TrackSet(
            track_id=np.array([t.track_id for t, _, _, _ in tracked], np.int64),
            xyxy=boxes,
            kalman_xyxy=boxes.copy(),
            confidence=detections.confidence[index].astype(np.float32),
            class_id=detections.class_id[index].astype(np.int64),
            det_index=index,
            stage=np.array([stage for _, _, stage, _ in tracked], np.int8),
            cost=np.full(n, np.nan, np.float32),
            next_cost=np.full(n, np.inf, np.float32),
            reactivated=np.array([r for _, _, _, r in tracked], bool),
            confirmed=np.ones(n, bool),
            age=np.array([step - t.start_step for t, _, _, _ in tracked], np.int32),
            missed=np.zeros(n, np.int32),
        )

    @staticmethod
    def _lost_set(lost: list[_Replayed], step: int) -> TrackSet:
        n = len(lost)
        boxes = np.array([xyah_to_xyxy(t.mean[:4]) for t in lost], np.float32).reshape(n, 4)
        return TrackSet(
            track_id=np.array([t.track_id for t in lost], np.int64),
            xyxy=boxes,
            kalman_xyxy=boxes.copy(),
            confidence=np.full(n, np.nan, np.float32),
            class_id=np.array([t.class_id for t in lost], np.int64),
            det_index=np.full(n, -1, np.int64),
            stage=np.full(n, Stage.PREDICTED, np.int8),
            cost=np.full(n, np.nan, np.float32),
            next_cost=np.full(n, np.inf, np.float32),
            reactivated=np.zeros(n, bool),
            confirmed=np.ones(n, bool),
            age=np.array([step - t.start_step for t in lost], np.int32),
            missed=np.array([step - t.last_step for t in lost], np.int32),
        )

    @staticmethod
    def _removed(track: _Replayed, reason: str) -> RemovedTrack:
        return RemovedTrack(
            track.track_id, reason, track.first_frame, track.last_frame, track.hits, track.reactivations,
            track.last_xyxy.copy(),
        )
