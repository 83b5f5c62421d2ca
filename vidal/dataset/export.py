"""Export the reviewed samples' ``ground_truth`` through FiftyOne's exporters.

The export is built in a hidden staging folder beside its destination (see
:class:`vidal.outputs.RunFolder`) and renamed into place when complete; it carries vidal's
marker file, and only a folder with that marker is ever replaced (``--overwrite``). Frame
images are named ``<video>_<frame>.jpg`` (FiftyOne's exporters name an image after its
source file, and every video's frames are ``000001.jpg``... in the media folder, so each
image is handed to the exporter under its export name).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from vidal.dataset.load import load_vidal_dataset
from vidal.dataset.schema import TAG_REVIEWED, vidal_info
from vidal.errors import DatasetError, OutputError
from vidal.outputs import EXPORT_KIND, RunFolder, marker_kind, protected_reason

logger = logging.getLogger(__name__)

FORMATS = ("yolo", "coco", "cvat")
YOLO_SPLIT = "train"
# Fields of a sample that say where its frame comes from, kept in COCO's image records.
SOURCE_FIELDS = ("video_path", "video_hash", "frame_number", "timestamp")


def check_export_folder(out: Path, overwrite: bool) -> Path:
    """Check that ``out`` may receive an export; returns the folder it names (symlinks resolved).

    A missing or empty folder may; a folder vidal exported to before may with ``overwrite``;
    nothing else, and never the current directory, the home directory or a parent of either.

    Raises:
        OutputError: ``out`` may not be written, with the reason.
    """
    reason = protected_reason(out)
    if reason:
        raise OutputError(f"refusing to export to {out}: {reason}; name a new or empty folder")
    target = out.resolve()
    if target.exists() and not target.is_dir():
        raise OutputError(f"export folder {out} is a file; name a new or empty folder")
    if target.is_dir() and any(target.iterdir()):
        if marker_kind(target) != EXPORT_KIND:
            raise OutputError(
                f"export folder {out} is not empty and was not written by vidal export; name a new or empty folder"
            )
        if not overwrite:
            raise OutputError(f"export folder {out} is not empty; pass --overwrite to replace it")
    return target


def video_name(video_path: str) -> str:
    """The name of a video in file names: its stem, or a sequence folder's name (as run folders)."""
    path = Path(video_path)
    if path.name == "img1":
        return path.parent.name
    return path.name if path.is_dir() else path.stem


def frame_names(records: list[dict[str, Any]]) -> dict[str, str]:
    """The export file name of each sample's image: ``<video>_<frame:06d><suffix>``.

    Two different videos (by hash) of the same name are told apart by the start of their
    hash: ``<video>-<hash8>_<frame>``.

    Args:
        records: One dict per sample with ``filepath``, ``video_path``, ``video_hash`` and
            ``frame_number``.

    Returns:
        ``{filepath: file name}``.
    """
    by_name: dict[str, set[str]] = {}
    for record in records:
        by_name.setdefault(video_name(record["video_path"]), set()).add(record["video_hash"])
    names = {}
    for record in records:
        name = video_name(record["video_path"])
        if len(by_name[name]) > 1:
            name = f"{name}-{record['video_hash'][:8]}"
        names[record["filepath"]] = f"{name}_{int(record['frame_number']):06d}{Path(record['filepath']).suffix}"
    return names


def _not_merge_notice(record: logging.LogRecord) -> bool:
    return "export will be merged" not in str(record.msg)


def export_yolo(view: Any, train_ids: list[str], val_ids: list[str], out: Path, names: list[str]) -> Path:
    """Export the ``ground_truth`` of the train and val samples in YOLO layout; returns ``dataset.yaml``.

    Both splits go into one folder (FiftyOne's YOLOv5 exporter merges them, as designed);
    ``names`` fixes the class ids to the model's. This is the training data of ``vidal
    train``; :func:`export_reviewed` is the user's export.
    """
    import fiftyone as fo

    notices = logging.getLogger("fiftyone.core.collections")
    notices.addFilter(_not_merge_notice)
    try:
        for split, ids in (("train", train_ids), ("val", val_ids)):
            view.select(ids).export(
                export_dir=str(out),
                dataset_type=fo.types.YOLOv5Dataset,
                label_field="ground_truth",
                classes=names,
                split=split,
                progress=False,
            )
    finally:
        notices.removeFilter(_not_merge_notice)
    # FiftyOne writes the export's absolute path; without it Ultralytics resolves the splits
    # from the file's own folder, so the data stays usable when its run folder is renamed.
    yaml = out / "dataset.yaml"
    lines = yaml.read_text().splitlines()
    yaml.write_text("\n".join(line for line in lines if not line.startswith("path:")) + "\n")
    return yaml


