"""Propagation: reviewed frames label the frames their tracks cover.

:func:`propagate` puts the two halves together: the tracks carry the keyframes' verdicts
(:mod:`vidal.propagation.spread`), optical flow follows the boxes the human added where no
track was (:mod:`vidal.propagation.follow`), and of overlapping labels of one class the surer
stays. Boxes the human added on two neighbouring keyframes that the flow did not join (an
occluded person the detector never saw, whose pixels the flow loses) are joined by optimal
assignment on IoU and interpolated between them, as keyframe interpolation does. A label no
keyframe confirms that lies mostly inside a confirmed one of its class is a part of that object
and is dropped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from vidal.config import PropagationConfig
from vidal.propagation.follow import Followed, follow
from vidal.propagation.labels import Labels, Source, drop_contained, drop_duplicates
from vidal.propagation.spread import Keyframe, Verdicts, match_keyframes, spread_tracks
from vidal.propagation.tracks import TrackRows
from vidal.tracking.matching import box_iou, linear_assignment
from vidal.video import FrameSource

# A followed box's confidence: FOLLOWED at the keyframe, falling linearly to half of it at
# ``follow_frames``: flow drifts with every step. A followed box that reaches a human box of
# the next keyframe (IoU >= LINK_IOU) is linked to it: both ends are the human's.
FOLLOWED = 0.8
LINKED = 0.9
LINK_IOU = 0.5
# A box interpolated between two added boxes the flow did not join: both ends are the
# human's, nothing in between is seen.
INTERPOLATED = 0.75


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


def _link(followed: Followed, end: int | None, key: Keyframe | None, label: str) -> tuple[int, np.ndarray] | None:
    """The human box of keyframe ``end`` that a followed box reached (IoU >= :data:`LINK_IOU`, same
    class), and the gap between them; ``None`` if the follow stopped short or met none."""
    if end is None or key is None or not len(followed.frames) or followed.frames[-1] != end or not len(key.xyxy):
        return None
    iou = box_iou(followed.xyxy[-1:], key.xyxy)[0]
    iou[key.label != label] = 0.0
    j = int(np.argmax(iou))
    return (j, key.xyxy[j] - followed.xyxy[-1]) if iou[j] >= LINK_IOU else None


def _follow_labels(followed: Followed, start: int, end: int | None, label: str, object_id: int,
                   link: tuple[int, np.ndarray] | None, limit: int) -> Labels:
    """Labels of a followed box: linked, every frame up to the other keyframe, the flow's path
    pulled onto the human box there (keyframe interpolation corrected by the flow); not
    linked, its first ``limit`` frames, less sure with every step."""
    frames, xyxy = followed.frames, followed.xyxy
    steps = np.abs(frames - start)
    if link is not None and end is not None:
        inside = frames != end
        frames, xyxy, steps = frames[inside], xyxy[inside], steps[inside]
        t = (steps / abs(end - start)).astype(np.float32)[:, None]
        xyxy = xyxy + t * link[1]
        confidence = np.full(len(frames), LINKED, np.float32)
    else:
        keep = steps <= limit
        frames, xyxy, steps = frames[keep], xyxy[keep], steps[keep]
        confidence = (FOLLOWED * (1 - 0.5 * steps / (limit + 1))).astype(np.float32)
    n = len(frames)
    forward = end > start if end is not None else not len(followed.frames) or bool(followed.frames[0] > start)
    other = end if link is not None and end is not None else -1
    return Labels(frame=frames, object_id=np.full(n, object_id, np.int64), xyxy=xyxy.astype(np.float32),
                  label=np.full(n, label, object), confidence=confidence, source=np.full(n, Source.FOLLOWED, np.int8),
                  keyframe_before=np.full(n, start if forward else other, np.int64),
                  keyframe_after=np.full(n, other if forward else start, np.int64))


def _follow_added(source: FrameSource, keyframes: dict[int, Keyframe], verdicts: Verdicts, new_ids: dict,
                  processed: np.ndarray, config: PropagationConfig, report: FollowReport) -> tuple[Labels, dict]:
    """Follow every box the human added, forward to the next keyframe and backward to the
    previous one; returns the labels and the ids to merge (a box linked to a human box the
    next keyframe added is one object)."""
    keys = sorted(keyframes)
    parts: list[Labels] = []
    same: dict[int, int] = {}
    limit = config.follow_frames
    empty = np.zeros(0, np.int64)
    bounds: list[int | None] = [None, *keys, None]
    intervals = []
    for a, b in zip(bounds, bounds[1:]):
        added_a = verdicts.added.get(a, empty) if a is not None else empty
        added_b = verdicts.added.get(b, empty) if b is not None else empty
        if not len(added_a) and not len(added_b):
            continue
        lo = a if a is not None else int(processed[0])
        hi = b if b is not None else int(processed[-1])
        frames = processed[(processed >= lo) & (processed <= hi)]
        frames = frames[-(limit + 1):] if a is None else frames[: limit + 1] if b is None else frames
        if len(frames):
            intervals.append((a, b, added_a, added_b, [int(f) for f in frames]))
    if not intervals:
        return Labels.empty(), same
    # One decoding pass; only the current interval's images are held.
    needed = sorted({f for *_, frames in intervals for f in frames})
    images: dict[int, np.ndarray] = {}
    pending = iter(intervals)
    current = next(pending)
    for number, image in _gray(source, needed):
        images[number] = image
        while current is not None and number >= current[4][-1]:
            _follow_interval(*current, images, keyframes, verdicts, new_ids, config, report, parts, same)
            current = next(pending, None)
            first = current[4][0] if current is not None else number + 1
            images = {f: im for f, im in images.items() if f >= first}
        if current is None:
            break
    return Labels.concat(parts), same


def _follow_interval(a: int | None, b: int | None, added_a: np.ndarray, added_b: np.ndarray, frames: list[int],
                     images: dict[int, np.ndarray], keyframes: dict[int, Keyframe], verdicts: Verdicts, new_ids: dict,
                     config: PropagationConfig, report: FollowReport, parts: list[Labels], same: dict[int, int]) -> None:
    """Follow the boxes added on keyframe ``a`` forward and on ``b`` backward through ``frames``."""
    frames = [f for f in frames if f in images]
    seq = [images[f] for f in frames]
    linked_a: set[int] = set()
    linked_b: set[int] = set()
    for start, end, added, order in ((a, b, added_a, 1), (b, a, added_b, -1)):
        if start is None or start not in images:
            continue
        key = keyframes[start]
        run, numbers = (seq, frames) if order == 1 else (seq[::-1], frames[::-1])
        for k in added.tolist():
            if order == -1 and k in linked_b:
                continue
            followed = follow(run, numbers, key.xyxy[k], config.follow_max_error)
            report.add(len(followed.frames), len(numbers) - 1)
            link = _link(followed, end, keyframes.get(end) if end is not None else None, str(key.label[k]))
            if link is not None and end is not None:
                # One object: the followed box takes the identity of the human box it reached
                # (its track's where a track has it). Neither end is followed back or paired
                # again below (an index of a box not added is in neither loop: harmless).
                linked_a.add(k if order == 1 else link[0])
                linked_b.add(link[0] if order == 1 else k)
                track = verdicts.track_of.get((end, link[0]))
                if track is not None:
                    same[new_ids[(start, k)]] = track
                else:  # two added boxes: the earlier one's identity
                    first, second = sorted([(start, new_ids[(start, k)]), (end, new_ids[(end, link[0])])])
                    same[second[1]] = first[1]
            parts.append(_follow_labels(followed, start, end, str(key.label[k]), new_ids[(start, k)], link,
                                        config.follow_frames))
    if a is not None and b is not None and config.interpolate_iou is not None:
        left = np.setdiff1d(added_a, np.array(sorted(linked_a), np.int64))
        right = np.setdiff1d(added_b, np.array(sorted(linked_b), np.int64))
        inner = np.array([f for f in frames if a < f < b], np.int64)
        for i, j in _pair_added(keyframes[a], keyframes[b], left, right, config.interpolate_iou):
            object_id = new_ids[(a, i)]
            same[new_ids[(b, j)]] = object_id
            parts.append(_interpolated(keyframes[a], keyframes[b], i, j, inner, object_id))


def _pair_added(key_a: Keyframe, key_b: Keyframe, left: np.ndarray, right: np.ndarray,
                min_iou: float) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of boxes added on keyframe ``a`` (indices ``left``) and on the next
    keyframe ``b`` (``right``) that are one object: same class, optimal assignment on IoU from
    ``min_iou``."""
    if not len(left) or not len(right):
        return []
    iou = box_iou(key_a.xyxy[left], key_b.xyxy[right])
    iou[key_a.label[left][:, None] != key_b.label[right][None, :]] = 0.0
    matches = linear_assignment(1.0 - iou, 1.0 - min_iou).matches
    return [(int(left[i]), int(right[j])) for i, j in matches.tolist()]


