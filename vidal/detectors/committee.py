"""Query-by-committee with test-time views and model versions: a detector wrapper.

Each frame also goes through the same detector as other views of it (mirrored, zoomed out),
and through other models (the model versions of a dataset's lineage: the base and its
fine-tunes); each member's boxes are mapped back onto the frame and matched box to box to the
frame's own detections, and each detection gets the committee's disagreement on it
(:attr:`~vidal.types.Detections.committee`), which the ``committee`` signal scores.

The views run through the wrapped detector's own :meth:`~vidal.detectors.Detector.stream`,
interleaved with the frames, so they share its batching, its inference requests in flight and
its decoding thread, and no backend is changed: each view costs one more inference per frame.
Each other model streams the same frames through its own detector (its own decoding thread
and requests), fed as the wrapped detector reads them; it costs its inference per frame.
Its classes vote by name: a model fine-tuned on a dataset's classes votes ``person`` as the
base does, whatever its class ids.
"""

from __future__ import annotations

import queue
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vidal.detectors.base import Detector
from vidal.detectors.boxes import PAD_VALUE, clip_boxes
from vidal.errors import ConfigError
from vidal.tracking.matching import box_iou, linear_assignment
from vidal.types import Detections, Frame

# Smallest IoU at which a view's box counts as the same object as a detection of the frame.
# Under it two boxes of one size are shifted by more than two thirds of their width: another
# object or none, and the detection is unmatched in that view (disagreement 1).
MATCH_IOU = 0.1
# Zoom of the scale view: the frame shrunk to 0.67 of its size on a grey canvas of its own size,
# so objects reach the network at two thirds of their size; Ultralytics' test-time augmentation
# uses the same smaller scale (``scales [1, 0.83, 0.67]`` in ``BaseModel._predict_augment``).
SCALE_VIEW = 0.67


@dataclass(frozen=True)
class View:
    """A test-time view of a frame: how to make it, and how its boxes go back onto the frame.

    Attributes:
        name: The name the configuration uses.
        image: The view of a BGR image ``(H, W, 3)`` uint8, of the same size.
        back: The view's ``xyxy`` boxes ``(N, 4)`` in the frame's pixels, given the frame's
            width and height.
    """

    name: str
    image: Callable[[np.ndarray], np.ndarray]
    back: Callable[[np.ndarray, int, int], np.ndarray]


def _mirror(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[:, ::-1])


