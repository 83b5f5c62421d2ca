"""Push a ``vidal mine`` run folder into a FiftyOne dataset, idempotently and safely.

The run folder is the contract (read through :mod:`vidal.runs`): ``summary.json``,
``selection.csv``, ``objects.csv`` and ``frames/``. So a push can be retried (``vidal push
RUN``) without mining again.

Safety rules:

- a frame is keyed by its video's content hash and its number; a unique index on that key
  means a frame is never in the dataset twice, whatever runs or processes push it;
- a sample is written in one database operation (insert, or ``$set`` of the fields that
  change), so a push killed midway leaves whole samples, never half ones;
- the ``ground_truth`` of a sample tagged ``reviewed``, or whose boxes differ from the draft
  vidal wrote, is never written again; other fields are updated in place by the newer run
  (``mining_runs`` keeps every run that mined the frame).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from vidal.dataset.connection import check_name, connect, dataset_lock
from vidal.dataset.records import MiningRecord
from vidal.dataset.schema import (
    TAG_REVIEWED,
    TAG_TO_REVIEW,
    check_labels,
    create_dataset,
    fingerprint,
    to_relative,
    vidal_info,
)
from vidal.errors import DatasetError, OutputError
from vidal.runs import MinedRun, ObjectRow, SelectedFrame, load_run

logger = logging.getLogger(__name__)

# The frame's embedding from the detector's features (runs that computed them: vidal.embeddings),
# a vector FiftyOne Brain reads (compute_visualization / compute_similarity with embeddings="embedding").
EMBEDDING_FIELD = "embedding"
# Predicted boxes of lost tracks are suspect regions only: they are where the model saw
# nothing, so they are neither predictions nor draft labels.
PREDICTION_KINDS = ("tracked", "unmatched")


def default_media_dir() -> Path:
    """``$VIDAL_HOME/media``, or ``~/.vidal/media``."""
    return Path(os.environ.get("VIDAL_HOME", Path.home() / ".vidal")).expanduser() / "media"


@dataclass
class PushReport:
    """What a push did.

    Attributes:
        dataset: The dataset's name.
        run_id: The run's key on the dataset.
        added: New samples.
        updated: Samples already there whose predictions were updated (draft included).
        protected: Samples already there whose ``ground_truth`` was kept (reviewed or edited).
        total: Samples in the dataset after the push.
    """

    dataset: str
    run_id: str
    added: int = 0
    updated: int = 0
    protected: int = 0
    total: int = 0


def _detection(fo: ModuleType, row: ObjectRow, width: int, height: int, *, label: str | None = None) -> Any:
    attributes: dict[str, Any] = {"uncertainty": row.uncertainty, "reasons": list(row.reasons), "kind": row.kind}
    if label is not None:
        attributes["class_name"] = row.class_name
    return fo.Detection(
        label=label or row.class_name,
        bounding_box=to_relative(np.array([row.xyxy]), width, height)[0],
        confidence=row.confidence,
        index=row.track_id if row.track_id >= 0 else None,
        **attributes,
    )


def frame_labels(
    fo: ModuleType, frame: SelectedFrame, width: int, height: int, draft_conf: float, labels: list[str] | None = None
) -> dict[str, Any]:
    """The ``predictions``, ``ground_truth`` draft and ``suspect_regions`` of a mined frame.

    An object of a class outside ``labels`` (the dataset's classes; ``None``: any) is a class
    confusion of a ``--classes`` run: it is a suspect region only, with the model's class in
    ``class_name``, never a prediction or a draft label.
    """
    predictions, draft, regions = [], [], []
    for row in frame.objects:
        if row.kind in PREDICTION_KINDS and (labels is None or row.class_name in labels):
            predictions.append(_detection(fo, row, width, height))
            if row.kind == "tracked" and row.confidence is not None and row.confidence >= draft_conf:
                draft.append(
                    fo.Detection(
                        label=row.class_name,
                        bounding_box=predictions[-1].bounding_box,
                        index=predictions[-1].index,
                    )
                )
        if row.region:
            regions.append(_detection(fo, row, width, height, label=row.reasons[0] if row.reasons else "uncertain"))
    return {
        "predictions": fo.Detections(detections=predictions),
        "ground_truth": fo.Detections(detections=draft),
        "suspect_regions": fo.Detections(detections=regions),
    }


def store_media(target: Path, write: Callable[[Path], None]) -> None:
    """Write a frame image into the media folder atomically (a reader never sees half a file):
    ``write`` writes it at a temporary path beside ``target`` (same suffix); a file already
    there is kept."""
    if target.is_file():
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Not tempfile.mkstemp: its files are 0600, and a teammate must be able to read the media.
        temporary = target.parent / f".partial-{os.getpid()}-{secrets.token_hex(4)}{target.suffix}"
        write(temporary)
        os.replace(temporary, target)
    except OSError as error:
        raise OutputError(f"cannot write {target}: {error.strerror or error}") from error


def _store_image(source: Path, target: Path) -> None:
    """Copy a frame image into the media folder atomically."""
    store_media(target, lambda temporary: shutil.copyfile(source, temporary))


def resolve_media_dir(media_dir: str | Path | None, dataset: Any | None) -> Path:
    """The media folder: the one asked for, else the dataset's, else the default."""
    if media_dir is not None:
        return Path(media_dir).expanduser().resolve()
    if dataset is not None:
        recorded = dataset.info.get("vidal", {}).get("media_dir")
        if recorded:
            return Path(recorded)
    return default_media_dir().resolve()


def check_media_dir(path: Path) -> Path:
    """Create the media folder if needed and check it is writable.

    Raises:
        OutputError: It cannot be created or written.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".probe-", dir=path)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise OutputError(f"media folder {path} is not writable: {error.strerror or error}") from error
    return path


def open_dataset(fo: ModuleType, name: str, labels: list[str], media_dir: str | Path | None) -> tuple[Any, Path]:
    """Load the dataset ``name`` (creating it for ``labels``) and check it can take a run.

    Call with the dataset lock held.

    Raises:
        DatasetError: The dataset was not made by vidal, or its classes differ.
        OutputError: The media folder is not writable.
    """
    if fo.dataset_exists(name):
        dataset = fo.load_dataset(name)
        vidal_info(dataset)
        check_labels(dataset, labels)
        return dataset, check_media_dir(resolve_media_dir(media_dir, dataset))
    media = check_media_dir(resolve_media_dir(media_dir, None))
    try:
        dataset = create_dataset(fo, name, labels, media)
    except ValueError as error:
        raise DatasetError(f"cannot create dataset {name!r}: {error}") from error
    logger.info("created dataset %r (classes %s, media in %s)", name, ", ".join(labels), media)
    return dataset, media


def preflight(name: str, labels: list[str] | None = None, media_dir: str | Path | None = None) -> None:
    """Check, before mining, that a push into ``name`` can succeed.

    Raises:
        DatasetError: Invalid name, unreachable database, foreign dataset or other classes.
        OutputError: The media folder is not writable.
    """
    check_name(name)
    fo = connect()
    if fo.dataset_exists(name):
        dataset = fo.load_dataset(name)
        vidal_info(dataset)
        if labels is not None:
            check_labels(dataset, labels)
        check_media_dir(resolve_media_dir(media_dir, dataset))
    else:
        check_media_dir(resolve_media_dir(media_dir, None))


def _run_record(run: MinedRun, status: str, report: PushReport) -> MiningRecord:
    summary = run.summary
    return MiningRecord(
        status=status,
        started=summary.started,
        pushed=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        run_dir=str(run.path.resolve()),
        video_path=summary.input.path,
        video_hash=run.video_hash,
        model=summary.model,
        model_path=summary.model_path,
        labels=run.labels,
        processed=summary.frames.get("processed"),
        selected=len(run.selected),
        strategy=summary.selection.get("strategy"),
        complete=summary.complete,
        added=report.added,
        updated=report.updated,
        protected=report.protected,
        config=summary.config,
        class_coverage=summary.selection.get("class_coverage"),
    )


def _record(dataset: Any, run: MinedRun, status: str, report: PushReport) -> None:
    config = dataset.init_run(**_run_record(run, status, report).to_config())
    if dataset.has_run(run.run_id):
        dataset.update_run_config(run.run_id, config)
    else:
        dataset.register_run(run.run_id, config)


def push_run(
    run: str | Path | MinedRun,
    name: str = "vidal",
    *,
    media_dir: str | Path | None = None,
    draft_conf: float = 0.5,
) -> PushReport:
    """Push a run folder's selected frames into the dataset ``name``.

    Args:
        run: A folder written by ``vidal mine``, or one read with :func:`vidal.runs.load_run`.
        name: The dataset (created for the run's classes if missing).
        media_dir: Folder for the frame images; ``None`` for the dataset's (or the default).
        draft_conf: Tracked detections from this score on make the ``ground_truth`` draft.

    Returns:
        A :class:`PushReport`.

    Raises:
        InputError: ``run`` is not a vidal run folder.
        DatasetError: The dataset cannot take the run (see :func:`open_dataset`).
        OutputError: The media folder is not writable.
    """
    check_name(name)
    if not isinstance(run, MinedRun):
        run = load_run(run)
    fo = connect()
    report = PushReport(name, run.run_id)
    width, height = run.summary.input.width, run.summary.input.height
    with dataset_lock(fo, name):
        dataset, media = open_dataset(fo, name, run.labels, media_dir)
        _record(dataset, run, "pushing", report)
        folder = media / run.video_hash[:16]
        embeddings = run.embeddings()
        if embeddings and EMBEDDING_FIELD not in dataset.get_field_schema():
            dataset.add_sample_field(EMBEDDING_FIELD, fo.VectorField)
        for frame in run.selected:
            key = f"{run.video_hash}:{frame.frame}"
            source = run.image(frame)
            image = folder / f"{frame.frame:06d}{source.suffix}"
            _store_image(source, image)
            labels = frame_labels(fo, frame, width, height, draft_conf, run.labels)
            fields = {
                "video_path": run.summary.input.path,
                "uncertainty": frame.score,
                "reasons": list(frame.reasons),
                "mining_run": run.run_id,
                "model": run.summary.model,
                "predictions": labels["predictions"],
                "suspect_regions": labels["suspect_regions"],
            }
            if frame.frame in embeddings:
                fields[EMBEDDING_FIELD] = embeddings[frame.frame]
            existing = _find(dataset, key)
            if existing is None:
                sample = fo.Sample(
                    filepath=str(image),
                    tags=[TAG_TO_REVIEW],
                    metadata=fo.ImageMetadata(width=width, height=height, num_channels=3),
                    vidal_key=key,
                    video_hash=run.video_hash,
                    frame_number=frame.frame,
                    timestamp=frame.timestamp,
                    mining_runs=[run.run_id],
                    ground_truth=labels["ground_truth"],
                    draft_fingerprint=fingerprint(labels["ground_truth"]),
                    **fields,
                )
                try:
                    dataset.add_sample(sample, expand_schema=False)
                    report.added += 1
                    continue
                except ValueError as error:  # another machine inserted it first: update it
                    if "E11000" not in str(error):
                        raise
                    existing = _find(dataset, key)
            report_key = _update(existing, fields, labels["ground_truth"], image, run.run_id)
            setattr(report, report_key, getattr(report, report_key) + 1)
        report.total = len(dataset)
        _record(dataset, run, "complete", report)
    return report


def _find(dataset: Any, key: str) -> Any | None:
    """The sample of a frame key, or ``None`` (the unique index makes it at most one)."""
    from fiftyone import ViewField as F

    return next(iter(dataset.match(F("vidal_key") == key).limit(1)), None)


def _update(sample: Any, fields: dict[str, Any], draft: Any, image: Path, run_id: str) -> str:
    """Update a sample already in the dataset; returns ``"updated"`` or ``"protected"``."""
    sample.reload()  # the freshest ground truth: a reviewer may be editing it now
    for key, value in fields.items():
        sample[key] = value
    if run_id not in (sample.mining_runs or []):
        sample.mining_runs = list(sample.mining_runs or []) + [run_id]
    if not Path(sample.filepath).is_file():
        sample.filepath = str(image)
    protected = TAG_REVIEWED in sample.tags or fingerprint(sample.ground_truth) != (sample.draft_fingerprint or "")
    if not protected:
        sample.ground_truth = draft
        sample.draft_fingerprint = fingerprint(draft)
        if TAG_TO_REVIEW not in sample.tags:
            sample.tags = list(sample.tags) + [TAG_TO_REVIEW]
    sample.save()
    return "protected" if protected else "updated"
