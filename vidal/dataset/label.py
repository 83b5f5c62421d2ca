"""``vidal label --from-mot``: the simulated reviewer, for demos, tests and benchmarks.

It fills the ``ground_truth`` of a video's mined frames from the video's MOTChallenge ground
truth and tags them ``reviewed`` (removing ``to_review``), as a reviewer correcting the
drafts in the App would.

Rules:

- the video's samples are found by its content hash, the key ``vidal mine`` stored, so a
  copy or a renamed file finds them;
- rows with flag 0 are not labels (MOTChallenge's "ignore"); in a layout with classes only
  the classes named are labels (MOT17: class 1, pedestrian; its distractors and vehicles
  are not), and a layout without classes (MOT15) is all pedestrians;
- class names come from a ``classes.txt`` (line ``i`` names class ``i``) given; else from a
  SoccerNet ``gameinfo.ini`` beside the sequence's ``gt/`` folder, by track (the ball's track
  ``sports ball``, every other one ``person``); else from a ``classes.txt`` found there, else
  class 1 is ``person``; they must be classes of the dataset;
- a file that does not fit the video (frames past its end, boxes outside its image, a
  ``seqinfo.ini`` of another size), a malformed line or a video with no mined frame is
  refused before anything is written;
- a frame is written in one database operation (``ground_truth`` and tags together), so a
  run killed midway leaves whole frames and running again completes it; a frame already
  labelled so is not written again; a frame a human corrected or reviewed, whose labels
  differ from the file's, is kept unless asked to overwrite it;
- a mined frame without any row in the file holds no object (MOTChallenge ground truth lists
  every object of every frame): it is labelled empty.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from vidal.dataset.connection import dataset_lock
from vidal.dataset.load import load_vidal_dataset
from vidal.dataset.schema import TAG_REVIEWED, TAG_TO_REVIEW, fingerprint, to_relative, vidal_info
from vidal.errors import DatasetError, InputError
from vidal.mot import (
    BALL_CLASS,
    GAMEINFO_FILE,
    NO_CLASS,
    PERSON_CLASS,
    MotGroundTruth,
    check_seqinfo_size,
    gameinfo_classes,
    read_classes,
    read_gameinfo,
    read_gt,
)
from vidal.video import FRAME_COUNT_TOLERANCE, VideoInfo, open_source

logger = logging.getLogger(__name__)

# MOTChallenge's class 1; a layout without a class column holds only pedestrians.
PEDESTRIAN = 1
DEFAULT_CLASSES: dict[int, str] = {PEDESTRIAN: "person"}
CLASSES_FILE = "classes.txt"
SEQINFO_FILE = "seqinfo.ini"
# Real annotations cross the image border (people walking out of view, boxes extrapolated
# over the hidden part): by up to a quarter of the image on MOT17-05 (640x480), less on the
# other MOT17 and TUD sequences. A box reaching beyond by more than half the image is an
# annotation of a larger image.
MAX_OVERSHOOT = 0.5
# Boxes wholly outside the image: none in MOT17, TUD or the sample clip; a few % of slack,
# more means the file is the ground truth of another video.
MAX_OUTSIDE_SHARE = 0.02
# Boxes are compared at this many decimals of relative coordinates to tell a frame already
# labelled so (FiftyOne stores what it was given, this only absorbs float noise).
BOX_DECIMALS = 6


@dataclass
class LabelReport:
    """What ``vidal label`` did.

    Attributes:
        dataset: The dataset.
        video_hash: The video's content hash (SHA-256).
        frames: Mined frames of the video in the dataset.
        matched: Of those, frames with rows in the file.
        empty: Frames without any row in the file, labelled with no object.
        written: Frames whose ``ground_truth`` and tags this call wrote.
        unchanged: Frames that already held these labels and the ``reviewed`` tag.
        kept: Frames corrected or reviewed by a human, with other labels, left as they were.
        boxes: Boxes in the ground truth of the written and unchanged frames.
        clipped: Of those, boxes clipped to the image.
        rows: Rows in the file.
        ignored_rows: Rows that are no labels (flag 0, or a class not named).
        classes: MOTChallenge class id to label name, as used (``None`` when ``roles`` named them).
        roles: Track id to role, from the sequence's ``gameinfo.ini`` if its roles named the
            classes, else ``None``.
    """

    dataset: str
    video_hash: str
    frames: int = 0
    matched: int = 0
    empty: int = 0
    written: int = 0
    unchanged: int = 0
    kept: int = 0
    boxes: int = 0
    clipped: int = 0
    rows: int = 0
    ignored_rows: int = 0
    classes: dict[int, str] | None = None
    roles: dict[int, str] | None = None


def _beside_gt(gt_path: Path, name: str) -> Path | None:
    """A file beside a sequence's ``gt/`` folder (``SEQ/gt/gt.txt`` -> ``SEQ/name``), if any."""
    folder = gt_path.resolve().parent
    candidate = folder.parent / name
    return candidate if folder.name == "gt" and candidate.is_file() else None


