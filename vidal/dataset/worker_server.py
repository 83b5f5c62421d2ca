"""The vidal worker process: it serves dataset calls on its socket, one at a time, until idle
or stopped.

Started by :func:`vidal.dataset.worker.start_worker` (``python -c ...`` running :func:`main`),
never imported by the CLI. It owns the server side of the design described in
:mod:`vidal.dataset.worker`: the lock that keeps it alone on its database, the socket it
binds, the peer check, the request loop (:class:`Worker`), the database health check before
each request, and the forwarding of a request's log records and output to its client. What it
shares with the client (the calls, the paths, the identity, the framing) is in
:mod:`vidal.dataset.wire`.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import importlib
import io
import logging
import os
import pickle
import signal
import socket
import struct
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import vidal
from vidal.dataset.database import DatabaseSettings, database_settings
from vidal.dataset.wire import (
    ACK_TIMEOUT_S,
    CALLS,
    FIFTYONE_LOGGERS,
    Identity,
    WorkerUnavailable,
    current_identity,
    receive,
    run_here,
    send,
    worker_paths,
)
from vidal.errors import DatasetError, VidalError

logger = logging.getLogger(__name__)

IDLE_VARIABLE = "VIDAL_WORKER_IDLE_S"
IDLE_TIMEOUT_S = 30 * 60.0


class _Channel:
    """The connection to the client of the request running; sends that fail (the client
    went away) are dropped, so the request finishes and the worker stays healthy."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.open = True

    def send(self, message: tuple[Any, ...]) -> None:
        if not self.open:
            return
        try:
            send(self.conn, message)
        except OSError:
            self.open = False


class _Forward(logging.Handler):
    """Sends the log records of a request to its client."""

    def __init__(self, channel: _Channel) -> None:
        super().__init__(logging.NOTSET)
        self.channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        record = copy.copy(record)
        record.msg, record.args = record.getMessage(), None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
        self.channel.send(("log", record))


class _Stream(io.TextIOBase):
    """Stands for stdout or stderr during a request: writes go to the client."""

    def __init__(self, channel: _Channel, name: str) -> None:
        self.channel = channel
        self.name = name

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if text:
            self.channel.send(("out", self.name, text))
        return len(text)


@contextlib.contextmanager
def _request_logging(handler: logging.Handler, levels: dict[str, int]) -> Iterator[None]:
    """Forward the records of the request at the client's levels."""
    loggers = [(logging.getLogger(), levels["root"])]
    loggers += [(logging.getLogger(name), levels["fiftyone"]) for name in FIFTYONE_LOGGERS]
    saved = [lg.level for lg, _ in loggers]
    for lg, level in loggers:
        lg.setLevel(level)
        lg.addHandler(handler)
    try:
        yield
    finally:
        for (lg, _), level in zip(loggers, saved):
            lg.removeHandler(handler)
            lg.setLevel(level)


