"""``vidal label --from-mot``: fill the ground truth of mined frames from MOTChallenge annotations.

The simulated human of demos, tests and benchmarks: every mined frame of a video gets the
video's annotated boxes as ``ground_truth`` and the ``reviewed`` tag, as if a reviewer had
corrected it in the App. A ground-truth file that does not fit the video (frames past its
end, boxes outside its image, a ``seqinfo.ini`` of another size) is refused before anything
is written, and a frame a human reviewed is never overwritten unless asked.

MOTChallenge layouts (``frame, id, left, top, width, height, ...``), told apart by their
column count:

- 9 columns (MOT16/17/20): ``conf`` is an "evaluate me" flag (rows with 0 are ignored) and
  column 8 a class id; by default only class 1 (pedestrian) is labelled, as the benchmark
  evaluates it. A ``classes.txt`` beside the sequence (one name per line, line ``i`` for
  class ``i``) or ``--classes`` names the classes to label instead.
- 10 columns (MOT15: world coordinates after ``conf``) and 6-7 columns: every row is a
  person.
"""

from __future__ import annotations

import configparser
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidal.dataset.connection import connect, dataset_lock
from vidal.dataset.report import load_vidal_dataset
from vidal.dataset.schema import TAG_REVIEWED, TAG_TO_REVIEW, to_relative, vidal_info
from vidal.errors import DatasetError, InputError

LABEL_SOURCE_FIELD = "label_source"
DEFAULT_CLASSES = {1: "person"}
# A box lying wholly outside the image, or reaching further than this share of the image
# beyond its border, cannot be an annotation of this video. Real annotations do cross the
# border (people walking out of view), by less than half their size.
OUTSIDE_MARGIN = 0.25
# Refuse the file if more than this share of its boxes are impossible for the video.
MAX_OUTSIDE_SHARE = 0.01


@dataclass
class MotBoxes:
    """The rows of a MOTChallenge ground-truth file that are labels.

    Attributes:
        frame: 1-based frame number per box, ``(N,)``.
        track: Identity per box, ``(N,)``.
        xyxy: Pixel boxes, ``(N, 4)``.
        label: Class name per box.
        line: Line number of each box in the file, for error messages.
        ignored: Rows left out (flag 0, or a class not labelled).
        last_frame: The largest frame number in the file (ignored rows included).
    """

    frame: np.ndarray
    track: np.ndarray
    xyxy: np.ndarray
    label: list[str]
    line: np.ndarray
    ignored: int
    last_frame: int


@dataclass
class LabelReport:
    """What ``vidal label`` did.

    Attributes:
        dataset: The dataset.
        video: The video whose frames were labelled.
        samples: Mined frames of that video in the dataset.
        labelled: Frames whose ground truth was written from the file.
        with_boxes: Of those, frames with at least one box (the others hold no object).
        boxes: Boxes written.
        kept: Frames already reviewed by a human, left as they were.
        ignored_rows: Rows of the file that are not labels (flag 0, classes not labelled).
    """

    dataset: str
    video: str
    samples: int
    labelled: int
    with_boxes: int
    boxes: int
    kept: int
    ignored_rows: int


def read_classes(path: Path) -> dict[int, str]:
    """Class names from a file with one name per line (line ``i`` is class ``i``, from 1)."""
    try:
        names = [line.strip() for line in path.read_text().splitlines()]
    except OSError as error:
        raise InputError(f"cannot read classes file {path}: {error.strerror}") from error
    return {i: name for i, name in enumerate(names, start=1) if name}


