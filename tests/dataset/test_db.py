"""``vidal db status|stop``, the local ``mongod`` that dataset commands share, an unreachable URI.

These run the real ``vidal`` in subprocesses on a database folder of their own, without the
session's ``FIFTYONE_DATABASE_URI``: the local database path is what they test.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from vidal.dataset.database import find_service, find_services, stop_service

pytestmark = pytest.mark.fiftyone
PID_PORT = re.compile(r"running, mongod pid (\d+) on 127\.0\.0\.1:(\d+)")


@pytest.fixture
def local_env(tmp_path: Path):
    """The environment of a user with FiftyOne's local database in ``tmp_path/db``; the
    ``mongod`` a test leaves running is stopped at the end."""
    folder = tmp_path / "db"
    env = {k: v for k, v in os.environ.items() if k not in ("FIFTYONE_DATABASE_URI", "FIFTYONE_PRIVATE_DATABASE_PORT")}
    env.update(FIFTYONE_DATABASE_DIR=str(folder), FIFTYONE_CONFIG_PATH=str(tmp_path / "no-config.json"))
    yield env, folder
    service = find_service(folder)
    if service is not None and service.holder_pid is not None:
        stop_service(service)


def vidal(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vidal.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def services_of(folder: Path) -> list[int]:
    return [s.pid for s in find_services() if os.path.realpath(s.folder) == os.path.realpath(folder)]


def test_db_status_and_stop(local_env) -> None:
    env, folder = local_env
    result = vidal(env, "db", "status")
    assert result.returncode == 0, result.stderr
    assert f"local database in {folder}: not running" in result.stdout

    result = vidal(env, "status", "--dataset", "missing")  # starts the database, then refuses the name
    assert result.returncode == 2 and "no dataset 'missing'" in result.stderr, result.stderr
    result = vidal(env, "db", "status")
    assert result.returncode == 0, result.stderr
    match = PID_PORT.search(result.stdout)
    assert match and "kept running by vidal" in result.stdout, result.stdout
    service = find_service(folder)
    assert service is not None and (service.mongod_pid, service.port) == (int(match[1]), int(match[2]))

    result = vidal(env, "db", "stop")
    assert result.returncode == 0, result.stderr
    assert f"stopped the local database in {folder}" in result.stdout
    assert services_of(folder) == [] and not psutil.pid_exists(service.mongod_pid)
    assert "not running" in vidal(env, "db", "status").stdout
    assert "not running" in vidal(env, "db", "stop").stdout


def test_commands_share_one_mongod(local_env) -> None:
    """Two commands at the same moment start one mongod; a later command and a plain FiftyOne
    process reuse it."""
    env, folder = local_env
    both = [subprocess.Popen([sys.executable, "-m", "vidal.cli", "status", "--dataset", "missing"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in both:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 2 and "no dataset 'missing'" in err, err
    first = find_service(folder)
    assert first is not None and first.port is not None and len(services_of(folder)) == 1

    result = vidal(env, "status", "--dataset", "missing")
    assert "no dataset 'missing'" in result.stderr, result.stderr
    again = find_service(folder)
    assert again is not None and (again.pid, again.mongod_pid, again.port) == (first.pid, first.mongod_pid, first.port)

    fiftyone = subprocess.run(
        [sys.executable, "-c", "import os, fiftyone as fo; fo.list_datasets(); "
         "print(os.environ['FIFTYONE_PRIVATE_DATABASE_PORT'])"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert fiftyone.returncode == 0, fiftyone.stderr
    # FiftyOne attaches to the first database service it finds, whatever its database folder
    # (the README says so): with another one running on the machine (CI runs the README's
    # `vidal mine` before the tests), it may be that one. vidal's own commands find theirs by folder.
    others = {str(s.port) for s in find_services() if os.path.realpath(s.folder) != os.path.realpath(folder)}
    assert fiftyone.stdout.split()[-1] in {str(first.port), *others} and len(services_of(folder)) == 1
    if not others:
        assert fiftyone.stdout.split()[-1] == str(first.port)


@pytest.mark.parametrize("command", [["status"], ["export", "out"], ["db", "status"]])
def test_unreachable_uri_fails_fast(tmp_path: Path, command: list[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    env = dict(os.environ, FIFTYONE_DATABASE_URI=f"mongodb://alice:s3cret@127.0.0.1:{port}/?authSource=admin")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "vidal.cli", *command], env=env, capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach FiftyOne's database"), result.stderr
    assert f"mongodb://***@127.0.0.1:{port}" in lines[0] and "s3cret" not in result.stderr + result.stdout
    # The goal is 5 s (2 s of probe, the rest Python's start); generous for a loaded machine.
    assert elapsed < 15, elapsed
