"""``vidal review``'s App session: what FiftyOne may print on it."""

from __future__ import annotations

import logging

import pytest

pytestmark = pytest.mark.fiftyone


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_app_state_round_trip_prints_no_removed_option_notices(fo) -> None:
    # The session reads the App's state back with AppConfig.from_dict on every browser
    # connection; FiftyOne 1.22 then warns about three options its own serialization kept.
    from fiftyone.core.config import AppConfig

    from vidal.dataset.app import _QUIET_REMOVED_OPTIONS, quiet_app_notices

    source = logging.getLogger("fiftyone.core.config")
    collect = Collect()
    source.addHandler(collect)
    try:
        source.removeFilter(_QUIET_REMOVED_OPTIONS)
        AppConfig.from_dict(fo.app_config.serialize())
        assert len([m for m in collect.messages if "App config option has been removed" in m]) == 3
        collect.messages.clear()

        quiet_app_notices()
        quiet_app_notices()  # idempotent
        AppConfig.from_dict(fo.app_config.serialize())
        source.warning("a FiftyOne warning of another kind")
        source.error("a FiftyOne error")
    finally:
        source.removeHandler(collect)
    assert collect.messages == ["a FiftyOne warning of another kind", "a FiftyOne error"]
