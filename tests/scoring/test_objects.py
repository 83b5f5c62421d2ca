"""The objects table: one declaration of the tracker's columns, shared with the tracker's tracks."""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from vidal.scoring import Kind, ObjectTable
from vidal.tracking import ByteTracker, TrackSet
from vidal.types import Detections, TrackColumns


def test_tracks_and_objects_share_one_declaration_of_the_tracker_columns() -> None:
    shared = [f.name for f in fields(TrackColumns)]
    assert len(shared) == 12
    assert [f.name for f in fields(TrackSet)] == [*shared, "kalman_xyxy"]
    assert [f.name for f in fields(ObjectTable)] == [*shared, "kind"]
    # declared once: the subclasses add their own column and nothing else
    assert set(TrackSet.__annotations__) == {"kalman_xyxy"}
    assert set(ObjectTable.__annotations__) == {"kind"}


def test_build_copies_every_tracker_column_and_fills_free_detections() -> None:
    tracker = ByteTracker()
    first = Detections(np.array([[0, 0, 10, 10], [50, 50, 60, 60]], np.float32), [0.9, 0.9], [0, 1])
    tracker.update(first, 1)
    # the second box is missed (a lost track), a new low-score box is taken by no track
    second = Detections(np.array([[1, 0, 11, 10], [100, 0, 110, 10]], np.float32), [0.9, 0.05], [0, 0])
    step = tracker.update(second, 2)
    table = ObjectTable.build(step, second)
    assert table.kind.tolist() == [Kind.TRACKED, Kind.PREDICTED, Kind.UNMATCHED]
    for column in fields(TrackColumns):
        expected = np.concatenate([getattr(step.tracks, column.name), getattr(step.lost, column.name)])
        np.testing.assert_array_equal(getattr(table, column.name)[:2], expected)
    free = table[table.kind == Kind.UNMATCHED]
    assert free.track_id.tolist() == [-1] and free.det_index.tolist() == [1]
    np.testing.assert_array_equal(free.xyxy, second.xyxy[1:])
    assert np.isnan(free.cost).all() and np.isinf(free.next_cost).all()
    assert not free.confirmed.any() and free.age.tolist() == [0] and free.missed.tolist() == [0]
    assert len(table[np.array([True, False, True])]) == 2  # row selection keeps every column
