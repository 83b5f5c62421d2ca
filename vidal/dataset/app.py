"""``vidal review``: the FiftyOne App on the frames to review."""

from __future__ import annotations

import logging
import socket
from typing import Any

from vidal.dataset.load import load_vidal_dataset
from vidal.dataset.schema import VIEW_TO_REVIEW
from vidal.errors import DatasetError

logger = logging.getLogger(__name__)

# FiftyOne 1.22 serializes its App config with three options it has removed (show_confidence,
# show_index, show_label), and warns that they are set each time it reads the config back:
# on every state update the App sends the session, three lines per browser connection that
# say nothing about the user's setup. An option the user did set is still reported, once,
# when FiftyOne loads its config on import, before this filter is installed.
_REMOVED_OPTION_NOTICE = "The `%s` App config option has been removed"


class _RemovedOptionNotices(logging.Filter):
    """Drops FiftyOne's notices about removed App options from its App-state round trips."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_REMOVED_OPTION_NOTICE)


_QUIET_REMOVED_OPTIONS = _RemovedOptionNotices()


def quiet_app_notices() -> None:
    """Silence FiftyOne's per-connection notices about its own removed App options.

    Only those records of the logger that emits them (``fiftyone.core.config``) are
    dropped; its other warnings and errors pass. Idempotent.
    """
    logging.getLogger("fiftyone.core.config").addFilter(_QUIET_REMOVED_OPTIONS)


def check_port(address: str, port: int) -> None:
    """Refuse a port that is taken, before FiftyOne's server fails on it less clearly.

    Raises:
        DatasetError: The address cannot be bound.
    """
    try:
        with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((address, port))
    except OSError as error:
        raise DatasetError(f"cannot serve the App on {address}:{port}: {error.strerror}; pass --port") from error


def launch_review(name: str, *, port: int = 5151, address: str = "127.0.0.1") -> Any:
    """Serve the FiftyOne App on the dataset's "to review" view (most uncertain first).

    The App is served, not opened: the caller prints the URL and waits.

    Returns:
        The FiftyOne ``Session``; ``session.url`` is the address to open.

    Raises:
        DatasetError: No such dataset, or the port is taken.
    """
    dataset = load_vidal_dataset(name)
    check_port(address, port)
    quiet_app_notices()
    import fiftyone as fo

    view = dataset.load_saved_view(VIEW_TO_REVIEW)
    # Launched on a view, the App (1.22) ignores the dataset's colour scheme unless given it.
    return fo.launch_app(
        view=view,
        port=port,
        address=address,
        remote=True,
        auto=False,
        color_scheme=dataset.app_config.color_scheme,
    )
