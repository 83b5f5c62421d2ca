from __future__ import annotations

import numpy as np
import pytest

from vidal.scoring import Kind, ObjectTable, SignalContext, get_signal, register_signal, score_frame
from vidal.scoring.signals import SIGNALS
from vidal.tracking import ByteTracker
from vidal.types import Detections


def objects(confidence: list[float], kinds: list[int] | None = None) -> ObjectTable:
    n = len(confidence)
    return ObjectTable(
        kind=np.array(kinds or [Kind.TRACKED] * n, np.int8),
        track_id=np.arange(1, n + 1),
        xyxy=np.tile(np.array([0, 0, 10, 10], np.float32), (n, 1)),
        confidence=np.array(confidence, np.float32),
        class_id=np.zeros(n, np.int64),
        det_index=np.arange(n),
        stage=np.ones(n, np.int8),
        cost=np.zeros(n, np.float32),
        next_cost=np.full(n, np.inf, np.float32),
        reactivated=np.zeros(n, bool),
        confirmed=np.ones(n, bool),
        age=np.zeros(n, np.int32),
        missed=np.zeros(n, np.int32),
    )


def context(table: ObjectTable, threshold: float = 0.25) -> SignalContext:
    return SignalContext(objects=table, frame=1, width=100, height=100, decision_threshold=threshold, low_threshold=0.1)


def test_confidence_signal_peaks_at_decision_threshold() -> None:
    values = get_signal("confidence")(context(objects([0.1, 0.25, 0.5, 0.9, 0.999])))
    assert values[1] == pytest.approx(1.0)
    assert values[1] > values[0] > values[3]
    assert values[2] > values[3] > values[4]
    assert values[4] < 0.05


def test_confidence_signal_ignores_predicted_boxes() -> None:
    table = objects([0.25, float("nan")], [Kind.TRACKED, Kind.PREDICTED])
    assert get_signal("confidence")(context(table)).tolist() == [pytest.approx(1.0), 0.0]


def test_entropy_signal_peaks_at_half() -> None:
    values = get_signal("entropy")(context(objects([0.5, 0.25, 0.95])))
    assert values[0] == pytest.approx(1.0)
    assert values[0] > values[1] > values[2]


def test_unknown_signal_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="valid: .*confidence"):
        get_signal("no-such-signal")


def test_register_twice_is_refused() -> None:
    with pytest.raises(ValueError):
        register_signal("confidence")(lambda ctx: np.zeros(len(ctx.objects)))


def test_frame_score_noisy_or_and_reasons() -> None:
    table = objects([0.25, 0.99])
    scored = score_frame(context(table), {"confidence": 1.0, "entropy": 0.5})
    conf = get_signal("confidence")(context(table))
    ent = get_signal("entropy")(context(table)) * 0.5
    expected = 1 - (1 - conf) * (1 - ent)
    np.testing.assert_allclose(scored.object_uncertainty, expected)
    assert scored.score == pytest.approx(expected.sum())
    assert scored.reasons[0] == "confidence"
    assert set(scored.signals) == {"confidence", "entropy"}


def test_frame_score_empty_frame() -> None:
    scored = score_frame(context(objects([])), {"confidence": 1.0})
    assert scored.score == 0.0 and scored.reasons == []


def test_object_table_from_tracker_step() -> None:
    tracker = ByteTracker()
    first = Detections(np.array([[0, 0, 10, 10], [50, 50, 60, 60]]), np.array([0.9, 0.9]), np.array([0, 0]))
    tracker.update(first, 1)
    second = Detections(np.array([[1, 0, 11, 10], [80, 80, 90, 90]]), np.array([0.9, 0.15]), np.array([0, 0]))
    step = tracker.update(second, 2)
    table = ObjectTable.build(step, second)
    kinds = sorted(zip(table.kind.tolist(), table.track_id.tolist(), table.det_index.tolist()))
    # track 1 took detection 0; track 2 is lost (predicted); detection 1 is unmatched
    assert kinds == [(Kind.TRACKED, 1, 0), (Kind.PREDICTED, 2, -1), (Kind.UNMATCHED, -1, 1)]


