"""Uncertainty scoring: per-object signals and the frame score that aggregates them."""

from vidal.scoring.frame import (
    AGGREGATIONS,
    SUSPECT_MIN_UNCERTAINTY,
    SWITCH_SIGNALS,
    FrameScore,
    aggregate_score,
    combine,
    detection_entropy,
    least_confidence,
    object_shares,
    score_frame,
    suspect_events,
    switch_points,
)
from vidal.scoring.history import Deferred, TrackHistory
from vidal.scoring.objects import Kind, ObjectTable
from vidal.scoring.signals import DEFERRED_SIGNALS, SHORT_TRACK_HITS, SIGNALS, SignalContext, get_signal, register_signal

__all__ = [
    "AGGREGATIONS",
    "DEFERRED_SIGNALS",
    "Deferred",
    "SHORT_TRACK_HITS",
    "SIGNALS",
    "SUSPECT_MIN_UNCERTAINTY",
    "SWITCH_SIGNALS",
    "TrackHistory",
    "aggregate_score",
    "combine",
    "detection_entropy",
    "FrameScore",
    "Kind",
    "ObjectTable",
    "SignalContext",
    "get_signal",
    "least_confidence",
    "object_shares",
    "register_signal",
    "score_frame",
    "suspect_events",
    "switch_points",
]
