"""Per-object uncertainty signals: plain registered functions.

A signal takes a :class:`SignalContext` and returns one score per object in ``[0, 1]``,
where 1 means "very likely a mistake a human should look at". Signals are registered by
name with :func:`register_signal`; the config switches and weights them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vidal.scoring.objects import Kind, ObjectTable


@dataclass(frozen=True)
class SignalContext:
    """What a signal may look at for one frame.

    Attributes:
        objects: The frame's objects.
        frame: 1-based frame number.
        width: Frame width in pixels.
        height: Frame height in pixels.
        decision_threshold: The score at which the tracker trusts a detection
            (ByteTrack's ``track_high_thresh``).
        low_threshold: The lowest score the tracker uses (``track_low_thresh``).
    """

    objects: ObjectTable
    frame: int
    width: int
    height: int
    decision_threshold: float
    low_threshold: float


Signal = Callable[[SignalContext], np.ndarray]
SIGNALS: dict[str, Signal] = {}


def register_signal(name: str) -> Callable[[Signal], Signal]:
    """Register a signal function under ``name``."""

    def decorate(function: Signal) -> Signal:
        if name in SIGNALS:
            raise ValueError(f"signal {name!r} is already registered")
        SIGNALS[name] = function
        return function

    return decorate


def get_signal(name: str | Signal) -> Signal:
    """Look a signal up by name (a callable is returned as it is).

    Raises:
        ValueError: The name is not registered; the message lists the valid names.
    """
    if callable(name):
        return name
    if name not in SIGNALS:
        raise ValueError(f"unknown signal {name!r}; valid: {', '.join(sorted(SIGNALS))}")
    return SIGNALS[name]


def binary_entropy(p: np.ndarray) -> np.ndarray:
    """Entropy of a Bernoulli(p) in bits, in ``[0, 1]``; NaN stays NaN."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-9, 1 - 1e-9)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


@register_signal("confidence")
def confidence_signal(ctx: SignalContext) -> np.ndarray:
    """Ambiguous detection score: high near the tracker's decision threshold.

    Predicts false positives and misses: a detection the detector is unsure of sits close
    to the score at which the tracker starts to trust it (``track_high_thresh``). The score
    ``c`` is mapped by ``p = c ** (log 0.5 / log t)`` so the threshold ``t`` maps to 0.5,
    and the signal is the binary entropy of ``p``: 1 at the threshold, falling to 0 for
    certain detections. This is uncertainty sampling (Lewis & Gale, 1994) around the
    operating point rather than around 0.5, because detector scores are not calibrated
    and the tracker's threshold is where a decision flips. Predicted boxes score 0.
    """
    objects = ctx.objects
    threshold = float(np.clip(ctx.decision_threshold, 1e-3, 1 - 1e-3))
    exponent = np.log(0.5) / np.log(threshold)
    score = np.nan_to_num(objects.confidence.astype(np.float64), nan=1.0)
    out = binary_entropy(np.power(score, exponent))
    out[objects.kind == Kind.PREDICTED] = 0.0
    return out


@register_signal("entropy")
def entropy_signal(ctx: SignalContext) -> np.ndarray:
    """Binary entropy of the raw detection score (plain per-image uncertainty sampling).

    The classic single-image active-learning signal: scores near 0.5 are uncertain. Kept
    as the baseline that uses no tracking. Predicted boxes score 0.
    """
    objects = ctx.objects
    out = binary_entropy(np.nan_to_num(objects.confidence.astype(np.float64), nan=1.0))
    out[objects.kind == Kind.PREDICTED] = 0.0
    return out
