"""Spreading reviewed frames along the tracks (:mod:`vidal.propagation.spread`) and the track
rows it reads (:mod:`vidal.propagation.tracks`), on small hand-built tracks with exact answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vidal.propagation import Keyframe, Labels, Source, TrackRows, read_track_rows
from vidal.propagation.spread import (
    BOTH_SIDES,
    CONFLICT,
    FILLED_FACTOR,
    ONE_SIDE,
    match_keyframes,
    spread_tracks,
)
from vidal.propagation.tracks import join_track_rows
from vidal.runs import TRACKS_FILE, TrackStates, write_track_states

SIZE = 20.0  # every test box is 20 x 20 px: a correction of 0.1 box is 2 px


def true_box(frame: int) -> np.ndarray:
    """The tracked object's box: 20 x 20, moving 2 px right per frame."""
    x = 10.0 + 2.0 * (frame - 1)
    return np.array([x, 20.0, x + SIZE, 20.0 + SIZE], np.float32)


def track(frames: list[int], track_id: int = 1, class_id: int = 0, score: float = 0.9,
          breaks: tuple[int, ...] = (), scores: dict[int, float] | None = None) -> TrackRows:
    """One track with a box on each of ``frames``; NaN in ``scores`` marks a box the tracker filled in."""
    n = len(frames)
    confidence = np.array([(scores or {}).get(f, score) for f in frames], np.float32)
    return TrackRows(frame=np.array(frames, np.int64), track_id=np.full(n, track_id, np.int64),
                     xyxy=np.stack([true_box(f) for f in frames]), confidence=confidence,
                     class_id=np.full(n, class_id, np.int64), breaks=np.isin(frames, breaks))


def keyframe(frame: int, *boxes: tuple[np.ndarray, str]) -> Keyframe:
    return Keyframe(frame=frame, xyxy=np.array([b for b, _ in boxes], np.float32).reshape(-1, 4),
                    label=np.array([name for _, name in boxes], object))


def corrected(frame: int, correction: list[float]) -> np.ndarray:
    """The true box moved by a correction in units of the box size."""
    return true_box(frame) + np.array(correction, np.float32) * SIZE


C1 = [0.1, -0.1, 0.2, 0.0]  # the human's correction on keyframe 1
C11 = [-0.1, 0.1, 0.0, 0.2]  # ... and on keyframe 11


def spread(rows: TrackRows, keys: list[Keyframe], names: dict[int, str] | None = None,
           min_track_confidence: float = 0.5, processed: np.ndarray | None = None) -> Labels:
    keyframes = {k.frame: k for k in keys}
    verdicts = match_keyframes(rows, keyframes, 0.5, 0.3)
    labels = spread_tracks(rows, keyframes, verdicts, names or {0: "person"}, min_track_confidence, processed)
    return labels.by_frame()


@pytest.mark.parametrize("breaks", [(), (6,), (3, 6, 9)])
def test_matched_on_both_keyframes_labels_every_frame_between_with_interpolated_correction(breaks) -> None:
    rows = track(list(range(1, 12)), breaks=breaks)
    labels = spread(rows, [keyframe(1, (corrected(1, C1), "car")), keyframe(11, (corrected(11, C11), "car"))])
    assert labels.frame.tolist() == list(range(2, 11))  # the keyframes' own boxes are the caller's
    assert set(labels.label.tolist()) == {"car"} and set(labels.object_id.tolist()) == {1}
    assert set(labels.source.tolist()) == {Source.TRACK}
    np.testing.assert_allclose(labels.confidence, BOTH_SIDES)
    assert labels.keyframe_before.tolist() == [1] * 9 and labels.keyframe_after.tolist() == [11] * 9
    for k, f in enumerate(labels.frame.tolist()):
        t = (f - 1) / 10
        expected = corrected(f, [(1 - t) * a + t * b for a, b in zip(C1, C11)])
        np.testing.assert_allclose(labels.xyxy[k], expected, atol=1e-4)
    # the middle frame takes half of each correction: [0, 0, 0.1, 0.1] box = [0, 0, 2, 2] px
    np.testing.assert_allclose(labels.xyxy[labels.frame == 6][0], true_box(6) + [0, 0, 2, 2], atol=1e-4)


