"""Propagation: reviewed frames label the frames their tracks cover.

:func:`propagate` puts the two halves together: the tracks carry the keyframes' verdicts
(:mod:`vidal.propagation.spread`), optical flow follows the boxes the human added where no
track was (:mod:`vidal.propagation.follow`), and of overlapping labels of one class the surer
stays.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from vidal.config import PropagationConfig
from vidal.propagation.follow import follow
from vidal.propagation.labels import Labels, Source, drop_duplicates
from vidal.propagation.spread import Keyframe, Verdicts, match_keyframes, spread_tracks
from vidal.propagation.tracks import TrackRows
from vidal.video import FrameSource

# A followed box's confidence: FOLLOWED at the keyframe, falling linearly to half of it at
# ``follow_frames``: flow drifts with every step.
FOLLOWED = 0.8


@dataclass
class FollowReport:
    """How far the added boxes were followed: one entry per added box and direction."""

    frames: list[int] = field(default_factory=list)
    stopped_early: int = 0

    def add(self, reached: int, limit: int) -> None:
        self.frames.append(reached)
        self.stopped_early += int(reached < limit)


@dataclass
class Propagation:
    """The labels propagation produced, and how.

    Attributes:
        labels: Every label, human boxes included, by frame.
        verdicts: What each keyframe said of the tracks on it.
        follow: How far the boxes the human added were followed.
    """

    labels: Labels
    verdicts: Verdicts
    follow: FollowReport


def _human_labels(keyframes: dict[int, Keyframe], verdicts: Verdicts, first_new_id: int) -> tuple[Labels, dict]:
    parts, new_ids = [], {}
    next_id = first_new_id
    for number, key in sorted(keyframes.items()):
        ids = np.zeros(len(key.xyxy), np.int64)
        for k in range(len(key.xyxy)):
            track = verdicts.track_of.get((number, k))
            if track is None:
                new_ids[(number, k)] = ids[k] = next_id
                next_id += 1
            else:
                ids[k] = track
        n = len(ids)
        parts.append(Labels(frame=np.full(n, number, np.int64), object_id=ids, xyxy=key.xyxy.astype(np.float32),
                            label=key.label.astype(object), confidence=np.ones(n, np.float32),
                            source=np.full(n, Source.HUMAN, np.int8), keyframe_before=np.full(n, number, np.int64),
                            keyframe_after=np.full(n, number, np.int64)))
    return Labels.concat(parts), new_ids


def _gray(source: FrameSource, frames: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
    for frame in source.read(list(frames)):
        yield frame.index, cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY)


def _follow_added(source: FrameSource, keyframes: dict[int, Keyframe], verdicts: Verdicts, new_ids: dict,
                  processed: np.ndarray, config: PropagationConfig, report: FollowReport) -> Labels:
    """Follow every added box forward and backward, up to the neighbouring keyframes."""
    keys = sorted(keyframes)
    parts = []
    limit = config.follow_frames
    for i, number in enumerate(keys):
        added = verdicts.added.get(number, np.zeros(0, np.int64))
        if not len(added) or limit == 0:
            continue
        lo = keys[i - 1] if i > 0 else int(processed[0]) - 1
        hi = keys[i + 1] if i + 1 < len(keys) else int(processed[-1]) + 1
        pos = int(np.searchsorted(processed, number))
        back = [int(f) for f in processed[max(pos - limit, 0):pos] if f > lo]
        ahead = [int(f) for f in processed[pos + 1:pos + 1 + limit] if f < hi]
        images = dict(_gray(source, [*back, number, *ahead]))
        if number not in images:
            continue
        key = keyframes[number]
        for direction in (ahead, back[::-1]):
            frames = [number, *[f for f in direction if f in images]]
            seq = [images[f] for f in frames]
            for k in added.tolist():
                followed = follow(seq, frames, key.xyxy[k], config.follow_max_error)
                report.add(len(followed.frames), len(frames) - 1)
                n = len(followed.frames)
                if not n:
                    continue
                steps = np.arange(1, n + 1)
                parts.append(Labels(
                    frame=followed.frames, object_id=np.full(n, new_ids[(number, k)], np.int64), xyxy=followed.xyxy,
                    label=np.full(n, key.label[k], object),
                    confidence=(FOLLOWED * (1 - 0.5 * steps / (limit + 1))).astype(np.float32),
                    source=np.full(n, Source.FOLLOWED, np.int8),
                    keyframe_before=np.full(n, number if direction is ahead else -1, np.int64),
                    keyframe_after=np.full(n, number if direction is not ahead else -1, np.int64),
                ))
    return Labels.concat(parts)


def propagate(rows: TrackRows, keyframes: dict[int, Keyframe], names: dict[int, str], config: PropagationConfig,
              processed: Sequence[int], source: FrameSource | None = None) -> Propagation:
    """Label the processed frames of a video from its reviewed frames and tracks.

    Args:
        rows: The mining run's tracks (:func:`~vidal.propagation.tracks.read_track_rows`).
        keyframes: The reviewed frames' human boxes, by frame number.
        names: The detector's class names by id (for tracks no keyframe confirms).
        config: Propagation settings.
        processed: The frame numbers the run processed (tracks exist on these only).
        source: The video, to follow boxes the human added; ``None`` leaves them on their keyframe.

    Returns:
        Labels on keyframes (the human's) and on the frames between.
    """
    processed = np.asarray(sorted(processed), np.int64)
    verdicts = match_keyframes(rows, keyframes, config.match_iou)
    tracked = spread_tracks(rows, keyframes, verdicts, names, config.min_track_confidence)
    first_new = int(rows.track_id.max(initial=0)) + 1
    human, new_ids = _human_labels(keyframes, verdicts, first_new)
    report = FollowReport()
    followed = Labels.empty()
    if source is not None and len(processed):
        followed = _follow_added(source, keyframes, verdicts, new_ids, processed, config, report)
    labels = Labels.concat([human, tracked, followed])
    labels = labels[np.isin(labels.frame, processed) | (labels.source == Source.HUMAN)]
    return Propagation(drop_duplicates(labels, config.duplicate_iou).by_frame(), verdicts, report)
