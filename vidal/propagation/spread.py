"""Spread reviewed frames along the tracks: the track-based half of propagation.

A reviewed frame (a *keyframe*) gives, for every track box on it, a verdict: matched to a
human box (optimal assignment on IoU) or deleted by the human. A track box on another frame
takes the verdicts of the nearest keyframes before and after it on the same stretch of the
track, a stretch ending where an identity break (an uncertain event: ambiguous association,
re-activation, fragmentation, class flip, missed detection, appearance change) happens, unless
keyframes on both sides of the break matched the track to the same class:

- matched on both sides: the human's class, the tracker's box moved by the human's
  correction interpolated between the two keyframes (keyframe interpolation corrected by the
  detections), confidence :data:`BOTH_SIDES`;
- matched on one side only (the other side has no keyframe on the stretch): the human's
  class and correction, confidence :data:`ONE_SIDE`;
- deleted on the nearer side: suppressed (a false positive stays one along its stretch);
  deleted on the farther side only: kept with confidence :data:`CONFLICT`;
- no keyframe on the stretch: kept with the track's class and its mean detection score as
  confidence, if that mean reaches ``min_track_confidence``.

Boxes the tracker filled in (gaps, no detection) keep :data:`FILLED_FACTOR` of the confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidal.propagation.labels import Labels, Source
from vidal.propagation.tracks import TrackRows
from vidal.tracking.matching import box_iou, linear_assignment

BOTH_SIDES = 0.95
ONE_SIDE = 0.85
CONFLICT = 0.6
FILLED_FACTOR = 0.9
# An unconfirmed box's confidence is its track stretch's mean score, capped below the
# confirmed ones: no reviewed frame speaks for it.
UNCONFIRMED_CAP = 0.8


@dataclass(kw_only=True)
class Keyframe:
    """A reviewed frame's human boxes.

    Attributes:
        frame: 1-based frame number.
        xyxy: Boxes, ``(K, 4)`` float32.
        label: Class names, ``(K,)`` object.
    """

    frame: int
    xyxy: np.ndarray
    label: np.ndarray


@dataclass
class Verdicts:
    """What the keyframes say about the tracks.

    Attributes:
        matched: ``(frame, track_id) -> index`` of the human box matched to the track's box.
        deleted: ``(frame, track_id)`` pairs of track boxes the human left without a box.
        added: Per keyframe, the indices of human boxes matched to no track box (missed objects).
        track_of: ``(frame, human index) -> track_id`` of matched human boxes.
    """

    matched: dict[tuple[int, int], int]
    deleted: set[tuple[int, int]]
    added: dict[int, np.ndarray]
    track_of: dict[tuple[int, int], int]


def match_keyframes(rows: TrackRows, keyframes: dict[int, Keyframe], match_iou: float,
                    loose_iou: float | None = None) -> Verdicts:
    """Match each keyframe's human boxes to the track boxes on it: optimal assignment on IoU
    at ``match_iou``, then, among the boxes left on both sides, at ``loose_iou`` (a track box
    the human redrew is the same object, badly boxed, not a false positive next to a missed one)."""
    verdicts = Verdicts({}, set(), {}, {})
    for number, key in keyframes.items():
        at = np.flatnonzero(rows.frame == number)
        iou = box_iou(key.xyxy, rows.xyxy[at])
        pairs: list[tuple[int, int]] = []
        humans, tracks = np.arange(len(key.xyxy)), np.arange(len(at))
        for threshold in (match_iou, loose_iou):
            if threshold is None or not len(humans) or not len(tracks):
                continue
            assignment = linear_assignment(1.0 - iou[np.ix_(humans, tracks)], 1.0 - threshold)
            pairs += [(int(humans[h]), int(tracks[t])) for h, t in assignment.matches.tolist()]
            humans, tracks = humans[assignment.unmatched_rows], tracks[assignment.unmatched_cols]
        for human, col in pairs:
            track = int(rows.track_id[at[col]])
            verdicts.matched[(number, track)] = human
            verdicts.track_of[(number, human)] = track
        for col in tracks.tolist():
            verdicts.deleted.add((number, int(rows.track_id[at[col]])))
        verdicts.added[number] = humans.astype(np.int64)
    return verdicts


def _correction(human: np.ndarray, track: np.ndarray) -> np.ndarray:
    """The human's correction of a track box, in units of the track box's size."""
    w, h = max(float(track[2] - track[0]), 1.0), max(float(track[3] - track[1]), 1.0)
    return (human - track) / np.array([w, h, w, h], np.float32)


def _apply(box: np.ndarray, correction: np.ndarray) -> np.ndarray:
    w, h = max(float(box[2] - box[0]), 1.0), max(float(box[3] - box[1]), 1.0)
    return box + correction * np.array([w, h, w, h], np.float32)


def _stretches(frames: np.ndarray, breaks: np.ndarray, bridges: list[tuple[int, int]]) -> np.ndarray:
    """Stretch number of each box of one track: a break starts a new stretch, except between
    two keyframes that matched the track to the same class (``bridges``)."""
    cut = breaks.copy()
    for start, end in bridges:
        cut[(frames > start) & (frames <= end)] = False
    return np.cumsum(cut)


def _fill_bridges(track: TrackRows, bridges: list[tuple[int, int]], processed: np.ndarray,
                  key_frames: np.ndarray) -> TrackRows:
    """Fill the frames a track has no box on between two keyframes that matched it to the same
    class (an occlusion the tracker lost it in): the box interpolated between the track's
    boxes around the gap, as keyframe interpolation does. A keyframe in the gap is not filled:
    the human's own boxes label it, and a filled box there is no verdict of theirs."""
    missing = [f for start, end in bridges for f in processed[(processed > start) & (processed < end)].tolist()]
    missing = np.setdiff1d(np.array(missing, np.int64), np.union1d(track.frame, key_frames))
    if not len(missing):
        return track
    pos = np.searchsorted(track.frame, missing)
    f0, f1 = track.frame[pos - 1], track.frame[pos]
    t = ((missing - f0) / (f1 - f0)).astype(np.float32)[:, None]
    xyxy = (1 - t) * track.xyxy[pos - 1] + t * track.xyxy[pos]
    filled = TrackRows(frame=missing, track_id=np.full(len(missing), track.track_id[0], np.int64), xyxy=xyxy,
                       confidence=np.full(len(missing), np.nan, np.float32), class_id=track.class_id[pos - 1],
                       breaks=np.zeros(len(missing), bool))
    both = TrackRows(**{name: np.concatenate([getattr(track, name), getattr(filled, name)])
                        for name in TrackRows.__dataclass_fields__})
    return both[np.argsort(both.frame, kind="stable")]