@pytest.mark.parametrize(("min_conf", "far_side"), [(0.5, True), (0.7, False)])
def test_a_break_with_one_keyframe_leaves_the_far_side_unconfirmed(min_conf: float, far_side: bool) -> None:
    scores = {f: 0.9 if f < 6 else 0.6 for f in range(1, 12)}
    rows = track(list(range(1, 12)), class_id=2, breaks=(6,), scores=scores)
    labels = spread(rows, [keyframe(1, (corrected(1, C1), "car"))], names={2: "truck"}, min_track_confidence=min_conf)
    near = labels[labels.frame < 6]
    assert near.frame.tolist() == [2, 3, 4, 5] and set(near.label.tolist()) == {"car"}
    np.testing.assert_allclose(near.confidence, ONE_SIDE)
    assert set(near.source.tolist()) == {Source.TRACK}
    np.testing.assert_allclose(near.xyxy, np.stack([corrected(f, C1) for f in range(2, 6)]), atol=1e-4)
    far = labels[labels.frame >= 6]
    if not far_side:  # mean score 0.6 below min_track_confidence
        assert len(far) == 0
        return
    assert far.frame.tolist() == list(range(6, 12)) and set(far.label.tolist()) == {"truck"}
    assert set(far.source.tolist()) == {Source.UNCONFIRMED}
    np.testing.assert_allclose(far.confidence, 0.6, atol=1e-6)
    np.testing.assert_allclose(far.xyxy, np.stack([true_box(f) for f in range(6, 12)]))  # no correction
    assert far.keyframe_before.tolist() == [-1] * 6 and far.keyframe_after.tolist() == [-1] * 6


def test_unconfirmed_confidence_is_capped_and_unknown_class_is_its_number() -> None:
    rows = track(list(range(1, 6)), class_id=7, score=0.99)
    labels = spread(rows, [], names={0: "person"})
    assert labels.label.tolist() == ["7"] * 5
    np.testing.assert_allclose(labels.confidence, 0.8)  # UNCONFIRMED_CAP


def test_different_classes_on_two_keyframes_do_not_bridge_a_break() -> None:
    rows = track(list(range(1, 12)), breaks=(6,))
    labels = spread(rows, [keyframe(1, (corrected(1, C1), "car")), keyframe(11, (corrected(11, C11), "bus"))])
    assert labels.frame.tolist() == list(range(2, 11))
    assert labels.label.tolist() == ["car"] * 4 + ["bus"] * 5
    np.testing.assert_allclose(labels.confidence, ONE_SIDE)
    np.testing.assert_allclose(labels.xyxy[labels.frame == 5][0], corrected(5, C1), atol=1e-4)
    np.testing.assert_allclose(labels.xyxy[labels.frame == 6][0], corrected(6, C11), atol=1e-4)


def test_different_classes_without_a_break_take_the_nearer_class_in_conflict() -> None:
    rows = track(list(range(1, 12)))
    labels = spread(rows, [keyframe(1, (corrected(1, C1), "car")), keyframe(11, (corrected(11, C11), "bus"))])
    assert labels.label.tolist() == ["car"] * 5 + ["bus"] * 4  # frame 6 is as near to 1 as to 11: the earlier wins
    np.testing.assert_allclose(labels.confidence, CONFLICT)


def test_deleted_on_the_nearer_keyframe_is_suppressed_on_the_farther_only_in_conflict() -> None:
    rows = track(list(range(1, 12)))
    elsewhere = np.array([200, 200, 220, 220], np.float32)  # a human box on another object
    labels = spread(rows, [keyframe(1, (elsewhere, "car")), keyframe(11, (corrected(11, C11), "car"))])
    # frames 2-6 are nearer keyframe 1, where the human deleted the box
    assert labels.frame.tolist() == [7, 8, 9, 10]
    np.testing.assert_allclose(labels.confidence, CONFLICT)
    assert set(labels.label.tolist()) == {"car"}
    np.testing.assert_allclose(labels.xyxy, np.stack([corrected(f, C11) for f in range(7, 11)]), atol=1e-4)


