"""The warm vidal worker that runs dataset commands' calls (``vidal.dataset.worker``).

The real ``vidal`` runs in subprocesses, on the session's database (``FIFTYONE_DATABASE_URI``)
with a database folder of the test's own, so each test has a worker of its own; the suite
turns workers off (``VIDAL_WORKER=0``, tests/conftest.py), these tests turn them on and stop
them at the end. What served a command is told by the worker's request count, not by time.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from vidal.dataset import push_run
from vidal.dataset.database import DatabaseSettings, alive
from vidal.dataset.schema import TAG_REVIEWED
from vidal.dataset.worker import WorkerPaths, stop_worker, worker_paths, worker_status

from conftest import REPO, mine_run

pytestmark = pytest.mark.fiftyone
START_TIMEOUT_S = 300  # a worker imports fiftyone: seconds, a minute on a loaded machine


class Setup:
    """The environment of a user whose database folder is ``folder``, workers on."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = dict(os.environ, VIDAL_WORKER="1", FIFTYONE_DATABASE_DIR=str(folder), COLUMNS="250")
        self.paths: WorkerPaths = worker_paths(DatabaseSettings(os.environ["FIFTYONE_DATABASE_URI"], folder))

    def vidal(self, *args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "vidal.cli", *args], env=dict(self.env, **env), cwd=cwd,
                              capture_output=True, text=True, timeout=600)

    def ready(self) -> dict:
        """The worker's info, once it serves."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            info = worker_status(self.paths)
            if info is not None and "started" in info:
                return info
            time.sleep(0.2)
        raise AssertionError(f"no worker within {START_TIMEOUT_S} s: {self.log()}")

    def requests(self) -> int:
        info = worker_status(self.paths)
        assert info is not None and "requests" in info, info
        return info["requests"]

    def log(self) -> str:
        return self.paths.log.read_text() if self.paths.log.exists() else "(no worker log)"


@pytest.fixture
def setup(fo, tmp_path: Path):
    # A long folder: the socket's path in it would not fit a socket address (108 bytes).
    result = Setup(tmp_path / ("database-folder-" + "x" * 60))
    yield result
    stop_worker(result.paths)


@pytest.fixture
def reviewed(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> str:
    push_run(mine_run(scene_video, tmp_path / "runs"), dataset_name)
    for sample in fo.load_dataset(dataset_name).sort_by("frame_number").limit(2):
        sample.tags.append(TAG_REVIEWED)
        sample.save()
    return dataset_name


def test_worker_serves_the_next_commands_as_in_process(setup: Setup, reviewed: str, tmp_path: Path) -> None:
    assert not str(setup.paths.socket).startswith(str(setup.folder))  # the short path
    first = setup.vidal("status", "--dataset", reviewed)  # in-process; starts the worker
    assert first.returncode == 0, first.stderr
    info = setup.ready()
    assert info["requests"] == 0 and alive(info["pid"])
    mode = os.stat(setup.paths.socket).st_mode & 0o777
    assert mode == 0o600, oct(mode)

    second = setup.vidal("status", "--dataset", reviewed)
    assert second.returncode == 0, second.stderr
    assert setup.requests() == 1
    assert second.stdout == first.stdout and f"dataset '{reviewed}': 6 mined" in second.stdout

    # An error raised in the worker: the same line and exit code as in-process.
    served = setup.vidal("status", "--dataset", "nosuch")
    assert setup.requests() == 2
    here = setup.vidal("status", "--dataset", "nosuch", VIDAL_WORKER="0")
    assert (served.returncode, served.stderr) == (here.returncode, here.stderr) == (2, here.stderr)
    assert here.stderr.startswith("error: no dataset 'nosuch'") and len(here.stderr.splitlines()) == 1

    # A relative path is the user's, not the worker's; its log records and output come back.
    export = setup.vidal("export", "out", "--dataset", reviewed, cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    assert setup.requests() == 3
    assert "exported 2 reviewed samples to out (yolo)" in export.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".vidal.json", "dataset.yaml", "images", "labels"]
    # The call's log records come back: a push into a new dataset says it created it.
    run = next((tmp_path / "runs").iterdir()).relative_to(tmp_path)
    fresh = setup.vidal("push", str(run), "--dataset", f"{reviewed}-fresh", cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    assert setup.requests() == 4
    assert "INFO" in fresh.stderr and f"created dataset '{reviewed}-fresh'" in fresh.stderr

    off = setup.vidal("status", "--dataset", reviewed, VIDAL_WORKER="0")
    assert off.stdout == first.stdout and setup.requests() == 4

    status = setup.vidal("db", "status")
    assert f"vidal worker: pid {info['pid']} since" in status.stdout and "4 requests served" in status.stdout
    stop = setup.vidal("db", "stop")
    assert stop.returncode == 0 and f"stopped the vidal worker (pid {info['pid']})" in stop.stdout, stop.stderr
    assert not alive(info["pid"]) and worker_status(setup.paths) is None
    assert not setup.paths.socket.exists()
    assert "vidal worker: not running" in setup.vidal("db", "status").stdout


def test_stale_worker_is_not_used_but_replaced(setup: Setup, reviewed: str, tmp_path: Path) -> None:
    """A worker whose code differs from the client's (vidal edited or upgraded since it
    started) serves nothing: the command runs in-process and a new worker replaces it."""
    code = tmp_path / "code"
    shutil.copytree(REPO / "vidal", code / "vidal", ignore=shutil.ignore_patterns("__pycache__"))
    setup.env["PYTHONPATH"] = str(code)
    first = setup.vidal("status", "--dataset", reviewed, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    old = setup.ready()
    assert old["identity"]["package"] == str(code / "vidal")

    with (code / "vidal" / "dataset" / "report.py").open("a") as source:
        source.write("\n# edited after the worker started\n")
    again = setup.vidal("status", "--dataset", reviewed, "--debug", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.endswith(first.stdout)  # --debug adds FiftyOne's debug lines before
    assert "vidal worker not used" in again.stderr and "code" in again.stderr
    deadline = time.monotonic() + 60
    while alive(old["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(old["pid"])
    new = setup.ready()
    assert new["pid"] != old["pid"] and new["requests"] == 0
    assert setup.vidal("status", "--dataset", reviewed, cwd=tmp_path).stdout == first.stdout
    assert setup.requests() == 1


def test_client_killed_mid_request_leaves_the_worker_healthy(setup: Setup, reviewed: str, tmp_path: Path) -> None:
    assert setup.vidal("status", "--dataset", reviewed).returncode == 0
    pid = setup.ready()["pid"]
    client = subprocess.Popen([sys.executable, "-m", "vidal.cli", "export", str(tmp_path / "out"), "--dataset",
                               reviewed], env=setup.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while "request 1: export_reviewed\n" not in setup.log() and client.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.poll() is None, "the export ended before it could be killed"
    client.send_signal(signal.SIGKILL)
    client.wait()

    after = setup.vidal("status", "--dataset", reviewed)
    assert after.returncode == 0 and f"dataset '{reviewed}': 6 mined" in after.stdout, after.stderr
    info = worker_status(setup.paths)
    assert info is not None and info["pid"] == pid and info["requests"] == 2


def test_two_commands_start_one_worker_which_stops_when_idle(setup: Setup, reviewed: str) -> None:
    setup.env["VIDAL_WORKER_IDLE_S"] = "10"
    both = [subprocess.Popen([sys.executable, "-m", "vidal.cli", "status", "--dataset", reviewed], env=setup.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in both:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0 and f"dataset '{reviewed}'" in out, err
    pid = setup.ready()["pid"]
    time.sleep(1)  # a second worker started meanwhile would be running by now
    workers = [p for p in psutil.process_iter(["cmdline"]) if str(setup.paths.socket) in (p.info["cmdline"] or [])]
    assert [p.pid for p in workers] == [pid]

    deadline = time.monotonic() + 120
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(pid) and worker_status(setup.paths) is None and not setup.paths.socket.exists()
    assert "no request for 10 s: stopping" in setup.log()


def test_off_runs_in_process_and_starts_no_worker(setup: Setup, reviewed: str) -> None:
    result = setup.vidal("status", "--dataset", reviewed, VIDAL_WORKER="0")
    assert result.returncode == 0 and f"dataset '{reviewed}'" in result.stdout, result.stderr
    time.sleep(2)
    assert worker_status(setup.paths) is None and not setup.paths.socket.exists()
    assert "vidal worker: not running (off here: VIDAL_WORKER=0)" in setup.vidal("db", "status",
                                                                                 VIDAL_WORKER="0").stdout
