"""Following the boxes a human added by optical flow (:mod:`vidal.propagation.follow`), and
:func:`vidal.propagation.propagate` end to end on a small synthetic video."""

from __future__ import annotations

import importlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidal.config import PropagationConfig
from vidal.propagation import Keyframe, Propagation, Source, TrackRows, propagate
from vidal.propagation.follow import Followed, follow
from vidal.propagation.propagate import FOLLOWED, INTERPOLATED, LINKED
from vidal.propagation.spread import BOTH_SIDES, ONE_SIDE
from vidal.video import open_source

PATCH = 40


def texture(seed: int) -> np.ndarray:
    """A 40 x 40 random texture, smooth enough to survive video compression."""
    coarse = np.random.default_rng(seed).integers(0, 256, (10, 10)).astype(np.uint8)
    return cv2.resize(coarse, (PATCH, PATCH), interpolation=cv2.INTER_CUBIC)


def canvas(width: int, height: int, patches: list[tuple[np.ndarray, int, int]]) -> np.ndarray:
    """A flat grey image with ``(texture, x, y)`` patches pasted at their top-left corners."""
    image = np.full((height, width), 128, np.uint8)
    for patch, x, y in patches:
        image[y:y + PATCH, x:x + PATCH] = patch
    return image


# Top-left corners of the patch on each frame: shifts of a few px, up, down and back.
PATH = [(400, 200), (403, 201), (405, 199), (409, 202), (412, 206), (410, 204)]


def box_at(x: int, y: int) -> np.ndarray:
    return np.array([x, y, x + PATCH, y + PATCH], np.float32)


def test_follow_moves_with_a_textured_patch_within_one_pixel() -> None:
    patch = texture(0)
    images = [canvas(640, 360, [(patch, x, y)]) for x, y in PATH]  # the flow window is well inside the image
    followed = follow(images, list(range(11, 17)), box_at(*PATH[0]), max_error=0.05)
    assert followed.frames.tolist() == [12, 13, 14, 15, 16]
    np.testing.assert_allclose(followed.xyxy, np.stack([box_at(x, y) for x, y in PATH[1:]]), atol=1.0)
    assert (followed.error < 0.05).all()


def test_follow_backward_is_the_images_reversed() -> None:
    patch = texture(1)
    images = [canvas(640, 360, [(patch, x, y)]) for x, y in PATH][::-1]
    followed = follow(images, list(range(16, 10, -1)), box_at(*PATH[-1]), max_error=0.05)
    assert followed.frames.tolist() == [15, 14, 13, 12, 11]
    np.testing.assert_allclose(followed.xyxy, np.stack([box_at(x, y) for x, y in PATH[-2::-1]]), atol=1.0)


def test_follow_stops_where_the_patch_disappears() -> None:
    patch = texture(2)
    images = [canvas(640, 360, [(patch, x, y)]) for x, y in PATH[:3]] + [canvas(640, 360, [])] * 3
    followed = follow(images, list(range(1, 7)), box_at(*PATH[0]), max_error=0.05)
    assert followed.frames.tolist() == [2, 3]
    np.testing.assert_allclose(followed.xyxy, np.stack([box_at(x, y) for x, y in PATH[1:3]]), atol=1.0)


def test_follow_stops_where_the_patch_turns_into_another() -> None:
    images = [canvas(640, 360, [(texture(3), x, y)]) for x, y in PATH[:3]]
    images += [canvas(640, 360, [(texture(4), x, y)]) for x, y in PATH[3:]]
    followed = follow(images, list(range(1, 7)), box_at(*PATH[0]), max_error=0.05)
    assert followed.frames.tolist() == [2, 3]


def test_follow_stops_when_the_box_leaves_the_image() -> None:
    # A camera panning 25 px a frame over a textured scene: the flow stays good, the box slides out to the left.
    scene = cv2.resize(np.random.default_rng(6).integers(0, 256, (30, 60)).astype(np.uint8), (600, 300),
                       interpolation=cv2.INTER_CUBIC)
    images = [scene[:120, 25 * k:25 * k + 160] for k in range(6)]
    followed = follow(images, list(range(1, 7)), box_at(75, 40), max_error=0.05)
    # on frame 5 the box would be [-25, 40, 15, 80]: less than half of it inside
    assert followed.frames.tolist() == [2, 3, 4]
    np.testing.assert_allclose(followed.xyxy, np.stack([box_at(x, 40) for x in (50, 25, 0)]), atol=1.0)


# The video of the end-to-end test: two textured squares; A is tracked, B was missed by the detector.
FRAMES, SIZE = 20, (320, 240)
KEYS = (5, 15)


def a_corner(frame: int) -> tuple[int, int]:
    return 40 + 2 * frame, 40 + frame


def b_corner(frame: int) -> tuple[int, int]:
    return 250 - 3 * frame, 100 + frame


