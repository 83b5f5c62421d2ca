"""The exception hierarchy of vidal.

Every error a user can cause is a :class:`VidalError`; the CLI turns it into a one-line
message and a non-zero exit code (``--debug`` shows the traceback).
"""

from __future__ import annotations


class VidalError(Exception):
    """Base class of every error vidal reports to a user."""

    exit_code: int = 2


class ConfigError(VidalError):
    """A configuration file, field or command-line option is invalid."""


class InputError(VidalError):
    """An input video, image folder or file cannot be used."""


class DecodeError(InputError):
    """Decoding stopped before the end of a video.

    Attributes:
        frame: The 1-based number of the last frame decoded successfully (0 if none).
    """

    def __init__(self, message: str, frame: int) -> None:
        super().__init__(message)
        self.frame = frame


class ModelError(VidalError):
    """A detector model cannot be found, downloaded or loaded."""


class OutputError(VidalError):
    """An output folder or file cannot be written."""


class DatasetError(VidalError):
    """The FiftyOne dataset or its database cannot be used as asked."""


class PartialRunError(VidalError):
    """A run stopped early but kept what it had processed.

    Attributes:
        run_dir: The run folder holding the partial results.
    """

    exit_code = 3

    def __init__(self, message: str, run_dir: str) -> None:
        super().__init__(message)
        self.run_dir = run_dir


class WorkerError(VidalError):
    """An input failed in a worker process (``--workers``, ``--ray``): the worker's error,
    carried back with its message and exit code, or the worker's death."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