def export_reviewed(name: str, fmt: str, out: str | Path, *, overwrite: bool = False) -> int:
    """Export the reviewed samples of a dataset, images included.

    Args:
        name: The dataset.
        fmt: ``yolo`` (YOLOv5/Ultralytics layout with ``dataset.yaml``), ``coco`` (COCO
            detection JSON) or ``cvat`` (CVAT image XML).
        out: The export folder; it must be empty or missing, or (with ``overwrite``) a
            folder vidal exported to before.
        overwrite: Replace an earlier export.

    Returns:
        The number of samples exported.

    Raises:
        DatasetError: Unknown format, no such dataset, no reviewed sample, or images
            missing from the media folder.
        OutputError: ``out`` may not be written (see :func:`check_export_folder`), or
            writing failed.
    """
    if fmt not in FORMATS:
        raise DatasetError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    out = Path(out)
    target = check_export_folder(out, overwrite)
    dataset = load_vidal_dataset(name)
    view = dataset.match_tags(TAG_REVIEWED)
    if len(view) == 0:
        raise DatasetError(f"dataset {name!r} has no reviewed samples: tag corrected samples 'reviewed' in the App")
    fields = ("filepath", *SOURCE_FIELDS)
    records = [dict(zip(fields, values)) for values in zip(*view.values(list(fields)))]
    missing = [r["filepath"] for r in records if not Path(r["filepath"]).is_file()]
    if missing:
        raise DatasetError(
            f"{len(missing)} reviewed images are missing from the media folder (first: {missing[0]}); "
            "mine their videos again to restore them"
        )
    folder = RunFolder(target.parent, target.name, kind=EXPORT_KIND)
    try:
        _write(view, fmt, folder.staging, records, list(vidal_info(dataset)["labels"]))
        folder.replace()
    except OSError as error:
        folder.discard()
        raise OutputError(f"cannot export to {out}: {error.strerror or error}") from error
    except BaseException:
        folder.discard()
        raise
    logger.debug("exported %d reviewed samples of %r to %s (%s)", len(view), name, out, fmt)  # the CLI says it
    return len(view)


def _write(view: Any, fmt: str, folder: Path, records: list[dict[str, Any]], labels: list[str]) -> None:
    """Export ``view`` into ``folder`` in ``fmt``, images named by :func:`frame_names`."""
    import fiftyone.utils.coco as fouc
    import fiftyone.utils.cvat as foucvat
    import fiftyone.utils.yolo as fouy

    # "move": the exporter moves the image vidal staged under its export name (a fresh copy,
    # so it gets the umask's mode, not the media file's).
    if fmt == "yolo":
        inner = fouy.YOLOv5DatasetExporter(str(folder), split=YOLO_SPLIT, classes=labels, export_media="move")
    elif fmt == "coco":
        inner = fouc.COCODetectionDatasetExporter(str(folder), classes=labels, export_media="move")
    else:  # CVAT's exporter takes no class list: its labels come from the annotations
        inner = foucvat.CVATImageDatasetExporter(str(folder), export_media="move")
    names = frame_names(records)
    view.export(
        dataset_exporter=_renaming_exporter(inner, names, folder / ".images"),
        label_field="ground_truth",
        progress=False,
    )
    if fmt == "yolo":
        _finish_yolo_yaml(folder / "dataset.yaml")
    elif fmt == "coco":
        _add_sources_to_coco(folder / "labels.json", records, names)


def _renaming_exporter(inner: Any, names: dict[str, str], staged: Path) -> Any:
    """Wrap a FiftyOne image exporter so that it receives each image under its export name."""
    import fiftyone.utils.data as foud

    class RenamingExporter(foud.LabeledImageDatasetExporter):
        def __init__(self) -> None:
            # No export_dir of its own: FiftyOne then leaves the folder to vidal (no "export
            # will be merged" warning about the staging folder, which holds vidal's marker).
            super().__init__(export_dir=None)

        @property
        def requires_image_metadata(self) -> bool:
            return inner.requires_image_metadata

        @property
        def label_cls(self) -> Any:
            return inner.label_cls

        def setup(self) -> None:
            staged.mkdir()
            inner.setup()

        def log_collection(self, sample_collection: Any) -> None:
            inner.log_collection(sample_collection)

        def export_sample(self, image_or_path: Any, label: Any, metadata: Any = None) -> None:
            image = staged / names[image_or_path]
            shutil.copyfile(image_or_path, image)
            inner.export_sample(str(image), label, metadata=metadata)

        def close(self, *args: Any) -> None:
            inner.close(*args)
            shutil.rmtree(staged, ignore_errors=True)  # inside vidal's own staging folder

    return RenamingExporter()


def _finish_yolo_yaml(path: Path) -> None:
    """Make FiftyOne's ``dataset.yaml`` one that Ultralytics accepts wherever the folder goes.

    Ultralytics requires a ``val:`` split; every reviewed frame is in ``train``, so ``val``
    names the same images. FiftyOne's absolute ``path:`` would name the staging folder:
    without it, Ultralytics resolves the splits from the file's own folder.
    """
    import yaml

    data = yaml.safe_load(path.read_text())
    data.pop("path", None)
    train = data.pop("train")
    ordered = {"train": train, "val": train, **data}
    header = (
        "# Exported by vidal: every reviewed frame is in train; val names the same images\n"
        "# (Ultralytics requires a val split): hold out frames of your own to validate.\n"
    )
    path.write_text(header + yaml.safe_dump(ordered, sort_keys=False))


def _add_sources_to_coco(path: Path, records: list[dict[str, Any]], names: dict[str, str]) -> None:
    """Add each image's video and frame number (:data:`SOURCE_FIELDS`) to its COCO image record."""
    sources = {names[r["filepath"]]: {k: r[k] for k in SOURCE_FIELDS} for r in records}
    data = json.loads(path.read_text())
    for image in data.get("images", []):
        image.update(sources.get(Path(image["file_name"]).name, {}))
    path.write_text(json.dumps(data))
