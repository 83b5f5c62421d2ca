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


@dataclass(frozen=True, kw_only=True)
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
        majority_class: Per object, the class its track had most often before this frame
            (-1 for new tracks and detections), ``(N,)`` int64; ``None`` if unknown.
        recent_gaps: Per object, how often its track was re-found after a gap within the
            last :data:`FLICKER_WINDOW` frames, ``(N,)`` int64; ``None`` if unknown.
        appearance_distance: Per object, the Bhattacharyya distance between its colour
            histogram and its track's last clean view before an interruption (NaN where
            not compared), ``(N,)`` float64; ``None`` if unknown.
        overlap: Per object, its largest IoU with another object of the frame
            (:func:`max_overlap`), ``(N,)``; ``None``: computed where needed.
        wanted_classes: The class ids of interest (``--classes``), ``(C,)`` int64; ``None``
            for all classes.
        wanted_score: Per object, the best score at which the detector gave its track (or,
            for a detection no track took, itself) a wanted class so far, this frame
            included; 0 if never; ``(N,)`` float64; ``None`` if unknown.
        class_scores: Per object, its detection's score for every class, ``(N, C)``
            float32, NaN rows for predicted boxes (:meth:`ObjectTable.class_scores_of`);
            ``None`` where the detector gives no per-class scores.
        committee: Per object, its detection's disagreement among the committee of test-time
            views (:attr:`~vidal.types.Detections.committee`), NaN for predicted boxes,
            ``(N,)`` float32; ``None`` without a committee.
    """

    objects: ObjectTable
    frame: int
    width: int
    height: int
    decision_threshold: float
    low_threshold: float
    majority_class: np.ndarray | None = None
    recent_gaps: np.ndarray | None = None
    appearance_distance: np.ndarray | None = None
    overlap: np.ndarray | None = None
    wanted_classes: np.ndarray | None = None
    wanted_score: np.ndarray | None = None
    class_scores: np.ndarray | None = None
    committee: np.ndarray | None = None


def max_overlap(xyxy: np.ndarray) -> np.ndarray:
    """Per box of ``xyxy`` ``(N, 4)``, its largest IoU with another box of the set, ``(N,)``
    float64 (0 for a lone box). Crowding and the appearance history both read it, so the
    pipeline computes it once per frame."""
    from vidal.tracking.matching import box_iou

    if len(xyxy) < 2:
        return np.zeros(len(xyxy))
    iou = box_iou(xyxy, xyxy)
    np.fill_diagonal(iou, 0.0)
    return iou.max(1).astype(np.float64)


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
    p = np.minimum(np.maximum(np.asarray(p, dtype=np.float64), 1e-9), 1 - 1e-9)  # np.clip's wrapper costs more
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


# Slope of the score-to-probability map in logit space. At 1 the raw score is kept; at 2
# a detection scored 0.9 (with the threshold at 0.25) maps to p = 0.999 and scores ~0.02,
# so confident detections do not add up to a large frame score merely by being many.
CONFIDENCE_SHARPNESS = 2.0


def decision_probability(score: np.ndarray, threshold: float) -> np.ndarray:
    """Detection scores ``(N,)`` mapped to the chance that the detection is real, around the
    tracker's decision threshold: ``sigmoid(2 * (logit(score) - logit(threshold)))`` (the
    threshold maps to 0.5; see :func:`confidence_signal`), ``(N,)`` float64."""
    threshold = min(max(float(threshold), 1e-3), 1 - 1e-3)
    score = np.minimum(np.maximum(np.asarray(score, np.float64), 1e-6), 1 - 1e-6)
    # sigmoid(s * (logit(c) - logit(t))) = 1 / (1 + ((1 - c) t / (c (1 - t)))^s)
    return 1.0 / (1.0 + ((1.0 - score) * threshold / (score * (1.0 - threshold))) ** CONFIDENCE_SHARPNESS)


@register_signal("confidence")
def confidence_signal(ctx: SignalContext) -> np.ndarray:
    """Ambiguous detection score: high near the tracker's decision threshold.

    Predicts false positives and misses: a detection the detector is unsure of sits close
    to the score at which the tracker starts to trust it (``track_high_thresh``). The score
    ``c`` is mapped to ``p = sigmoid(2 * (logit(c) - logit(t)))``, so the threshold ``t``
    maps to 0.5, and the signal is the binary entropy of ``p``: 1 at the threshold,
    falling to 0 for certain detections. This is uncertainty sampling (Lewis & Gale, 1994)
    around the operating point rather than around 0.5, because detector scores are not
    calibrated and the tracker's threshold is where a decision flips. Predicted boxes
    score 0.

    A detection that no track took is not in the tracker's output: it is a mistake only if
    it is a real object the tracker dropped (a miss), so it scores at most ``p``, the chance
    that it is real (0.1 at score 0.1, 0.36 at 0.2). On the TUD sequences and the sample
    clip, 2-26% of such detections lay on a missed object, against 40-100% of the reported
    boxes scored under 0.5; scored as full uncertainty, a crowd's leftover low-score boxes
    (mostly duplicates and background) outweighed the reported boxes that were wrong.
    """
    objects = ctx.objects
    predicted = objects.kind == Kind.PREDICTED
    p = decision_probability(np.where(predicted, 0.5, objects.confidence.astype(np.float64)), ctx.decision_threshold)
    out = binary_entropy(p)
    dropped = objects.kind == Kind.UNMATCHED
    out[dropped] = np.minimum(out[dropped], p[dropped])
    out[predicted] = 0.0
    return out


@register_signal("entropy")
def entropy_signal(ctx: SignalContext) -> np.ndarray:
    """Binary entropy of the raw detection score (plain per-image uncertainty sampling).

    The classic single-image active-learning signal: scores near 0.5 are uncertain. Kept
    as the baseline that uses no tracking. Predicted boxes score 0.
    """
    objects = ctx.objects
    confidence = objects.confidence.astype(np.float64)
    confidence[np.isnan(confidence)] = 1.0
    out = binary_entropy(confidence)
    out[objects.kind == Kind.PREDICTED] = 0.0
    return out


# Cost margin (cost = 1 - IoU x score) at which an association counts as ambiguous. Real
# detections overlap their own track's prediction at IoU 0.7-0.9; an alternative within
# about 0.2 of that is a plausible swap for the tracker.
ASSOCIATION_MARGIN = 0.2
# A track must have been matched this often before its disappearance reads as a miss:
# a track younger than this is as likely a false positive that ended.
ESTABLISHED_HITS = 3
# Frames over which the evidence of a missed object fades while its track stays lost: the
# Kalman prediction drifts, and an object gone for long has probably left or stopped.
MISSED_DECAY_FRAMES = 10
# Fraction of the image width and height near the border where objects legitimately vanish.
BORDER_MARGIN = 0.03
# IoU with another object at which an object counts as fully crowded (half covered).
CROWDING_IOU = 0.5


@register_signal("association")
def association_signal(ctx: SignalContext) -> np.ndarray:
    """Ambiguous association: the chosen match was barely better than the next candidate.

    Predicts identity switches. When two detections (or two tracks) are almost equally good
    for one match, as in a crowd or when look-alikes cross, the tracker's choice is close to
    a coin toss: the classic precursor of an ID switch (Bernardin & Stiefelhagen's IDSW are
    concentrated at such crossings). The signal is ``exp(-margin / 0.2)`` of the margin
    between the next-best and the chosen cost; matches with no alternative score 0.
    """
    objects = ctx.objects
    margin = objects.next_cost.astype(np.float64) - objects.cost.astype(np.float64)
    matched = (objects.kind == Kind.TRACKED) & ~np.isnan(margin)
    return np.where(matched, np.exp(-np.maximum(np.where(matched, margin, 0.0), 0.0) / ASSOCIATION_MARGIN), 0.0)


@register_signal("reactivation")
def reactivation_signal(ctx: SignalContext) -> np.ndarray:
    """A lost track found again in this frame.

    Predicts fragmentation and identity switches: the frames a track was lost are missed
    detections (the tracker had no box), and the detection that revives it is matched on a
    drifting prediction, so it may belong to another object. One of the two is a mistake
    either way.
    """
    return ctx.objects.reactivated.astype(np.float64) * (ctx.objects.kind == Kind.TRACKED)


def away_from_border(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boxes ``(N, 4)`` whose edges all keep :data:`BORDER_MARGIN` from the image border."""
    mx, my = BORDER_MARGIN * width, BORDER_MARGIN * height
    return (xyxy[:, 0] > mx) & (xyxy[:, 2] < width - mx) & (xyxy[:, 1] > my) & (xyxy[:, 3] < height - my)


