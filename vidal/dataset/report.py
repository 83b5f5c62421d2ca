"""What a dataset holds: samples per video and per mining run, review progress, missing media."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vidal.dataset.lineage import ModelRecord, models
from vidal.dataset.load import load_vidal_dataset
from vidal.dataset.records import MiningRecord, mining_records
from vidal.dataset.schema import TAG_REVIEWED, TAG_TO_REVIEW, VIEW_TO_REVIEW, vidal_info


@dataclass
class VideoStatus:
    """Samples of one video (by content hash)."""

    video_hash: str
    path: str
    mined: int
    to_review: int
    reviewed: int


@dataclass
class RunStatus:
    """A mining run recorded on the dataset."""

    run_id: str
    record: MiningRecord
    samples: int
    reviewed: int


@dataclass
class DatasetStatus:
    """The state of a vidal dataset.

    Attributes:
        name: The dataset.
        labels: Its classes.
        media_dir: Where its frame images were first written.
        mined: Samples.
        to_review: Samples in the "to review" view (tagged ``to_review``, not ``reviewed``).
        reviewed: Samples tagged ``reviewed``.
        missing_images: Samples whose image file is gone.
        videos: Per video, most samples first.
        runs: Per mining run, oldest first.
        models: Models trained on the dataset (``vidal train`` records), oldest first.
    """

    name: str
    labels: list[str]
    media_dir: str
    mined: int
    to_review: int
    reviewed: int
    missing_images: int
    videos: list[VideoStatus] = field(default_factory=list)
    runs: list[RunStatus] = field(default_factory=list)
    models: list[ModelRecord] = field(default_factory=list)


def dataset_status(name: str) -> DatasetStatus:
    """Count a dataset's samples per video and per run, its review progress and its models."""
    dataset = load_vidal_dataset(name)
    info = vidal_info(dataset)
    reviewed_view = dataset.match_tags(TAG_REVIEWED)
    to_review_view = dataset.load_saved_view(VIEW_TO_REVIEW) if dataset.has_saved_view(VIEW_TO_REVIEW) else (
        dataset.match_tags(TAG_TO_REVIEW).match_tags(TAG_REVIEWED, bool=False)
    )
    mined = dataset.count_values("video_hash")
    reviewed = reviewed_view.count_values("video_hash")
    waiting = to_review_view.count_values("video_hash")
    hashes, paths = dataset.values("video_hash"), dataset.values("video_path")
    path_of = dict(zip(hashes, paths))
    videos = [
        VideoStatus(h, path_of.get(h, "?"), count, waiting.get(h, 0), reviewed.get(h, 0))
        for h, count in sorted(mined.items(), key=lambda item: -item[1])
    ]
    per_run = dataset.count_values("mining_runs")
    per_run_reviewed = reviewed_view.count_values("mining_runs")
    runs = [RunStatus(key, record, per_run.get(key, 0), per_run_reviewed.get(key, 0))
            for key, record in mining_records(dataset)]
    missing = sum(1 for path in dataset.values("filepath") if not Path(path).is_file())
    return DatasetStatus(
        name=name,
        labels=list(info["labels"]),
        media_dir=str(info.get("media_dir", "")),
        mined=len(dataset),
        to_review=len(to_review_view),
        reviewed=len(reviewed_view),
        missing_images=missing,
        videos=videos,
        runs=runs,
        models=models(dataset),
    )


def reviewed_frames(name: str, video_hash: str) -> list[int]:
    """Frame numbers of a video (by content hash) that are tagged reviewed in a dataset; empty
    if the dataset does not exist yet.

    Raises:
        DatasetError: Invalid name, unreachable database, or a dataset that is not vidal's.
    """
    from fiftyone import ViewField as F

    dataset = load_vidal_dataset(name, missing_ok=True)
    if dataset is None:
        return []
    view = dataset.match(F("video_hash") == video_hash).match_tags(TAG_REVIEWED)
    return sorted(int(n) for n in view.values("frame_number"))