def test_registry_has_the_issue_signals() -> None:
    assert {"confidence", "entropy"} <= set(SIGNALS)


CAR, PHONE = 2, 67


def two_boxes(classes: list[int], scores: list[float], second_box: list[float]) -> ObjectTable:
    table = objects(scores)
    table.class_id = np.array(classes, np.int64)
    table.xyxy = np.array([[0, 0, 10, 10], second_box], np.float32)
    return table


@pytest.mark.parametrize(
    ("classes", "scores", "second_box", "wanted_score", "flagged"),
    [
        ([CAR, PHONE], [0.6, 0.86], [0, 0, 10, 10], [0.6, 0.0], [0.0, pytest.approx(0.99, abs=0.01)]),
        ([CAR, PHONE], [0.6, 0.25], [0, 0, 10, 9], [0.6, 0.0], [0.0, pytest.approx(0.5)]),  # IoU 0.9
        ([CAR, PHONE], [0.6, 0.86], [0, 0, 10, 6], [0.6, 0.0], [0.0, 0.0]),  # IoU 0.6: another object
        # a faint car call still counts: the COCO model calls cars "car" at 0.12-0.31
        ([CAR, PHONE], [0.12, 0.86], [0, 0, 10, 10], [0.12, 0.0], [0.0, pytest.approx(0.99, abs=0.01)]),
        ([CAR, PHONE], [0.6, 0.12], [0, 0, 10, 10], [0.6, 0.0], [0.0, pytest.approx(0.14, abs=0.01)]),
        # a track called car before (wanted score 0.5) whose twin box now says phone
        ([PHONE, PHONE], [0.3, 0.86], [0, 0, 10, 10], [0.5, 0.0], [0.0, pytest.approx(0.99, abs=0.01)]),
        ([PHONE, PHONE], [0.3, 0.86], [0, 0, 10, 10], [0.0, 0.0], [0.0, 0.0]),  # no car anywhere
    ],
)
def test_class_confusion_flags_another_class_on_a_wanted_object(classes, scores, second_box, wanted_score, flagged):
    table = two_boxes(classes, scores, second_box)
    context = SignalContext(objects=table, frame=1, width=100, height=100, decision_threshold=0.25, low_threshold=0.1, wanted_classes=np.array([CAR]),
                            wanted_score=np.array(wanted_score))
    assert get_signal("class_confusion")(context).tolist() == flagged


def test_class_confusion_is_silent_when_every_class_is_wanted() -> None:
    table = two_boxes([CAR, PHONE], [0.6, 0.86], [0, 0, 10, 10])
    assert get_signal("class_confusion")(context(table)).tolist() == [0.0, 0.0]


def margin_context(scores: np.ndarray | None, kinds: list[int], confidence: list[float]) -> SignalContext:
    base = context(objects(confidence, kinds))
    return SignalContext(objects=base.objects, frame=1, width=100, height=100, decision_threshold=0.25,
                         low_threshold=0.1, class_scores=scores)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([0.6, 0.6, 0.0], 1.0),  # two classes tied: a coin toss
        ([0.9, 0.0, 0.0], 0.0),  # one class claims the box
        ([0.6, 0.3, 0.1], 1 - 0.3),  # normalised to sum 1: 0.6 - 0.3
        ([0.2, 0.1, 0.1], 1 - 0.25),  # a weak box: the margin of its normalised scores
        ([0.0, 0.0, 0.0], 0.0),  # no class scores anything
    ],
)
def test_class_margin_is_one_minus_the_normalised_top_two_margin(scores: list[float], expected: float) -> None:
    values = get_signal("class_margin")(margin_context(np.array([scores], np.float32), [Kind.TRACKED], [0.9]))
    assert values.tolist() == [pytest.approx(expected)]


def test_class_margin_without_scores_predicted_boxes_and_dropped_detections() -> None:
    kinds = [Kind.TRACKED, Kind.PREDICTED, Kind.UNMATCHED]
    tied = np.array([[0.5, 0.5], [np.nan, np.nan], [0.5, 0.5]], np.float32)
    values = get_signal("class_margin")(margin_context(tied, kinds, [0.9, float("nan"), 0.12]))
    assert values[0] == pytest.approx(1.0) and values[1] == 0.0
    assert 0 < values[2] < 0.2  # a dropped 0.12 detection: at most the chance that it is real
    assert get_signal("class_margin")(margin_context(None, kinds, [0.9, float("nan"), 0.12])).tolist() == [0, 0, 0]
    one_class = np.array([[0.9]], np.float32)
    assert get_signal("class_margin")(margin_context(one_class, [Kind.TRACKED], [0.9])).tolist() == [0.0]