def write_video(path: Path) -> Path:
    a, b = texture(10), texture(11)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, SIZE)
    for frame in range(1, FRAMES + 1):
        grey = canvas(*SIZE, [(a, *a_corner(frame)), (b, *b_corner(frame))])
        writer.write(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


# The human drew B's box on the second keyframe 6 px wider and 4 px taller than the square.
REDRAWN = np.array([0, 0, 6, 4], np.float32)


def squares_input() -> tuple[TrackRows, dict[int, Keyframe]]:
    """A's track (id 4, on every frame) and both squares' human boxes on the keyframes."""
    frames = np.arange(1, FRAMES + 1)
    rows = TrackRows(frame=frames, track_id=np.full(FRAMES, 4), xyxy=np.stack([box_at(*a_corner(f)) for f in frames]),
                     confidence=np.full(FRAMES, 0.9, np.float32), class_id=np.zeros(FRAMES, np.int64),
                     breaks=np.zeros(FRAMES, bool))
    keyframes = {f: Keyframe(frame=f,
                             xyxy=np.stack([box_at(*a_corner(f)), box_at(*b_corner(f)) + (f == KEYS[1]) * REDRAWN]),
                             label=np.array(["car", "person"], object)) for f in KEYS}
    return rows, keyframes


def propagate_squares(tmp_path: Path) -> Propagation:
    rows, keyframes = squares_input()
    source = open_source(write_video(tmp_path / "squares.mp4"))
    return propagate(rows, keyframes, {0: "car"}, PropagationConfig(), list(range(1, FRAMES + 1)), source)


def test_propagate_links_a_box_added_on_two_keyframes(tmp_path: Path) -> None:
    result = propagate_squares(tmp_path)
    frames = np.arange(1, FRAMES + 1)

    assert result.verdicts.matched == {(5, 4): 0, (15, 4): 0}
    assert [a.tolist() for a in result.verdicts.added.values()] == [[1], [1]]
    labels = result.labels
    a, b = labels[labels.label == "car"], labels[labels.label == "person"]
    assert a.frame.tolist() == frames.tolist() and set(a.object_id.tolist()) == {4}
    assert b.frame.tolist() == frames.tolist()
    assert set(b.object_id.tolist()) == {5}  # the box added on 15 is the one added on 5: one object
    human = b.source == Source.HUMAN
    assert b.frame[human].tolist() == list(KEYS)

    between = (b.frame > KEYS[0]) & (b.frame < KEYS[1])
    assert set(b.source[between].tolist()) == {Source.FOLLOWED}
    np.testing.assert_allclose(b.confidence[between], LINKED)
    assert {b.keyframes(k) for k in np.flatnonzero(between)} == {KEYS}
    # the flow's path pulled onto the human boxes: the square, growing to the redrawn box by keyframe 15
    t = np.clip((b.frame - KEYS[0]) / (KEYS[1] - KEYS[0]), 0, 1)[:, None]
    expected = np.stack([box_at(*b_corner(int(f))) for f in b.frame]) + t * REDRAWN
    assert np.abs(b.xyxy - expected).max() <= 1.0

    outside = ~between & ~human  # followed from one keyframe only: less sure with every step
    assert set(b.source[outside].tolist()) == {Source.FOLLOWED}
    steps = np.where(b.frame[outside] < KEYS[0], KEYS[0] - b.frame[outside], b.frame[outside] - KEYS[1])
    limit = PropagationConfig().follow_frames
    np.testing.assert_allclose(b.confidence[outside], FOLLOWED * (1 - 0.5 * steps / (limit + 1)), rtol=1e-6)

    track_between = (a.frame > KEYS[0]) & (a.frame < KEYS[1])
    np.testing.assert_allclose(a.confidence[track_between], BOTH_SIDES)
    np.testing.assert_allclose(a.confidence[(a.source == Source.TRACK) & ~track_between], ONE_SIDE)
    # backward from 5 to 1, forward from 5 to 15 (linked: not followed back from 15), from 15 to 20
    assert result.follow.frames == [4, 10, 5] and result.follow.stopped_early == 0


@pytest.mark.parametrize("label", ["car", "person"])
def test_propagated_labels_name_the_keyframe_before_and_after_them(tmp_path: Path, label: str) -> None:
    """A label before the first keyframe comes from the keyframe after it, one after the last
    from the keyframe before it: for the track's labels (car) as for the followed box's (person)."""
    labels = propagate_squares(tmp_path).labels
    rows = labels[labels.label == label]
    expected = {f: (-1, KEYS[0]) if f < KEYS[0] else (KEYS[1], -1) if f > KEYS[1] else KEYS if f not in KEYS else (f, f)
                for f in range(1, FRAMES + 1)}
    found = {int(f): (int(b), int(a)) for f, b, a in zip(rows.frame, rows.keyframe_before, rows.keyframe_after)}
    assert found == expected


def test_propagate_without_a_source_leaves_added_boxes_on_their_keyframes() -> None:
    rows, keyframes = squares_input()
    labels = propagate(rows, keyframes, {0: "car"}, PropagationConfig(), list(range(1, FRAMES + 1))).labels
    b = labels[labels.label == "person"]
    assert b.frame.tolist() == list(KEYS) and set(b.source.tolist()) == {Source.HUMAN}
    assert b.object_id.tolist() == [5, 6]  # not followed, so not known to be one object


# A square the flow cannot follow (its texture changes on every frame, as an occluded person's
# pixels do), drawn by the human on both keyframes 10 px apart (IoU 0.6).
def c_corner(frame: int) -> tuple[int, int]:
    return 100 + frame, 150


def write_flicker_video(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, SIZE)
    for frame in range(1, FRAMES + 1):
        grey = canvas(*SIZE, [(texture(100 + frame), *c_corner(frame))])
        writer.write(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def propagate_flicker(tmp_path: Path, shift: int = 0, **settings: object) -> Propagation:
    empty = TrackRows(frame=np.zeros(0, np.int64), track_id=np.zeros(0, np.int64), xyxy=np.zeros((0, 4), np.float32),
                      confidence=np.zeros(0, np.float32), class_id=np.zeros(0, np.int64), breaks=np.zeros(0, bool))
    keyframes = {f: Keyframe(frame=f, xyxy=box_at(*c_corner(f))[None] + (f == KEYS[1]) * shift,
                             label=np.array(["person"], object)) for f in KEYS}
    source = open_source(write_flicker_video(tmp_path / "flicker.mp4"))
    return propagate(empty, keyframes, {}, PropagationConfig(**settings), list(range(1, FRAMES + 1)), source)


def test_boxes_added_on_two_keyframes_the_flow_cannot_join_are_interpolated(tmp_path: Path) -> None:
    result = propagate_flicker(tmp_path)
    labels = result.labels
    assert max(result.follow.frames) == 0  # the flow gave up at once, both ways
    assert set(labels.object_id.tolist()) == {1}  # one object
    between = labels[(labels.frame > KEYS[0]) & (labels.frame < KEYS[1])]
    assert between.frame.tolist() == list(range(KEYS[0] + 1, KEYS[1]))
    interpolated = between.source == Source.INTERPOLATED
    assert interpolated.all()  # the flow followed no frame: every frame between is interpolated
    np.testing.assert_allclose(between.confidence[interpolated], INTERPOLATED)
    expected = np.stack([box_at(*c_corner(int(f))) for f in between.frame[interpolated]])
    np.testing.assert_allclose(between.xyxy[interpolated], expected, atol=1e-3)
    assert {between.keyframes(k) for k in np.flatnonzero(interpolated)} == {KEYS}


@pytest.mark.parametrize(("shift", "settings"), [(0, {"interpolate_iou": None}), (25, {})])
def test_added_boxes_are_not_interpolated_when_off_or_too_far_apart(tmp_path: Path, shift: int,
                                                                     settings: dict) -> None:
    labels = propagate_flicker(tmp_path, shift, **settings).labels
    assert Source.INTERPOLATED not in labels.source.tolist()
    assert len(set(labels.object_id.tolist())) == 2  # two objects, as far as propagation knows


def test_a_box_the_flow_joined_backward_is_not_paired_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """X added on keyframe 15 is followed back onto X' added on 5; Y added on 5 overlaps X at
    IoU >= 0.5 but the flow lost it: Y must not take X over (X keeps the flow's identity)."""
    module = importlib.import_module("vidal.propagation.propagate")  # the package exports a function of that name

    x5, x15, y5 = box_at(100, 100), box_at(110, 100), box_at(112, 104)

    def fake_follow(images, frames, box, max_error):  # the signature of follow
        numbers = np.asarray(frames, np.int64)
        if np.allclose(box, x15) and numbers[0] == KEYS[1]:  # X backward: reaches X' on keyframe 5
            t = ((numbers[1:] - KEYS[0]) / (KEYS[1] - KEYS[0]))[:, None]
            return Followed(numbers[1:], ((1 - t) * x5 + t * x15).astype(np.float32), np.zeros(len(numbers) - 1))
        return Followed(np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros(0))

    monkeypatch.setattr(module, "follow", fake_follow)
    empty = TrackRows(frame=np.zeros(0, np.int64), track_id=np.zeros(0, np.int64), xyxy=np.zeros((0, 4), np.float32),
                      confidence=np.zeros(0, np.float32), class_id=np.zeros(0, np.int64), breaks=np.zeros(0, bool))
    keyframes = {KEYS[0]: Keyframe(frame=KEYS[0], xyxy=np.stack([x5, y5]), label=np.array(["person"] * 2, object)),
                 KEYS[1]: Keyframe(frame=KEYS[1], xyxy=x15[None], label=np.array(["person"], object))}
    source = open_source(write_flicker_video(tmp_path / "flicker.mp4"))
    labels = propagate(empty, keyframes, {}, PropagationConfig(), list(range(1, FRAMES + 1)), source).labels
    between = labels[(labels.frame > KEYS[0]) & (labels.frame < KEYS[1])]
    assert set(between.source.tolist()) == {Source.FOLLOWED}  # Y was not interpolated onto X
    x_id = labels.object_id[(labels.frame == KEYS[0]) & (labels.xyxy[:, 0] == x5[0])]
    assert set(between.object_id.tolist()) == set(x_id.tolist())  # X' and X are one object
