"""Loading a vidal dataset by name (every dataset module reads through here), and its reviewed samples."""

from __future__ import annotations

from typing import Any

from vidal.dataset.connection import check_name, connect
from vidal.dataset.schema import TAG_REVIEWED, vidal_info
from vidal.errors import DatasetError


def load_vidal_dataset(name: str, *, missing_ok: bool = False) -> Any:
    """Load an existing vidal dataset (``None`` for a missing one if ``missing_ok``).

    Raises:
        DatasetError: Invalid name, unreachable database, no such dataset, or not vidal's.
    """
    check_name(name)
    fo = connect()
    if not fo.dataset_exists(name):
        if missing_ok:
            return None
        known = [n for n in fo.list_datasets()]
        hint = f"; datasets here: {', '.join(known)}" if known else ""
        raise DatasetError(f"no dataset {name!r}: run `vidal mine VIDEO --dataset {name}` first{hint}")
    dataset = fo.load_dataset(name)
    vidal_info(dataset)
    return dataset


def reviewed_samples(name: str) -> tuple[Any, list[str], list[str], list[float], set[str]]:
    """The reviewed samples of a dataset, by video and frame: the view, ids, videos, timestamps and labels used.

    Raises:
        DatasetError: No such dataset, or no reviewed sample.
    """
    dataset = load_vidal_dataset(name)
    view = dataset.match_tags(TAG_REVIEWED).sort_by("frame_number").sort_by("video_hash")
    if len(view) == 0:
        raise DatasetError(
            f"dataset {name!r} has no reviewed samples to train on: correct samples in `vidal review` and tag them "
            "'reviewed' (or `vidal label --from-mot`)"
        )
    labels = set(view.distinct("ground_truth.detections.label"))
    return view, view.values("id"), view.values("video_hash"), view.values("timestamp"), labels
