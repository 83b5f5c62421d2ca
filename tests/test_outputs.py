from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from vidal.outputs import MARKER_FILE, RUN_KIND, RunFolder, TrackWriter, remove_abandoned, write_marker


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



@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_run_folder_gets_the_umask_mode(tmp_path: Path, umask_022: None) -> None:
    run = RunFolder(tmp_path, "clip")
    assert _mode(run.staging) == 0o755
    assert _mode(run.commit()) == 0o755


def _dead_pid() -> int:
    """The id of a process that has exited."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_abandoned_staging_folders_are_removed_only_if_vidal_made_them(tmp_path: Path) -> None:
    pid = _dead_pid()
    user = tmp_path / f".clip.partial-{pid}-mine"  # a user's folder that merely matches the pattern
    (user / "notes").mkdir(parents=True)
    (user / "notes" / "todo.txt").write_text("keep me")
    forged = tmp_path / f".clip.partial-{pid}-forged"  # a marker that is not vidal's
    forged.mkdir()
    (forged / MARKER_FILE).write_text('{"created_by": "someone else", "kind": "run"}')
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "data.txt").write_text("keep me")
    write_marker(target, RUN_KIND)
    link = tmp_path / f".clip.partial-{pid}-link"  # a symlink to a marked folder
    link.symlink_to(target)
    abandoned = tmp_path / f".clip.partial-{pid}-abcd1234"
    abandoned.mkdir()
    write_marker(abandoned, RUN_KIND)

    run = RunFolder(tmp_path, "clip")  # cleans up abandoned staging folders
    assert not abandoned.exists()
    assert (user / "notes" / "todo.txt").read_text() == "keep me"
    assert forged.is_dir() and link.is_symlink() and (target / "data.txt").is_file()
    assert remove_abandoned(tmp_path) == []
    run.discard()
    assert not run.staging.exists()


def test_a_staging_folder_of_another_machine_is_left_alone(tmp_path: Path) -> None:
    # On shared storage a dead process id here may be a live one there: only this machine's are judged.
    pid = _dead_pid()
    here = RunFolder(tmp_path, "clip").staging
    host = here.name.rsplit(".partial-", 1)[1].split("-")[1]
    elsewhere = tmp_path / f".clip.partial-{pid}-{'0' * 8 if host != '0' * 8 else '1' * 8}-abcd1234"
    dead_here = tmp_path / f".clip.partial-{pid}-{host}-abcd1234"
    for folder in (elsewhere, dead_here):
        folder.mkdir()
        write_marker(folder, RUN_KIND)
    assert remove_abandoned(tmp_path) == [dead_here]
    assert elsewhere.is_dir() and here.is_dir()


def test_discard_deletes_only_a_folder_vidal_marked(tmp_path: Path) -> None:
    run = RunFolder(tmp_path, "clip")
    (run.staging / MARKER_FILE).unlink()  # whatever is there now, vidal did not mark it
    (run.staging / "user.txt").write_text("keep me")
    run.discard()
    assert (run.staging / "user.txt").is_file()
