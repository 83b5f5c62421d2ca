"""Train/validation split by stretches of time."""

from __future__ import annotations

import numpy as np
import pytest

from vidal.training.split import split_by_time


def _frames(video: str, seconds: float, fps: float = 2.0) -> tuple[list[str], np.ndarray]:
    times = np.arange(0, seconds, 1 / fps)
    return [video] * len(times), times


def test_every_frame_lands_once_and_the_split_is_deterministic() -> None:
    videos, times = _frames("a", 120)
    first = split_by_time(videos, times, 0.2)
    again = split_by_time(videos, times, 0.2)
    assert np.array_equal(first.train, again.train) and np.array_equal(first.val, again.val)
    every = np.concatenate([first.train, first.val, first.dropped])
    assert sorted(every.tolist()) == list(range(len(times)))
    assert 0.15 <= len(first.val) / len(times) <= 0.25


def test_no_training_frame_sits_near_a_validation_frame() -> None:
    videos, times = _frames("a", 120)
    split = split_by_time(videos, times, 0.2, block_s=5.0, gap_s=1.0)
    distance = np.abs(times[split.train][:, None] - times[split.val][None, :]).min()
    assert distance >= 1.0
    # Validation comes in whole blocks of 5 s, spread over the video.
    val_blocks = set(np.floor(times[split.val] / 5.0).astype(int).tolist())
    assert len(val_blocks) >= 4 and max(val_blocks) - min(val_blocks) >= 15


def test_blocks_never_cross_videos_and_validation_spreads_over_them() -> None:
    va, ta = _frames("a", 60)
    vb, tb = _frames("b", 60)
    videos, times = va + vb, np.concatenate([ta, tb])
    split = split_by_time(videos, times, 0.25)
    video_of_val = {videos[i] for i in split.val}
    assert video_of_val == {"a", "b"}
    # A frame is dropped only for a validation frame of its own video nearby.
    for i in split.dropped:
        own = [times[j] for j in split.val if videos[j] == videos[i]]
        assert min(abs(times[i] - t) for t in own) < 1.0


def test_short_footage_validates_on_the_end_of_each_video() -> None:
    va, ta = _frames("a", 10, fps=25)
    vb, tb = _frames("b", 6, fps=25)
    videos, times = va + vb, np.concatenate([ta, tb])
    split = split_by_time(videos, times, 0.2)
    for video, length in (("a", 10), ("b", 6)):
        val = [times[i] for i in split.val if videos[i] == video]
        train = [times[i] for i in split.train if videos[i] == video]
        assert min(val) >= 0.79 * length and max(train) <= min(val) - 1.0
    assert 0.18 <= len(split.val) / len(times) <= 0.22


def test_a_single_frame_cannot_be_split() -> None:
    split = split_by_time(["a"], np.array([3.0]), 0.2)
    assert len(split.train) == 0


@pytest.mark.parametrize("val_frac", [0.0, 1.0, -0.1])
def test_val_frac_must_be_a_share(val_frac: float) -> None:
    with pytest.raises(ValueError, match="val_frac"):
        split_by_time(["a"], np.array([0.0]), val_frac)


@pytest.mark.parametrize(("images", "batch", "expected"), [(18, 16, 9), (16, 16, 16), (17, 16, 9), (6, 16, 6),
                                                           (100, 16, 15), (0, 16, 16)])
def test_batches_are_balanced_so_no_step_sees_a_handful_of_images(images: int, batch: int, expected: int) -> None:
    from vidal.training import balanced_batch

    size = balanced_batch(images, batch)
    assert size == expected and size <= batch
    if images:
        last = images - (-(-images // size) - 1) * size
        assert last >= size - (-(-images // size))  # the short batch is at most one image per batch shorter


@pytest.mark.parametrize(("images", "batch", "epochs", "expected"), [
    (12, 12, 10, 32),  # one batch: ten epochs are ten steps, spread to 32
    (18, 9, 10, 16),  # two batches per epoch
    (62, 16, 20, 20),  # 80 steps: enough
    (40, 16, 11, 11),  # 33 steps: enough
    (0, 16, 10, 10),
])
def test_few_steps_are_spread_over_more_epochs_at_the_same_learning_per_image(
    images: int, batch: int, epochs: int, expected: int
) -> None:
    from vidal.training import spread_steps

    trained, lr0 = spread_steps(images, batch, epochs, 0.002, 32)
    assert trained == expected
    assert lr0 * trained == pytest.approx(0.002 * epochs)
    if images:
        assert trained * -(-images // batch) >= 32
    assert spread_steps(images, batch, epochs, 0.002, 0) == (epochs, 0.002)
