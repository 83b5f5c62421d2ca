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
  (``python -c ... vidal.dataset.worker``, in a session of its own, log in the database
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
  it), and after :data:`IDLE_TIMEOUT_S` (30 min, ``VIDAL_WORKER_IDLE_S`` to change it)
  without a request. ``vidal db status`` shows it.
- **Transport: an AF_UNIX stream socket**, mode 0600, owned by the user: ``vidal-worker.sock``
  in the database folder (``vidal-worker-<hash of the URI>.sock`` for a
  ``FIFTYONE_DATABASE_URI``), or, where that path is longer than a socket address holds
  (108 bytes), ``vidal-<hash of that path>.sock`` in ``$XDG_RUNTIME_DIR`` or in a 0700 folder
  ``/tmp/vidal-<uid>``. The worker also checks the peer's uid (``SO_PEERCRED``) before it
  reads anything. Messages are pickles, length-prefixed: both ends are the same user's
  processes running the same code (checked below), so pickle is as trusted as the user's
  own files, and it carries the library's own result and exception types without a second
  serialisation to maintain.
- **What it runs**: only the functions of :data:`CALLS`, by name, with keyword arguments.
  :func:`call` makes every ``Path`` argument absolute in the client, in-process calls
  included (the worker's working directory is not the user's, and the same arguments give
  the same messages either way).
