from __future__ import annotations

import numpy as np
import pytest

from vidal.scoring import Kind, ObjectTable, SignalContext, TrackHistory, get_signal
from vidal.tracking import ByteTracker
from vidal.types import Detections

from conftest import ScriptedDetector

WIDTH, HEIGHT = 192, 112


def replay(detector: ScriptedDetector, frames: int, history: TrackHistory, image=None):
    """Run tracker and history over ``frames``; yield each frame's table and deferred values."""
    tracker = ByteTracker()
    for index in range(frames):
        frame = index + 1
        detections = detector.detections(frame)
        step = tracker.update(detections, frame)
        table = ObjectTable.build(step, detections)
        gaps = history.recent_gaps(index, table)
        distance = history.appearance_distance(table, None if image is None else image(frame))
        history.record(index, table)
        deferred = [d for removed in step.removed for d in history.close(removed)]
        yield frame, table, gaps, distance, deferred


def ctx(table: ObjectTable, **features) -> SignalContext:
    return SignalContext(objects=table, frame=1, width=WIDTH, height=HEIGHT, decision_threshold=0.25, low_threshold=0.1, **features)


def jumping(shift: float):
    """One still square that vanishes for frames 21-24 and comes back ``shift`` px right."""

    def boxes(frame: int) -> np.ndarray:
        if 21 <= frame <= 24:
            return np.zeros((0, 4), np.float32)
        x = 80.0 + (shift if frame >= 25 else 0.0)
        return np.array([[x, 40, x + 30, 70]], np.float32)

    return boxes


def test_fragmentation_flags_both_ends_of_the_break() -> None:
    history = TrackHistory(WIDTH, HEIGHT)
    run = list(replay(ScriptedDetector(boxes=jumping(20.0)), 64, history))
    deferred = [d for *_, found in run for d in found]
    tables = {frame: table for frame, table, *_ in run}
    flagged = {(d.record_index + 1, int(tables[d.record_index + 1].track_id[d.object_index])) for d in deferred
               if d.signal == "fragmentation"}
    # track 1 is lost after frame 20 and removed 30 frames later; track 2 is born at frame 25
    assert flagged == {(18, 1), (19, 1), (20, 1), (25, 2), (26, 2), (27, 2)}
    assert all(d.value == 1.0 for d in deferred)


@pytest.mark.parametrize(
    ("shift", "expected"),
    [
        (0.0, 0),  # found again in place: a re-activation, not a fragmentation
        (80.0, 0),  # the new track is born far away: another object
    ],
)
def test_no_fragmentation_without_a_nearby_birth(shift: float, expected: int) -> None:
    history = TrackHistory(WIDTH, HEIGHT)
    found = [d for *_, deferred in replay(ScriptedDetector(boxes=jumping(shift)), 64, history) for d in deferred]
    assert sum(d.signal == "fragmentation" for d in found) == expected


def test_no_fragmentation_at_the_border() -> None:
    def boxes(frame: int) -> np.ndarray:  # lost while touching the left border
        if 21 <= frame <= 24:
            return np.zeros((0, 4), np.float32)
        x = 1.0 + (20.0 if frame >= 25 else 0.0)
        return np.array([[x, 40, x + 30, 70]], np.float32)

    history = TrackHistory(WIDTH, HEIGHT)
    found = [d for *_, deferred in replay(ScriptedDetector(boxes=boxes), 64, history) for d in deferred]
    assert not any(d.signal == "fragmentation" for d in found)


def test_short_track_is_deferred_to_the_removal() -> None:
    def boxes(frame: int) -> np.ndarray:
        return np.array([[80, 40, 110, 70]], np.float32) if 5 <= frame <= 7 else np.zeros((0, 4), np.float32)

    history = TrackHistory(WIDTH, HEIGHT)
    found = [d for *_, deferred in replay(ScriptedDetector(boxes=boxes), 50, history) for d in deferred]
    assert sorted(d.record_index + 1 for d in found if d.signal == "short_track") == [5, 6, 7]


def test_flicker_counts_gaps_within_the_window() -> None:
    history = TrackHistory(WIDTH, HEIGHT)
    misses = {10: [2], 14: [2], 18: [2]}  # the still square loses its detection three times
    run = {frame: (table, gaps) for frame, table, gaps, *_ in replay(ScriptedDetector(misses=misses), 64, history)}
    flicker = get_signal("flicker")

    def value(frame: int) -> float:
        table, gaps = run[frame]
        return float(flicker(ctx(table, recent_gaps=gaps))[table.track_id == 3][0])

    assert value(11) == 0.0  # one gap: a miss, not yet a flicker
    assert value(15) == pytest.approx(0.5)
    assert value(19) == pytest.approx(1.0)
    assert value(40) == pytest.approx(1.0)  # frames 11-40: the 30-frame window still holds three gaps
    assert value(41) == pytest.approx(0.5)  # the re-activation of frame 11 left it
    assert value(49) == 0.0


@pytest.mark.parametrize(("gaps", "expected"), [(0, 0.0), (1, 0.0), (2, 0.5), (3, 1.0), (7, 1.0)])
def test_flicker_signal_table(gaps: int, expected: float) -> None:
    table = ObjectTable.build(
        ByteTracker().update(Detections(np.array([[0, 0, 20, 20]]), np.array([0.9]), np.array([0])), 1),
        Detections(np.array([[0, 0, 20, 20]]), np.array([0.9]), np.array([0])),
    )
    assert get_signal("flicker")(ctx(table, recent_gaps=np.array([gaps]))).tolist() == [expected]


