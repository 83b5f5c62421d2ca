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

from vidal.errors import DatasetError

logger = logging.getLogger(__name__)

# Names of datasets vidal creates: FiftyOne would accept more (it slugifies), but a name that
# loses characters in its slug ("a/b" is "ab") invites two names for one dataset.
DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$")
# The FiftyOne service that starts a local mongod is not safe against two processes starting
# it at the same moment (the second fails to bind the database folder); vidal processes take
# this lock, in the database folder, around their first connection.
CONNECT_LOCK = "vidal-connect.lock"


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
    folder = Path(fo.config.database_dir).expanduser()
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
        return re.sub(r"//[^@/]*@", "//***@", uri)  # no credentials in messages
    return f"local mongod in {fo.config.database_dir}"


def connect() -> ModuleType:
    """Import FiftyOne and connect to its database (starting the local one if needed).

    Returns:
        The ``fiftyone`` module.

    Raises:
        DatasetError: The database cannot be reached or started.
    """
    fo = import_fiftyone()
    with file_lock(lock_dir(fo) / CONNECT_LOCK):
        try:
            fo.list_datasets()
        except Exception as error:  # FiftyOne raises ConnectionError, pymongo and service errors
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise DatasetError(f"cannot reach FiftyOne's database ({describe_database(fo)}): {first}") from error
    return fo


@contextlib.contextmanager
def dataset_lock(fo: ModuleType, name: str) -> Iterator[None]:
    """Serialise writers of one dataset on this machine (pushes, run records)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    with file_lock(lock_dir(fo) / f"vidal-dataset-{slug}.lock"):
        yield
