"""Replaying another tracker's finished tracks as ByteTrack-like steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidal.detectors.imported import ImportedTracks
from vidal.tracking.bytetrack import Stage
from vidal.types import Frame


def _replay(tmp_path: Path, text: str, buffer: int = 3, frames: int = 12):
    path = tmp_path / "t.txt"
    path.write_text(text)
    source = ImportedTracks(path)
    tracker = source.replay(buffer)
    image = np.zeros((100, 200, 3), np.uint8)
    steps = [tracker.update(d, f.index) for f, d in source.stream(Frame(k, 0.0, image) for k in range(1, frames + 1))]
    return steps, tracker.finish()


def test_gap_lost_then_reactivated(tmp_path: Path) -> None:
    text = "".join(f"{f},5,{10 + 2 * f},20,10,30,0.8\n" for f in range(1, 13) if f not in (4, 5))
    steps, ended = _replay(tmp_path, text)
    assert steps[0].tracks.stage.tolist() == [Stage.BIRTH] and steps[1].tracks.stage.tolist() == [Stage.HIGH]
    assert steps[3].lost.track_id.tolist() == [5] and steps[4].lost.missed.tolist() == [2]
    assert steps[5].tracks.reactivated.tolist() == [True]
    assert not steps[6].tracks.reactivated.any()
    # the predicted box moved on with the track (Kalman filter, as ByteTrack's)
    assert steps[4].lost.xyxy[0, 0] > steps[2].tracks.xyxy[0, 0]
    assert np.isnan(steps[5].tracks.cost).all() and np.isinf(steps[5].tracks.next_cost).all()
    assert [(r.track_id, r.reason, r.hits, r.reactivations) for r in ended] == [(5, "end", 10, 1)]


def test_ended_track_lost_for_the_buffer_then_removed(tmp_path: Path) -> None:
    text = "".join(f"{f},1,50,20,10,30,0.8\n" for f in range(1, 4)) + "".join(
        f"{f},2,100,20,10,30,0.8\n" for f in range(1, 13)
    )
    steps, ended = _replay(tmp_path, text, buffer=3)
    assert [s.lost.track_id.tolist() for s in steps[3:7]] == [[1], [1], [1], []]
    removed = [(k + 1, r.track_id, r.reason, r.first_frame, r.last_frame, r.hits) for k, s in enumerate(steps)
               for r in s.removed]
    assert removed == [(7, 1, "lost", 1, 3, 3)]  # 3 steps lost, removed on the 4th, as ByteTrack
    assert [(r.track_id, r.reason) for r in ended] == [(2, "end")]
    assert steps[5].tracks.det_index.tolist() == [0] and steps[0].tracks.det_index.tolist() == [0, 1]


def test_finish_reports_lost_tracks(tmp_path: Path) -> None:
    text = "1,1,50,20,10,30,0.8\n2,1,50,20,10,30,0.8\n1,2,100,20,10,30,0.8\n3,2,100,20,10,30,0.8\n"
    steps, ended = _replay(tmp_path, text, buffer=5, frames=3)
    assert sorted((r.track_id, r.reason) for r in ended) == [(1, "lost"), (2, "end")]
    assert steps[1].lost.track_id.tolist() == [2]