def parse_mot(path: Path, classes: dict[int, str] | None = None) -> MotBoxes:
    """Read a MOTChallenge ``gt.txt``.

    Args:
        path: The file.
        classes: Class id to label name for 9-column files; ``None`` for
            :data:`DEFAULT_CLASSES`. Rows of other classes are ignored.

    Raises:
        InputError: The file is missing, empty, or a line is not MOTChallenge.
    """
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read ground truth {path}: {getattr(error, 'strerror', None) or error}") from error
    classes = classes or DEFAULT_CLASSES
    rows: list[list[float]] = []
    numbers: list[int] = []
    width = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values = [float(v) for v in line.replace(" ", "").split(",")]
        except ValueError:
            values = []
        if len(values) < 6 or (width is not None and len(values) != width):
            expected = f"{width}" if width else "at least 6"
            raise InputError(f"{path} line {number}: expected {expected} comma-separated numbers "
                             f"(MOTChallenge: frame, id, left, top, width, height, ...), got {line.strip()[:60]!r}")
        width = len(values)
        rows.append(values)
        numbers.append(number)
    if not rows:
        raise InputError(f"ground truth {path} has no boxes")
    table = np.asarray(rows, np.float64)
    lines = np.asarray(numbers)
    frames = table[:, 0]
    if (frames < 1).any() or (frames != np.round(frames)).any():
        bad = int(lines[np.flatnonzero((frames < 1) | (frames != np.round(frames)))[0]])
        raise InputError(f"{path} line {bad}: frame numbers are whole numbers from 1")
    keep = np.ones(len(table), bool)
    if width == 9:  # MOT16/17/20: evaluation flag and class
        keep &= table[:, 6] != 0
        keep &= np.isin(table[:, 7].astype(np.int64), list(classes))
        names = [classes.get(int(c), "") for c in table[:, 7]]
    else:
        names = [DEFAULT_CLASSES[1]] * len(table)
    xyxy = table[:, 2:6].copy()
    xyxy[:, 2:] += xyxy[:, :2]
    index = np.flatnonzero(keep)
    return MotBoxes(
        frame=frames[index].astype(np.int64),
        track=table[index, 1].astype(np.int64),
        xyxy=xyxy[index],
        label=[names[i] for i in index],
        line=lines[index],
        ignored=int((~keep).sum()),
        last_frame=int(frames.max()),
    )


def _seqinfo(gt_path: Path) -> dict[str, str]:
    """``[Sequence]`` of the ``seqinfo.ini`` beside the sequence, if any."""
    path = gt_path.resolve().parent.parent / "seqinfo.ini"
    if not path.is_file():
        return {}
    parser = configparser.ConfigParser()
    try:
        parser.read(path)
    except configparser.Error:
        return {}
    return {key.lower(): value for key, value in parser["Sequence"].items()} if parser.has_section("Sequence") else {}


