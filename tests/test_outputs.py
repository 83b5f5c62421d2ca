from __future__ import annotations

from pathlib import Path

import numpy as np

from vidal.outputs import RunFolder, TrackWriter


def test_track_writer_orders_late_boxes(tmp_path: Path) -> None:
    path = tmp_path / "tracks.txt"
    writer = TrackWriter(path, history=2)
    box = np.array([[10, 20, 40, 80]], np.float32)
    for frame in (1, 2, 3):
        writer.add(frame, np.array([1]), box, np.array([0.9]))
        writer.advance()
    writer.add(2, np.array([7]), box, np.array([np.nan]))  # late box for an open frame
    writer.add(1, np.array([8]), box, np.array([0.5]))  # frame 1 is already written: dropped
    writer.close()
    lines = path.read_text().splitlines()
    assert [line.split(",")[:2] for line in lines] == [["1", "1"], ["2", "1"], ["2", "7"], ["3", "1"]]
    assert lines[0] == "1,1,10.00,20.00,30.00,60.00,0.9000,-1,-1,-1"
    assert lines[2].split(",")[6] == "-1.0000"
    assert writer.dropped == 1 and writer.rows == 4


def test_run_folder_commit_is_atomic_and_unique(tmp_path: Path) -> None:
    first = RunFolder(tmp_path, "clip")
    (first.path("a.txt")).write_text("1")
    assert not (tmp_path / "clip").exists()
    assert first.commit() == tmp_path / "clip"
    second = RunFolder(tmp_path, "clip")
    assert second.commit() == tmp_path / "clip-2"
    third = RunFolder(tmp_path, "clip")
    third.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip", "clip-2"]
