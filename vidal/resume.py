"""Finding an input's finished run, so that mining it again with the same model and config is skipped.

A run folder's ``summary.json`` records the input's content hash, the model and the resolved
configuration: a complete run with the same three (and the same reviewed frames left out of
its selection) would come out the same, so ``vidal mine`` skips the input unless ``--force``.
Runs that stopped early are mined again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vidal.config import VidalConfig
from vidal.errors import InputError
from vidal.runs import SUMMARY_FILE, Summary, read_summary
from vidal.video import FrameSource

logger = logging.getLogger(__name__)

# Sections and fields of the configuration that do not change a run folder's content (the
# model is compared by its resolved path: a relative path names it from one directory only).
_IGNORED = {"dataset": None, "output": ("out",), "detector": ("model",), "scale": None}


def mining_key(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a dumped configuration that decides what a run folder holds."""
    key = {}
    for section, values in config.items():
        ignored = _IGNORED.get(section, ())
        if ignored is None:
            continue
        key[section] = {k: v for k, v in values.items() if k not in ignored} if isinstance(values, dict) else values
    return key


def model_path(config: VidalConfig) -> str:
    """The model as ``summary.json`` records it: the file's absolute path where it exists."""
    model = Path(config.detector.tracks or config.detector.detections or config.detector.model)
    return str(model.resolve()) if model.exists() else config.detector.model


def _left_out(summary: Summary, labelled: Sequence[int]) -> list[int]:
    """The frames of ``labelled`` that the run's processed range (first..last, every stride) holds."""
    first, last = int(summary.frames.get("first", 0)), int(summary.frames.get("last", -1))
    stride = max(int(summary.frames.get("stride", 1)), 1)
    return sorted(f for f in set(labelled) if first <= f <= last and (f - first) % stride == 0)


def find_mined(out_root: Path, source: FrameSource, config: VidalConfig, labelled: Sequence[int] = ()) -> Path | None:
    """The newest complete run folder in ``out_root`` of ``source`` mined with this model and config.

    Args:
        out_root: The folder of run folders.
        source: The opened input (its content hash is compared).
        config: The resolved configuration of the new run.
        labelled: Frames already reviewed, which the new run's selection would leave out.

    Returns:
        The run folder, or ``None`` when the input must be mined.
    """
    if not out_root.is_dir():
        return None
    wanted, path, found = mining_key(config.model_dump(mode="json")), model_path(config), []
    content_hash = None
    for summary_file in out_root.glob(f"[!.]*/{SUMMARY_FILE}"):
        run_dir = summary_file.parent
        try:
            summary = read_summary(run_dir)
        except InputError as error:
            logger.debug("not a finished run: %s", error)
            continue
        if not summary.complete or summary.model_path != path or mining_key(summary.config) != wanted:
            continue
        content_hash = content_hash or source.content_hash()  # read the input only when a run may match
        if summary.input.sha256 != content_hash:
            continue
        if summary.selection.get("labelled_frames_left_out", []) != _left_out(summary, labelled):
            continue
        found.append((summary.started, run_dir.name, run_dir))
    return max(found)[2] if found else None
