"""``vidal propagate``: a dataset's reviewed frames label the frames their tracks cover.

For each video (by content hash) with reviewed samples, the tracks of its latest mining run
recorded on the dataset (:class:`~vidal.dataset.records.MiningRecord`) carry the reviewed
frames' ``ground_truth`` along the tracks (:func:`vidal.propagation.propagate`), and every
``stride``-th processed frame becomes a sample with those labels.

Rules:

- propagated labels go into ``pseudo_labels``, never ``ground_truth``: that field stays the
  human's (empty on a frame propagation added), so correcting a propagated sample in the App
  (editing its ``ground_truth`` and tagging it ``reviewed``) makes it a reviewed frame, and
  the next propagation takes it as a keyframe;
- a sample a human reviewed or edited (:func:`~vidal.dataset.schema.by_hand`) is never
  written; other samples of the video on processed frames (mined frames waiting for review,
  frames propagated before) get the new ``pseudo_labels`` and the tag ``propagated``;
- a frame is keyed by its video's hash and number, as the push keys it: propagating again
  adds no sample twice, and rewrites a sample only if its labels changed;
- everything that can be refused (no reviewed frame, the run's tracks or the video gone,
  a video that is not the run's) is checked, and every video propagated, before anything is
  written; a sample is written in one database operation, under the dataset lock the push
  holds.

If the run folder of a video's latest mining run is gone, an earlier run's folder serves;
if none is left, the video is tracked again as its latest run did (the configuration and
model that run recorded on the dataset, into the run folder it names), before the dataset is
locked: the same model on the same video gives the same tracks. ``retrack=False`` refuses
instead, with the command that mines the video again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np

from vidal.config import VidalConfig
from vidal.dataset.connection import connect, dataset_lock
from vidal.dataset.export import video_name
from vidal.dataset.load import load_vidal_dataset
from vidal.dataset.push import check_media_dir, resolve_media_dir, store_media
from vidal.dataset.records import MiningRecord, mining_records
from vidal.dataset.schema import (
    PSEUDO_LABELS,
    TAG_PROPAGATED,
    TAG_REVIEWED,
    by_hand,
    ensure_propagation_layout,
    fingerprint,
    to_pixels,
    to_relative,
    vidal_info,
)
from vidal.errors import DatasetError, InputError, OutputError
from vidal.propagation import Keyframe, Labels, Propagation, Source, propagate, read_track_rows, write_mot_labels
from vidal.runs import TRACK_STATES_FILE, TRACKS_FILE, FrameRow, MinedRun, read_summary
from vidal.video import FrameSource, open_source

logger = logging.getLogger(__name__)

# Boxes and confidences are compared at these decimals to tell labels already written (FiftyOne
# stores what it was given; this only absorbs float noise).
BOX_DECIMALS = 6
CONFIDENCE_DECIMALS = 4
DEFAULT_JPEG_QUALITY = 95


@dataclass
class VideoPropagation:
    """What propagation did for one video.

    Attributes:
        video_hash: The video's content hash (SHA-256).
        video_path: The video decoded.
        run_id: The mining run whose tracks carried the labels.
        run_dir: Its run folder.
        processed: Frames the run processed (the frames propagation can label).
        keyframes: Reviewed frames of the video (their ``ground_truth`` propagated).
        labels: Labels produced on every processed frame, by source (``human``, ``track``,
            ``followed``, ``interpolated``, ``unconfirmed``).
        frames: Frames that got ``pseudo_labels`` (every ``stride``-th processed frame not
            reviewed, and other samples of the video already in the dataset).
        added: Of those, new samples.
        updated: Samples already there whose ``pseudo_labels`` changed.
        unchanged: Samples already there with these labels.
        kept: Samples a human edited (without tagging them ``reviewed``): left as they are.
        pseudo_boxes: Boxes in the ``pseudo_labels`` of the added, updated and unchanged samples.
        followed: Frames each box the human added was followed, one entry per box and direction.
        stopped_early: Of those, followings that stopped before their limit (the flow doubted).
        mot_file: The ``--mot-out`` file written, if any.
    """

    video_hash: str
    video_path: str
    run_id: str
    run_dir: str
    processed: int
    keyframes: int
    labels: dict[str, int] = field(default_factory=dict)
    frames: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: int = 0
    pseudo_boxes: int = 0
    followed: list[int] = field(default_factory=list)
    stopped_early: int = 0
    mot_file: str | None = None


@dataclass
class PropagateReport:
    """What ``vidal propagate`` did.

    Attributes:
        dataset: The dataset.
        stride: Every ``stride``-th processed frame became a sample.
        videos: Per video.
        propagated: Samples tagged ``propagated`` and not reviewed in the dataset afterwards.
        retracked: The run folders written again because their tracks were gone.
    """

    dataset: str
    stride: int
    videos: list[VideoPropagation] = field(default_factory=list)
    propagated: int = 0
    retracked: list[str] = field(default_factory=list)


@dataclass
class _Video:
    """One video, planned and propagated, before anything is written."""

    report: VideoPropagation
    source: FrameSource
    frames: dict[int, FrameRow]
    reviewed: set[int]
    labels: Labels
    jpeg_quality: int


def _records(dataset: Any, video_hash: str) -> list[tuple[str, MiningRecord]]:
    """The mining runs of a video recorded on the dataset, newest first (:func:`mining_records`)."""
    return [(key, record) for key, record in reversed(mining_records(dataset)) if record.video_hash == video_hash]


def _has_tracks(run_dir: str | None) -> bool:
    return bool(run_dir) and all((Path(str(run_dir)) / name).is_file() for name in (TRACKS_FILE, TRACK_STATES_FILE))


def _latest_run(dataset: Any, video_hash: str, shown: str) -> tuple[str, MiningRecord]:
    """The newest mining run of the video whose tracks are still in its run folder.

    Raises:
        DatasetError: No run of the video is recorded, or every run folder is gone.
    """
    records = _records(dataset, video_hash)
    if not records:
        raise DatasetError(
            f"dataset {dataset.name!r} records no mining run of {shown} (sha256 {video_hash[:12]}): "
            f"mine it with `vidal mine {shown} --dataset {dataset.name}`"
        )
    for index, (key, record) in enumerate(records):
        if _has_tracks(record.run_dir):
            if index:
                logger.warning("the run folder of %s's latest mining run (%s) is gone: using %s", shown,
                               records[0][1].run_dir, record.run_dir)
            return key, record
    raise DatasetError(
        f"the tracks of {shown}'s mining runs are gone (latest run folder: {records[0][1].run_dir}): "
        f"{_mine_again(shown, dataset.name)}, then propagate"
    )


def _mine_again(shown: str, name: str) -> str:
    """How to restore a video's tracks by hand, for messages."""
    return f"mine it again with `vidal mine {shown} --dataset {name}` (reviewed frames are kept)"


