"""Uncertainty scoring: per-object signals and the frame score that aggregates them."""

from vidal.scoring.frame import FrameScore, score_frame
from vidal.scoring.objects import Kind, ObjectTable
from vidal.scoring.signals import SIGNALS, SignalContext, get_signal, register_signal

__all__ = [
    "SIGNALS",
    "FrameScore",
    "Kind",
    "ObjectTable",
    "SignalContext",
    "get_signal",
    "register_signal",
    "score_frame",
]