def test_deleted_on_both_keyframes_is_suppressed_everywhere() -> None:
    rows = track(list(range(1, 12)))
    assert len(spread(rows, [keyframe(1), keyframe(11)])) == 0


def test_a_deletion_holds_along_its_stretch_only() -> None:
    rows = track(list(range(1, 12)), breaks=(6,))
    labels = spread(rows, [keyframe(1)], min_track_confidence=0.5)
    # frames 2-5 deleted with keyframe 1; the other side of the break is another object, unconfirmed
    assert labels.frame.tolist() == list(range(6, 12))
    assert set(labels.source.tolist()) == {Source.UNCONFIRMED}


def test_gap_between_matching_keyframes_is_filled_when_processed_is_given() -> None:
    frames = [1, 2, 3, 4, 8, 9, 10, 11]  # the tracker lost the object on 5-7
    rows = track(frames, scores={3: np.nan})  # and filled frame 3 in (no detection)
    keys = [keyframe(1, (corrected(1, C1), "car")), keyframe(11, (corrected(11, C11), "car"))]
    assert spread(rows, keys).frame.tolist() == [2, 3, 4, 8, 9, 10]
    labels = spread(rows, keys, processed=np.arange(1, 12))
    assert labels.frame.tolist() == list(range(2, 11))
    for k, f in enumerate(labels.frame.tolist()):
        t = (f - 1) / 10
        expected = corrected(f, [(1 - t) * a + t * b for a, b in zip(C1, C11)])  # the motion is linear
        np.testing.assert_allclose(labels.xyxy[k], expected, atol=1e-4)
    filled = np.isin(labels.frame, [3, 5, 6, 7])
    np.testing.assert_allclose(labels.confidence[filled], BOTH_SIDES * FILLED_FACTOR, rtol=1e-6)
    np.testing.assert_allclose(labels.confidence[~filled], BOTH_SIDES)


def test_gap_is_not_filled_between_keyframes_of_different_classes() -> None:
    rows = track([1, 2, 3, 4, 8, 9, 10, 11])
    keys = [keyframe(1, (corrected(1, C1), "car")), keyframe(11, (corrected(11, C11), "bus"))]
    assert spread(rows, keys, processed=np.arange(1, 12)).frame.tolist() == [2, 3, 4, 8, 9, 10]


def test_tracks_are_spread_independently() -> None:
    a = track(list(range(1, 6)), track_id=1)
    b = track(list(range(1, 6)), track_id=2)
    b.xyxy = b.xyxy + np.array([100, 0, 100, 0], np.float32)
    rows = TrackRows(**{name: np.concatenate([getattr(b, name), getattr(a, name)])
                        for name in TrackRows.__dataclass_fields__})
    labels = spread(rows, [keyframe(1, (true_box(1), "car"))])  # track 2 deleted: it has no human box
    assert labels.object_id.tolist() == [1, 1, 1, 1] and labels.frame.tolist() == [2, 3, 4, 5]


def rows_on_frame(*boxes: list[float]) -> TrackRows:
    n = len(boxes)
    return TrackRows(frame=np.full(n, 1, np.int64), track_id=np.arange(1, n + 1, dtype=np.int64),
                     xyxy=np.array(boxes, np.float32), confidence=np.full(n, 0.9, np.float32),
                     class_id=np.zeros(n, np.int64), breaks=np.zeros(n, bool))