def spread_tracks(rows: TrackRows, keyframes: dict[int, Keyframe], verdicts: Verdicts, names: dict[int, str],
                  min_track_confidence: float, processed: np.ndarray | None = None) -> Labels:
    """Label every track box that the keyframes (or its own scores) vouch for; keyframes' own
    boxes are left to the caller. With ``processed`` (the run's frame numbers), a track matched
    to one class on two keyframes is also labelled on the frames it lost between them."""
    rows = rows.sorted()
    if not len(rows):  # nothing tracked: the keyframes' own boxes are all there is
        return Labels.empty()
    starts = np.flatnonzero(np.r_[True, rows.track_id[1:] != rows.track_id[:-1]])
    ends = np.r_[starts[1:], len(rows)]
    key_frames = np.array(sorted(keyframes), np.int64)
    out: list[Labels] = []
    for start, end in zip(starts, ends):
        track = rows[start:end]
        out.append(_spread_one(track, keyframes, key_frames, verdicts, names, min_track_confidence, processed))
    return Labels.concat(out)


def _bridges(track: TrackRows, keyframes: dict[int, Keyframe], key_frames: np.ndarray,
             verdicts: Verdicts) -> list[tuple[int, int]]:
    """Consecutive keyframes (on the track) that matched the track to the same class."""
    tid = int(track.track_id[0])
    matched = [(int(f), verdicts.matched.get((int(f), tid))) for f in track.frame[np.isin(track.frame, key_frames)]]
    return [(fa, fb) for (fa, ha), (fb, hb) in zip(matched, matched[1:])
            if ha is not None and hb is not None and keyframes[fa].label[ha] == keyframes[fb].label[hb]]


