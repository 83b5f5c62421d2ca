"""Propagation: a reviewed frame labels every frame its tracks safely cover."""

from vidal.propagation.labels import Labels, Source, drop_duplicates, write_mot_labels
from vidal.propagation.propagate import Propagation, propagate
from vidal.propagation.spread import Keyframe
from vidal.propagation.tracks import TrackRows, read_track_rows

__all__ = [
    "Keyframe",
    "Labels",
    "Propagation",
    "Source",
    "TrackRows",
    "drop_duplicates",
    "propagate",
    "read_track_rows",
    "write_mot_labels",
]