@dataclass(frozen=True)
class RetrackJob:
    """A video to track again, as its latest mining run did (:func:`retrack_jobs`).

    Attributes:
        video: The file or folder to decode (the one given, else the run's).
        video_hash: Its content hash (checked when the job runs, for the run's own file; a
            video given is the one the hash was computed from).
        given: Whether ``video`` was given (``--video``), not the run's recorded file.
        shown: How the video is named in messages.
        run_dir: The run folder to write (the one the run recorded).
        config: The run's configuration, made for tracking only (no push, no committee).
        again: How to mine it again by hand, for messages.
    """

    video: str
    video_hash: str
    shown: str
    run_dir: str
    config: VidalConfig
    again: str
    given: bool = False


def _retrack_job(dataset: Any, video_hash: str, video: str | Path | None) -> RetrackJob | None:
    """The job that tracks a video again when no run of it has its tracks left; ``None`` when
    a run folder still has them (or no run is recorded: :func:`_latest_run` says so).

    Raises:
        DatasetError: The run recorded no configuration or folder, its folder is still there
            without tracks, its model is gone, or its configuration is not one this vidal reads.
    """
    from pydantic import ValidationError

    records = _records(dataset, video_hash)
    if not records or any(_has_tracks(record.run_dir) for _, record in records):
        return None
    _, record = records[0]
    shown = str(video or record.video_path or video_hash[:12])
    again = _mine_again(shown, dataset.name)
    if not record.config or not record.run_dir:
        raise DatasetError(f"the tracks of {shown}'s mining runs are gone and its latest run recorded no "
                           f"configuration to track it again: {again}")
    run_dir = Path(str(record.run_dir))
    if run_dir.exists() and any(run_dir.iterdir()):  # a run written there would go beside it, unrecorded
        raise DatasetError(f"the run folder {run_dir} of {shown}'s latest mining run has no tracks "
                           f"({TRACKS_FILE}, {TRACK_STATES_FILE}): move it away to have the video tracked again "
                           f"into it, or {again}")
    try:
        config = VidalConfig.model_validate(record.config)
    except ValidationError as error:
        raise DatasetError(f"the tracks of {shown}'s mining runs are gone and its latest run's configuration is "
                           f"not one this vidal reads ({error.errors()[0]['loc']}): {again}") from error
    config.dataset.push = False
    # Only the tracks are wanted: a committee (more models, more inferences) changes none of them.
    config.scoring.signals["committee"].enabled = False
    if config.selection.strategy == "committee":
        config.selection.strategy = "cover"
    imported = config.detector.detections or config.detector.tracks
    model = imported or str(record.model_path or config.detector.model)
    if not Path(model).exists():  # not a name for Ultralytics to download: the file the run loaded
        raise DatasetError(f"the tracks of {shown}'s mining runs are gone, and so is the file its latest run "
                           f"detected with ({model}): {again}")
    if not imported:
        config.detector.model = model
    path = str(video) if video is not None else str(record.video_path)
    return RetrackJob(video=path, video_hash=video_hash, shown=shown, run_dir=str(run_dir), config=config, again=again,
                      given=video is not None)


