"""Query-by-committee with test-time views (vidal.detectors.committee)."""

from __future__ import annotations

import numpy as np
import pytest

from vidal.detectors import load_detector
from vidal.detectors.committee import MATCH_IOU, VIEWS, Committee, _votes, disagreement, vote_entropy
from vidal.errors import ConfigError
from vidal.tracking.matching import box_iou
from vidal.types import Detections
from vidal.video import open_source

from conftest import SAMPLE_MODEL, SAMPLE_VIDEO

BOX = [10.0, 10.0, 30.0, 50.0]
HALF = [20.0, 10.0, 40.0, 50.0]  # BOX moved by half its width: IoU 1/3


def dets(boxes: list[list[float]], classes: list[int] | None = None) -> Detections:
    n = len(boxes)
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(n, 0.9), classes or [0] * n)


@pytest.mark.parametrize(
    ("votes", "expected"),
    [
        ([[0], [0]], 0.0),  # two members agree
        ([[0], [1]], 1.0),  # two members, two classes
        ([[0], [-1]], 1.0),  # one member sees no box
        ([[2], [2], [2]], 0.0),
        ([[0], [1], [2]], 1.0),  # three members, three votes
        ([[0], [0], [-1]], (2 * np.log(3 / 2) + np.log(3)) / 3 / np.log(3)),  # 2 to 1
    ],
)
def test_vote_entropy(votes: list[list[int]], expected: float) -> None:
    assert vote_entropy(np.array(votes)).tolist() == [pytest.approx(expected)]


@pytest.mark.parametrize(
    ("views", "expected"),
    [
        ([dets([BOX])], 0.0),  # the view finds the box where the frame does, with its class
        ([dets([])], 1.0),  # the view finds nothing
        ([dets([[200, 200, 220, 240]])], 1.0),  # nothing near the box
        ([dets([HALF])], 1 - 1 / 3),  # found, shifted: 1 - IoU
        ([dets([BOX], [1])], 1.0),  # found, another class: two members, two votes
        ([dets([BOX]), dets([])], 1 - 0.5 * (1 - (2 * np.log(3 / 2) + np.log(3)) / 3 / np.log(3))),
    ],
)
def test_disagreement_of_hand_made_views(views: list[Detections], expected: float) -> None:
    assert disagreement(dets([BOX]), views).tolist() == [pytest.approx(expected, abs=1e-6)]


def test_disagreement_matches_box_to_box() -> None:
    """Optimal assignment: each view box goes to one detection, the closer pairing wins."""
    own = dets([BOX, HALF])
    view = dets([[21.0, 10.0, 41.0, 50.0]])  # almost HALF, a third over BOX
    values = disagreement(own, [view])
    assert values[0] == 1.0 and values[1] < 0.1
    assert disagreement(dets([]), [view]).shape == (0,)


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_views_map_their_boxes_back(name: str) -> None:
    """A box drawn on a frame is drawn on the view where the view's mapping back puts it."""
    image = np.zeros((90, 160, 3), np.uint8)
    image[30:60, 100:130] = 255
    view = VIEWS[name]
    seen = view.image(image)
    assert seen.shape == image.shape and seen.flags.c_contiguous
    ys, xs = np.nonzero(seen[..., 0] > 127)
    box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    assert box_iou(view.back(box, 160, 90), np.array([[100, 30, 130, 60]]))[0, 0] > 0.9


def test_unknown_view_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown committee view 'rotate'; valid: flip, scale"):
        Committee(load_detector(str(SAMPLE_MODEL)), ["rotate"])


def test_flip_committee_on_the_sample_model() -> None:
    """The sample model on real frames: a box its mirror image does not find (no mirrored box
    lies nearer to it than to another detection: on the sample clip, low-score doubles of a
    walker) disagrees fully (nearly all do), more than the boxes the mirror finds; a box found again at
    IoU ~1 with its class scores ~0. The frame's own detections are the detector's, unchanged."""
    frames = list(open_source(SAMPLE_VIDEO).frames(end=10))
    detector = load_detector(str(SAMPLE_MODEL))
    plain = [d for _, d in detector.stream(frames)]
    mirrored = [d for _, d in detector.stream([type(f)(f.index, f.timestamp, f.image[:, ::-1].copy()) for f in frames])]
    committee = list(Committee(detector, ["flip"]).stream(frames))
    assert [f.index for f, _ in committee] == [f.index for f in frames]
    missed, found, exact = [], [], []
    for (frame, own), alone, flipped in zip(committee, plain, mirrored):
        np.testing.assert_array_equal(own.xyxy, alone.xyxy)
        np.testing.assert_array_equal(own.confidence, alone.confidence)
        width = frame.image.shape[1]
        back = flipped.xyxy.copy()
        back[:, 0], back[:, 2] = width - flipped.xyxy[:, 2], width - flipped.xyxy[:, 0]
        iou = box_iou(own.xyxy, back)
        nearest = iou.argmax(0)  # each mirrored box's nearest detection of the frame
        for k in range(len(own)):
            mine = np.flatnonzero((nearest == k) & (iou[k] >= MATCH_IOU))
            if not len(mine):
                missed.append(own.committee[k])
                continue
            found.append(own.committee[k])
            j = mine[iou[k, mine].argmax()]
            if iou[k, j] > 0.95 and iou[k].argmax() == j and flipped.class_id[j] == own.class_id[k]:
                exact.append((own.committee[k], 1 - iou[k, j]))
    assert missed and found and exact, (len(missed), len(found), len(exact))
    # a crowd may give a mirrored box nearest another detection and still pair it here
    assert np.mean(np.equal(missed, 1.0)) > 0.8 and np.mean(missed) > 0.8 > 0.3 > np.mean(found), (missed, found)
    assert all(value == pytest.approx(gap, abs=1e-5) and value < 0.05 for value, gap in exact)