def _interpolated(key_a: Keyframe, key_b: Keyframe, i: int, j: int, frames: np.ndarray, object_id: int) -> Labels:
    """Box ``i`` of keyframe ``a`` moved linearly to box ``j`` of keyframe ``b`` over ``frames``
    (those between the two)."""
    a, b = key_a.frame, key_b.frame
    t = ((frames - a) / (b - a)).astype(np.float32)[:, None]
    xyxy = (1 - t) * key_a.xyxy[i] + t * key_b.xyxy[j]
    n = len(frames)
    return Labels(frame=frames, object_id=np.full(n, object_id, np.int64), xyxy=xyxy.astype(np.float32),
                  label=np.full(n, str(key_a.label[i]), object), confidence=np.full(n, INTERPOLATED, np.float32),
                  source=np.full(n, Source.INTERPOLATED, np.int8), keyframe_before=np.full(n, a, np.int64),
                  keyframe_after=np.full(n, b, np.int64))


def _resolve(same: dict[int, int], object_id: int) -> int:
    """Follow the chain of merged identities to its end."""
    seen = {object_id}
    while object_id in same and same[object_id] not in seen and same[object_id] >= 0:
        object_id = same[object_id]
        seen.add(object_id)
    return object_id


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
    verdicts = match_keyframes(rows, keyframes, config.match_iou, config.loose_iou)
    tracked = spread_tracks(rows, keyframes, verdicts, names, config.min_track_confidence, processed)
    first_new = int(rows.track_id.max(initial=0)) + 1
    human, new_ids = _human_labels(keyframes, verdicts, first_new)
    report = FollowReport()
    followed, same = Labels.empty(), {}
    if source is not None and len(processed):
        followed, same = _follow_added(source, keyframes, verdicts, new_ids, processed, config, report)
    labels = Labels.concat([human, tracked, followed])
    if same:
        labels.object_id = np.array([_resolve(same, int(i)) for i in labels.object_id], np.int64)
    labels = labels[np.isin(labels.frame, processed) | (labels.source == Source.HUMAN)]
    labels = drop_duplicates(labels, config.duplicate_iou)
    if config.contained_share is not None:
        labels = drop_contained(labels, config.contained_share)
    return Propagation(labels.by_frame(), verdicts, report)
