"""Loading a vidal dataset by name (every dataset module reads through here), its reviewed samples, and
the propagated samples that train beside them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vidal.dataset.connection import check_name, connect
from vidal.dataset.schema import PSEUDO_LABELS, TAG_PROPAGATED, TAG_REVIEWED, by_hand, vidal_info
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


@dataclass
class PropagatedSamples:
    """The propagated samples that may train: tagged ``propagated``, not reviewed, not edited by hand.

    Attributes:
        ids: Sample ids.
        videos: Video hash of each.
        frames: Frame number of each.
        timestamps: Seconds from the video's start of each.
        keyframes: The reviewed frames each one's ``pseudo_labels`` came from.
        boxes: Boxes in each one's ``pseudo_labels``.
        labels: The classes of their boxes.
    """

    ids: list[str]
    videos: list[str]
    frames: list[int]
    timestamps: list[float]
    keyframes: list[set[int]]
    boxes: list[int]
    labels: set[str]


def propagated_samples(dataset: Any) -> PropagatedSamples:
    """The samples ``vidal propagate`` labelled that no human touched since (see :class:`PropagatedSamples`)."""
    found = PropagatedSamples([], [], [], [], [], [], set())
    if not dataset.has_sample_field(PSEUDO_LABELS):
        return found
    view = dataset.match_tags(TAG_PROPAGATED).match_tags(TAG_REVIEWED, bool=False)
    for sample in view.select_fields(["ground_truth", "draft_fingerprint", PSEUDO_LABELS, "video_hash",
                                      "frame_number", "timestamp"]):
        if by_hand(sample):
            continue
        detections = getattr(sample[PSEUDO_LABELS], "detections", None) or []
        found.ids.append(sample.id)
        found.videos.append(sample.video_hash)
        found.frames.append(int(sample.frame_number))
        found.timestamps.append(float(sample.timestamp or 0.0))
        found.keyframes.append({int(f) for d in detections for f in (getattr(d, "keyframes", None) or [])})
        found.boxes.append(len(detections))
        found.labels.update(str(d.label) for d in detections)
    return found