def test_match_keyframes_assigns_optimally_where_greedy_would_not() -> None:
    # IoU: human 0 - track 1: 0.905, human 0 - track 2: 0.852, human 1 - track 1: 0.6, human 1 - track 2: 0.449.
    # Greedy gives track 1 to human 0 and leaves human 1 unmatched; the optimal assignment matches both.
    rows = rows_on_frame([0.5, 0, 10.5, 10], [-0.8, 0, 9.2, 10])
    key = Keyframe(frame=1, xyxy=np.array([[0, 0, 10, 10], [3, 0, 13, 10]], np.float32),
                   label=np.array(["a", "b"], object))
    verdicts = match_keyframes(rows, {1: key}, 0.5, None)
    assert verdicts.matched == {(1, 2): 0, (1, 1): 1}
    assert verdicts.track_of == {(1, 0): 2, (1, 1): 1}
    assert verdicts.deleted == set() and verdicts.added[1].tolist() == []


def test_match_keyframes_loose_stage_and_added_deleted_sets() -> None:
    rows = rows_on_frame([0, 0, 20, 20], [100, 0, 120, 20], [200, 0, 220, 20])
    humans = np.array([[1, 0, 21, 20],  # track 1, IoU 0.9
                       [106, 0, 128, 22],  # track 2 redrawn badly: IoU 0.46
                       [300, 0, 320, 20]], np.float32)  # an object the tracker missed
    key = Keyframe(frame=1, xyxy=humans, label=np.array(["a", "a", "a"], object))
    loose = match_keyframes(rows, {1: key}, 0.5, 0.3)
    assert loose.matched == {(1, 1): 0, (1, 2): 1}
    assert loose.deleted == {(1, 3)} and loose.added[1].tolist() == [2]
    strict = match_keyframes(rows, {1: key}, 0.5, None)
    assert strict.matched == {(1, 1): 0}
    assert strict.deleted == {(1, 2), (1, 3)} and strict.added[1].tolist() == [1, 2]


def test_match_keyframes_loose_stage_never_rematches_a_strict_pair() -> None:
    # human 1 overlaps track 1 at 0.4 too, but track 1 is human 0's: the loose stage sees only the leftovers
    rows = rows_on_frame([0, 0, 20, 20])
    key = Keyframe(frame=1, xyxy=np.array([[0, 0, 20, 20], [6, 0, 28, 22]], np.float32),
                   label=np.array(["a", "a"], object))
    verdicts = match_keyframes(rows, {1: key}, 0.5, 0.3)
    assert verdicts.matched == {(1, 1): 0} and verdicts.added[1].tolist() == [1]


def test_match_keyframes_only_sees_the_keyframes_own_frame() -> None:
    rows = rows_on_frame([0, 0, 20, 20], [100, 0, 120, 20])
    rows.frame = np.array([1, 2], np.int64)  # track 1 on frame 1 only, track 2 on frame 2 only
    key = Keyframe(frame=2, xyxy=np.array([[0, 0, 20, 20]], np.float32), label=np.array(["a"], object))
    verdicts = match_keyframes(rows, {2: key}, 0.5, None)
    assert verdicts.matched == {} and verdicts.deleted == {(2, 2)} and verdicts.added[2].tolist() == [0]


def states(rows: list[tuple[int, int, int, str]]) -> TrackStates:
    """Track states from ``(frame, track_id, class_id, reasons)``."""
    n = len(rows)
    return TrackStates(frame=np.array([r[0] for r in rows], np.int64),
                       track_id=np.array([r[1] for r in rows], np.int64),
                       predicted=np.zeros(n, bool), class_id=np.array([r[2] for r in rows], np.int64),
                       confidence=np.full(n, 0.9, np.float32), uncertainty=np.zeros(n, np.float32),
                       reasons=np.array([r[3] for r in rows], object))