def resolve_classes(gt_path: Path, classes: str | Path | None) -> dict[int, str]:
    """The class names: the file given, else ``classes.txt`` beside ``gt/``, else :data:`DEFAULT_CLASSES`."""
    if classes is not None:
        return read_classes(classes)
    found = _beside_gt(gt_path, CLASSES_FILE)
    if found is None:
        return dict(DEFAULT_CLASSES)
    logger.info("class names from %s", found)
    return read_classes(found)


def resolve_roles(gt_path: Path, classes: str | Path | None) -> dict[int, str] | None:
    """The tracks' roles of a SoccerNet ``gameinfo.ini`` beside ``gt/``, unless a classes file is given.

    Returns:
        Track id to role (see :func:`vidal.mot.read_gameinfo`), ``None`` if ``classes`` is given
        or there is no ``gameinfo.ini``: then the rows are named by class (:func:`resolve_classes`).

    Raises:
        InputError: The ``gameinfo.ini`` is malformed.
    """
    if classes is not None:
        return None
    found = _beside_gt(gt_path, GAMEINFO_FILE)
    if found is None:
        return None
    logger.info("class names from the track roles of %s (ball: %r, others: %r)", found, BALL_CLASS, PERSON_CLASS)
    return read_gameinfo(found)


def row_labels(gt: MotGroundTruth, classes: Mapping[int, str], roles: Mapping[int, str] | None = None) -> np.ndarray:
    """The label name of each row, ``""`` for a row that is no label.

    Args:
        gt: The file's rows.
        classes: MOTChallenge class id to label name; rows of other classes are no labels.
        roles: Track id to SoccerNet role: if given, a row is named by its track's role
            (:func:`vidal.mot.gameinfo_classes`) and ``classes`` is not used.

    Returns:
        Names ``(N,)`` (object array).
    """
    if roles is not None:
        names = gameinfo_classes(gt.track_id, roles)
        names[gt.flag == 0] = ""
        return names
    class_id = np.where(gt.class_id == NO_CLASS, PEDESTRIAN, gt.class_id)
    names = np.array([classes.get(int(c), "") for c in class_id], dtype=object)
    names[gt.flag == 0] = ""
    return names


def check_fits(gt: MotGroundTruth, info: VideoInfo, path: Path) -> None:
    """Refuse ground truth that cannot be the video's: frames past its end, boxes outside its image.

    Every row counts, ignored ones included: they are annotations of the same images.

    Raises:
        InputError: A frame past the end, a box reaching more than :data:`MAX_OVERSHOOT` of the
            image beyond its border, or more than :data:`MAX_OUTSIDE_SHARE` of the boxes wholly
            outside the image; the message names the first such line.
    """
    last = info.frame_count + (FRAME_COUNT_TOLERANCE if info.kind == "video" else 0)
    late = gt.frame > last
    if late.any():
        row = int(np.argmax(late))
        raise InputError(
            f"{path}:{gt.line[row]}: frame {gt.frame[row]} is past the end of {info.path} "
            f"({info.frame_count} frames): is it the ground truth of another video?"
        )
    size = np.array([info.width, info.height, info.width, info.height], np.float64)
    xyxy = gt.xyxy.astype(np.float64)
    beyond = np.concatenate([-xyxy[:, :2], xyxy[:, 2:] - size[2:]], axis=1) / size
    overshoot = beyond.max(axis=1)
    far = overshoot > MAX_OVERSHOOT
    if far.any():
        row = int(np.argmax(far))
        raise InputError(
            f"{path}:{gt.line[row]}: box reaches {overshoot[row]:.0%} of the image beyond the "
            f"{info.width}x{info.height} image of {info.path}: is it the ground truth of another video?"
        )
    outside = (xyxy[:, 2] <= 0) | (xyxy[:, 3] <= 0) | (xyxy[:, 0] >= info.width) | (xyxy[:, 1] >= info.height)
    if outside.mean() > MAX_OUTSIDE_SHARE:
        raise InputError(
            f"{path}: {int(outside.sum())} of {len(gt)} boxes ({outside.mean():.0%}) lie outside the "
            f"{info.width}x{info.height} image of {info.path} (first at line {gt.line[int(np.argmax(outside))]}): "
            "is it the ground truth of another video?"
        )