def test_scale_view_finds_the_boxes_where_they_are() -> None:
    """The zoomed-out view's boxes land back on the frame's: most confident boxes agree."""
    frames = list(open_source(SAMPLE_VIDEO).frames(end=5))
    values = np.concatenate([d.committee[d.confidence > 0.5] for _, d in
                             Committee(load_detector(str(SAMPLE_MODEL)), ["scale"]).stream(frames)])
    assert len(values) > 10 and np.median(values) < 0.3


def test_a_committee_keeps_the_frames_own_embedding() -> None:
    # The embedding strategies (coreset, typiclust, density) and the committee signal together:
    # each frame keeps the embedding of its own pass, not a view's.
    frames = list(open_source(SAMPLE_VIDEO).frames(end=3))
    detector = load_detector(str(SAMPLE_MODEL), embeddings=True)
    alone = [d.embedding for _, d in detector.stream(frames)]
    committee = Committee(detector, ["flip"])
    assert committee.embeddings
    out = [d for _, d in committee.stream(frames)]
    for own, embedding in zip(out, alone, strict=True):
        assert own.committee is not None and own.embedding is not None
        np.testing.assert_allclose(own.embedding, embedding, atol=1e-5)


def test_other_classes_vote_by_name() -> None:
    """A model fine-tuned on a dataset's two classes votes in the base model's ids; a class the
    base lacks gets an id of its own."""
    votes = _votes({0: "person", 1: "bicycle", 32: "sports ball"}, {0: "person", 1: "sports ball", 2: "goal"})
    assert votes.tolist() == [0, 32, 33]


def test_the_same_model_as_a_member_agrees_everywhere() -> None:
    """The other model streams the same frames as the detector, in step: a second copy of the
    sample model finds every box again (disagreement 0), and the frame's own detections are the
    detector's."""
    frames = list(open_source(SAMPLE_VIDEO).frames(end=12))
    detector = load_detector(str(SAMPLE_MODEL))
    plain = [d for _, d in detector.stream(frames)]
    committee = Committee(detector, [], [load_detector(str(SAMPLE_MODEL))])
    assert committee.description.endswith(f"committee with the model {committee.models[0].description}")
    out = list(committee.stream(frames))
    assert [f.index for f, _ in out] == [f.index for f in frames]
    assert sum(len(d) for _, d in out) > 50
    for (_, own), alone in zip(out, plain, strict=True):
        np.testing.assert_array_equal(own.xyxy, alone.xyxy)
        np.testing.assert_allclose(own.committee, 0.0, atol=1e-5)


def test_a_member_model_joins_the_views() -> None:
    """Views and another model together: each detection's disagreement is the one of the flip view
    and the other model's boxes, matched to it."""
    frames = list(open_source(SAMPLE_VIDEO).frames(end=4))
    detector = load_detector(str(SAMPLE_MODEL))
    plain = [d for _, d in detector.stream(frames)]
    mirrored = [d for _, d in detector.stream([type(f)(f.index, f.timestamp, f.image[:, ::-1].copy()) for f in frames])]
    out = list(Committee(detector, ["flip"], [load_detector(str(SAMPLE_MODEL))]).stream(frames))
    for (frame, own), alone, flipped in zip(out, plain, mirrored, strict=True):
        back = Detections(VIEWS["flip"].back(flipped.xyxy, frame.image.shape[1], frame.image.shape[0]),
                          flipped.confidence, flipped.class_id)
        np.testing.assert_allclose(own.committee, disagreement(own, [back, alone]), atol=1e-5)


