"""The record of a mining run on a dataset: written by the push, read by ``vidal status``.

FiftyOne keeps it as the config of a run registered under the mining run's id (kind
``vidal_mine``); this module is its one owner.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from vidal.runs import MINE_RUN_KIND


@dataclass(frozen=True, kw_only=True)
class MiningRecord:
    """One push of a mining run.

    Attributes:
        status: ``complete``, ``partial`` or ``failed`` (the push's outcome).
        started: When the mining run started (UTC, ISO 8601).
        pushed: When it was pushed (UTC, ISO 8601).
        run_dir: The run folder (absolute).
        video_path, video_hash: The mined video and its content hash.
        model, model_path: The detector as named and as resolved to a file.
        labels: The dataset classes the run reported.
        processed: Frames processed.
        selected: Frames selected.
        strategy: The selection strategy.
        complete: Whether the run processed the whole video.
        added, updated, protected: Samples added, updated, and kept as reviewed.
        config: The run's effective configuration.
        class_coverage: Per class of the run's tracks, how much of it the selection shows
            (``summary.json``'s ``selection.class_coverage``: frames, tracks and their shares).
    """

    status: str
    started: str | None = None
    pushed: str | None = None
    run_dir: str | None = None
    video_path: str | None = None
    video_hash: str | None = None
    model: str | None = None
    model_path: str | None = None
    labels: list[str] | None = None
    processed: int | None = None
    selected: int | None = None
    strategy: str | None = None
    complete: bool | None = None
    added: int = 0
    updated: int = 0
    protected: int = 0
    config: dict[str, Any] | None = None
    class_coverage: dict[str, dict[str, float]] | None = None

    def to_config(self) -> dict[str, Any]:
        """The keyword arguments of FiftyOne's ``init_run``."""
        return {"kind": MINE_RUN_KIND, **asdict(self)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MiningRecord | None:
        """The record in a serialized run config; ``None`` if the run is not a mining run."""
        if config.get("kind") != MINE_RUN_KIND:
            return None
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in config.items() if k in names}
        values["status"] = str(values.get("status"))
        return cls(**values)


def mining_records(dataset: Any) -> list[tuple[str, MiningRecord]]:
    """The mining runs recorded on a dataset (a FiftyOne dataset), oldest first: by start, then
    push (both to the second), then when the dataset first recorded them (two runs of one second;
    a push that updates a run keeps that time)."""
    found = []
    for key in dataset.list_runs():
        info = dataset.get_run_info(key)
        record = MiningRecord.from_config(info.config.serialize())
        if record is not None:
            recorded = info.timestamp.isoformat() if info.timestamp is not None else ""
            found.append(((str(record.started), str(record.pushed), recorded), key, record))
    found.sort(key=lambda item: item[0])
    return [(key, record) for _, key, record in found]
