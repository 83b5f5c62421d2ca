"""``vidal mine --from-dataset NAME --field FIELD``: tracks kept in a FiftyOne dataset.

FiftyOne's convention for tracked objects: a ``Detections`` field whose detections carry
their track's identity in ``Detection.index``. Two layouts are read:

- a video dataset, the field a frame field (``FIELD`` or ``frames.FIELD``): each video
  sample is one input;
- a frame (image) dataset, the field a sample field: the images of one folder are one
  input (vidal reads a folder of frame images as one sequence, in name order), each
  image's frame number its place in that order.

Each input's tracks are written as a MOTChallenge tracks file and a ``classes.txt`` (the
field's labels, in the dataset's class order where it has one), so that the run is a
``vidal mine --tracks`` run (:mod:`vidal.detectors.imported`) with every check of one, and
the files stay beside the runs to rerun it. Relative boxes become pixels here, the only
place besides the push that converts between FiftyOne's boxes and vidal's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidal.dataset.connection import check_name, connect
from vidal.errors import DatasetError
from vidal.video import open_source

logger = logging.getLogger(__name__)

CLASSES_FILE = "classes.txt"


@dataclass
class TrackedInput:
    """One input of a dataset's tracks, written out.

    Attributes:
        source: The video file, or the folder of frame images.
        tracks: Its MOTChallenge tracks file.
        classes: The classes file beside it.
        boxes: Rows written.
    """

    source: Path
    tracks: Path
    classes: Path
    boxes: int


def _labels(dataset: Any, field: str, found: set[str]) -> list[str]:
    """The class order: the field's or the dataset's classes, then any other label, sorted."""
    declared = list(dataset.classes.get(field, []) or dataset.default_classes or [])
    return [c for c in declared if c in found] + sorted(found - set(declared))


def _rows(where: str, frame: int, detections: Any, width: int, height: int) -> list[tuple]:
    out = []
    for detection in getattr(detections, "detections", None) or []:
        if detection.index is None:
            raise DatasetError(
                f"{where}, frame {frame}: a detection ({detection.label!r}) without a track id in Detection.index: "
                "the field holds no tracks"
            )
        x, y, w, h = detection.bounding_box
        confidence = -1.0 if detection.confidence is None else float(detection.confidence)
        out.append((frame, int(detection.index), x * width, y * height, w * width, h * height, confidence,
                    str(detection.label)))
    return out


def _write(folder: Path, stem: str, rows: list[tuple], labels: list[str]) -> tuple[Path, Path]:
    """Write ``folder/<stem>/tracks.txt`` and its ``classes.txt``."""
    target = folder / stem
    target.mkdir(parents=True, exist_ok=True)
    line = {name: k for k, name in enumerate(labels, start=1)}
    tracks = target / "tracks.txt"
    with tracks.open("w") as handle:
        for frame, ident, x, y, w, h, conf, label in sorted(rows, key=lambda r: (r[0], r[1])):
            handle.write(f"{frame},{ident},{x!r},{y!r},{w!r},{h!r},{conf!r},{line[label]}\n")
    classes = target / CLASSES_FILE
    classes.write_text("".join(f"{name}\n" for name in labels))
    return tracks, classes


def export_tracks(name: str, field: str, folder: Path) -> list[TrackedInput]:
    """Write the tracks of dataset ``name``'s ``field`` as MOTChallenge files under ``folder``.

    Args:
        name: The FiftyOne dataset.
        field: Its ``Detections`` field with track ids in ``Detection.index`` (a frame field
            of a video dataset: ``FIELD`` or ``frames.FIELD``; a sample field of an image one).
        folder: Where ``<input name>/tracks.txt`` and ``classes.txt`` go.

    Returns:
        One :class:`TrackedInput` per video or folder of images.

    Raises:
        DatasetError: No such dataset or field, not a ``Detections`` field, a detection with no
            track id, an image dataset whose images lie in no folder vidal reads as a sequence.
        InputError: A video or image folder cannot be read.
    """
    fo = connect()
    check_name(name)
    if name not in fo.list_datasets():
        raise DatasetError(f"no FiftyOne dataset {name!r}")
    dataset = fo.load_dataset(name)
    bare = field.removeprefix("frames.")
    if dataset.media_type == "video":
        schema = dataset.get_frame_field_schema() or {}
        path = f"frames.{bare}"
    elif dataset.media_type == "image":
        schema = dataset.get_field_schema()
        path = bare
    else:
        raise DatasetError(f"dataset {name!r} holds {dataset.media_type} samples: vidal mines videos and frames")
    kind = getattr(schema.get(bare), "document_type", None)
    if kind is None or kind.__name__ != "Detections":
        fields = sorted(k for k, v in schema.items() if getattr(getattr(v, "document_type", None), "__name__", "") ==
                        "Detections")
        raise DatasetError(f"dataset {name!r} has no Detections field {bare!r}"
                           + (f" (its Detections fields: {', '.join(fields)})" if fields else ""))
    inputs = _video_inputs(dataset, path) if dataset.media_type == "video" else _image_inputs(dataset, path)
    out = []
    stems: set[str] = set()
    for source, rows in inputs:
        labels = _labels(dataset, bare, {r[7] for r in rows})
        stem = source.stem if source.is_file() else source.name
        while stem in stems:
            stem += "_"
        stems.add(stem)
        tracks, classes = _write(folder, stem, rows, labels or ["object"])
        out.append(TrackedInput(source, tracks, classes, len(rows)))
        logger.info("%s: %d tracked boxes from %s.%s -> %s", source, len(rows), name, path, tracks)
    return out


def _video_inputs(dataset: Any, path: str) -> list[tuple[Path, list[tuple]]]:
    out = []
    filepaths = dataset.values("filepath")
    numbers = dataset.values("frames.frame_number")
    detections = dataset.values(path)
    for filepath, frames, per_frame in zip(filepaths, numbers, detections):
        info = open_source(filepath).info
        rows: list[tuple] = []
        for frame, found in zip(frames, per_frame):
            rows.extend(_rows(filepath, int(frame), found, info.width, info.height))
        out.append((Path(filepath), rows))
    return out


def _image_inputs(dataset: Any, path: str) -> list[tuple[Path, list[tuple]]]:
    by_folder: dict[Path, list[tuple[Path, Any]]] = {}
    for filepath, found in zip(dataset.values("filepath"), dataset.values(path)):
        by_folder.setdefault(Path(filepath).parent, []).append((Path(filepath), found))
    out = []
    for folder, samples in by_folder.items():
        source = open_source(folder)
        order = {p.name: k for k, p in enumerate(source.images, start=1)}
        rows: list[tuple] = []
        for filepath, found in samples:
            if filepath.name not in order:
                raise DatasetError(f"{filepath} is not a frame image vidal reads in {folder}")
            rows.extend(_rows(str(filepath), order[filepath.name], found, source.info.width, source.info.height))
        out.append((folder, rows))
    return out