def retrack_jobs(name: str, *, video: str | Path | None = None) -> list[RetrackJob]:
    """The videos of ``propagate_dataset(name, video=video)`` to track again first: those with
    reviewed frames whose mining runs' folders have lost their tracks. Reads the dataset only.

    Raises:
        DatasetError: As :func:`_retrack_job`; no such dataset.
    """
    dataset = load_vidal_dataset(name)
    return _retrack_jobs(dataset, _video_hashes(dataset, video), video)


def _retrack_jobs(dataset: Any, hashes: list[str], video: str | Path | None) -> list[RetrackJob]:
    return [job for h in hashes if (job := _retrack_job(dataset, h, video)) is not None]


def run_retrack(job: RetrackJob, progress: Callable[[int], None] | None = None) -> str:
    """Track ``job``'s video again into its run folder (the detector loaded here: minutes, not a
    dataset call); returns the run folder.

    Raises:
        DatasetError: The video is gone or changed, or mining fails.
    """
    from vidal.errors import PartialRunError, VidalError
    from vidal.pipeline import build_detector, mine_source

    source = open_source(job.video) if job.given else _open_video_file(job.video, job.video_hash, job.run_dir)
    run_dir = Path(job.run_dir)
    logger.warning("the tracks of %s are gone (run folder %s): tracking it again as that run did, with %s",
                   job.shown, run_dir, job.config.detector.model)
    try:
        detector = build_detector(job.config)
        written = mine_source(source, detector, job.config, run_dir.parent, run_name=run_dir.name,
                              progress=progress).run_dir
    except PartialRunError as error:  # decoding stopped early, as it may have in the run itself: kept
        if not error.run_dir:
            raise DatasetError(f"cannot track {job.shown} again as its latest mining run did: {error}") from error
        written = Path(error.run_dir)
    except VidalError as error:
        raise DatasetError(f"cannot track {job.shown} again as its latest mining run did: {error}") from error
    if Path(written) != run_dir:  # another process wrote the folder meanwhile
        raise DatasetError(f"{run_dir} was written meanwhile; the tracks went to {written}: {job.again}")
    return str(run_dir)


