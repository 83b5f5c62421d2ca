"""The layout of a vidal dataset in FiftyOne: fields, tags, saved views, App settings.

One sample is one mined frame. Its fields:

- ``filepath``: the frame image in vidal's media folder;
- ``vidal_key``: ``<video sha256>:<frame>``, unique (a database index enforces it);
- ``video_path``, ``video_hash``, ``frame_number`` (1-based, as in ``tracks.txt``),
  ``timestamp`` (seconds);
- ``uncertainty`` and ``reasons``: the frame's score and the signals behind it;
- ``mining_run``, ``mining_runs``, ``model``: the latest run and model that mined it, and
  every run that did;
- ``predictions``: the model's detections, track id in ``Detection.index``, per-object
  ``uncertainty``, ``reasons`` and ``kind`` attributes;
- ``ground_truth``: the draft to correct (confident tracked detections), then the human's
  labels; ``draft_fingerprint`` tells an untouched draft from an edited one;
- ``suspect_regions``: the uncertain objects and areas (predicted boxes of likely missed
  objects, ambiguous identities), labelled by their main reason, in a colour of their own;
- tags ``to_review`` and ``reviewed``.

``vidal propagate`` adds (:func:`ensure_propagation_layout`):

- ``pseudo_labels``: the labels propagation gave the frame, never ``ground_truth`` (which
  stays the human's): each detection's ``confidence``, its identity in ``index``, and the
  attributes ``source`` (``track``, ``followed``, ``interpolated``, ``unconfirmed``) and
  ``keyframes`` (the reviewed frames it came from);
- ``propagation_run``: the mining run whose tracks carried them;
- tag ``propagated`` (frames propagation wrote or labelled) and the saved view
  ``propagated``, least confident first, for spot checks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from vidal.errors import DatasetError

TAG_TO_REVIEW = "to_review"
TAG_REVIEWED = "reviewed"
VIEW_TO_REVIEW = "to-review"
VIEW_REVIEWED = "reviewed"
TAG_PROPAGATED = "propagated"
VIEW_PROPAGATED = "propagated"
PSEUDO_LABELS = "pseudo_labels"
INFO_KEY = "vidal"
SCHEMA_VERSION = 1
LABEL_FIELDS = ("predictions", "ground_truth", "suspect_regions")
# Colours of the label fields in the App: drafts and corrections green, predictions blue,
# suspect regions red, so the areas to check stand out from the boxes to correct.
FIELD_COLORS = {"ground_truth": "#22c55e", "predictions": "#3b82f6", "suspect_regions": "#ef4444"}


def primitive_fields(fo: ModuleType) -> dict[str, Any]:
    """The scalar sample fields, by name (the field classes of ``fo``)."""
    string_list = (fo.ListField, {"subfield": fo.StringField})
    return {
        "vidal_key": (fo.StringField, {}),
        "video_path": (fo.StringField, {}),
        "video_hash": (fo.StringField, {}),
        "frame_number": (fo.IntField, {}),
        "timestamp": (fo.FloatField, {}),
        "uncertainty": (fo.FloatField, {}),
        "reasons": string_list,
        "mining_run": (fo.StringField, {}),
        "mining_runs": string_list,
        "model": (fo.StringField, {}),
        "draft_fingerprint": (fo.StringField, {}),
    }


def to_relative(xyxy: np.ndarray, width: int, height: int) -> list[list[float]]:
    """Pixel ``xyxy`` boxes ``(N, 4)`` to FiftyOne's relative ``[x, y, w, h]``, clipped to the image.

    This is the only place vidal converts to FiftyOne's box convention.
    """
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4).copy()
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width) / width
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height) / height
    return [[x1, y1, max(x2 - x1, 0.0), max(y2 - y1, 0.0)] for x1, y1, x2, y2 in boxes.tolist()]


def to_pixels(boxes: Sequence[Sequence[float]], width: int, height: int) -> np.ndarray:
    """FiftyOne's relative ``[x, y, w, h]`` boxes to pixel ``xyxy``, ``(N, 4)`` float32 (the
    inverse of :func:`to_relative`)."""
    rel = np.asarray(boxes, np.float64).reshape(-1, 4)
    scale = np.array([width, height, width, height], np.float64)
    return (np.c_[rel[:, :2], rel[:, :2] + rel[:, 2:]] * scale).astype(np.float32)


def by_hand(sample: Any) -> bool:
    """Whether a human reviewed the sample (tag ``reviewed``) or edited the ``ground_truth`` vidal wrote."""
    return TAG_REVIEWED in sample.tags or fingerprint(sample.ground_truth) != (sample.draft_fingerprint or "")


def fingerprint(detections: Any) -> str:
    """A digest of a ``Detections`` label's boxes (ids, classes, boxes), ``""`` for none.

    A ground truth whose fingerprint differs from the draft vidal wrote was edited by a human.
    """
    items = []
    for det in getattr(detections, "detections", None) or []:
        box = [round(float(v), 5) for v in (det.bounding_box or [])]
        items.append([str(det.id), det.label, box])
    if not items:
        return ""
    return hashlib.sha1(json.dumps(sorted(items)).encode()).hexdigest()


def create_dataset(fo: ModuleType, name: str, labels: Sequence[str], media_dir: Path) -> Any:
    """Create a persistent vidal dataset with its fields, index, views and App settings."""
    from fiftyone import ViewField as F

    dataset = fo.Dataset(name, persistent=True)
    try:
        dataset.media_type = "image"  # App annotation needs it before the first sample
        dataset.default_classes = list(labels)
        for field, (kind, kwargs) in primitive_fields(fo).items():
            dataset.add_sample_field(field, kind, **kwargs)
        for field in LABEL_FIELDS:
            dataset.add_sample_field(field, fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
        for field in ("predictions", "suspect_regions"):
            dataset.add_sample_field(f"{field}.detections.uncertainty", fo.FloatField)
            dataset.add_sample_field(f"{field}.detections.kind", fo.StringField)
            dataset.add_sample_field(f"{field}.detections.reasons", fo.ListField, subfield=fo.StringField)
        dataset.add_sample_field("suspect_regions.detections.class_name", fo.StringField)
        dataset.create_index("vidal_key", unique=True)
        dataset.create_index("video_hash")
        dataset.info[INFO_KEY] = {"schema": SCHEMA_VERSION, "labels": list(labels), "media_dir": str(media_dir)}
        dataset.app_config.color_scheme = fo.ColorScheme(
            color_by="field",
            color_pool=list(fo.app_config.color_pool),
            fields=[{"path": path, "fieldColor": color} for path, color in FIELD_COLORS.items()],
        )
        dataset.save()
        dataset.save_view(
            VIEW_TO_REVIEW,
            dataset.match_tags(TAG_TO_REVIEW).match_tags(TAG_REVIEWED, bool=False).sort_by("uncertainty", reverse=True),
            description="mined frames not yet reviewed, most uncertain first",
        )
        dataset.save_view(
            VIEW_REVIEWED,
            dataset.match_tags(TAG_REVIEWED).sort_by(F("mining_run")),
            description="frames a human has reviewed (tag 'reviewed')",
        )
        set_annotation_schema(dataset, labels)
    except Exception:
        fo.delete_dataset(name)
        raise
    return dataset


def ensure_propagation_layout(fo: ModuleType, dataset: Any) -> None:
    """Add what ``vidal propagate`` writes to a dataset (once): the ``pseudo_labels`` field and
    its attributes, ``propagation_run``, and the ``propagated`` saved view."""
    from fiftyone import ViewField as F

    schema = dataset.get_field_schema()
    if PSEUDO_LABELS not in schema:
        dataset.add_sample_field(PSEUDO_LABELS, fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
        dataset.add_sample_field(f"{PSEUDO_LABELS}.detections.source", fo.StringField)
        dataset.add_sample_field(f"{PSEUDO_LABELS}.detections.keyframes", fo.ListField, subfield=fo.IntField)
    if "propagation_run" not in schema:
        dataset.add_sample_field("propagation_run", fo.StringField)
    if not dataset.has_saved_view(VIEW_PROPAGATED):
        dataset.save_view(
            VIEW_PROPAGATED,
            dataset.match_tags(TAG_PROPAGATED).match_tags(TAG_REVIEWED, bool=False)
            .sort_by(F(f"{PSEUDO_LABELS}.detections.confidence").min()),
            description="frames labelled by propagation (pseudo_labels), least confident first: spot-check them",
        )


def set_annotation_schema(dataset: Any, labels: Sequence[str]) -> None:
    """Make ``ground_truth`` annotatable in the App (Annotate tab) with the model's classes."""
    schema = dataset.generate_label_schemas("ground_truth", scan_samples=False)
    schema.update(classes=list(labels), component="dropdown" if len(labels) > 5 else "radio")
    dataset.set_label_schemas({"ground_truth": schema})
    dataset.activate_label_schemas("ground_truth")


def vidal_info(dataset: Any) -> dict[str, Any]:
    """vidal's record on a dataset.

    Raises:
        DatasetError: The dataset was not made by vidal.
    """
    info = dataset.info.get(INFO_KEY)
    if not isinstance(info, dict) or "labels" not in info:
        raise DatasetError(f"dataset {dataset.name!r} was not made by vidal; pass --dataset with another name")
    return info


def _shown(labels: Sequence[str], most: int = 6) -> str:
    head = ", ".join(labels[:most])
    return f"[{head}, ... ({len(labels)} classes)]" if len(labels) > most else f"[{head}]"


def check_labels(dataset: Any, labels: Sequence[str]) -> None:
    """Refuse a run whose classes differ from the dataset's.

    Raises:
        DatasetError: The class lists differ (order aside).
    """
    have = list(vidal_info(dataset)["labels"])
    if sorted(have) != sorted(labels):
        raise DatasetError(
            f"dataset {dataset.name!r} has classes {_shown(have)} but this model gives {_shown(labels)}; "
            "pass --dataset NAME for a dataset of this model's classes (or --classes to match)"
        )
