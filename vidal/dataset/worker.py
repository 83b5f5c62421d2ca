"""A warm vidal worker that runs the short dataset commands' library calls for the CLI.

A dataset command spends most of its time before it does anything: ``import fiftyone``
(2.5-5 s on 2 idle cores, 12 s under load) and connecting to the database. The worker is a
background process, one per database, that has paid that once and keeps fiftyone imported
and connected, the way build daemons keep a warm compiler (mypy's ``dmypy``, Gradle's
daemon). The CLI hands it the call (:func:`call`) and prints the answer as if it had run the
call itself.

How it is built, and why:

- **Started by the first dataset command, reused by the next ones.** A command that finds no
  worker runs its call in-process, cold, as before, and then starts one in the background
  (``python -c ... vidal.dataset.worker_server``, in a session of its own, log in the database
  folder's ``log/vidal-worker.log``), provided that its own connection to the database
  succeeded: a worker for a database that cannot be reached would only fail. The command
  does not wait for it; the worker listens once it is connected, so a later command either
  finds a ready worker or runs in-process.
- **At most one per database.** The worker holds an exclusive ``flock`` on
  ``vidal-worker.lock`` in the database folder (FiftyOne's ``database_dir``, where vidal's
  other locks live) for its whole life and writes its pid there; a second worker started at
  the same moment finds the lock taken and exits before importing anything heavy. The
  kernel releases the lock when the worker dies, however it dies.
- **Stopped** by ``vidal db stop`` (SIGTERM to the pid in the lock file, before the database:
  the worker is a registered client of the local ``mongod``, which would otherwise wait for
  it), and after :data:`~vidal.dataset.worker_server.IDLE_TIMEOUT_S` (30 min,
  ``VIDAL_WORKER_IDLE_S`` to change it) without a request. ``vidal db status`` shows it.
- **Transport: an AF_UNIX stream socket**, mode 0600, owned by the user: ``vidal-worker.sock``
  in the database folder (``vidal-worker-<hash of the URI>.sock`` for a
  ``FIFTYONE_DATABASE_URI``), or, where that path is longer than a socket address holds
  (108 bytes), ``vidal-<hash of that path>.sock`` in ``$XDG_RUNTIME_DIR`` or in a 0700 folder
  ``/tmp/vidal-<uid>``. The worker also checks the peer's uid (``SO_PEERCRED``) before it
  reads anything. Messages are pickles, length-prefixed: both ends are the same user's
  processes running the same code (checked below), so pickle is as trusted as the user's
  own files, and it carries the library's own result and exception types without a second
  serialisation to maintain.
- **What it runs**: only the functions of :data:`~vidal.dataset.wire.CALLS`, by name, with
  keyword arguments. :func:`call` makes every ``Path`` argument absolute in the client,
  in-process calls included (the worker's working directory is not the user's, and the same
  arguments give the same messages either way).
- **Same answer as in-process.** The result, or the exception, comes back and is returned or
  raised in the client, so the CLI prints the same one-line error with the same exit code
  (``--debug`` shows the worker's traceback as the cause). Log records emitted during the
  request (at the client's levels) are sent back and handled by the client's loggers, and
  what the call writes to stdout or stderr (FiftyOne's progress bars) is written to the
  client's, so the user sees the same lines.
- **Serves only its twin.** Each request carries the client's
  :class:`~vidal.dataset.wire.Identity`: database settings (URI, folder, FiftyOne's config
  file and its mtime), the ``FIFTYONE_*``, ``VIDAL_HOME`` and ``HOME`` variables, the
  interpreter, the package folder, and a hash of the sizes and mtimes of vidal's source files
  and of fiftyone's and pymongo's ``__init__.py``. A worker that differs in anything answers
  so; the client runs the call in-process and replaces the worker (stops it; the command
  starts a new one). An edited or upgraded vidal is therefore never served by a worker
  running the old code.
- **Never a wrong answer, never a hang.** Whatever goes wrong before the worker accepted the
  request (no worker, refused, busy with another request for more than
  :data:`~vidal.dataset.wire.ACK_TIMEOUT_S`, another identity) makes the client run the call
  in-process, saying why in one debug line (``--debug``). A worker that dies during a request
  is replaced: the client runs the call again in-process where that is safe
  (:attr:`~vidal.dataset.wire.Call.rerun_safe`: reading and idempotent writes), else reports
  it. Before each request the worker checks its database (the local ``mongod`` alive, a URI
  answering), so a stopped database never makes a request wait for FiftyOne's 30-s timeout.
- **One request at a time**, in the worker's main thread; other clients wait for the
  acknowledgement up to :data:`~vidal.dataset.wire.ACK_TIMEOUT_S`, then run in-process. The
  worker finishes a request whose client was killed (its writes are whole-sample ones, like
  the in-process call's) and stays healthy: sends to a closed socket are dropped. A request
  that raised anything other than a :class:`~vidal.errors.VidalError` (a bug, a lost
  connection) is answered, then the worker exits so the next command starts from a fresh
  process.
- ``VIDAL_WORKER=0`` turns it off: every call runs in-process and no worker is started (the
  test suite sets it; the worker's own tests turn it on).

Where it lives: this module is the client side, what the CLI and the tools import
(:func:`call`, :func:`start_worker`, :func:`worker_status`, :func:`stop_worker`);
:mod:`vidal.dataset.wire` holds what both sides share (the calls, the paths, the identity,
the framing); :mod:`vidal.dataset.worker_server` is the worker process.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pickle
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import vidal
from vidal.dataset.database import DatabaseSettings, alive, database_settings
from vidal.dataset.wire import (
    ACK_TIMEOUT_S,
    CALLS,
    FIFTYONE_LOGGERS,
    PER_PROCESS_VARIABLES,
    Identity,
    WorkerPaths,
    WorkerUnavailable,
    current_identity,
    receive,
    run_here,
    send,
    worker_paths,
)
from vidal.errors import DatasetError, VidalError

logger = logging.getLogger(__name__)

SWITCH = "VIDAL_WORKER"
STOP_TIMEOUT_S = 20.0


class RemoteTraceback(Exception):
    """The worker's traceback of an exception it sent back (shown as its cause)."""

    def __str__(self) -> str:
        return "\n\n" + str(self.args[0]) if self.args else ""