def _video_hashes(dataset: Any, video: str | Path | None) -> list[str]:
    """The content hashes of the videos to propagate: ``video``'s, or every video with reviewed frames.

    Raises:
        DatasetError: No reviewed frame in the dataset.
    """
    if video is not None:
        return [open_source(video).content_hash()]
    hashes = sorted(dataset.match_tags(TAG_REVIEWED).distinct("video_hash"))
    if not hashes:
        raise DatasetError(f"dataset {dataset.name!r} has no reviewed frames to propagate: review some in "
                           "`vidal review` (or `vidal label --from-mot`) first")
    return hashes


def _open_video_file(path: str | Path, video_hash: str, run_dir: str) -> FrameSource:
    """``path`` opened and checked to be the video of ``video_hash`` (mined into ``run_dir``).

    Raises:
        DatasetError: The video is gone or changed.
    """
    try:
        source = open_source(path)
    except InputError as error:
        raise DatasetError(f"cannot open {path}, the video of mining run {run_dir}: {error}; "
                           "pass --video with its file") from error
    if source.content_hash() != video_hash:
        raise DatasetError(f"{path} is no longer the video mining run {run_dir} mined (its content "
                           "changed): pass --video with the mined file")
    return source


def _open_video(video: str | Path | None, record: MiningRecord, video_hash: str) -> FrameSource:
    """The video to decode: the one given, else the run's, checked to be the same content.

    Raises:
        DatasetError: The run's video is gone or changed.
    """
    if video is not None:
        return open_source(video)
    return _open_video_file(str(record.video_path), video_hash, str(record.run_dir))


def _keyframes(fo: ModuleType, samples: list[Any]) -> dict[int, Keyframe]:
    """The reviewed samples' ``ground_truth`` as pixel boxes, by frame number."""
    keyframes = {}
    for sample in samples:
        metadata = sample.metadata
        if metadata is None or not metadata.width or not metadata.height:
            if not Path(sample.filepath).is_file():
                raise DatasetError(f"reviewed frame {sample.frame_number}'s image {sample.filepath} is missing "
                                   "and its size was not recorded: mine its video again to restore it")
            metadata = fo.ImageMetadata.build_for(sample.filepath)
        detections = getattr(sample.ground_truth, "detections", None) or []
        xyxy = to_pixels([d.bounding_box for d in detections], int(metadata.width), int(metadata.height))
        label = np.array([str(d.label) for d in detections], dtype=object)
        keyframes[int(sample.frame_number)] = Keyframe(frame=int(sample.frame_number), xyxy=xyxy, label=label)
    return keyframes


def _plan(fo: ModuleType, dataset: Any, video_hash: str, video: str | Path | None, config: VidalConfig,
          classes: list[str]) -> _Video:
    """Find a video's run, read its tracks and keyframes, and propagate (nothing written)."""
    from fiftyone import ViewField as F

    samples = dataset.match(F("video_hash") == video_hash)
    reviewed = list(samples.match_tags(TAG_REVIEWED).sort_by("frame_number"))
    shown = str(video) if video is not None else str((reviewed[0].video_path if reviewed else None) or video_hash[:12])
    if not reviewed:
        raise DatasetError(f"dataset {dataset.name!r} has no reviewed frames of {shown} to propagate: "
                           "review some in `vidal review` (or `vidal label --from-mot`) first")
    run_id, record = _latest_run(dataset, video_hash, shown)
    source = _open_video(video, record, video_hash)
    run_dir = Path(str(record.run_dir))
    summary = read_summary(run_dir)
    frames = {row.frame: row for row in MinedRun(run_dir, summary, []).frames()}
    rows = read_track_rows(run_dir, config.propagation.breaks)
    names = {int(k): str(v) for k, v in summary.classes.items()}
    keyframes = _keyframes(fo, reviewed)
    result: Propagation = propagate(rows, keyframes, names, config.propagation, sorted(frames), source)
    labels = result.labels[np.isin(result.labels.label.astype(str), classes)]
    report = VideoPropagation(
        video_hash=video_hash, video_path=str(source.info.path), run_id=run_id, run_dir=str(run_dir),
        processed=len(frames), keyframes=len(keyframes),
        labels={s.name.lower(): int((labels.source == s).sum()) for s in Source},
        followed=list(result.follow.frames), stopped_early=result.follow.stopped_early,
    )
    quality = int((summary.config.get("output") or {}).get("jpeg_quality", DEFAULT_JPEG_QUALITY))
    return _Video(report, source, frames, set(keyframes), labels, quality)