def test_flicker_and_appearance_without_history_are_zero() -> None:
    table = ObjectTable.build(
        ByteTracker().update(Detections(np.array([[0, 0, 20, 20]]), np.array([0.9]), np.array([0])), 1),
        Detections(np.array([[0, 0, 20, 20]]), np.array([0.9]), np.array([0])),
    )
    assert get_signal("flicker")(ctx(table)).tolist() == [0.0]
    assert get_signal("appearance")(ctx(table)).tolist() == [0.0]


def crossing(frame: int) -> np.ndarray:
    """Two squares that pass through each other (frames ~14-26) and part again."""
    a = 20.0 + 4 * (frame - 1)
    b = 140.0 - 4 * (frame - 1)
    return np.array([[a, 40, a + 30, 70], [b, 40, b + 30, 70]], np.float32)


def painted(swap_after: int | None):
    """Images of :func:`crossing`: red left square, blue right one; colours swap if asked."""

    def image(frame: int) -> np.ndarray:
        out = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)
        colours = [(0, 0, 230), (230, 60, 0)]
        if swap_after is not None and frame > swap_after:
            colours = colours[::-1]
        for box, colour in zip(crossing(frame).round().astype(int), colours):
            out[box[1] : box[3], max(box[0], 0) : box[2]] = colour
        return out

    return image


@pytest.mark.parametrize(("swap_after", "fires"), [(None, False), (17, True)])  # overlap: frames 13-19
def test_appearance_change_across_an_occlusion(swap_after: int | None, fires: bool) -> None:
    history = TrackHistory(WIDTH, HEIGHT)
    signal = get_signal("appearance")
    peak = 0.0
    compared = 0
    for frame, table, _, distance, _ in replay(ScriptedDetector(boxes=crossing), 40, history, painted(swap_after)):
        compared += int(np.isfinite(distance).sum())
        peak = max(peak, float(signal(ctx(table, appearance_distance=distance)).max(initial=0.0)))
    assert compared >= 2  # both tracks are compared once after the crossing
    assert (peak == 1.0) if fires else (peak == 0.0)


def test_appearance_distance_is_nan_without_image() -> None:
    history = TrackHistory(WIDTH, HEIGHT)
    *_, (frame, table, _, distance, _) = replay(ScriptedDetector(boxes=crossing), 30, history)
    assert np.isnan(distance).all() and (table.kind == Kind.TRACKED).any()


def test_class_confusion_on_a_track_called_a_wanted_class_late_in_its_life() -> None:
    # object 1 is "suitcase" (28) until frame 20, then "car" (2); object 2 "person" (0) throughout;
    # object 3 "suitcase" throughout: with car wanted, only object 1's suitcase frames are confusions
    detector = ScriptedDetector(class_ids=lambda frame: [28 if frame <= 20 else 2, 0, 28])
    history = TrackHistory(WIDTH, HEIGHT, wanted_classes=[2], decision_threshold=0.25)
    run = list(replay(detector, 64, history))
    tracker_end = [d for *_, found in run for d in found]
    assert tracker_end == []  # every track lives to the end: nothing resolved yet
    tables = {frame: table for frame, table, *_ in run}
    first = int(tables[21].track_id[tables[21].class_id == 2][0])
    ended = [d for track in sorted({int(t) for table in tables.values() for t in table.track_id})
             for d in history.close(_removed(track))]
    assert {d.signal for d in ended} == {"class_confusion"}
    flagged = {(d.record_index + 1, int(tables[d.record_index + 1].track_id[d.object_index])) for d in ended}
    assert {track for _, track in flagged} == {first}
    assert sorted(frame for frame, _ in flagged) == list(range(1, 21))  # all its suitcase frames
    assert all(d.value == pytest.approx(0.999, abs=1e-3) for d in ended)  # score 0.9: a sure call
    assert history.wanted_tracks == {first}  # "car" most often: its boxes go to tracks.txt


def _removed(track_id: int):
    from vidal.tracking.bytetrack import RemovedTrack

    return RemovedTrack(track_id, "end", 1, 64, 64, 0, np.zeros(4, np.float32))


def test_a_track_called_a_wanted_class_now_and_then_is_a_confusion_not_a_wanted_track() -> None:
    # TUD-Stadtmitte's potted plant that the COCO model calls "person" in 3 of 28 frames
    detector = ScriptedDetector(class_ids=lambda frame: [0 if frame in (10, 20, 30) else 58, 58, 58])
    history = TrackHistory(WIDTH, HEIGHT, wanted_classes=[0], decision_threshold=0.25)
    run = list(replay(detector, 64, history))
    tables = {frame: table for frame, table, *_ in run}
    plant = int(tables[10].track_id[tables[10].class_id == 0][0])
    ended = [d for track in sorted({int(t) for table in tables.values() for t in table.track_id})
             for d in history.close(_removed(track))]
    assert len(ended) == 61 and {int(tables[d.record_index + 1].track_id[d.object_index]) for d in ended} == {plant}
    assert history.wanted_tracks == set()