def test_an_error_of_the_frames_reaches_the_caller_after_the_frames_before_it() -> None:
    """The frames raise after three: the committee gives those three and raises, and its other
    model's stream ends (no thread left waiting for frames)."""
    import threading

    frames = list(open_source(SAMPLE_VIDEO).frames(end=3))

    def failing():
        yield from frames
        raise OSError("disk gone")

    before = threading.active_count()
    committee = Committee(load_detector(str(SAMPLE_MODEL)), ["flip"], [load_detector(str(SAMPLE_MODEL))])
    seen = []
    with pytest.raises(OSError, match="disk gone"):
        for frame, _ in committee.stream(failing()):
            seen.append(frame.index)
    assert seen == [f.index for f in frames]
    for _ in range(50):
        if threading.active_count() <= before:
            break
        threading.Event().wait(0.1)
    assert threading.active_count() <= before


def test_a_committee_needs_a_member() -> None:
    with pytest.raises(ConfigError, match="needs at least one view"):
        Committee(load_detector(str(SAMPLE_MODEL)), [], [])


def _finishes(committee: Committee, frames: list, seconds: float = 120.0) -> list[int]:
    """The frame numbers ``committee`` gives for ``frames``, run in a thread that must finish."""
    import threading

    out: list[int] = []
    worker = threading.Thread(target=lambda: out.extend(f.index for f, _ in committee.stream(frames)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"the committee hangs after {len(out)} of {len(frames)} frames"
    return out


def test_other_models_with_batches_get_their_frames_ahead() -> None:
    """An other model batching 16 frames (or keeping requests in flight) gives a frame's boxes only
    once it has read 16 past it: it is fed that far ahead of the detector, or the committee
    would wait for it forever (it did, from batch 11 with one view)."""
    frames = list(open_source(SAMPLE_VIDEO).frames(end=40))
    committee = Committee(load_detector(str(SAMPLE_MODEL), batch=16), ["flip", "scale"],
                          [load_detector(str(SAMPLE_MODEL), batch=16)])
    assert _finishes(committee, frames) == [f.index for f in frames]
    assert committee.ahead == 17


def test_other_openvino_models_with_many_requests_get_their_frames_ahead() -> None:
    """The same with OpenVINO's requests in flight (the stream's own code; the network replaced by
    a box per frame): 12 requests with two views hung at the end of the frames before."""
    from vidal.detectors.openvino import OpenVINODetector

    class Request:
        def start_async(self, inputs: object) -> None: ...
        def wait(self) -> None: ...

    class Compiled:
        def create_infer_request(self) -> Request:
            return Request()

    def detector(requests: int) -> OpenVINODetector:
        d = object.__new__(OpenVINODetector)
        d.requests, d.names, d.classes, d.description = requests, {0: "person"}, None, f"{requests} requests"
        d._prepare = lambda frames: ((f, np.zeros((1, 3, 8, 8), np.float32), None) for f in frames)
        d._compile = lambda size: Compiled()

        def collect(item: tuple, idle) -> tuple:
            request, frame, _ = item
            idle.append(request)
            return frame, dets([BOX])

        d._collect = collect
        return d

    frames = list(open_source(SAMPLE_VIDEO).frames(end=30))
    for requests, views in ((12, ["flip"]), (8, ["flip", "scale"]), (16, [])):
        committee = Committee(detector(requests), views, [detector(requests)])
        assert _finishes(committee, frames, 30.0) == [f.index for f in frames], (requests, views)


def test_committee_models_resolve_to_absolute_files_without_the_mining_model(tmp_path, monkeypatch) -> None:
    """Paths made absolute (a worker's working folder is another), each file once however it is
    written, the mining model left out; a name that is no file is kept for the loader to refuse."""
    from vidal.api import resolve_committee
    from vidal.config import load_config

    (tmp_path / "v1.pt").write_bytes(b"w")
    (tmp_path / "v2.pt").write_bytes(b"w")
    monkeypatch.chdir(tmp_path)
    config = load_config(overrides=["detector.model=v2.pt", "scoring.signals.committee.enabled=true",
                                    f"scoring.committee_models=[v1.pt, {tmp_path / 'v1.pt'}, ./v2.pt, nowhere.pt]"])
    resolve_committee(config)
    assert config.scoring.committee_models == [str(tmp_path / "v1.pt"), "nowhere.pt"]


def test_a_pt_member_beside_an_openvino_device_runs_on_the_cpu() -> None:
    from vidal.pipeline import _member_device

    assert _member_device(str(SAMPLE_MODEL), "intel:gpu") == "cpu"
    assert _member_device(str(SAMPLE_MODEL), "cuda:0") == "cuda:0"
    assert _member_device(str(SAMPLE_MODEL), "cpu") == "cpu"