def _detections(fo: ModuleType, labels: Labels, width: int, height: int) -> Any:
    """One frame's labels as ``pseudo_labels``."""
    boxes = to_relative(labels.xyxy, width, height)
    return fo.Detections(detections=[
        fo.Detection(
            label=str(labels.label[k]), bounding_box=boxes[k], confidence=round(float(labels.confidence[k]), 4),
            index=int(labels.object_id[k]), source=Source(int(labels.source[k])).name.lower(),
            keyframes=list(labels.keyframes(k)),
        )
        for k in range(len(labels))
        if boxes[k][2] > 0 and boxes[k][3] > 0
    ])


def _content(detections: Any) -> list[tuple[Any, ...]]:
    """A ``pseudo_labels`` value, comparable whatever its ids."""
    return sorted(
        (str(d.label), -1 if d.index is None else int(d.index),
         tuple(round(float(v), BOX_DECIMALS) for v in (d.bounding_box or [])),
         round(float(d.confidence or 0.0), CONFIDENCE_DECIMALS), str(getattr(d, "source", None)),
         tuple(int(f) for f in (getattr(d, "keyframes", None) or [])))
        for d in (getattr(detections, "detections", None) or [])
    )


def _write_jpeg(image: np.ndarray, quality: int) -> Any:
    def write(path: Path) -> None:
        if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, quality]):
            raise OSError(f"cannot encode {path}")

    return write


def _write_video(fo: ModuleType, dataset: Any, plan: _Video, stride: int, media: Path) -> None:
    """Write one video's ``pseudo_labels``: update its samples, add the strided frames."""
    from fiftyone import ViewField as F

    report, info = plan.report, plan.source.info
    width, height = info.width, info.height
    processed = sorted(plan.frames)
    wanted = {f for f in processed[::stride] if f not in plan.reviewed}
    existing = {int(s.frame_number): s for s in dataset.match(F("video_hash") == report.video_hash)
                if int(s.frame_number) in plan.frames}
    order = np.argsort(plan.labels.frame, kind="stable")
    frames_sorted = plan.labels.frame[order]

    def labels_at(frame: int) -> Any:
        lo, hi = np.searchsorted(frames_sorted, frame), np.searchsorted(frames_sorted, frame, side="right")
        return _detections(fo, plan.labels[order[lo:hi]], width, height)

    for frame, sample in sorted(existing.items()):
        sample.reload()  # the freshest state: a reviewer may be editing it in the App
        if by_hand(sample):
            report.kept += int(frame not in plan.reviewed)
            continue
        report.frames += 1
        pseudo = labels_at(frame)
        report.pseudo_boxes += len(pseudo.detections)
        if TAG_PROPAGATED in sample.tags and _content(sample[PSEUDO_LABELS]) == _content(pseudo):
            report.unchanged += 1
            continue
        sample[PSEUDO_LABELS] = pseudo
        sample["propagation_run"] = report.run_id
        if TAG_PROPAGATED not in sample.tags:
            sample.tags = list(sample.tags) + [TAG_PROPAGATED]
        sample.save()
        report.updated += 1
    new = sorted(wanted - set(existing))
    folder = media / report.video_hash[:16]
    for decoded in plan.source.read(new):
        frame = decoded.index
        image = folder / f"{frame:06d}.jpg"
        store_media(image, _write_jpeg(decoded.image, plan.jpeg_quality))
        pseudo = labels_at(frame)
        row = plan.frames[frame]
        empty = fo.Detections(detections=[])
        sample = fo.Sample(
            filepath=str(image), tags=[TAG_PROPAGATED],
            metadata=fo.ImageMetadata(width=width, height=height, num_channels=3),
            vidal_key=f"{report.video_hash}:{frame}", video_hash=report.video_hash, video_path=report.video_path,
            frame_number=frame, timestamp=row.timestamp, uncertainty=row.score, reasons=list(row.reasons),
            ground_truth=empty, draft_fingerprint=fingerprint(empty), propagation_run=report.run_id,
            **{PSEUDO_LABELS: pseudo},
        )
        dataset.add_sample(sample, expand_schema=False)
        report.frames += 1
        report.added += 1
        report.pseudo_boxes += len(pseudo.detections)