def test_join_track_rows_classes_breaks_and_filled_scores() -> None:
    frame = np.array([1, 2, 3, 4, 1, 2], np.int64)
    ids = np.array([1, 1, 1, 1, 12, 12], np.int64)
    xyxy = np.arange(24, dtype=np.float64).reshape(6, 4)
    score = np.array([0.9, 0.8, -1, 0.7, 0.6, 0.5])
    table = states([(1, 1, 2, ""), (2, 1, 2, "association;low_confidence"), (4, 1, 7, "low_confidence"),
                    (1, 12, 5, "missed"), (2, 12, 5, "")])  # track 1 has no state on frame 3 (a filled gap)
    rows = join_track_rows(frame, ids, xyxy, score, table, ["association", "missed"])
    assert rows.class_id.tolist() == [2, 2, 2, 7, 5, 5]  # frame 3 takes track 1's majority class
    assert rows.breaks.tolist() == [False, True, False, False, True, False]
    assert np.isnan(rows.confidence[2]) and rows.confidence[[0, 1, 3]].tolist() == pytest.approx([0.9, 0.8, 0.7])
    assert rows.xyxy.dtype == np.float32 and rows.frame.dtype == np.int64
    assert not join_track_rows(frame, ids, xyxy, score, table, []).breaks.any()
    assert join_track_rows(frame, ids, xyxy, score, table, ["low_confidence"]).breaks.tolist() == [
        False, True, False, True, False, False]


def test_read_track_rows_from_a_run_folder(tmp_path: Path) -> None:
    (tmp_path / TRACKS_FILE).write_text("1,3,10,20,30,40,0.9,-1,-1,-1\n2,3,12,20,30,40,-1,-1,-1,-1\n"
                                        "3,3,14,20,30,40,0.8,-1,-1,-1\n")
    write_track_states(tmp_path, [[1, 3, "tracked", 2, "0.9000", "0.1000", ""],
                                  [3, 3, "tracked", 2, "0.8000", "0.7000", "reactivation;appearance"]])
    rows = read_track_rows(tmp_path, ["reactivation"])
    assert rows.frame.tolist() == [1, 2, 3] and rows.class_id.tolist() == [2, 2, 2]
    assert rows.breaks.tolist() == [False, False, True]
    np.testing.assert_allclose(rows.xyxy[1], [12, 20, 42, 60])
    assert np.isnan(rows.confidence[1])


def test_a_keyframe_inside_a_filled_gap_is_not_taken_for_a_deletion() -> None:
    # The tracker lost the object on 5-7; the human labelled it on keyframe 6 too (a box no track
    # matched there). The filled-in box on 6 is no verdict of the human's: the frames around it
    # keep the two matching keyframes' labels, and frame 6 is left to the human's own box.
    rows = track([1, 2, 3, 4, 8, 9, 10, 11])
    keys = [keyframe(1, (corrected(1, C1), "car")), keyframe(6, (true_box(6), "car")),
            keyframe(11, (corrected(11, C11), "car"))]
    labels = spread(rows, keys, processed=np.arange(1, 12))
    assert labels.frame.tolist() == [2, 3, 4, 5, 7, 8, 9, 10]
    assert set(labels.label.tolist()) == {"car"}


@pytest.mark.parametrize("share", [0.8, None])
def test_propagate_drops_an_unconfirmed_track_inside_a_confirmed_one(share: float | None) -> None:
    from vidal.config import PropagationConfig
    from vidal.propagation import propagate

    whole = track(list(range(1, 12)), track_id=1)
    part = track(list(range(4, 9)), track_id=2)  # the object's upper half, tracked on its own between the keyframes
    part.xyxy[:, 3] = part.xyxy[:, 1] + SIZE / 2
    rows = TrackRows(**{name: np.concatenate([getattr(whole, name), getattr(part, name)])
                        for name in TrackRows.__dataclass_fields__})
    keys = {f: keyframe(f, (true_box(f), "person")) for f in (1, 11)}
    done = propagate(rows, keys, {0: "person"}, PropagationConfig(contained_share=share), list(range(1, 12)))
    unconfirmed = done.labels.source == Source.UNCONFIRMED
    assert done.labels.frame[~unconfirmed].tolist() == list(range(1, 12))  # the confirmed track, every frame
    assert done.labels.frame[unconfirmed].tolist() == ([] if share else [4, 5, 6, 7, 8])
