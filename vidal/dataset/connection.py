"""Opening FiftyOne and its database.

The :mod:`vidal.dataset` package is the only importer of ``fiftyone``, and it imports it
lazily: ``import fiftyone`` and the start of its MongoDB cost seconds that a run without a
push should not pay.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from vidal.dataset.database import (
    DatabaseSettings,
    LocalService,
    database_settings,
    find_service,
    probe,
    redact,
    start_service,
    wait_for_service,
)
from vidal.errors import DatasetError

logger = logging.getLogger(__name__)

# Names of datasets vidal creates: FiftyOne would accept more (it slugifies), but a name that
# loses characters in its slug ("a/b" is "ab") invites two names for one dataset.
DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$")
# The FiftyOne service that starts a local mongod is not safe against two processes starting
# it at the same moment (the second fails to bind the database folder); vidal processes take
# this lock, in the database folder, around finding or starting it, registering with it and
# their first connection, and ``vidal db stop`` around stopping it.
CONNECT_LOCK = "vidal-connect.lock"
# The database this process connected to: a command connects from several functions, and
# finding the service, registering with it or probing a URI once is enough.
_connected: DatabaseSettings | None = None


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid dataset name.

    Raises:
        DatasetError: It is empty, too long or has characters other than letters, digits,
            spaces, ``-``, ``_`` and ``.``.
    """
    if not DATASET_NAME.match(name):
        raise DatasetError(
            f"invalid dataset name {name!r}: use 1-100 letters, digits, spaces, '-', '_' or '.', "
            "starting with a letter or digit"
        )
    return name


def import_fiftyone() -> ModuleType:
    """Import FiftyOne, with its usage tracking off unless the user set it.

    Raises:
        DatasetError: FiftyOne is not installed.
    """
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    try:
        import fiftyone
    except ImportError as error:  # pragma: no cover - a dependency of vidal
        raise DatasetError(f"FiftyOne is not installed ({error}): pip install fiftyone") from error
    return fiftyone


def lock_dir(fo: ModuleType) -> Path:
    """The folder holding vidal's lock files: FiftyOne's database folder.

    Every process using one local database shares it; for a remote database
    (``FIFTYONE_DATABASE_URI``) it still serialises the processes of this machine, and the
    dataset's unique key index guards the rest.
    """
    return _lock_folder(Path(fo.config.database_dir).expanduser())


def _lock_folder(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatasetError(f"cannot create FiftyOne's database folder {folder}: {error.strerror}") from error
    return folder


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing); released on exit or death."""
    try:
        handle = path.open("a")
    except OSError as error:
        raise DatasetError(f"cannot open lock file {path}: {error.strerror}") from error
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def describe_database(fo: ModuleType) -> str:
    """Where the database is, for messages."""
    uri = fo.config.database_uri
    if uri:
        return redact(uri)  # no credentials in messages
    return f"local mongod in {fo.config.database_dir}"


def connect() -> ModuleType:
    """Import FiftyOne and connect to its database.

    A ``FIFTYONE_DATABASE_URI`` is checked first, so that an unreachable one fails in
    seconds. Otherwise the local ``mongod`` of FiftyOne's database folder is used: the one
    running (vidal's, or one FiftyOne started), else one started now that keeps running for
    the next commands (:mod:`vidal.dataset.database`; ``vidal db stop`` stops it). The start
    overlaps the import of fiftyone.

    Returns:
        The ``fiftyone`` module.

    Raises:
        DatasetError: The database cannot be reached or started.
    """
    global _connected
    settings = database_settings()
    if settings == _connected:  # FiftyOne's connection is per process; checked once
        return import_fiftyone()
    holder = None
    if settings.uri:
        probe(settings.uri)
    else:
        with file_lock(_lock_folder(settings.folder) / CONNECT_LOCK):
            if find_service(settings.folder) is None:
                holder = start_service(settings.folder)
    fo = import_fiftyone()
    configured = DatabaseSettings(fo.config.database_uri or None, Path(fo.config.database_dir).absolute())
    if configured != settings:
        raise DatasetError(
            f"FiftyOne's config names the database {configured.describe()}, vidal read {settings.describe()}: "
            "set FIFTYONE_DATABASE_URI or FIFTYONE_DATABASE_DIR explicitly"
        )
    with file_lock(_lock_folder(settings.folder) / CONNECT_LOCK):
        if not settings.uri:
            _attach(fo, wait_for_service(settings.folder, holder))
        try:
            fo.list_datasets()
        except Exception as error:  # FiftyOne raises ConnectionError, pymongo and service errors
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise DatasetError(f"cannot reach FiftyOne's database ({describe_database(fo)}): {first}") from error
    _connected = settings
    return fo


def connected_to(settings: DatabaseSettings) -> bool:
    """Whether this process connected to the database of ``settings``."""
    return _connected == settings


def _attach(fo: ModuleType, service: LocalService) -> None:
    """Register this process as a client of the running service, as FiftyOne's own
    ``DatabaseService`` does, so that ``mongod`` keeps running while this process lives, even
    through ``vidal db stop``; and point FiftyOne (and the App server it starts) at its port."""
    import psutil
    from fiftyone.service.util import send_ipc_message

    try:
        reply = send_ipc_message(psutil.Process(service.pid), ("register", os.getpid()))
    except (OSError, psutil.Error) as error:
        reply = error
    if reply is not True:
        raise DatasetError(
            f"FiftyOne's database service for {service.folder} (pid {service.pid}) did not accept this process: "
            f"{reply}; it may be stopping, run the command again"
        )
    # The variable through which FiftyOne's DatabaseService hands its port to the connection
    # and to the processes it starts (fiftyone/core/odm/database.py).
    os.environ["FIFTYONE_PRIVATE_DATABASE_PORT"] = str(service.port)


@contextlib.contextmanager
def dataset_lock(fo: ModuleType, name: str) -> Iterator[None]:
    """Serialise writers of one dataset on this machine (pushes, run records)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    with file_lock(lock_dir(fo) / f"vidal-dataset-{slug}.lock"):
        yield
