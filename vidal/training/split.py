"""Train/validation split of reviewed frames by stretches of video, deterministic.

Frames of one video close in time are near-duplicates: a model validated on a frame whose
neighbour it trained on is validated on its training data. So whole stretches of video go
to validation (blocks of ``block_s`` seconds, or the end of a short video), and training
frames closer than ``gap_s`` to a validation frame are left out of both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# A block of this length holds the frames of one "stretch" of video: an occlusion, a
# crossing, a pan. 5 s is longer than a pedestrian's typical occlusion and short enough that
# a 1-minute clip gives 12 blocks to split.
DEFAULT_BLOCK_S = 5.0
# Training frames this close to a validation block are dropped (near-duplicates across the
# block border).
DEFAULT_GAP_S = 1.0


@dataclass(frozen=True)
class Split:
    """Which frames train and which validate.

    Attributes:
        train: Indices of training frames.
        val: Indices of validation frames.
        dropped: Indices of frames left out (too close to a validation block).
    """

    train: np.ndarray
    val: np.ndarray
    dropped: np.ndarray


def split_by_time(
    videos: list[str],
    timestamps: np.ndarray,
    val_frac: float,
    *,
    block_s: float = DEFAULT_BLOCK_S,
    gap_s: float = DEFAULT_GAP_S,
) -> Split:
    """Split frames into train and validation by stretches of time, the same way every time.

    Footage long enough for two strides of blocks (ten 5-s blocks at ``val_frac`` 0.2) is
    cut into blocks of ``block_s`` per video; blocks are ordered by video and time and every
    ``round(1 / val_frac)``-th block, from the middle of that stride, validates, so
    validation spreads over the videos and over time. Shorter footage validates on the last
    ``val_frac`` of each video's frames. Either way, training frames closer than
    ``gap_s`` to a validation frame of the same video are left out.

    Args:
        videos: Video identity (e.g. content hash) of each frame, ``(N,)``.
        timestamps: Seconds from the start of the video, ``(N,)``.
        val_frac: Share of the footage to validate on, in (0, 1).
        block_s: Block length in seconds.
        gap_s: Training frames this close to a validation frame of the same video are dropped.

    Returns:
        The :class:`Split`.

    Raises:
        ValueError: ``val_frac`` is not in (0, 1).
    """
    if not 0 < val_frac < 1:
        raise ValueError(f"val_frac must be in (0, 1), got {val_frac}")
    timestamps = np.asarray(timestamps, np.float64)
    n = len(timestamps)
    if n == 0:
        empty = np.zeros(0, np.int64)
        return Split(empty, empty, empty)
    video_array = np.asarray(videos, object)
    stride = max(2, int(round(1 / val_frac)))
    block = np.floor(timestamps / block_s).astype(np.int64)
    keys = sorted(set(zip(videos, block.tolist())))
    if len(keys) >= 2 * stride:
        is_val_block = {key: (k % stride) == stride // 2 for k, key in enumerate(keys)}
        val = np.array([is_val_block[(v, b)] for v, b in zip(videos, block.tolist())], bool)
    else:
        val = np.zeros(n, bool)
        for video in set(videos):
            mine = video_array == video
            val |= mine & (timestamps >= np.quantile(timestamps[mine], 1 - val_frac, method="higher"))
    dropped = np.zeros(n, bool)
    for video in set(videos):
        mine = video_array == video
        val_times = timestamps[mine & val]
        if len(val_times) == 0:
            continue
        distance = np.abs(timestamps[:, None] - val_times[None, :]).min(axis=1)
        dropped |= mine & ~val & (distance < gap_s)
    train = ~val & ~dropped
    return Split(np.flatnonzero(train), np.flatnonzero(val), np.flatnonzero(dropped))
