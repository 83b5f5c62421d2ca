"""Export the reviewed samples' ``ground_truth`` through FiftyOne's exporters."""

from __future__ import annotations

import logging
from pathlib import Path

from vidal.dataset.report import load_vidal_dataset
from vidal.dataset.schema import TAG_REVIEWED, vidal_info
from vidal.errors import DatasetError, OutputError

logger = logging.getLogger(__name__)

FORMATS = ("yolo", "coco", "cvat")


def export_reviewed(name: str, fmt: str, out: str | Path, *, overwrite: bool = False) -> int:
    """Export the reviewed samples of a dataset, images included.

    Args:
        name: The dataset.
        fmt: ``yolo`` (YOLOv5/Ultralytics layout with ``dataset.yaml``), ``coco`` (COCO
            detection JSON) or ``cvat`` (CVAT image XML).
        out: The export folder; it must be empty or missing unless ``overwrite``.
        overwrite: Replace an existing export folder.

    Returns:
        The number of samples exported.

    Raises:
        DatasetError: Unknown format, no such dataset, or no reviewed sample.
        OutputError: ``out`` is not empty (without ``overwrite``) or not writable.
    """
    if fmt not in FORMATS:
        raise DatasetError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise OutputError(f"export folder {out} is not empty; pass --overwrite to replace it")
    dataset = load_vidal_dataset(name)
    view = dataset.match_tags(TAG_REVIEWED)
    if len(view) == 0:
        raise DatasetError(f"dataset {name!r} has no reviewed samples: tag corrected samples 'reviewed' in the App")
    import fiftyone as fo

    types = {
        "yolo": fo.types.YOLOv5Dataset,
        "coco": fo.types.COCODetectionDataset,
        "cvat": fo.types.CVATImageDataset,
    }
    kwargs = {"split": "train"} if fmt == "yolo" else {}
    try:
        view.export(
            export_dir=str(out),
            dataset_type=types[fmt],
            label_field="ground_truth",
            classes=list(vidal_info(dataset)["labels"]),
            overwrite=overwrite,
            **kwargs,
        )
    except OSError as error:
        raise OutputError(f"cannot export to {out}: {error.strerror or error}") from error
    logger.info("exported %d reviewed samples of %r to %s (%s)", len(view), name, out, fmt)
    return len(view)