def _spread_one(track: TrackRows, keyframes: dict[int, Keyframe], key_frames: np.ndarray, verdicts: Verdicts,
                names: dict[int, str], min_track_confidence: float, processed: np.ndarray | None) -> Labels:
    tid = int(track.track_id[0])
    bridges = _bridges(track, keyframes, key_frames, verdicts)
    if processed is not None and bridges:
        track = _fill_bridges(track, bridges, processed, key_frames)
    frames = track.frame
    on_key = np.isin(frames, key_frames)
    anchors = frames[on_key]  # keyframes this track has a box on
    anchor_rows = np.flatnonzero(on_key)
    matched = [(int(f), verdicts.matched.get((int(f), tid))) for f in anchors]
    stretch = _stretches(frames, track.breaks, bridges)
    n = len(track)
    keep = np.zeros(n, bool)
    xyxy = track.xyxy.copy()
    label = np.empty(n, object)
    confidence = np.zeros(n, np.float32)
    source = np.full(n, Source.TRACK, np.int8)
    before = np.full(n, -1, np.int64)
    after = np.full(n, -1, np.int64)
    corrections = {
        f: _correction(keyframes[f].xyxy[h], track.xyxy[r]) for (f, h), r in zip(matched, anchor_rows) if h is not None
    }
    for s in np.unique(stretch):
        in_s = np.flatnonzero((stretch == s) & ~on_key)
        if not len(in_s):
            continue
        s_anchors = [(f, h) for (f, h), r in zip(matched, anchor_rows) if stretch[r] == s]
        if not s_anchors:
            scores = track.confidence[stretch == s]
            mean = float(np.nanmean(scores)) if np.isfinite(scores).any() else 0.0
            if mean < min_track_confidence:
                continue
            classes, counts = np.unique(track.class_id[stretch == s], return_counts=True)
            keep[in_s] = True
            label[in_s] = names.get(int(classes[np.argmax(counts)]), str(int(classes[np.argmax(counts)])))
            confidence[in_s] = min(mean, UNCONFIRMED_CAP)
            source[in_s] = Source.UNCONFIRMED
            continue
        a_frames = np.array([f for f, _ in s_anchors], np.int64)
        for i in in_s:
            f = int(frames[i])
            k = int(np.searchsorted(a_frames, f))
            prev = s_anchors[k - 1] if k > 0 else None
            nxt = s_anchors[k] if k < len(s_anchors) else None
            near, far = (prev, nxt) if nxt is None or (prev is not None and f - prev[0] <= nxt[0] - f) else (nxt, prev)
            before[i] = prev[0] if prev else -1
            after[i] = nxt[0] if nxt else -1
            assert near is not None
            if near[1] is None:  # the nearer keyframe deleted this track's box
                continue
            keep[i] = True
            label[i] = keyframes[near[0]].label[near[1]]
            if far is not None and far[1] is not None:
                fa, fb = (prev[0], nxt[0])  # type: ignore[index]
                t = (f - fa) / max(fb - fa, 1)
                correction = (1 - t) * corrections[fa] + t * corrections[fb]
                same = keyframes[far[0]].label[far[1]] == label[i]
                confidence[i] = BOTH_SIDES if same else CONFLICT
            else:
                correction = corrections[near[0]]
                confidence[i] = ONE_SIDE if far is None else CONFLICT
            xyxy[i] = _apply(track.xyxy[i], correction)
    filled = ~np.isfinite(track.confidence)
    confidence[filled] *= FILLED_FACTOR
    rows = np.flatnonzero(keep)
    return Labels(frame=frames[rows], object_id=np.full(len(rows), tid, np.int64), xyxy=xyxy[rows],
                  label=label[rows], confidence=confidence[rows], source=source[rows],
                  keyframe_before=before[rows], keyframe_after=after[rows])