def _inside(ctx: SignalContext) -> np.ndarray:
    xyxy = ctx.objects.xyxy
    cx, cy = (xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2
    mx, my = BORDER_MARGIN * ctx.width, BORDER_MARGIN * ctx.height
    return (cx > mx) & (cx < ctx.width - mx) & (cy > my) & (cy < ctx.height - my)


@register_signal("missed")
def missed_signal(ctx: SignalContext) -> np.ndarray:
    """An established track with no detection in this frame, away from the image border.

    Predicts missed objects (false negatives): a track that was matched several times and
    loses its detection inside the image, not where objects leave, most likely still has an
    object there that the detector missed (occlusion, blur, lighting). The tracker's
    predicted box is the region to label. The evidence fades as ``exp(-(missed - 1) / 10)``
    while the track stays lost, as the prediction drifts.
    """
    objects = ctx.objects
    established = objects.confirmed & (objects.age >= ESTABLISHED_HITS)
    keep = (objects.kind == Kind.PREDICTED) & established & _inside(ctx)
    fade = np.exp(-(np.maximum(objects.missed, 1) - 1) / MISSED_DECAY_FRAMES)
    return np.where(keep, fade, 0.0)


@register_signal("class_flip")
def class_flip_signal(ctx: SignalContext) -> np.ndarray:
    """The detector gives a track another class than it gave it most of the time so far.

    Predicts classification errors: an object does not change class, so a flip along a track
    means the detector is wrong in this frame or in the others. Needs the track history.
    """
    objects = ctx.objects
    if ctx.majority_class is None:
        return np.zeros(len(objects))
    known = (ctx.majority_class >= 0) & (objects.kind == Kind.TRACKED)
    return (known & (objects.class_id != ctx.majority_class)).astype(np.float64)


# IoU at which a detection of another class sits on the same object as a wanted one: the
# non-maximum suppression's own threshold (Ultralytics' default 0.7), above which the detector
# keeps two boxes only because their classes differ (its NMS is per class).
CONFUSION_IOU = 0.7


def is_wanted(class_id: np.ndarray, wanted_classes: np.ndarray | None) -> np.ndarray:
    """Per class id ``(N,)``, whether it is a class of interest (all are for ``None``)."""
    if wanted_classes is None:
        return np.ones(len(class_id), bool)
    if len(wanted_classes) == 1:  # the usual --classes person: a comparison, not np.isin's sort
        return np.asarray(class_id) == wanted_classes[0]
    return np.isin(class_id, wanted_classes)


@register_signal("class_confusion")
def class_confusion_signal(ctx: SignalContext) -> np.ndarray:
    """A wanted object (``--classes``) that the detector calls by another class.

    Predicts classification errors that a class filter would hide: an object the model calls
    "suitcase" or "cell phone" while it calls it "car" elsewhere is a missed car if it is a
    car, a false one if not, and a run that dropped the other classes before scoring would
    show neither. Two forms:

    - a detection of an unwanted class whose box overlaps an object of a wanted class (a
      detection, or a track the detector called a wanted class) at IoU >= 0.7, the NMS
      threshold: the model gives one object two classes (set here);
    - a detection of an unwanted class on a track that the detector called a wanted class
      in some frame of its life, on the track's own box or on a box of the same object (set
      by the pipeline when the track ends, since the wanted call may come later).

    Any wanted call counts, however faint: on the shared parking-lot video the COCO model
    calls the cars "car" at 0.12-0.31 only, at the image's edges, and "cell phone" or
    "suitcase" at up to 0.91 in full view. The value is the chance that the other-class
    detection is real, its score mapped around the decision threshold as in
    :func:`confidence_signal` (0.5 at the threshold, 0.99 at 0.86): a faint second class
    on an object is weak evidence. It is 0 when every class is wanted.
    """
    objects = ctx.objects
    n = len(objects)
    if ctx.wanted_classes is None or n < 2:
        return np.zeros(n)
    from vidal.tracking.matching import box_iou

    other = (objects.kind != Kind.PREDICTED) & ~is_wanted(objects.class_id, ctx.wanted_classes)
    wanted_score = ctx.wanted_score if ctx.wanted_score is not None else np.zeros(n)
    wanted = wanted_score > 0
    if not other.any() or not wanted.any():
        return np.zeros(n)
    iou = box_iou(objects.xyxy[other], objects.xyxy[wanted])
    same_object = iou >= CONFUSION_IOU
    # an object is not its own twin: a wanted track's own unwanted call is the deferred form
    same_object &= np.flatnonzero(other)[:, None] != np.flatnonzero(wanted)[None, :]
    out = np.zeros(n)
    hit = np.flatnonzero(other)[same_object.any(1)]
    out[hit] = decision_probability(objects.confidence[hit], ctx.decision_threshold)
    return out


@register_signal("crowding")
def crowding_signal(ctx: SignalContext) -> np.ndarray:
    """Overlap with other objects: occlusion and crowding.

    Predicts missed detections and identity switches: overlapping objects hide each other
    from the detector and give the tracker several plausible matches. The signal is the
    largest IoU with another object of the frame, reaching 1 at IoU 0.5.
    """
    overlap = ctx.overlap if ctx.overlap is not None else max_overlap(ctx.objects.xyxy)
    return np.minimum(overlap / CROWDING_IOU, 1.0)


# A track confirmed for at most this many frames before it ends is short-lived: at 25-30
# fps, under a fifth of a second, shorter than any real object's stay in view.
SHORT_TRACK_HITS = 5
# Signals (partly) set by the pipeline when a track ends, in the frames it was seen.
DEFERRED_SIGNALS = frozenset({"short_track", "fragmentation", "class_confusion"})


@register_signal("short_track")
def short_track_signal(ctx: SignalContext) -> np.ndarray:
    """A track that ends after at most 5 detections (resolved when the track ends).

    Predicts false positives: a real object stays in view for many frames, so a track that
    lives a handful of frames is most likely a spurious detection that the tracker kept, or
    a fragment of a real track (a fragmentation error). The signal needs the future: the
    pipeline sets it on all of the track's objects, in earlier frames, when the tracker
    removes the track; this function, called online, gives 0.
    """
    return np.zeros(len(ctx.objects))


# Objects of the tracks concerned that a fragmentation flags, at each end of the break: the
# new track's first frames are where an evaluation counts the identity switch (its first
# frame is tentative and not reported, so one more is needed), the old track's last frames
# show the object before it was lost. Three frames reach both with one spare.
FRAGMENT_FRAMES = 3
# A new track is "born nearby" a lost one if its centre is within this many box heights of
# the lost track's predicted box. The tracker itself cannot match a detection whose IoU with
# the prediction is under ~0.2 (cost threshold 0.8), which for boxes of one size is a shift
# of about 0.4 heights; a person walks about a body height per second, so an object that
# comes back after an occlusion of up to a second lands within one height of where the
# tracker expected it. Neighbours walking alongside are tracked already, not newborn.
FRAGMENT_DISTANCE = 1.0


@register_signal("fragmentation")
def fragmentation_signal(ctx: SignalContext) -> np.ndarray:
    """A track lost away from the border while a new track is born nearby (resolved when
    the lost track is removed).

    Predicts identity switches and fragmentation: an object does not vanish in the middle of
    the image, so an established track (at least 3 detections) that is lost there and never
    found again, while a new track is born within one box height of its predicted box
    during its time in the tracker's buffer, is most likely the same object under a new
    identity: the tracker failed to re-associate it (the prediction drifted, or the object
    was occluded for longer than the match allows). Each such break is one identity switch
    in CLEAR-MOT and a fragmentation in IDF1. The pipeline sets the signal on the old
    track's last 3 objects and the new track's first 3 when the tracker removes the old
    track (only confirmed new tracks count: a tentative one is not reported); this function,
    called online, gives 0.
    """
    return np.zeros(len(ctx.objects))


# Frames over which a track's re-activations are counted: about a second at 25-30 fps, the
# tracker's own buffer. A real object seen steadily loses its detection rarely; losing it
# twice within a second means the detector sees it only intermittently.
FLICKER_WINDOW = 30
# Re-activations within the window at which a track flickers fully: one gap is a miss (the
# ``missed`` and ``reactivation`` signals), two are the start of a pattern, three a flicker.
FLICKER_GAPS = 3


@register_signal("flicker")
def flicker_signal(ctx: SignalContext) -> np.ndarray:
    """A track that alternates between matched and lost: several gaps within a second.

    Predicts false positives and missed detections that recur: a detector that finds an
    object in one frame and not in the next is at its limit there (a partly hidden person,
    a person-like background pattern, a small object at the edge of its range). Every
    off-frame is a miss if the object is real, every on-frame a false positive if it is
    not, and each re-activation is a chance to switch identities; a frame of the track is a
    sample of the detector's weakest case. The signal is ``(gaps - 1) / 2`` of the number
    of re-activations within the last 30 frames, clipped to ``[0, 1]``: 0 for a single gap,
    0.5 for two, 1 from three. It applies to the track's detections and predicted boxes.
    Needs the track history.
    """
    objects = ctx.objects
    if ctx.recent_gaps is None:
        return np.zeros(len(objects))
    value = np.minimum(np.maximum((ctx.recent_gaps.astype(np.float64) - 1) / (FLICKER_GAPS - 1), 0.0), 1.0)
    return np.where(objects.kind == Kind.UNMATCHED, 0.0, value)


# Largest IoU with any other object for a view to count as clean, a reference appearance:
# above it, the box's core holds pixels of the other object. 0.1 keeps side-by-side
# neighbours whose boxes barely touch.
CLEAN_IOU = 0.1
# Bhattacharyya distances of hue-saturation histograms (appearance.py), measured on the
# clean views of TUD-Stadtmitte, TUD-Campus and the sample clip: the same track in two
# consecutive frames (pose, lighting, box jitter) stays under 0.30-0.32 in 95% of cases on
# each video; two different people seen in one frame are above 0.60-0.78 in 75% of pairs
# (medians 0.70-0.86). The signal is 0 up to the first and rises linearly to 1 at 0.6.
APPEARANCE_SAME = 0.3
APPEARANCE_DIFFERENT = 0.6


@register_signal("appearance")
def appearance_signal(ctx: SignalContext) -> np.ndarray:
    """The look of a track changed across an occlusion or a gap: two objects may have
    swapped identities.

    Predicts identity switches: when people cross, the tracker can hand one's identity to
    the other, and nothing in the boxes' motion shows it; their clothes do. The track's
    hue-saturation histogram of its last clean view (no overlap with another object) is
    compared with its first clean view after it was lost or crowded (Bhattacharyya
    distance, as in mean-shift tracking, Comaniciu et al., 2003). The signal is 0 up to
    the distance of one person seen twice (0.3) and rises to 1 at the distance typical of
    two people (0.6). Needs the frame's pixels, through the track history.
    """
    objects = ctx.objects
    if ctx.appearance_distance is None:
        return np.zeros(len(objects))
    distance = ctx.appearance_distance.astype(np.float64)
    distance[np.isnan(distance)] = 0.0
    return np.minimum(np.maximum((distance - APPEARANCE_SAME) / (APPEARANCE_DIFFERENT - APPEARANCE_SAME), 0.0), 1.0)


def _class_distribution(ctx: SignalContext) -> np.ndarray | None:
    """The objects' class scores normalised to sum 1 per row, ``(N, C)`` float64 (rows that no
    class scores are all 0); ``None`` without per-class scores or with a single class.

    A YOLO head scores each class independently (a sigmoid per class): normalising reads the
    scores as a distribution over the classes, which the margin, entropy and variation ratio need.
    """
    scores = ctx.class_scores
    if scores is None or scores.ndim != 2 or scores.shape[1] < 2:
        return None
    scores = np.nan_to_num(scores.astype(np.float64), nan=0.0)
    total = scores.sum(1, keepdims=True)
    return np.divide(scores, total, out=np.zeros_like(scores), where=total > 0)


def _on_detections(ctx: SignalContext, out: np.ndarray) -> np.ndarray:
    """``out`` with predicted boxes at 0 and detections no track took at most the chance that
    they are real (their class matters only if they are a missed object), as in
    :func:`confidence_signal`."""
    objects = ctx.objects
    out[objects.kind == Kind.PREDICTED] = 0.0
    dropped = objects.kind == Kind.UNMATCHED
    out[dropped] = np.minimum(out[dropped], decision_probability(objects.confidence[dropped], ctx.decision_threshold))
    return out


@register_signal("class_margin")
def class_margin_signal(ctx: SignalContext) -> np.ndarray:
    """The detector barely prefers the box's class over the next one: 1 minus the margin
    between the two highest class scores.

    Predicts classification errors: a box whose two best classes score almost alike (a car
    or a truck, a person or a mannequin) is called by a coin toss, and the class it gets in
    this frame is as likely wrong as right. This is margin sampling (Scheffer et al., 2001;
    Settles, 2009, section 3.1), the margin taken on the box's class scores normalised to
    sum 1 (a YOLO head scores each class independently): ``1 - (p_1 - p_2)``, 1 for two
    classes tied, 0 for a box only one class claims. A detection no track took scores at most
    the chance that it is real, as in :func:`confidence_signal` (its class matters only if it
    is a missed object). It needs per-class scores (:attr:`~vidal.types.Detections.class_scores`):
    0 without them, for predicted boxes, for a single class and for a box every class scores 0.
    """
    p = _class_distribution(ctx)
    if p is None:
        return np.zeros(len(ctx.objects))
    top = -np.partition(-p, 1, axis=1)[:, :2]
    scored = p.sum(1) > 0
    return _on_detections(ctx, np.where(scored, 1.0 - (top[:, 0] - top[:, 1]), 0.0))


@register_signal("class_entropy")
def class_entropy_signal(ctx: SignalContext) -> np.ndarray:
    """The box's class scores spread over many classes: their Shannon entropy, over ``log C``.

    Predicts classification errors, like :func:`class_margin_signal`, but counts every class:
    a box that three or four classes claim alike (a small, blurred or half-hidden object the
    model cannot place) scores high even where its top two are apart, while the margin sees
    only the top two. This is entropy sampling (Shannon entropy as uncertainty measure,
    Settles, 2009, section 3.1), on the box's class scores normalised to sum 1:
    ``-sum(p_k log p_k) / log C`` for ``C`` classes, 1 for a uniform distribution, 0 for a box
    only one class claims. Predicted boxes, detections no track took, and boxes without
    per-class scores as in :func:`class_margin_signal`.
    """
    p = _class_distribution(ctx)
    if p is None:
        return np.zeros(len(ctx.objects))
    logs = np.log(p, out=np.zeros_like(p), where=p > 0)
    return _on_detections(ctx, np.clip(-(p * logs).sum(1) / np.log(p.shape[1]), 0.0, 1.0))


@register_signal("variation_ratio")
def variation_ratio_signal(ctx: SignalContext) -> np.ndarray:
    """How little the box's best class claims of it: the variation ratio ``1 - p_max``, scaled
    to ``[0, 1]`` by ``C / (C - 1)``.

    Predicts classification errors where the model's best guess is weak, whatever the other
    classes do: the variation ratio (Freeman, 1965) is the share of the distribution off its
    mode, and sampling by it is least-confident sampling (Settles, 2009, section 3.1) on the
    box's class scores normalised to sum 1. It reaches ``(C - 1) / C`` for a uniform
    distribution over ``C`` classes, hence the scaling: 1 for uniform, 0 for a box only one
    class claims. Predicted boxes, detections no track took, and boxes without per-class
    scores as in :func:`class_margin_signal`.
    """
    p = _class_distribution(ctx)
    if p is None:
        return np.zeros(len(ctx.objects))
    c = p.shape[1]
    scored = p.sum(1) > 0
    return _on_detections(ctx, np.where(scored, np.clip((1.0 - p.max(1)) * c / (c - 1), 0.0, 1.0), 0.0))


@register_signal("committee")
def committee_signal(ctx: SignalContext) -> np.ndarray:
    """The detector disagrees with itself on views of the frame, or with other versions of the
    model: query-by-committee.

    Predicts false positives, misses and badly placed boxes: a box the detector finds in the
    frame but not in its mirror image (or finds elsewhere, or calls by another class) rests
    on details the model has not learnt to see in every pose, the boxes a label teaches most
    about; a box a fine-tune of the model sees otherwise is one the labels so far changed its
    mind about. The committee is the detector on the frame and on test-time views of it
    (:mod:`vidal.detectors.committee`: mirrored, and zoomed out with ``scale``) and the other
    models of ``scoring.committee_models``, each member's boxes matched to the frame's by
    optimal assignment on IoU; the value is ``1 - IoU`` with the match (1 without one),
    averaged over the members, combined as a noisy-OR with the vote entropy of the classes the
    members give the box (Seung et al., 1992; Dagan & Engelson, 1995; for detection, Kao et
    al., 2018). 0 where every member finds the box at IoU 1 with the same class. Off by
    default: each member costs one more inference per frame. Predicted
    boxes score 0, and a detection no track took at most the chance that it is real, as in
    :func:`class_margin_signal`; 0 without a committee.
    """
    if ctx.committee is None:
        return np.zeros(len(ctx.objects))
    return _on_detections(ctx, np.nan_to_num(ctx.committee.astype(np.float64), nan=0.0))