def _stems(plans: list[_Video]) -> list[str]:
    """The ``--mot-out`` file stem of each video: its name, with its hash's start if two share it."""
    names = [video_name(p.report.video_path) for p in plans]
    return [f"{n}-{p.report.video_hash[:8]}" if names.count(n) > 1 else n for n, p in zip(names, plans)]


def propagate_dataset(
    name: str,
    *,
    video: str | Path | None = None,
    stride: int | None = None,
    mot_out: str | Path | None = None,
    config: VidalConfig | None = None,
    retrack: bool = True,
) -> PropagateReport:
    """Propagate the reviewed frames of a dataset's videos into ``pseudo_labels`` samples.

    Args:
        name: The dataset.
        video: Only this video (a file or image folder, found by its content hash); ``None``
            for every video with reviewed frames.
        stride: Every ``stride``-th processed frame becomes a sample; ``None`` for
            ``config.propagation.stride``.
        mot_out: Also write ``<mot_out>/<video stem>.txt`` (MOTChallenge rows, every label of
            every processed frame, :func:`~vidal.propagation.write_mot_labels`) and ``classes.txt``.
        config: The propagation settings (``config.propagation``); ``None`` for the defaults.
        retrack: Track a video again, as its latest mining run did, when no run folder of it
            has its tracks left (:func:`_retrack`); ``False`` refuses instead.

    Returns:
        A :class:`PropagateReport`.

    Raises:
        InputError: ``stride`` below 1, an unreadable video or run folder.
        DatasetError: No such dataset, no reviewed frame (of ``video``), no mining run with its
            tracks left, or a video that is not the run's.
        OutputError: The media folder or ``mot_out`` cannot be written.
    """
    config = config or VidalConfig()
    stride = config.propagation.stride if stride is None else int(stride)
    if stride < 1:
        raise InputError(f"--stride must be at least 1, got {stride}")
    dataset = load_vidal_dataset(name)
    classes = list(vidal_info(dataset)["labels"])
    fo = connect()
    report = PropagateReport(name, stride)
    hashes = _video_hashes(dataset, video)
    if retrack:  # minutes of detection: before the dataset is locked (only run folders are written)
        report.retracked = [run_retrack(job) for job in _retrack_jobs(dataset, hashes, video)]
    with dataset_lock(fo, name):
        plans = [_plan(fo, dataset, h, video, config, classes) for h in hashes]
        media = check_media_dir(resolve_media_dir(None, dataset))
        if mot_out is not None:
            for plan, stem in zip(plans, _stems(plans)):
                try:
                    plan.report.mot_file = str(write_mot_labels(Path(mot_out), stem, plan.labels, classes))
                except OSError as error:
                    raise OutputError(f"cannot write {mot_out}: {error.strerror or error}") from error
        ensure_propagation_layout(fo, dataset)
        for plan in plans:
            _write_video(fo, dataset, plan, stride, media)
            report.videos.append(plan.report)
        report.propagated = len(dataset.match_tags(TAG_PROPAGATED).match_tags(TAG_REVIEWED, bool=False))
    return report