- **Same answer as in-process.** The result, or the exception, comes back and is returned or
  raised in the client, so the CLI prints the same one-line error with the same exit code
  (``--debug`` shows the worker's traceback as the cause). Log records emitted during the
  request (at the client's levels) are sent back and handled by the client's loggers, and
  what the call writes to stdout or stderr (FiftyOne's progress bars) is written to the
  client's, so the user sees the same lines.
- **Serves only its twin.** Each request carries the client's :class:`Identity`: database
  settings (URI, folder, FiftyOne's config file and its mtime), the ``FIFTYONE_*``,
  ``VIDAL_HOME`` and ``HOME`` variables, the interpreter, the package folder, and a hash of
  the sizes and mtimes of vidal's source files and of fiftyone's and pymongo's
  ``__init__.py``. A worker that differs in anything answers so; the client runs the call
  in-process and replaces the worker (stops it; the command starts a new one). An edited or
  upgraded vidal is therefore never served by a worker running the old code.
- **Never a wrong answer, never a hang.** Whatever goes wrong before the worker accepted the
  request (no worker, refused, busy with another request for more than
  :data:`ACK_TIMEOUT_S`, another identity) makes the client run the call in-process, saying
  why in one debug line (``--debug``). A worker that dies during a request is replaced: the
  client runs the call again in-process where that is safe (:attr:`Call.rerun_safe`: reading
  and idempotent writes), else reports it. Before each request the worker checks its
  database (the local ``mongod`` alive, a URI answering), so a stopped database never makes
  a request wait for FiftyOne's 30-s timeout.
- **One request at a time**, in the worker's main thread; other clients wait for the
  acknowledgement up to :data:`ACK_TIMEOUT_S`, then run in-process. The worker finishes a
  request whose client was killed (its writes are whole-sample ones, like the in-process
  call's) and stays healthy: sends to a closed socket are dropped. A request that raised
  anything other than a :class:`~vidal.errors.VidalError` (a bug, a lost connection) is
  answered, then the worker exits so the next command starts from a fresh process.
- ``VIDAL_WORKER=0`` turns it off: every call runs in-process and no worker is started (the
  test suite sets it; the worker's own tests turn it on).
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import importlib
import io
import logging
import os
import pickle
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import vidal
from vidal.dataset.database import DatabaseSettings, alive, database_settings
from vidal.errors import DatasetError, VidalError

logger = logging.getLogger(__name__)

SWITCH = "VIDAL_WORKER"
IDLE_VARIABLE = "VIDAL_WORKER_IDLE_S"
IDLE_TIMEOUT_S = 30 * 60.0
# An idle worker answers within milliseconds; one busy with another request is waited for
# this long before the call runs in-process.
ACK_TIMEOUT_S = 2.0
STOP_TIMEOUT_S = 20.0
# A socket address holds 108 bytes, the terminating NUL included (man 7 unix).
MAX_SOCKET_PATH = 107
HEADER = struct.Struct("!Q")
MAX_MESSAGE = 1 << 30
LOG_NAME = "vidal-worker.log"
# Set by FiftyOne or by the CLI in a process, per process: not part of a worker's identity.
PER_PROCESS_VARIABLES = ("FIFTYONE_PRIVATE_DATABASE_PORT", "FIFTYONE_LOGGING_LEVEL")
FIFTYONE_LOGGERS = ("fiftyone", "eta")


@dataclass(frozen=True)
class Call:
    """A library function the worker may run.

    Attributes:
        module: Its module.
        function: Its name.
        rerun_safe: Whether running it again after a worker died during it is safe (it only
            reads, or its writes are idempotent).
    """

    module: str
    function: str
    rerun_safe: bool


CALLS: dict[str, Call] = {
    "dataset_status": Call("vidal.dataset.report", "dataset_status", True),
    "label_from_mot": Call("vidal.dataset.label", "label_from_mot", True),
    "export_reviewed": Call("vidal.dataset.export", "export_reviewed", False),
    "push_run": Call("vidal.dataset.push", "push_run", True),
}


class WorkerUnavailable(Exception):
    """The worker cannot serve this call (internal: the call then runs in-process)."""


class RemoteTraceback(Exception):
    """The worker's traceback of an exception it sent back (shown as its cause)."""

    def __str__(self) -> str:
        return "\n\n" + str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class WorkerPaths:
    """Where a database's worker listens, locks and logs."""

    socket: Path
    lock: Path
    log: Path


@dataclass(frozen=True)
class Identity:
    """What a worker must share with a client to serve it (see the module docstring)."""

    database: tuple[str | None, str]
    config: str
    environment: tuple[tuple[str, str], ...]
    python: str
    package: str
    code: str

    def differences(self, other: Identity) -> list[str]:
        """Names of the fields that differ from ``other``."""
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]


def enabled() -> bool:
    """Whether dataset calls may go to a worker (``VIDAL_WORKER`` is not ``0``)."""
    return os.environ.get(SWITCH, "1").strip() != "0"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _stamp(path: Path | str | None) -> str:
    if path is None:
        return "none"
    try:
        st = os.stat(path)
    except OSError:
        return f"{path}:absent"
    return f"{path}:{st.st_mtime_ns}:{st.st_size}"


def code_signature() -> str:
    """A hash of vidal's version and of the sizes and mtimes of its source files and of
    fiftyone's and pymongo's ``__init__.py`` (cheap: no file is read)."""
    import importlib.util

    root = Path(vidal.__file__).resolve().parent
    parts = [vidal.__version__]
    parts += [_stamp(path) for path in sorted(root.rglob("*.py"))]
    for name in ("fiftyone", "pymongo"):
        spec = importlib.util.find_spec(name)
        parts.append(_stamp(spec.origin if spec else None))
    return _digest("\n".join(parts))


def current_identity(settings: DatabaseSettings) -> Identity:
    """This process's :class:`Identity` for ``settings``."""
    config = os.path.expanduser(os.environ.get("FIFTYONE_CONFIG_PATH", "~/.fiftyone/config.json"))
    environment = {
        key: value for key, value in os.environ.items()
        if (key.startswith("FIFTYONE_") and key not in PER_PROCESS_VARIABLES) or key in ("VIDAL_HOME", "HOME")
    }
    environment.setdefault("FIFTYONE_DO_NOT_TRACK", "true")  # what connect() sets when unset
    return Identity(
        database=(settings.uri, str(settings.folder)),
        config=_stamp(config),
        environment=tuple(sorted(environment.items())),
        python=sys.executable,
        package=str(Path(vidal.__file__).resolve().parent),
        code=code_signature(),
    )


def _private_folder() -> Path:
    """A folder only this user can enter, for sockets whose path in the database folder is
    too long: ``$XDG_RUNTIME_DIR`` (per-user, 0700 by its specification), else
    ``/tmp/vidal-<uid>``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    candidates = [Path(runtime)] if runtime else []
    candidates.append(Path("/tmp") / f"vidal-{os.getuid()}")
    for folder in candidates:
        with contextlib.suppress(FileExistsError, OSError):
            folder.mkdir(mode=0o700)
        try:
            st = os.lstat(folder)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077:
            return folder
    raise WorkerUnavailable(f"no private folder for its socket ({', '.join(map(str, candidates))})")


def worker_paths(settings: DatabaseSettings) -> WorkerPaths:
    """The socket, lock file and log of the worker for ``settings``.

    Raises:
        WorkerUnavailable: The socket path is too long and no private folder is usable.
    """
    name = "vidal-worker" if settings.uri is None else f"vidal-worker-{_digest(settings.uri)[:12]}"
    path = settings.folder / f"{name}.sock"
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        path = _private_folder() / f"vidal-{_digest(str(path))[:16]}.sock"
    return WorkerPaths(path, settings.folder / f"{name}.lock", settings.folder / "log" / LOG_NAME)


# --- the wire: length-prefixed pickles ---

def _send(conn: socket.socket, message: tuple[Any, ...]) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    conn.sendall(HEADER.pack(len(data)) + data)


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = conn.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError("the other end closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _receive(conn: socket.socket) -> tuple[Any, ...]:
    (size,) = HEADER.unpack(_read_exactly(conn, HEADER.size))
    if size > MAX_MESSAGE:
        raise EOFError(f"message of {size} bytes")
    message = pickle.loads(_read_exactly(conn, size))
    if not isinstance(message, tuple) or not message:
        raise EOFError(f"not a message: {type(message).__name__}")
    return message


# --- the client ---

def _absolute(value: Any) -> Any:
    return Path(os.path.abspath(value)) if isinstance(value, Path) else value


def run_here(name: str, kwargs: dict[str, Any]) -> Any:
    """Run the call ``name`` of :data:`CALLS` in this process."""
    entry = CALLS[name]
    return getattr(importlib.import_module(entry.module), entry.function)(**kwargs)


def call(name: str, /, **kwargs: Any) -> Any:
    """Run a dataset library call in the database's worker if one can serve it, else here.

    Args:
        name: A key of :data:`CALLS`.
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
            _send(conn, ("call", identity, name, kwargs, levels))
            reply = _receive(conn)
        except (OSError, EOFError, pickle.PickleError) as error:
            raise WorkerUnavailable(f"no answer within {ACK_TIMEOUT_S:g} s ({error})") from None
        if reply[0] == "mismatch":
            stop_worker(paths, wait=False)
            raise WorkerUnavailable(f"it runs with another {', '.join(reply[1])}; replacing it")
        if reply[0] != "accepted":
            raise WorkerUnavailable(f"it answered {reply[0]}: {reply[1:]}")
        try:
            _send(conn, ("go",))
        except OSError as error:
            raise WorkerUnavailable(f"it went away ({error})") from None
        conn.settimeout(None)
        logger.debug("%s served by the vidal worker (pid %s)", name, reply[1])
        return _follow(conn, name, reply[1])


def _follow(conn: socket.socket, name: str, pid: int) -> Any:
    """Relay the worker's log records and output until its result or exception."""
    while True:
        try:
            message = _receive(conn)
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
    program = f"import sys; sys.path.insert(0, {root!r}); from vidal.dataset.worker import main; sys.exit(main())"
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
            _send(conn, ("info",))
            reply = _receive(conn)
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


# --- the worker ---

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
            _send(self.conn, message)
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
            message = _receive(conn)
            if message[0] == "info":
                _send(conn, ("info", self.info()))
                return "info"
            if message[0] != "call" or len(message) != 5:
                return "refused"
            _, identity, name, kwargs, levels = message
            if identity != self.identity:
                differences = self.identity.differences(identity) if isinstance(identity, Identity) else ["identity"]
                logger.info("refused a client with another %s", ", ".join(differences))
                _send(conn, ("mismatch", differences))
                return "refused"
            if name not in CALLS:
                _send(conn, ("refused", f"unknown call {name!r}"))
                return "refused"
            problem = self.healthy()
            if problem:
                logger.info("stopping: %s", problem)
                _send(conn, ("unavailable", problem))
                return "stop"
            _send(conn, ("accepted", os.getpid()))
            if _receive(conn) != ("go",):
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
    """The worker process (started by :func:`start_worker`)."""
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