def check_seqinfo(gt_path: Path, info: VideoInfo) -> None:
    """Refuse ground truth whose sequence's ``seqinfo.ini`` (beside ``gt/``) gives another image size.

    Its ``seqLength`` is not compared: trimmed sequences keep the original's (the frames of
    the file are checked against the video's by :func:`check_fits`).

    Raises:
        InputError: The file is unreadable, or its ``imWidth``/``imHeight`` differ from the video's.
    """
    found = _beside_gt(gt_path, SEQINFO_FILE)
    if found is None:
        return
    check_seqinfo_size(found, info.width, info.height, info.path, "is it the ground truth of another video?")


def check_label_names(
    labels: np.ndarray, dataset_labels: list[str], dataset: str, classes: Mapping[int, str] | None,
) -> None:
    """Refuse label names the dataset does not have.

    Args:
        labels: The rows' label names, as :func:`row_labels` gives them.
        dataset_labels: The dataset's classes.
        dataset: The dataset's name.
        classes: MOTChallenge class id to label name; ``None`` if a ``gameinfo.ini``'s roles
            named the rows.

    Raises:
        DatasetError: A row's label is not one of the dataset's classes.
    """
    unknown = sorted({str(name) for name in labels if name} - set(dataset_labels))
    if unknown:
        if classes is None:
            named = f"{GAMEINFO_FILE} roles: ball={BALL_CLASS}, others={PERSON_CLASS}"
            remedy = f"mine into a dataset with class {unknown[0]!r}, or pass --classes FILE to name rows by MOT class"
        else:
            named = ", ".join(f"{i}={name}" for i, name in sorted(classes.items()))
            remedy = "pass --classes FILE naming MOT class i on line i"
        raise DatasetError(
            f"class {unknown[0]!r} of the ground truth ({named}) is not a class of dataset {dataset!r} "
            f"({', '.join(dataset_labels)}); {remedy}"
        )


def frame_detections(
    fo: ModuleType, xyxy: np.ndarray, labels: np.ndarray, track_id: np.ndarray, width: int, height: int
) -> tuple[list[Any], int]:
    """The ``Detection`` objects of one frame's labelled rows, clipped to the image.

    Args:
        fo: The ``fiftyone`` module.
        xyxy: Pixel boxes ``(N, 4)`` float32.
        labels: Label names ``(N,)``.
        track_id: MOTChallenge identities ``(N,)`` int64, stored in ``Detection.index``.
        width: Image width in pixels.
        height: Image height in pixels.

    Returns:
        The detections (boxes with nothing inside the image left out) and how many were clipped.
    """
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    crossing = (xyxy[:, 0] < 0) | (xyxy[:, 1] < 0) | (xyxy[:, 2] > width) | (xyxy[:, 3] > height)
    detections, clipped = [], 0
    for box, label, track, cut in zip(to_relative(xyxy, width, height), labels, track_id, crossing):
        if box[2] <= 0 or box[3] <= 0:
            continue
        detections.append(fo.Detection(label=str(label), bounding_box=box, index=int(track)))
        clipped += int(cut)
    return detections, clipped


def _content(detections: Any) -> list[tuple[str, int, tuple[float, ...]]]:
    """A ``Detections`` label's boxes, comparable whatever their ids."""
    items = getattr(detections, "detections", None) or []
    return sorted(
        (
            str(d.label),
            -1 if d.index is None else int(d.index),
            tuple(round(float(v), BOX_DECIMALS) for v in (d.bounding_box or [])),
        )
        for d in items
    )


def _by_hand(sample: Any) -> bool:
    """Whether a human reviewed the sample or edited vidal's draft."""
    return TAG_REVIEWED in sample.tags or fingerprint(sample.ground_truth) != (sample.draft_fingerprint or "")


def _image_size(fo: ModuleType, sample: Any, info: VideoInfo) -> tuple[int, int]:
    """A sample's image size, from its metadata or its image file; it must be the video's.

    Raises:
        DatasetError: The image is missing, or its size is not the video's.
    """
    metadata = sample.metadata
    if metadata is None or not metadata.width or not metadata.height:
        if not Path(sample.filepath).is_file():
            raise DatasetError(
                f"frame {sample.frame_number}'s image {sample.filepath} is missing: mine {info.path} again to restore it"
            )
        metadata = fo.ImageMetadata.build_for(sample.filepath)
    size = (int(metadata.width), int(metadata.height))
    if size != (info.width, info.height):
        raise DatasetError(
            f"frame {sample.frame_number}'s image is {size[0]}x{size[1]} but {info.path} is {info.width}x{info.height}"
        )
    return size


@dataclass
class _Planned:
    """The labels one sample will get."""

    sample: Any
    detections: list[Any]
    clipped: int