LOG3 = np.log(3)


@pytest.mark.parametrize(
    ("scores", "entropy", "variation"),
    [
        ([0.5, 0.5, 0.5], 1.0, 1.0),  # uniform over the three classes: all uncertainty
        ([0.9, 0.0, 0.0], 0.0, 0.0),  # one class claims the box
        ([0.6, 0.6, 0.0], np.log(2) / LOG3, 0.5 * 3 / 2),  # two tied, the third out
        ([0.6, 0.3, 0.1], -(0.6 * np.log(0.6) + 0.3 * np.log(0.3) + 0.1 * np.log(0.1)) / LOG3, 0.4 * 3 / 2),
        ([0.2, 0.1, 0.1], -(0.5 * np.log(0.5) + 2 * 0.25 * np.log(0.25)) / LOG3, 0.5 * 3 / 2),  # normalised
        ([0.0, 0.0, 0.0], 0.0, 0.0),  # no class scores anything
    ],
)
def test_class_entropy_and_variation_ratio_on_hand_made_distributions(scores, entropy, variation) -> None:
    """Normalised Shannon entropy over log C, and (1 - p_max) * C / (C - 1), of the normalised scores."""
    table = margin_context(np.array([scores], np.float32), [Kind.TRACKED], [0.9])
    assert get_signal("class_entropy")(table).tolist() == [pytest.approx(entropy)]
    assert get_signal("variation_ratio")(table).tolist() == [pytest.approx(variation)]


@pytest.mark.parametrize("name", ["class_entropy", "variation_ratio"])
def test_class_distribution_signals_without_scores_predicted_boxes_and_dropped_detections(name: str) -> None:
    kinds = [Kind.TRACKED, Kind.PREDICTED, Kind.UNMATCHED]
    tied = np.array([[0.5, 0.5], [np.nan, np.nan], [0.5, 0.5]], np.float32)
    values = get_signal(name)(margin_context(tied, kinds, [0.9, float("nan"), 0.12]))
    assert values[0] == pytest.approx(1.0) and values[1] == 0.0
    assert 0 < values[2] < 0.2  # a dropped 0.12 detection: at most the chance that it is real
    assert get_signal(name)(margin_context(None, kinds, [0.9, float("nan"), 0.12])).tolist() == [0, 0, 0]
    one_class = np.array([[0.9]], np.float32)
    assert get_signal(name)(margin_context(one_class, [Kind.TRACKED], [0.9])).tolist() == [0.0]


def test_object_table_takes_its_detections_class_scores() -> None:
    tracker = ByteTracker()
    scores = np.array([[0.9, 0.1], [0.5, 0.4]], np.float32)
    first = Detections(np.array([[0, 0, 10, 10], [50, 50, 60, 60]]), np.array([0.9, 0.9]), np.array([0, 0]), scores)
    tracker.update(first, 1)
    second = Detections(np.array([[80, 80, 90, 90], [1, 0, 11, 10]]), np.array([0.15, 0.9]), np.array([1, 0]),
                        scores[::-1])
    table = ObjectTable.build(tracker.update(second, 2), second)
    out = table.class_scores_of(second)
    by_kind = {int(k): row for k, row in zip(table.kind, out)}
    np.testing.assert_allclose(by_kind[Kind.TRACKED], [0.9, 0.1])  # track 1 took detection 1
    assert np.isnan(by_kind[Kind.PREDICTED]).all()  # track 2 is lost: no detection
    np.testing.assert_allclose(by_kind[Kind.UNMATCHED], [0.5, 0.4])
    assert table.class_scores_of(Detections(second.xyxy, second.confidence, second.class_id)) is None
    assert second[np.array([1])].class_scores.tolist() == [pytest.approx([0.9, 0.1])]
