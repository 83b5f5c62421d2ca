"""What every detector adapter shares: the :class:`Detector` protocol, the check of
``--classes`` against a model's names, and how an OpenVINO export is recognised.

Kept apart from the factory in :mod:`vidal.detectors` so that the adapters import it
without importing the package that imports them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from vidal.errors import ConfigError, ModelError
from vidal.types import Detections, Frame

logger = logging.getLogger(__name__)

# How Ultralytics names an OpenVINO export folder (and recognises one).
OPENVINO_FOLDER_SUFFIX = "_openvino_model"


class Detector(Protocol):
    """What the pipeline needs from a detector."""

    names: dict[int, str]
    """Class names of the model, by class index."""

    description: str
    """One line naming the model and the backend, for summaries."""

    classes: list[int] | None
    """The class ids of interest (``--classes``), ``None`` for all. Detections of every class
    are returned all the same: a wanted object that the model calls by another class is a
    mistake to show, not to drop; the pipeline decides what to report."""

    def stream(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, Detections]]:
        """Detect objects in each frame, in order."""
        ...


def resolve_classes(names: dict[int, str], wanted: Sequence[str | int] | None) -> list[int] | None:
    """Turn class names or ids into model class ids.

    Args:
        names: The model's class names by id.
        wanted: Names or ids (as ints or digit strings); ``None`` keeps all classes.

    Returns:
        Sorted class ids, or ``None`` for all classes.

    Raises:
        ConfigError: A name or id is not one of the model's classes.
    """
    if wanted is None or len(wanted) == 0:
        return None
    by_name = {name.lower(): index for index, name in names.items()}
    ids: set[int] = set()
    for item in wanted:
        text = str(item).strip()
        if text.lstrip("-").isdigit():
            index = int(text)
            if index not in names:
                raise ConfigError(f"class id {index} is not in the model (ids 0..{max(names)})")
            ids.add(index)
        elif text.lower() in by_name:
            ids.add(by_name[text.lower()])
        else:
            shown = ", ".join(list(names.values())[:12]) + (", ..." if len(names) > 12 else "")
            raise ConfigError(f"unknown class name {text!r}; the model's classes are: {shown}")
    return sorted(ids)


def is_openvino_model(path: Path) -> bool:
    """Whether ``path`` is an Ultralytics OpenVINO export: a folder (or its ``.xml``) with
    ``metadata.yaml`` and an ``.xml``. A folder named as Ultralytics names these exports
    (``*_openvino_model``) counts without its ``.xml``, so that loading it says what is missing."""
    if path.is_dir():
        named = path.name.endswith(OPENVINO_FOLDER_SUFFIX)
        return (path / "metadata.yaml").is_file() and (named or any(path.glob("*.xml")))
    return path.suffix == ".xml" and (path.parent / "metadata.yaml").is_file()


def openvino_files(path: Path) -> tuple[Path, Path]:
    """The ``.xml`` and ``.bin`` of an OpenVINO IR folder or ``.xml`` file.

    Raises:
        ModelError: The ``.xml`` or its ``.bin`` is missing.
    """
    if path.is_dir():
        found = sorted(path.glob("*.xml"))
        if not found:
            raise ModelError(f"{path}: no OpenVINO .xml file in the folder")
        xml = found[0]
    elif path.suffix == ".xml":
        xml = path
    else:
        raise ModelError(f"{path} is not an OpenVINO model (an .xml file or an export folder)")
    if not xml.is_file():
        raise ModelError(f"model not found: {xml}")
    weights = xml.with_suffix(".bin")
    if not weights.is_file():
        raise ModelError(f"{xml}: its weights {weights.name} are missing beside it")
    return xml, weights