def _unmirror(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    out = xyxy.copy()
    out[:, 0], out[:, 2] = width - xyxy[:, 2], width - xyxy[:, 0]
    return out


def _shrunk_size(width: int, height: int) -> tuple[int, int]:
    return max(1, round(width * SCALE_VIEW)), max(1, round(height * SCALE_VIEW))


def _shrink(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    w, h = _shrunk_size(width, height)
    canvas = np.full_like(image, PAD_VALUE)
    canvas[:h, :w] = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    return canvas


def _unshrink(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    w, h = _shrunk_size(width, height)
    scale = np.array([width / w, height / h, width / w, height / h], np.float32)
    return clip_boxes(xyxy.astype(np.float32) * scale, width, height)


VIEWS: dict[str, View] = {
    "flip": View("flip", _mirror, _unmirror),
    "scale": View("scale", _shrink, _unshrink),
}


def get_view(name: str) -> View:
    """Look a view up by name.

    Raises:
        ConfigError: The name is not a view; the message lists the valid ones.
    """
    if name not in VIEWS:
        raise ConfigError(f"unknown committee view {name!r}; valid: {', '.join(sorted(VIEWS))}")
    return VIEWS[name]


def vote_entropy(votes: np.ndarray) -> np.ndarray:
    """Vote entropy of each column of ``votes`` ``(K, N)`` int (one row per committee member,
    one class id or -1 for "no box" per item), over ``log K``: 0 when all members vote alike,
    1 when all differ, ``(N,)`` float64 (Dagan & Engelson, 1995)."""
    k, n = votes.shape
    if k < 2 or n == 0:
        return np.zeros(n)
    # -sum_c (V_c / K) log(V_c / K) is the mean over the members of -log(V_c / K), c each one's vote
    counts = (votes[:, None, :] == votes[None, :, :]).sum(1)
    return np.clip(np.log(k / counts).mean(0) / np.log(k), 0.0, 1.0)


def disagreement(own: Detections, views: Sequence[Detections]) -> np.ndarray:
    """The committee's disagreement on each of the frame's own detections, ``(N,)`` float32 in ``[0, 1]``.

    Each member's boxes (a view's mapped back onto the frame, another model's as they are) are
    matched to ``own`` by optimal assignment on IoU
    (:func:`~vidal.tracking.matching.linear_assignment`, class-agnostic, at IoU >=
    :data:`MATCH_IOU`). Localisation: the mean over the members of ``1 - IoU`` with the match, 1
    where a member has none (Kao et al., 2018, "Localization-aware active learning for object
    detection": a box that moves between views is badly localised). Classification: the vote
    entropy of the class the frame and each member give the box, a member without a match voting
    "no object" (Dagan & Engelson, 1995). The two combine as a noisy-OR,
    ``1 - (1 - localisation) (1 - votes)``: 0 where every member finds the box with the same
    class at IoU 1, 1 where a member does not find it.

    Args:
        own: The frame's detections.
        views: Each other member's detections, boxes in the frame's pixels, classes in ``own``'s ids.
    """
    n = len(own)
    if n == 0 or not views:
        return np.zeros(n, np.float32)
    localisation = np.zeros(n)
    votes = [own.class_id.astype(np.int64)]
    for view in views:
        iou = box_iou(own.xyxy, view.xyxy)
        matched = np.zeros(n)
        vote = np.full(n, -1, np.int64)
        if len(view):
            assignment = linear_assignment(1.0 - iou, 1.0 - MATCH_IOU)
            rows, cols = assignment.matches[:, 0], assignment.matches[:, 1]
            matched[rows] = iou[rows, cols]
            vote[rows] = view.class_id[cols]
        localisation += 1.0 - matched
        votes.append(vote)
    localisation /= len(views)
    classes = vote_entropy(np.stack(votes))
    return np.clip(1.0 - (1.0 - localisation) * (1.0 - classes), 0.0, 1.0).astype(np.float32)


def lookahead(detector: Detector) -> int:
    """How many frames past a frame ``detector`` may read before it yields that frame's
    detections, and one more: an Ultralytics detector's ``batch``, an OpenVINO detector's
    ``requests`` in flight (1 for others)."""
    return int(getattr(detector, "batch", 1)) + int(getattr(detector, "requests", 0)) + 1


def _fed(feed: queue.SimpleQueue) -> Iterator[Frame]:
    """The frames put into ``feed``, until ``None``."""
    while (frame := feed.get()) is not None:
        yield frame


def _votes(own: dict[int, str], other: dict[int, str]) -> np.ndarray:
    """Each of ``other``'s class ids as a vote in ``own``'s ids, by class name; a class ``own``
    does not have gets an id of its own past ``own``'s."""
    by_name = {name: index for index, name in own.items()}
    unknown = sorted({name for name in other.values() if name not in by_name})
    by_name.update({name: max(own, default=-1) + 1 + k for k, name in enumerate(unknown)})
    size = max(other, default=-1) + 1
    votes = np.full(size, -1, np.int64)
    for index, name in other.items():
        votes[index] = by_name[name]
    return votes


class Committee:
    """A detector whose detections carry a committee's disagreement (:func:`disagreement`).

    The committee is the wrapped detector on the frame, on each view of it (:data:`VIEWS`), and
    each other model on the frame. The frame's own detections are returned unchanged, with
    :attr:`~vidal.types.Detections.committee` set: the tracker sees what the detector alone
    would give.

    Args:
        detector: The detector to run on the frames and their views.
        views: Names of the views (:data:`VIEWS`).
        models: Other detectors (other versions of the model), each run on the frames.

    Raises:
        ConfigError: No member besides the detector, or an unknown view.
    """

    def __init__(self, detector: Detector, views: Sequence[str] = ("flip",), models: Sequence[Detector] = ()) -> None:
        if not views and not models:
            raise ConfigError("a committee needs at least one view (valid: " + ", ".join(sorted(VIEWS))
                              + ") or another model")
        self.detector = detector
        self.views = [get_view(name) for name in views]
        self.models = list(models)
        self.names = detector.names
        self.classes = detector.classes
        self.embeddings = getattr(detector, "embeddings", False)  # the frame's own, kept on its detections
        self._votes = [_votes(detector.names, model.names) for model in self.models]
        self.ahead = max((lookahead(model) for model in self.models), default=0)
        members = [f"the {' and '.join(view.name for view in self.views)} view"] if self.views else []
        members += [f"the model {model.description}" for model in self.models]
        self.description = f"{detector.description}, committee with {' and '.join(members)}"

    def _with_views(self, frames: Iterable[Frame], feeds: Sequence[queue.SimpleQueue]) -> Iterator[Frame]:
        """Each frame and its views, for the wrapped detector. The other models are fed
        :attr:`ahead` frames earlier: one waits for that many past a frame (a batch, requests in
        flight) before it gives the frame's detections, and the caller waits for those before
        the wrapped detector reads further. What ``frames`` raises is raised after the frames
        read before it."""
        source = iter(frames)
        pending: deque[Frame] = deque()
        failure: BaseException | None = None
        ended = False

        def read_ahead() -> None:
            nonlocal failure, ended
            while not ended and len(pending) <= self.ahead:
                try:
                    frame = next(source)
                except Exception as error:  # noqa: BLE001 (re-raised below, after the frames before it)
                    # The other models are told at once that no frame follows (they hold their
                    # last frames until then); an error is raised once the frames before it are through.
                    ended = True
                    failure = None if isinstance(error, StopIteration) else error
                    for feed in feeds:
                        feed.put(None)
                    return
                for feed in feeds:
                    feed.put(frame)
                pending.append(frame)

        read_ahead()
        while pending:
            frame = pending.popleft()
            yield frame
            for view in self.views:
                yield Frame(frame.index, frame.timestamp, view.image(frame.image))
            read_ahead()
        if failure is not None:
            raise failure

    def stream(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, Detections]]:
        """Detect objects in each frame and its views, in order; yields each frame with its own
        detections and their :attr:`~vidal.types.Detections.committee`.

        Whatever ``frames`` raises is raised after the frames decoded before it (a frame and its
        views are made together, so none is left halfway).
        """
        members = 1 + len(self.views)
        feeds: list[queue.SimpleQueue] = [queue.SimpleQueue() for _ in self.models]
        others = [model.stream(_fed(feed)) for model, feed in zip(self.models, feeds)]
        group: list[tuple[Frame, Detections]] = []
        try:
            for item in self.detector.stream(self._with_views(frames, feeds)):
                group.append(item)
                if len(group) < members:
                    continue
                (frame, own), seen = group[0], group[1:]
                height, width = frame.image.shape[:2]
                mapped = [
                    Detections(view.back(found.xyxy, width, height), found.confidence, found.class_id)
                    for view, (_, found) in zip(self.views, seen)
                ]
                for other, votes, model in zip(others, self._votes, self.models):
                    seen_by, found = next(other, (None, None))
                    if seen_by is None or seen_by.index != frame.index:
                        raise RuntimeError(f"committee model {model.description} is out of step at frame "
                                           f"{frame.index} ({'ended' if seen_by is None else seen_by.index})")
                    mapped.append(Detections(found.xyxy, found.confidence, votes[found.class_id]))
                own.committee = disagreement(own, mapped)
                group = []
                yield frame, own
        finally:
            # A member still reading ends, however the stream ended (read_ahead ends the feeds
            # when the frames end; a second end is harmless).
            for feed in feeds:
                feed.put(None)
            for other in others:
                other.close()
