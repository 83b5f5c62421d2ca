"""A mining run's tracks as propagation reads them: ``tracks.txt``'s boxes joined with
``track_states.csv``'s classes and uncertain events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidal.mot import read_mot
from vidal.runs import TRACKS_FILE, TrackStates, read_track_states
from vidal.types import ArrayTable


@dataclass(kw_only=True)
class TrackRows(ArrayTable):
    """Every box of a run's tracks, over ``N`` rows.

    Attributes:
        frame: 1-based frame numbers, ``(N,)`` int64.
        track_id: Track identities, ``(N,)`` int64.
        xyxy: Boxes, ``(N, 4)`` float32.
        confidence: Detection score, NaN for a box the tracker filled in (a gap), ``(N,)`` float32.
        class_id: The detector's class, ``(N,)`` int64.
        breaks: An identity break happens at this box (an uncertain event of the configured
            kinds): the box may belong to another object than the track's earlier ones, ``(N,)`` bool.
    """

    frame: np.ndarray
    track_id: np.ndarray
    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    breaks: np.ndarray

    def sorted(self) -> TrackRows:
        """The rows by track, then frame."""
        return self[np.lexsort((self.frame, self.track_id))]


def _majority(track_id: np.ndarray, class_id: np.ndarray) -> dict[int, int]:
    """The most frequent class of each track."""
    out: dict[int, int] = {}
    pairs, counts = np.unique(np.c_[track_id, class_id], axis=0, return_counts=True)
    best: dict[int, int] = {}
    for (track, cls), count in zip(pairs.tolist(), counts.tolist()):
        if count > best.get(track, -1):
            best[track], out[track] = count, cls
    return out


def join_track_rows(boxes_frame: np.ndarray, boxes_id: np.ndarray, xyxy: np.ndarray, score: np.ndarray,
                    states: TrackStates, breaks: Sequence[str]) -> TrackRows:
    """Join track boxes with their states (class, events); boxes without a state (filled-in
    gaps) take the track's majority class and no event."""
    scale = int(max(boxes_id.max(initial=0), states.track_id.max(initial=0))) + 1
    state_key = states.frame * scale + states.track_id
    order = np.argsort(state_key, kind="stable")
    key = boxes_frame * scale + boxes_id
    found, index = np.zeros(len(key), bool), np.zeros(len(key), np.int64)
    if len(order):
        sorted_keys = state_key[order]
        pos = np.clip(np.searchsorted(sorted_keys, key), 0, len(order) - 1)
        found, index = sorted_keys[pos] == key, order[pos]
    majority = _majority(states.track_id, states.class_id) if len(states) else {}
    class_id = np.array([majority.get(int(t), 0) for t in boxes_id], np.int64)
    class_id[found] = states.class_id[index[found]]
    state_breaks = states.any_reason(breaks)
    row_breaks = np.zeros(len(key), bool)
    row_breaks[found] = state_breaks[index[found]]
    confidence = np.where(score < 0, np.nan, score).astype(np.float32)
    return TrackRows(frame=boxes_frame.astype(np.int64), track_id=boxes_id.astype(np.int64),
                     xyxy=xyxy.astype(np.float32), confidence=confidence, class_id=class_id, breaks=row_breaks)


def read_track_rows(run_dir: str | Path, breaks: Sequence[str]) -> TrackRows:
    """Read a run folder's tracks with their classes and identity breaks.

    Raises:
        InputError: ``tracks.txt`` or ``track_states.csv`` is missing or malformed.
    """
    boxes = read_mot(Path(run_dir) / TRACKS_FILE)
    states = read_track_states(run_dir)
    return join_track_rows(boxes.frame, boxes.track_id, boxes.xyxy, boxes.flag, states, breaks)