def enabled() -> bool:
    """Whether dataset calls may go to a worker (``VIDAL_WORKER`` is not ``0``)."""
    return os.environ.get(SWITCH, "1").strip() != "0"


def _absolute(value: Any) -> Any:
    return Path(os.path.abspath(value)) if isinstance(value, Path) else value


def call(name: str, /, **kwargs: Any) -> Any:
    """Run a dataset library call in the database's worker if one can serve it, else here.

    Args:
        name: A key of :data:`~vidal.dataset.wire.CALLS`.
        **kwargs: Its keyword arguments; ``Path`` values are made absolute.

    Returns:
        What the function returns.

    Raises:
        VidalError: What the function raises, wherever it ran; or the worker died during a
            call that is not safe to run again.
    """
    if name not in CALLS:
        raise ValueError(f"unknown dataset call {name!r}; valid: {', '.join(CALLS)}")
    kwargs = {key: _absolute(value) for key, value in kwargs.items()}
    if not enabled():
        return run_here(name, kwargs)
    try:
        settings = database_settings()
        paths = worker_paths(settings)
        identity = current_identity(settings)
    except (VidalError, WorkerUnavailable) as error:
        logger.debug("vidal worker not used (%s): running here", error)
        return run_here(name, kwargs)
    try:
        return _call_worker(paths, identity, name, kwargs)
    except WorkerUnavailable as why:
        logger.debug("vidal worker not used (%s): running here", why)
    try:
        return run_here(name, kwargs)
    finally:
        from vidal.dataset.connection import connected_to

        if connected_to(settings):  # the database answered: a worker can serve the next commands
            start_worker(paths, settings)


def _connect(paths: WorkerPaths) -> socket.socket:
    try:
        st = os.lstat(paths.socket)
    except OSError:
        raise WorkerUnavailable("none running") from None
    if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.getuid():
        raise WorkerUnavailable(f"{paths.socket} is not this user's socket")
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(ACK_TIMEOUT_S)
    try:
        conn.connect(str(paths.socket))
    except OSError as error:
        conn.close()
        raise WorkerUnavailable(f"none running ({error.strerror or error})") from None
    return conn