def _portable(error: BaseException) -> BaseException:
    """``error`` if it survives pickling, else an exception of the same message (and, for a
    :class:`VidalError`, the same exit code)."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        if isinstance(error, VidalError):
            clone = VidalError(str(error))
            clone.exit_code = error.exit_code
            return clone
        return RuntimeError(f"{type(error).__name__}: {error}")


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


class Worker:
    """The server loop: one request at a time, until idle or stopped."""

    def __init__(self, identity: Identity, settings: DatabaseSettings, idle_s: float, mongod_pid: int | None) -> None:
        self.identity = identity
        self.settings = settings
        self.idle_s = idle_s
        self.mongod_pid = mongod_pid
        self.started = time.time()
        self.requests = 0

    def info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "started": self.started, "requests": self.requests, "idle_timeout_s": self.idle_s,
                "identity": asdict(self.identity)}

    def serve(self, server: socket.socket) -> None:
        last = time.monotonic()
        while True:
            server.settimeout(max(0.01, last + self.idle_s - time.monotonic()))
            try:
                conn, _ = server.accept()
            except TimeoutError:
                logger.info("no request for %g s: stopping", self.idle_s)
                return
            with conn:
                outcome = self.handle(conn)
            if outcome in ("ran", "failed"):
                last = time.monotonic()
            if outcome in ("failed", "stop"):
                return

    def healthy(self) -> str | None:
        """Why the database cannot serve a request now, or ``None``."""
        if self.settings.uri:
            from vidal.dataset.database import probe

            try:
                probe(self.settings.uri)
            except DatasetError as error:
                return str(error)
            return None
        import psutil

        if self.mongod_pid is None:  # not found at start: nothing to watch
            return None
        try:
            if psutil.Process(self.mongod_pid).status() != psutil.STATUS_ZOMBIE:
                return None
        except psutil.Error:
            pass
        return f"its mongod (pid {self.mongod_pid}) stopped"

    def handle(self, conn: socket.socket) -> str:
        conn.settimeout(ACK_TIMEOUT_S)
        try:
            if _peer_uid(conn) != os.getuid():
                logger.warning("refused a connection from another user")
                return "refused"
            message = receive(conn)
            if message[0] == "info":
                send(conn, ("info", self.info()))
                return "info"
            if message[0] != "call" or len(message) != 5:
                return "refused"
            _, identity, name, kwargs, levels = message
            if identity != self.identity:
                differences = self.identity.differences(identity) if isinstance(identity, Identity) else ["identity"]
                logger.info("refused a client with another %s", ", ".join(differences))
                send(conn, ("mismatch", differences))
                return "refused"
            if name not in CALLS:
                send(conn, ("refused", f"unknown call {name!r}"))
                return "refused"
            problem = self.healthy()
            if problem:
                logger.info("stopping: %s", problem)
                send(conn, ("unavailable", problem))
                return "stop"
            send(conn, ("accepted", os.getpid()))
            if receive(conn) != ("go",):
                return "refused"
        except Exception as error:  # a client that went away or sent garbage: the next one is served
            logger.info("dropped a client: %s", error)
            return "refused"
        conn.settimeout(None)
        self.requests += 1
        return self.run(_Channel(conn), name, kwargs, levels)

    def run(self, channel: _Channel, name: str, kwargs: dict[str, Any], levels: dict[str, int]) -> str:
        started = time.perf_counter()
        outcome = "ran"
        logger.info("request %d: %s", self.requests, name)
        with _request_logging(_Forward(channel), levels), contextlib.redirect_stdout(_Stream(channel, "stdout")), \
                contextlib.redirect_stderr(_Stream(channel, "stderr")):
            try:
                result = run_here(name, kwargs)
            except VidalError as error:
                reply: tuple[Any, ...] = ("error", _portable(error), traceback.format_exc())
            except Exception as error:
                reply = ("error", _portable(error), traceback.format_exc())
                outcome = "failed"
            else:
                reply = ("result", result)
        try:
            channel.send(reply)
        except pickle.PickleError as error:
            channel.send(("error", RuntimeError(f"cannot send the result of {name}: {error}"), ""))
        logger.info("request %d: %s %s in %.2f s%s", self.requests, name, reply[0], time.perf_counter() - started,
                    "" if channel.open else " (the client went away)")
        if outcome == "failed":
            logger.info("stopping after an unexpected error (the next command starts afresh):\n%s", reply[2])
        return outcome


def _bind(path: Path) -> socket.socket:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a dead worker's; this process holds the lock
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mask = os.umask(0o177)
    try:
        server.bind(str(path))
    finally:
        os.umask(mask)
    os.chmod(path, 0o600)
    server.listen(16)
    return server


def _stop_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """The worker process (started by :func:`vidal.dataset.worker.start_worker`)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s: %(message)s", force=True)
    for handler in logging.getLogger().handlers:  # a client's --debug request does not flood the log
        handler.setLevel(logging.INFO)
    for noisy in ("ultralytics", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = database_settings()
        paths = worker_paths(settings)
        identity = current_identity(settings)  # before fiftyone sets variables of its own
        idle_s = float(os.environ.get(IDLE_VARIABLE, IDLE_TIMEOUT_S))
    except (VidalError, WorkerUnavailable, ValueError) as error:
        logger.error("cannot start: %s", error)
        return 1
    lock = paths.lock.open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another worker serves this database
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, _stop_on_signal)
    server = None
    try:
        from vidal.dataset.connection import connect
        from vidal.dataset.database import find_service

        os.environ.setdefault("FIFTYONE_LOGGING_LEVEL", "WARNING")
        connect()
        for name in FIFTYONE_LOGGERS:
            logging.getLogger(name).propagate = False
        for entry in CALLS.values():
            importlib.import_module(entry.module)
        service = None if settings.uri else find_service(settings.folder)
        server = _bind(paths.socket)
        logger.info("serving %s on %s (vidal %s from %s)", settings.describe(), paths.socket, vidal.__version__,
                    identity.package)
        Worker(identity, settings, idle_s, service.mongod_pid if service else None).serve(server)
    except VidalError as error:
        logger.error("stopping: %s", error)
        return 1
    except SystemExit as stop:
        logger.info("stopped by signal %s", int(stop.code or 0) - 128)
    finally:
        if server is not None:
            server.close()
            with contextlib.suppress(OSError):
                paths.socket.unlink()
        lock.close()
    return 0