def check_fits(boxes: MotBoxes, gt_path: Path, width: int, height: int, frame_count: int, video: str) -> None:
    """Refuse ground truth that cannot belong to a video of this size and length.

    Raises:
        InputError: Frames past the video's end, boxes outside its image, or a
            ``seqinfo.ini`` of another size or length.
    """
    info = _seqinfo(gt_path)
    size = (info.get("imwidth"), info.get("imheight"))
    if all(size) and (int(size[0]), int(size[1])) != (width, height):
        raise InputError(f"{gt_path} is for a {size[0]}x{size[1]} sequence (seqinfo.ini), but {video} is "
                         f"{width}x{height}: ground truth of another video?")
    if info.get("seqlength") and int(info["seqlength"]) != frame_count:
        raise InputError(f"{gt_path} is for a sequence of {info['seqlength']} frames (seqinfo.ini), but {video} has "
                         f"{frame_count}: ground truth of another video?")
    if boxes.last_frame > frame_count:
        raise InputError(f"{gt_path} has frames up to {boxes.last_frame}, but {video} has {frame_count}: "
                         "ground truth of another video?")
    if len(boxes.xyxy) == 0:
        return
    x1, y1, x2, y2 = boxes.xyxy.T
    margin_x, margin_y = OUTSIDE_MARGIN * width, OUTSIDE_MARGIN * height
    outside = (x1 >= width) | (y1 >= height) | (x2 <= 0) | (y2 <= 0)
    outside |= (x1 < -margin_x) | (y1 < -margin_y) | (x2 > width + margin_x) | (y2 > height + margin_y)
    if outside.mean() > MAX_OUTSIDE_SHARE:
        first = int(np.flatnonzero(outside)[0])
        box = ", ".join(f"{v:.0f}" for v in boxes.xyxy[first])
        raise InputError(f"{int(outside.sum())} of {len(outside)} boxes of {gt_path} lie outside the {width}x{height} "
                         f"image of {video} (line {int(boxes.line[first])}: x1, y1, x2, y2 = {box}): "
                         "ground truth of another video?")


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def label_from_mot(
    name: str,
    gt_path: str | Path,
    video: str | Path,
    *,
    classes: str | Path | None = None,
    overwrite_reviewed: bool = False,
) -> LabelReport:
    """Write MOTChallenge ground truth into the mined frames of ``video`` and tag them reviewed.

    Frames already reviewed by a human (tagged ``reviewed`` but not labelled from a file)
    are kept unless ``overwrite_reviewed``. Running it again gives the same dataset.

    Args:
        name: The dataset.
        gt_path: The ``gt.txt``.
        video: The video (or image folder) the file annotates, as mined.
        classes: A class-names file for 9-column files; default: ``classes.txt`` beside the
            sequence if there is one, else class 1 is ``person``.
        overwrite_reviewed: Replace the ground truth of frames a human reviewed too.

    Raises:
        InputError: The file or video cannot be read, or they do not fit each other.
        DatasetError: No such dataset, no mined frame of the video, or labels outside the
            dataset's classes.
    """
    from fiftyone import ViewField as F

    from vidal.video import open_source

    gt_path = Path(gt_path)
    source = open_source(video)
    info = source.info
    classes_path = Path(classes) if classes else gt_path.resolve().parent.parent / "classes.txt"
    class_names = read_classes(classes_path) if (classes or classes_path.is_file()) else None
    boxes = parse_mot(gt_path, class_names)
    check_fits(boxes, gt_path, info.width, info.height, info.frame_count, info.name)
    dataset = load_vidal_dataset(name)
    known = set(vidal_info(dataset)["labels"])
    unknown = sorted(set(boxes.label) - known)
    if unknown:
        raise DatasetError(f"{gt_path} labels {', '.join(unknown)}, which dataset {name!r} does not have "
                           f"(its classes: {', '.join(sorted(known))}); name the classes with --classes FILE")
    video_hash = source.content_hash()
    view = dataset.match(F("video_hash") == video_hash)
    if len(view) == 0:
        raise DatasetError(f"dataset {name!r} has no mined frames of {info.name}: run `vidal mine {video} "
                           f"--dataset {name}` first")
    source_tag = f"mot:{gt_path.name}:{_file_digest(gt_path)}"
    fo = connect()
    if LABEL_SOURCE_FIELD not in dataset.get_field_schema():
        dataset.add_sample_field(LABEL_SOURCE_FIELD, fo.StringField)
    order = np.argsort(boxes.frame, kind="stable")
    frames = boxes.frame[order]
    report = LabelReport(name, str(video), len(view), 0, 0, 0, 0, boxes.ignored)
    with dataset_lock(fo, name):
        for sample in view.iter_samples():
            sample.reload()  # the freshest state: a reviewer may have tagged it a moment ago
            by_human = TAG_REVIEWED in sample.tags and not (sample[LABEL_SOURCE_FIELD] or "").startswith("mot:")
            if by_human and not overwrite_reviewed:
                report.kept += 1
                continue
            lo, hi = np.searchsorted(frames, [sample.frame_number, sample.frame_number + 1])
            chosen = order[lo:hi]
            truth = _detections(fo, boxes, chosen, info.width, info.height)
            sample.ground_truth = truth
            sample.tags = [t for t in sample.tags if t != TAG_TO_REVIEW] + (
                [] if TAG_REVIEWED in sample.tags else [TAG_REVIEWED])
            sample[LABEL_SOURCE_FIELD] = source_tag
            sample.save()  # ground truth, tags and source in one write
            report.labelled += 1
            report.with_boxes += int(len(truth.detections) > 0)
            report.boxes += len(truth.detections)
    return report


def _detections(fo: Any, boxes: MotBoxes, chosen: np.ndarray, width: int, height: int) -> Any:
    relative = to_relative(boxes.xyxy[chosen], width, height)
    return fo.Detections(detections=[
        fo.Detection(label=boxes.label[i], bounding_box=box, index=int(boxes.track[i]))
        for i, box in zip(chosen.tolist(), relative)
        if box[2] > 0 and box[3] > 0
    ])
