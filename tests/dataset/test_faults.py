"""A ``vidal mine`` killed midway (SIGKILL) and run again: no half run, no duplicate samples."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vidal.outputs import RUN_KIND, remove_abandoned, write_marker

from conftest import SAMPLE_MODEL, SAMPLE_VIDEO

pytestmark = [pytest.mark.fiftyone, pytest.mark.slow]


def mine_command(out: Path, name: str) -> list[str]:
    return [sys.executable, "-m", "vidal.cli", "mine", str(SAMPLE_VIDEO), "--model", str(SAMPLE_MODEL),
            "--budget", "10", "--out", str(out), "--dataset", name]


def test_mine_killed_midway_then_again(fo, dataset_name: str, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    proc = subprocess.Popen(mine_command(out, dataset_name), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(out.glob(".crossing.partial-*")):
        time.sleep(0.1)
    time.sleep(2.0)  # mining is under way
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(out.glob(".crossing.partial-*")), "killed before or after mining"
    assert not (out / "crossing").exists()
    assert not fo.dataset_exists(dataset_name) or fo.load_dataset(dataset_name).count() == 0

    result = subprocess.run(mine_command(out, dataset_name), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert not list(out.glob(".crossing.partial-*"))  # the dead run's staging folder is gone
    assert sorted(p.name for p in out.iterdir()) == ["crossing"]
    dataset = fo.load_dataset(dataset_name)
    assert dataset.count() == 10 == len(set(dataset.values("vidal_key")))
    result = subprocess.run(mine_command(out, dataset_name), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert fo.load_dataset(dataset_name).count() == 10


def test_live_staging_folders_are_kept(tmp_path: Path) -> None:
    live = tmp_path / f".a.partial-{__import__('os').getpid()}-x"
    dead = tmp_path / ".b.partial-999999999-y"
    for folder in (live, dead):
        folder.mkdir()
        write_marker(folder, RUN_KIND)
    assert remove_abandoned(tmp_path) == [dead]
    assert live.exists() and not dead.exists()