def _plan(fo: ModuleType, samples: list[Any], gt: MotGroundTruth, labels: np.ndarray, info: VideoInfo,
          report: LabelReport) -> list[_Planned]:
    """Build every sample's labels before writing any (a missing image stops it here)."""
    wanted = labels != ""
    planned = []
    for sample in samples:
        width, height = _image_size(fo, sample, info)
        at = gt.frame == sample.frame_number
        if at.any():
            report.matched += 1
        else:
            report.empty += 1
        rows = at & wanted
        detections, clipped = frame_detections(fo, gt.xyxy[rows], labels[rows], gt.track_id[rows], width, height)
        planned.append(_Planned(sample, detections, clipped))
    return planned


def _write(fo: ModuleType, item: _Planned, overwrite: bool) -> str:
    """Write one sample's labels and tags in one save; returns ``written``, ``unchanged`` or ``kept``."""
    sample = item.sample
    sample.reload()  # the freshest state: a reviewer may be editing it in the App
    truth = fo.Detections(detections=item.detections)
    same = _content(sample.ground_truth) == _content(truth)
    tagged = TAG_REVIEWED in sample.tags and TAG_TO_REVIEW not in sample.tags
    if same and tagged:
        return "unchanged"
    if not same and not overwrite and _by_hand(sample):
        return "kept"
    if not same:
        sample.ground_truth = truth
    tags = [tag for tag in sample.tags if tag != TAG_TO_REVIEW]
    sample.tags = tags if TAG_REVIEWED in tags else tags + [TAG_REVIEWED]
    if sample.metadata is None:
        sample.metadata = fo.ImageMetadata.build_for(sample.filepath)
    sample.save()
    return "written"


def label_from_mot(
    name: str,
    gt_path: str | Path,
    video: str | Path,
    *,
    classes: str | Path | None = None,
    overwrite: bool = False,
) -> LabelReport:
    """Label a video's mined frames in a dataset from its MOTChallenge ground truth, and tag them reviewed.

    Args:
        name: The dataset.
        gt_path: The video's ``gt.txt`` (MOT15, MOT16/17/20 layout, see :data:`vidal.mot.GT_LAYOUTS`).
        video: The mined video file or image folder (a MOTChallenge sequence or its ``img1/``).
        classes: A classes file (line ``i`` names class ``i``); ``None`` for the roles of a
            ``gameinfo.ini`` beside the ``gt/`` folder (:func:`resolve_roles`), else its
            ``classes.txt``, else :data:`DEFAULT_CLASSES`.
        overwrite: Replace the labels of frames a human corrected or reviewed too.

    Returns:
        A :class:`LabelReport`.

    Raises:
        InputError: The files cannot be read, a line is malformed (``gt.txt``, classes file,
            ``gameinfo.ini``), or the ground truth does not
            fit the video (see :func:`check_fits` and :func:`check_seqinfo`).
        DatasetError: No such dataset, a class the dataset does not have, or no mined frame of
            the video in it.
    """
    gt_path = Path(gt_path)
    gt = read_gt(gt_path)
    roles = resolve_roles(gt_path, classes)
    names = resolve_classes(gt_path, classes) if roles is None else None
    source = open_source(video)
    check_seqinfo(gt_path, source.info)
    check_fits(gt, source.info, gt_path)
    labels = row_labels(gt, names or {}, roles)
    dataset = load_vidal_dataset(name)
    check_label_names(labels, list(vidal_info(dataset)["labels"]), name, names)
    video_hash = source.content_hash()
    report = LabelReport(
        name, video_hash, rows=len(gt), ignored_rows=int((labels == "").sum()), classes=names, roles=roles
    )
    import fiftyone as fo
    from fiftyone import ViewField as F

    with dataset_lock(fo, name):
        samples = list(dataset.match(F("video_hash") == video_hash).sort_by("frame_number"))
        if not samples:
            raise DatasetError(
                f"dataset {name!r} has no mined frames of {source.info.path} (sha256 {video_hash[:12]}): "
                f"run `vidal mine {video} --dataset {name}` first"
            )
        report.frames = len(samples)
        for item in _plan(fo, samples, gt, labels, source.info, report):
            outcome = _write(fo, item, overwrite)
            setattr(report, outcome, getattr(report, outcome) + 1)
            if outcome != "kept":
                report.boxes += len(item.detections)
                report.clipped += item.clipped
    logger.debug(
        "labelled %d frames of %s from %s (%d written, %d unchanged, %d kept)",
        report.frames - report.kept, source.info.path, gt_path, report.written, report.unchanged, report.kept,
    )
    return report