def _call_worker(paths: WorkerPaths, identity: Identity, name: str, kwargs: dict[str, Any]) -> Any:
    root = logging.getLogger()
    fiftyone_level = logging.getLevelName(os.environ.get("FIFTYONE_LOGGING_LEVEL", "WARNING").upper())
    levels = {"root": root.getEffectiveLevel(),
              "fiftyone": fiftyone_level if isinstance(fiftyone_level, int) else logging.WARNING}
    with _connect(paths) as conn:
        try:
            send(conn, ("call", identity, name, kwargs, levels))
            reply = receive(conn)
        except (OSError, EOFError, pickle.PickleError) as error:
            raise WorkerUnavailable(f"no answer within {ACK_TIMEOUT_S:g} s ({error})") from None
        if reply[0] == "mismatch":
            stop_worker(paths, wait=False)
            raise WorkerUnavailable(f"it runs with another {', '.join(reply[1])}; replacing it")
        if reply[0] != "accepted":
            raise WorkerUnavailable(f"it answered {reply[0]}: {reply[1:]}")
        try:
            send(conn, ("go",))
        except OSError as error:
            raise WorkerUnavailable(f"it went away ({error})") from None
        conn.settimeout(None)
        logger.debug("%s served by the vidal worker (pid %s)", name, reply[1])
        return _follow(conn, name, reply[1])


def _follow(conn: socket.socket, name: str, pid: int) -> Any:
    """Relay the worker's log records and output until its result or exception."""
    while True:
        try:
            message = receive(conn)
        except (OSError, EOFError, pickle.PickleError) as error:
            if CALLS[name].rerun_safe:
                raise WorkerUnavailable(f"it stopped during the request ({error})") from None
            raise DatasetError(
                f"the vidal worker (pid {pid}) stopped while running {name}; run the command again"
            ) from error
        kind = message[0]
        if kind == "log":
            _emit(message[1])
        elif kind == "out":
            stream = sys.stderr if message[1] == "stderr" else sys.stdout
            stream.write(message[2])
            stream.flush()
        elif kind == "result":
            return message[1]
        elif kind == "error":
            raise message[1] from RemoteTraceback(message[2])


def _emit(record: logging.LogRecord) -> None:
    """Handle a record from the worker as this process would have."""
    target = logging.getLogger(record.name)
    if record.name.split(".")[0] in FIFTYONE_LOGGERS:
        # FiftyOne's own handler (installed when fiftyone is imported, which this process
        # skipped) writes the bare message to stdout.
        if target.filter(record):
            sys.stdout.write(record.getMessage() + "\n")
            sys.stdout.flush()
    elif target.isEnabledFor(record.levelno):
        target.handle(record)


def _lock_holder(paths: WorkerPaths) -> int | None:
    """The pid of the worker holding the lock (0 while it starts), or ``None`` if none holds it."""
    try:
        handle = paths.lock.open("a+")
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read().strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None


def start_worker(paths: WorkerPaths, settings: DatabaseSettings) -> None:
    """Start the worker in the background unless one runs (it exits at once if another took
    the lock meanwhile)."""
    if _lock_holder(paths) is not None:
        return
    root = str(Path(vidal.__file__).resolve().parents[1])
    program = (f"import sys; sys.path.insert(0, {root!r}); from vidal.dataset.worker_server import main; "
               "sys.exit(main())")
    env = {k: v for k, v in os.environ.items() if k not in PER_PROCESS_VARIABLES}
    try:
        paths.log.parent.mkdir(parents=True, exist_ok=True)
        with paths.log.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-c", program, "--socket", str(paths.socket)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=settings.folder, env=env,
                start_new_session=True,  # not stopped by the terminal's Ctrl-C or hang-up
            )
    except OSError as error:
        logger.debug("cannot start a vidal worker: %s", error)
        return
    logger.debug("started a vidal worker (pid %d) for %s", process.pid, settings.describe())


def worker_status(paths: WorkerPaths) -> dict[str, Any] | None:
    """What the running worker says of itself (pid, start, requests served, idle timeout),
    ``{"pid": ...}`` alone if it is busy or starting, ``None`` if none runs."""
    pid = _lock_holder(paths)
    if pid is None:
        return None
    try:
        with _connect(paths) as conn:
            send(conn, ("info",))
            reply = receive(conn)
        return dict(reply[1]) if reply[0] == "info" else {"pid": pid}
    except (WorkerUnavailable, OSError, EOFError, pickle.PickleError):
        return {"pid": pid}


def stop_worker(paths: WorkerPaths, *, wait: bool = True, timeout: float = STOP_TIMEOUT_S) -> int | None:
    """Stop the running worker (SIGTERM; a request it is running is cut short).

    Returns:
        Its pid, or ``None`` if none ran (or it stopped before it wrote its pid).
    """
    pid = _lock_holder(paths)
    if not pid:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while wait and (_lock_holder(paths) is not None or alive(pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid
