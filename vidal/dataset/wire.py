"""What both ends of the vidal worker's socket share: the calls it runs, where it listens,
whom it serves, and how messages are framed.

The client (:mod:`vidal.dataset.worker`) and the worker process
(:mod:`vidal.dataset.worker_server`) both import this module; its design is described in
:mod:`vidal.dataset.worker`. It owns:

- :data:`CALLS`, the library functions a worker may run, and :func:`run_here`, which runs one
  in the calling process (the client's in-process fallback, the worker's request);
- :func:`worker_paths`: a database's socket, lock file and log;
- :class:`Identity`: what a worker must share with a client to serve it;
- the framing: length-prefixed pickles (:func:`send`, :func:`receive`).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import pickle
import socket
import stat
import struct
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import vidal
from vidal.dataset.database import DatabaseSettings

# An idle worker answers within milliseconds; one busy with another request is waited for
# this long before the call runs in-process.
ACK_TIMEOUT_S = 2.0
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
    "propagate_dataset": Call("vidal.dataset.propagate", "propagate_dataset", True),
    "retrack_jobs": Call("vidal.dataset.propagate", "retrack_jobs", True),
}


class WorkerUnavailable(Exception):
    """The worker cannot serve this call (internal: the call then runs in-process)."""


def run_here(name: str, kwargs: dict[str, Any]) -> Any:
    """Run the call ``name`` of :data:`CALLS` in this process."""
    entry = CALLS[name]
    return getattr(importlib.import_module(entry.module), entry.function)(**kwargs)


@dataclass(frozen=True)
class WorkerPaths:
    """Where a database's worker listens, locks and logs."""

    socket: Path
    lock: Path
    log: Path


@dataclass(frozen=True)
class Identity:
    """What a worker must share with a client to serve it (see :mod:`vidal.dataset.worker`)."""

    database: tuple[str | None, str]
    config: str
    environment: tuple[tuple[str, str], ...]
    python: str
    package: str
    code: str

    def differences(self, other: Identity) -> list[str]:
        """Names of the fields that differ from ``other``."""
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]


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


# --- the framing: length-prefixed pickles ---

def send(conn: socket.socket, message: tuple[Any, ...]) -> None:
    """Send ``message`` (a tuple whose first item names its kind) on ``conn``."""
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


def receive(conn: socket.socket) -> tuple[Any, ...]:
    """The next message on ``conn``.

    Raises:
        EOFError: The other end closed the connection, or sent what is not a message.
        OSError: The socket failed or timed out (besides what ``pickle.loads`` raises for a
            garbled message).
    """
    (size,) = HEADER.unpack(_read_exactly(conn, HEADER.size))
    if size > MAX_MESSAGE:
        raise EOFError(f"message of {size} bytes")
    message = pickle.loads(_read_exactly(conn, size))
    if not isinstance(message, tuple) or not message:
        raise EOFError(f"not a message: {type(message).__name__}")
    return message

