"""``vidal mine`` as a library call: decode, detect, track, score, select, write.

The pipeline composes the modules and prints nothing; progress goes to a callback.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import logging
import math
import platform
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
import yaml

from vidal.config import CLASS_SCORE_SIGNALS, IDENTITY_BREAKS, VidalConfig
from vidal.detectors import Detector, load_detector
from vidal.detectors.base import is_openvino_model
from vidal.detectors.boxes import clip_boxes
from vidal.detectors.imported import ImportedDetections, ImportedTracks
from vidal.embeddings import EmbeddingStore
from vidal.errors import ConfigError, DecodeError, InputError, PartialRunError
from vidal.outputs import CsvStream, RunFolder, TrackWriter, keep_tracks, write_timeline
from vidal.resolve import FrameLedger, FrameRecord, SpillFile, TableBuilder
from vidal.resume import model_path
from vidal.runs import (
    CONFIG_FILE,
    EMBEDDINGS_FILE,
    FRAME_COLUMNS,
    FRAMES_DIR,
    FRAMES_FILE,
    TIMELINE_FILE,
    TRACK_STATE_COLUMNS,
    TRACK_STATES_FILE,
    TRACKS_FILE,
    FrameRow,
    InputRecord,
    ObjectRow,
    SelectedFrame,
    Summary,
    frame_image,
    write_selection,
    write_summary,
)
from vidal.scoring import (
    SUSPECT_MIN_UNCERTAINTY,
    Kind,
    ObjectTable,
    SignalContext,
    TrackHistory,
    score_frame,
)
from vidal.scoring.signals import is_wanted, max_overlap
from vidal.selection import EMBEDDING_STRATEGIES, FrameTable, class_coverage, select
from vidal.tracking import ByteTracker
from vidal.tracking.bytetrack import RemovedTrack, TrackerStep
from vidal.tracking.replay import TrackReplay
from vidal.video import FrameSource, frame_numbers

logger = logging.getLogger(__name__)

Progress = Callable[[int], None]
T = TypeVar("T")
# A signal is named among a region's reasons from this weighted value on.
REGION_REASON_MIN = 0.1
# Records still open (a track on them lives on) stay in memory this many frames, then go to disk.
OPEN_RECORDS = 300
KIND_NAMES = {Kind.TRACKED: "tracked", Kind.PREDICTED: "predicted", Kind.UNMATCHED: "unmatched"}
VERSIONED_PACKAGES = ("vidal", "numpy", "opencv-python", "ultralytics", "openvino", "torch", "lap", "pydantic")


class Stopwatch:
    """Seconds spent in each stage of a run, for ``summary.json`` and the benchmarks.

    The stages: ``detect`` (decoding and detection, which stream together), ``track``,
    ``score`` (object tables, signals, track histories, the class filter, and the rows and
    records of the frames as they resolve), ``select`` and ``write``.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        # CPU seconds of the thread that runs the stage (vidal's own work in it, not the
        # detector's inference threads): on a machine whose cores the detector keeps busy, a
        # stage's wall time also counts the waits for a core.
        self.cpu_seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started
            self.cpu_seconds[stage] = self.cpu_seconds.get(stage, 0.0) + time.thread_time() - cpu

    def iterate(self, stage: str, items: Iterable[T]) -> Iterator[T]:
        """Yield from ``items``, counting the time spent producing each item as ``stage``."""
        iterator = iter(items)
        while True:
            with self(stage):
                try:
                    item = next(iterator)
                except StopIteration:
                    return
            yield item


@dataclass
class RunResult:
    """The outcome of mining one input.

    Attributes:
        run_dir: The final run folder.
        processed: Number of frames processed.
        selected: Selected frame numbers, most valuable first.
        seconds: Wall time of decoding, detection, tracking and scoring.
        summary: The content of ``summary.json``.
        table: The per-frame figures the selection used.
        timings: Seconds per stage (:class:`Stopwatch`).
        store: The final records of every processed frame, on disk (:attr:`records`).
        cpu_timings: CPU seconds of each stage's thread (:attr:`Stopwatch.cpu_seconds`).
        cpu_seconds: CPU seconds of the whole process (every thread) while processing.
    """

    run_dir: Path
    processed: int
    selected: list[int]
    seconds: float
    summary: Summary
    table: FrameTable | None = None
    timings: dict[str, float] = field(default_factory=dict)
    store: SpillFile | None = None
    cpu_timings: dict[str, float] = field(default_factory=dict)
    cpu_seconds: float = 0.0

    @cached_property
    def records(self) -> list[FrameRecord]:
        """What was kept of every processed frame (objects and signals), read back from disk
        on first use (a run keeps no more than a few numbers per frame in memory)."""
        return list(self.store) if self.store is not None else []

    @property
    def fps(self) -> float:
        """Processed frames per second."""
        return self.processed / self.seconds if self.seconds > 0 else 0.0


def needs_embeddings(config: VidalConfig) -> bool:
    """Whether the run computes frame embeddings: for a strategy that ranks by them, or always
    (``selection.embeddings``)."""
    return config.selection.embeddings == "always" or config.selection.strategy in EMBEDDING_STRATEGIES


def check_embeddings(config: VidalConfig, detector: Detector) -> None:
    """Refuse a run that needs frame embeddings with a detector that gives none.

    Raises:
        ConfigError: Another system's detections or tracks, or a detector made without them.
    """
    if not needs_embeddings(config) or getattr(detector, "embeddings", False):
        return
    why = f"selection.strategy {config.selection.strategy}" if config.selection.embeddings == "auto" else (
        "selection.embeddings: always")
    if isinstance(detector, ImportedDetections):
        raise ConfigError(f"{why} needs frame embeddings from a detector's features; "
                          "--detections/--tracks files have none: pick another strategy")
    raise ConfigError(f"{why} needs frame embeddings, and the detector {detector.description} gives none")


def _member_device(model: str, device: str) -> str:
    """The device of a committee's other model: the mining model's, but the CPU for a model that
    is no OpenVINO export where that device is an OpenVINO one."""
    return "cpu" if device.startswith("intel") and not is_openvino_model(Path(model)) else device


def build_detector(config: VidalConfig) -> Detector:
    """Load the detector that ``config.detector`` describes: a model, or another system's
    detections or tracks (:mod:`vidal.detectors.imported`).

    Raises:
        ConfigError: The strategy needs frame embeddings and another system's file is given
            (:func:`check_embeddings`).
    """
    d = config.detector
    if d.detections is not None or d.tracks is not None:
        from vidal.detectors.imported import load_imported

        imported = load_imported(detections=d.detections, tracks=d.tracks, classes=d.classes,
                                 classes_file=d.classes_file, conf=d.conf)
        check_embeddings(config, imported)
        return imported
    signals = config.scoring.signals
    detector = load_detector(**d.model_dump(exclude={"detections", "tracks", "classes_file"}),
                             class_scores=any(signals[name].enabled is True for name in CLASS_SCORE_SIGNALS),
                             embeddings=needs_embeddings(config))
    if signals["committee"].enabled:
        from vidal.detectors.committee import Committee

        # The other versions run as the model does (size, thresholds, batch); every class of
        # theirs is returned and votes by name. Each is loaded by what it is (vidal train writes
        # .pt files): the backend is chosen for it, and an OpenVINO device (intel:*) runs
        # OpenVINO exports only, so a .pt member runs on the CPU beside it.
        options = d.model_dump(exclude={"model", "classes", "detections", "tracks", "classes_file", "backend",
                                        "device"})
        models = [load_detector(model, **options, device=_member_device(model, d.device))
                  for model in config.scoring.committee_models]
        return Committee(detector, config.scoring.committee_views, models)
    return detector


def build_tracker(config: VidalConfig, detector: Detector) -> ByteTracker | TrackReplay:
    """vidal's ByteTrack, or the replay of another tracker's tracks (``--tracks``)."""
    tc = config.tracker
    if isinstance(detector, ImportedTracks):
        return detector.replay(tc.track_buffer)
    return ByteTracker(**tc.model_dump(exclude={"output_box", "backfill_births"}))


def check_imported(source: FrameSource, detector: Detector) -> None:
    """Refuse another system's file that cannot be ``source``'s (nothing done for a model).

    Raises:
        InputError: See :meth:`~vidal.detectors.imported.ImportedDetections.check_input`.
    """
    if isinstance(detector, ImportedDetections):
        detector.check_input(source.info)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on."""
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def expected_frames(source: FrameSource, config: VidalConfig) -> int:
    """How many frames a run of ``source`` will process (from the container's count)."""
    return len(frame_numbers(source.info.frame_count, config.input.start, config.input.end, config.input.stride))


def check_budget(source: FrameSource, config: VidalConfig) -> int:
    """The run's budget in frames, checked against the frames to process.

    Raises:
        InputError: The selection is empty or the budget exceeds it.
    """
    expected = expected_frames(source, config)
    if expected == 0:
        raise InputError(
            f"no frames to process in {source.info.path}: start {config.input.start} is past its "
            f"{source.info.frame_count} frames"
        )
    budget = config.selection.budget_frames(expected)
    if budget > expected:
        raise InputError(
            f"budget of {budget} frames is larger than the {expected} frames to process in {source.info.path}"
        )
    return budget


def track_stretches(
    records: Iterable[FrameRecord], breaks: Iterable[str], classes: Iterable[int] | None = None
) -> dict[str, np.ndarray]:
    """The run's track boxes, their stretches between identity breaks, tracks and classes
    (:meth:`TableBuilder.stretches`)."""
    return frame_table(records, breaks, classes=classes).stretches


def frame_table(
    records: Iterable[FrameRecord], breaks: Iterable[str] = IDENTITY_BREAKS, aggregate: str = "sum", top_k: int = 3,
    classes: Iterable[int] | None = None,
) -> FrameTable:
    """The per-frame figures of a run's records, for the selection strategies (what
    :class:`TableBuilder` builds as a run's frames resolve; its arguments)."""
    builder = TableBuilder(breaks, aggregate, top_k, classes)
    for record in records:
        builder.add(record)
    return builder.table()


def _reasons_of(record: FrameRecord, rows: np.ndarray, floor: float) -> list[list[str]]:
    """For each object in ``rows``, the signals at ``floor`` or above, strongest first (ties in the
    signals' order), read from one matrix of the frame's signals."""
    names = list(record.signals)
    if not names or not len(rows):
        return [[] for _ in range(len(rows))]
    values = np.stack([record.signals[name][rows] for name in names], axis=1).tolist()
    return [[name for name, _ in sorted(((n, v) for n, v in zip(names, row) if v >= floor), key=lambda nv: -nv[1])]
            for row in values]


def object_rows(record: FrameRecord, names: dict[int, str]) -> tuple[ObjectRow, ...]:
    """Every scored object of a frame, most uncertain first (its rows of ``objects.csv``).

    An object is a tracked detection, a lost track's predicted box (a possibly missed
    object) or a detection no track took. ``reasons`` names the signals that make its
    uncertainty; ``region`` is set for the objects a reviewer should look at (uncertainty
    of at least :data:`~vidal.scoring.SUSPECT_MIN_UNCERTAINTY`), the rows of ``regions.csv``.
    """
    rows = []
    objects = record.objects
    order = np.argsort(-record.uncertainty, kind="stable")
    for k, reasons in zip(order, _reasons_of(record, order, REGION_REASON_MIN)):
        x1, y1, x2, y2 = (float(v) for v in objects.xyxy[k])
        confidence = float(objects.confidence[k])
        class_id = int(objects.class_id[k])
        uncertainty = float(record.uncertainty[k])
        rows.append(
            ObjectRow(
                frame=record.frame,
                track_id=int(objects.track_id[k]),
                kind=KIND_NAMES[Kind(int(objects.kind[k]))],
                xyxy=(x1, y1, x2, y2),
                confidence=None if np.isnan(confidence) else confidence,
                class_id=class_id,
                class_name=names.get(class_id, str(class_id)),
                uncertainty=uncertainty,
                reasons=tuple(reasons),
                region=uncertainty >= SUSPECT_MIN_UNCERTAINTY,
            )
        )
    return tuple(rows)


def run_id(started: float, name: str) -> str:
    """A run's identifier: UTC start time and a short hash of the input's name.

    It names the run on the FiftyOne dataset, where keys must be identifiers.
    """
    stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime(started))
    return f"mine_{stamp}_{hashlib.sha1(f'{name}{started}'.encode()).hexdigest()[:6]}"


def kept_labels(detector: Detector) -> list[str]:
    """The class names a detector reports: all of the model's, or the ``--classes`` kept."""
    ids = sorted(detector.names) if detector.classes is None else detector.classes
    return [detector.names[i] for i in ids]


def track_state_rows(records: Iterable[FrameRecord]) -> Iterator[list[Any]]:
    """The rows of ``track_states.csv``: every tracked or predicted object of every frame."""
    for record in records:
        objects = record.objects
        rows = np.flatnonzero(objects.kind != Kind.UNMATCHED)
        # Python lists: one element at a time, numpy's indexing costs more than the formatting
        columns = zip(objects.track_id[rows].tolist(), objects.kind[rows].tolist(), objects.class_id[rows].tolist(),
                      objects.confidence[rows].tolist(), record.uncertainty[rows].tolist(),
                      _reasons_of(record, rows, SUSPECT_MIN_UNCERTAINTY))
        for track_id, kind, class_id, confidence, uncertainty, reasons in columns:
            yield [
                record.frame, track_id, KIND_NAMES[Kind(kind)], class_id,
                f"{confidence:.4f}" if math.isfinite(confidence) else "", f"{uncertainty:.4f}", ";".join(reasons),
            ]


def reported_objects(record: FrameRecord, wanted_classes: list[int], wanted_tracks: set[int]) -> np.ndarray:
    """Which objects of a frame a run with ``--classes`` reports, ``(N,)`` bool.

    The tracker and the signals see every class; a run reports the detections of the wanted
    classes, the predicted boxes of tracks of a wanted class (most often given a wanted class:
    :attr:`TrackHistory.wanted_tracks`) and the class confusions (objects of other classes with a ``class_confusion`` signal:
    a wanted object called by another class). Objects of other classes that confuse nothing
    are left out of the frame score and of every output.
    """
    objects = record.objects
    own = objects.kind != Kind.PREDICTED
    keep = own & is_wanted(objects.class_id, np.asarray(wanted_classes, np.int64))
    keep |= ~own & np.isin(objects.track_id, np.fromiter(wanted_tracks, np.int64, len(wanted_tracks)))
    confusion = record.signals.get("class_confusion")
    if confusion is not None:
        keep |= confusion > 0
    return keep


def frame_row(record: FrameRecord) -> FrameRow:
    """A final record's row of ``frames.csv``."""
    kind = record.objects.kind
    return FrameRow(record.frame, record.timestamp, record.score, tuple(record.reasons), len(record.objects),
                    record.detections, int((kind == Kind.TRACKED).sum()), int((kind == Kind.PREDICTED).sum()))


def _resolve_ended(
    ended: list[RemovedTrack], history: TrackHistory, ledger: FrameLedger, weights: dict[str, float]
) -> None:
    """Set the deferred signals of tracks that ended (short-lived tracks, fragmentation)."""
    by_record: dict[int, list[tuple[str, int, float]]] = {}
    for removed in ended:
        for deferred in history.close(removed):
            by_record.setdefault(deferred.record_index, []).append(
                (deferred.signal, deferred.object_index, deferred.value * weights.get(deferred.signal, 0.0))
            )
    for index, values in by_record.items():
        ledger.update(index, values)


class _Resolved:
    """Where a frame goes once its record is final: its rows of ``frames.csv`` and
    ``track_states.csv`` (streamed), its figures for the selection (:class:`TableBuilder`)
    and the record itself, to disk (read back for the selected frames).

    With wanted classes, the objects a run does not report are dropped first
    (:func:`reported_objects`): by then every track on the frame has ended and its class is known.
    """

    def __init__(self, run: RunFolder, history: TrackHistory, wanted: list[int] | None, config: VidalConfig) -> None:
        self.history = history
        self.wanted = wanted
        s = config.selection
        self.table = TableBuilder(config.propagation.breaks, s.aggregate, s.top_k, wanted)
        self.store = SpillFile(run.staging)
        self.frames = CsvStream(run.path(FRAMES_FILE), FRAME_COLUMNS)
        self.states = CsvStream(run.path(TRACK_STATES_FILE), TRACK_STATE_COLUMNS)
        self.confusions = self.confusion_frames = 0

    def __call__(self, record: FrameRecord) -> None:
        if self.wanted is not None:
            record.keep(reported_objects(record, self.wanted, self.history.wanted_tracks))
            flagged = int((record.signals.get("class_confusion", np.zeros(0)) > 0).sum())
            self.confusions += flagged
            self.confusion_frames += flagged > 0
        self.frames.write(frame_row(record).cells())
        self.states.write_rows(track_state_rows([record]))
        self.table.add(record)
        self.store.append(record)

    def close(self) -> None:
        self.frames.close()
        self.states.close()


def mine_source(
    source: FrameSource,
    detector: Detector,
    config: VidalConfig,
    out_root: Path,
    *,
    progress: Progress | None = None,
    run_name: str | None = None,
    labelled: list[int] | tuple[int, ...] = (),
) -> RunResult:
    """Mine one input and write its run folder.

    Args:
        source: The opened input.
        detector: A loaded detector (shared between inputs).
        config: The resolved configuration.
        out_root: The folder that holds run folders.
        progress: Called with the number of newly processed frames.
        run_name: Name of the run folder (default: the input's name).
        labelled: Frame numbers of this input already labelled (reviewed in the dataset):
            the selection leaves them and their near-duplicates out (:func:`vidal.selection.select`).

    Returns:
        The :class:`RunResult`.

    Raises:
        InputError: The input or the budget is unusable, or another system's detections or
            tracks do not fit the input (nothing is written).
        PartialRunError: Decoding broke midway; the frames processed so far are kept.
    """
    info = source.info
    budget = check_budget(source, config)
    check_imported(source, detector)
    check_embeddings(config, detector)
    run = RunFolder(out_root, run_name or info.name)
    try:
        return _mine(source, detector, config, run, budget, progress, labelled)
    except BaseException:
        run.discard()
        raise


def mine_keeping_partial(
    source: FrameSource,
    detector: Detector,
    config: VidalConfig,
    out_root: Path,
    *,
    progress: Progress | None = None,
    labelled: list[int] | tuple[int, ...] = (),
) -> tuple[RunResult | None, Path, str | None]:
    """:func:`mine_source`, with a run whose decoding stopped early returned, not raised.

    Returns:
        The result (``None`` for a run that stopped early), the run folder, and why decoding
        stopped early (``None`` for a complete run).

    Raises:
        InputError: As :func:`mine_source`; and its :class:`PartialRunError` when no frame was kept.
    """
    try:
        result = mine_source(source, detector, config, out_root, progress=progress, labelled=labelled)
    except PartialRunError as error:
        if not error.run_dir:
            raise
        return None, Path(error.run_dir), str(error)
    return result, result.run_dir, None


@dataclass
class _Processed:
    """What the processing stage hands to selection and writing."""

    table: TableBuilder
    store: SpillFile
    track_ids: set[int]
    detections: int
    track_rows: int
    confusions: int
    confusion_frames: int
    failure: DecodeError | None
    seconds: float
    embeddings: EmbeddingStore | None = None
    cpu_seconds: float = 0.0
    """CPU seconds of the process (every thread: decoding, inference, vidal's own) while processing."""
    first_frame_seconds: float | None = None
    """Seconds until the first frame was scored: lazy imports, the first inference (a GPU's
    start-up, kernel choice) and any seek; ``None`` without frames."""


def steady_rate(processed: int, seconds: float, first_frame_seconds: float | None) -> dict[str, float | None]:
    """``summary.json``'s first-frame time and the processing rate after the first frame.

    The first frame carries one-off costs (lazy imports, a GPU's start-up and kernel
    choice) that a rate over few frames would spread over all of them; the steady rate is
    what compares with another tool's rate after its first frame.
    """
    if first_frame_seconds is None:
        return {}
    rest = seconds - first_frame_seconds
    return {"first_frame_seconds": round(first_frame_seconds, 3),
            "steady_frames_per_second": round((processed - 1) / rest, 2) if processed > 1 and rest > 0 else None}


def _mine(
    source: FrameSource,
    detector: Detector,
    config: VidalConfig,
    run: RunFolder,
    budget: int,
    progress: Progress | None,
    labelled: list[int] | tuple[int, ...] = (),
) -> RunResult:
    watch = Stopwatch()
    wall_started = time.time()
    done = _process(source, detector, config, run, watch, progress)
    with watch("select"):
        table = done.table.table(release=True)
        if done.embeddings is not None:
            if not np.array_equal(done.embeddings.frames, table.frame):
                raise RuntimeError("the frame embeddings are not those of the processed frames")
            table.embedding = done.embeddings.matrix()
        processed = len(table)
        # A share is taken of the frames actually processed (container frame counts are
        # estimates); a count was checked against the estimate before processing.
        budget = min(config.selection.budget_frames(processed), processed)
        min_gap = int(round(config.selection.min_gap_s * source.info.fps))
        chosen = select(
            table,
            budget,
            strategy=config.selection.strategy,
            min_gap=min_gap,
            rng=np.random.default_rng(config.selection.seed),
            labelled=list(labelled),
            fill=config.selection.fill,
            class_share=config.selection.class_share,
            density_beta=config.selection.density_beta,
        )
    with watch("write"):
        summary = _write(run, source, detector, config, done, table, chosen, budget, min_gap, labelled, wall_started)
    summary.timings["stages"] = {stage: round(seconds, 3) for stage, seconds in watch.seconds.items()}
    summary.timings["stages_cpu"] = {stage: round(seconds, 3) for stage, seconds in watch.cpu_seconds.items()}
    summary.timings["processing_cpu_seconds"] = round(done.cpu_seconds, 3)
    summary.timings["writing_seconds"] = round(watch.seconds["write"], 3)
    chunk_timings = getattr(detector, "chunk_timings", None)  # detected in chunks (vidal.chunks)
    if chunk_timings is not None:
        summary.timings["chunks"] = chunk_timings()
    write_summary(run.staging, summary)
    final = run.commit()
    selected = [int(table.frame[i]) for i in chosen]
    result = RunResult(final, processed, selected, done.seconds, summary, table, dict(watch.seconds), done.store,
                       dict(watch.cpu_seconds), done.cpu_seconds)
    if done.failure is not None:
        raise PartialRunError(
            f"{done.failure}; kept the {processed} frames processed up to frame {table.frame[-1]} in {final}",
            str(final),
        )
    return result


def _process(
    source: FrameSource,
    detector: Detector,
    config: VidalConfig,
    run: RunFolder,
    watch: Stopwatch,
    progress: Progress | None,
) -> _Processed:
    """Decode, detect, track and score every frame; write ``tracks.txt``, ``frames.csv`` and
    ``track_states.csv`` as it goes (a frame's rows once nothing can change them: :mod:`vidal.resolve`).

    Raises:
        InputError: Not a single frame could be processed.
    """
    info = source.info
    inputs, tc = config.input, config.tracker
    tracker = build_tracker(config, detector)
    writer = TrackWriter(run.path(TRACKS_FILE), tracker.history_frames)
    weights = {name: s.weight for name, s in config.scoring.signals.items() if s.enabled}
    class_signals = any(name in weights for name in CLASS_SCORE_SIGNALS)
    wanted = detector.classes
    wanted_ids = None if wanted is None else np.asarray(wanted, np.int64)
    history = TrackHistory(info.width, info.height, wanted, tc.track_high_thresh)
    resolved = _Resolved(run, history, wanted, config)
    records = FrameLedger(resolved, OPEN_RECORDS, run.staging)
    track_ids: set[int] = set()
    embeddings = EmbeddingStore(run.staging) if needs_embeddings(config) else None
    detections_total = 0
    failure: DecodeError | None = None
    first_frame_seconds: float | None = None
    started, cpu_started = time.perf_counter(), time.process_time()
    frames = detector.stream(source.frames(inputs.start, inputs.end, inputs.stride))
    try:
        for frame, detections in watch.iterate("detect", frames):
            if embeddings is not None:
                if detections.embedding is None:
                    raise RuntimeError(f"the detector gave no embedding for frame {frame.index}")
                embeddings.add(frame.index, detections.embedding)
            with watch("track"):
                step = tracker.update(detections, frame.index)
                write_tracks(writer, step, tc.output_box, tc.backfill_births, info.width, info.height)
                track_ids.update(int(t) for t in step.output.track_id)
            with watch("score"):
                objects = ObjectTable.build(step, detections)
                overlap = max_overlap(objects.xyxy)
                context = SignalContext(
                    objects=objects,
                    frame=frame.index,
                    width=info.width,
                    height=info.height,
                    decision_threshold=tc.track_high_thresh,
                    low_threshold=tc.track_low_thresh,
                    majority_class=history.majority_class(objects),
                    recent_gaps=history.recent_gaps(len(records), objects),
                    appearance_distance=history.appearance_distance(
                        objects, frame.image if "appearance" in weights else None, overlap
                    ),
                    overlap=overlap,
                    wanted_classes=wanted_ids,
                    wanted_score=None if wanted is None else history.wanted_score(objects),
                    class_scores=objects.class_scores_of(detections) if class_signals else None,
                    committee=objects.committee_of(detections),
                )
                scored = score_frame(context, weights)
                record = FrameRecord(
                    frame.index,
                    frame.timestamp,
                    scored.score,
                    scored.reasons,
                    objects,
                    scored.object_uncertainty,
                    int(is_wanted(detections.class_id, wanted_ids).sum()),
                    scored.signals,
                )
                history.record(records.add(record), objects)
                _resolve_ended(step.removed, history, records, weights)
                records.settle(history.open_from(len(records)))
            detections_total += record.detections
            if first_frame_seconds is None:
                first_frame_seconds = time.perf_counter() - started
            if progress is not None:
                progress(1)
    except DecodeError as error:
        failure = error
    finally:
        writer.close()
    track_rows = writer.rows
    try:
        with watch("score"):
            _resolve_ended(tracker.finish(), history, records, weights)
            # Every track has ended: every record is final (with wanted classes, every track's
            # class is known only now: a car may be called "car" late in its life).
            records.settle(len(records))
            if wanted is not None:
                track_rows = keep_tracks(run.path(TRACKS_FILE), history.wanted_tracks)
                track_ids &= history.wanted_tracks
    finally:
        resolved.close()
        records.close()
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    if not len(records):
        if failure is not None:
            raise InputError(f"{failure} (no frame could be processed)") from failure
        raise InputError(f"no frames decoded from {info.path}")
    return _Processed(resolved.table, resolved.store, track_ids, detections_total, track_rows, resolved.confusions,
                      resolved.confusion_frames, failure, seconds, embeddings, cpu_seconds, first_frame_seconds)


def write_tracks(writer: TrackWriter, step: TrackerStep, output_box: str, backfill_births: bool, width: int, height: int) -> None:
    """Add a tracker step's boxes (and the boxes it filled in late) to ``tracks.txt``."""
    output = step.output
    boxes = output.xyxy if output_box == "detection" else output.kalman_xyxy
    writer.add(step.frame, output.track_id, clip_boxes(boxes, width, height), output.confidence)
    for backfill in step.backfills:
        if backfill.kind == "birth" and not backfill_births:
            continue
        for k, number in enumerate(backfill.frames):
            writer.add(
                int(number),
                np.array([backfill.track_id]),
                clip_boxes(backfill.xyxy[k : k + 1], width, height),
                backfill.confidence[k : k + 1],
            )
    writer.advance()


def _write(
    run: RunFolder,
    source: FrameSource,
    detector: Detector,
    config: VidalConfig,
    done: _Processed,
    table: FrameTable,
    chosen: np.ndarray,
    budget: int,
    min_gap: int,
    labelled: list[int] | tuple[int, ...],
    wall_started: float,
) -> Summary:
    """Write the run folder's selection, images, plot and config; return its summary.

    ``frames.csv`` and ``track_states.csv`` were written as the frames resolved; the selected
    frames' records are read back from disk.
    """
    info, processed = source.info, len(table)
    selected = write_selection(run.staging, (
        SelectedFrame(rank + 1, r.frame, r.timestamp, r.score, tuple(r.reasons), frame_image(r.frame),
                      object_rows(r, detector.names))
        for rank, r in enumerate(done.store.read(int(i)) for i in chosen)
    ))
    run.path(FRAMES_DIR).mkdir()
    quality = [cv2.IMWRITE_JPEG_QUALITY, config.output.jpeg_quality]
    for frame in source.read([r.frame for r in selected]):
        path = run.path(frame_image(frame.index))
        if not cv2.imwrite(str(path), frame.image, quality):
            raise OSError(f"cannot write {path}")
    write_timeline(
        run.path(TIMELINE_FILE),
        table.frame,
        table.score,
        chosen,
        f"{info.name}: frame uncertainty, {len(chosen)} selected of {processed}",
    )
    run.path(CONFIG_FILE).write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    if done.embeddings is not None:
        done.embeddings.save(run.staging)
        done.embeddings.close()
    failure = done.failure
    return Summary(
        run_id=run_id(wall_started, info.name),
        started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall_started)),
        input=InputRecord(str(info.path.resolve()), source.content_hash(), info.kind, info.width, info.height,
                          info.fps, info.frame_count),
        model=detector.description,
        model_path=model_path(config),
        classes={str(k): v for k, v in detector.names.items()},
        labels=kept_labels(detector),
        frames={"convention": "1-based source frame numbers (MOTChallenge)", "processed": processed,
                "first": int(table.frame[0]), "last": int(table.frame[-1]), "stride": config.input.stride},
        counts={
            "detections": done.detections,
            "tracks": len(done.track_ids),
            "track_rows": done.track_rows,
            "selected": len(selected),
            "class_confusions": done.confusions,
            "class_confusion_frames": done.confusion_frames,
        },
        selection={"strategy": config.selection.strategy, "aggregate": config.selection.aggregate,
                   "budget": budget, "min_gap_frames": min_gap,
                   "labelled_frames_left_out": sorted(int(f) for f in np.intersect1d(labelled, table.frame)),
                   "frames": [r.frame for r in selected],
                   "uncertain_frames": int((table.score > 0).sum()),
                   "fill": config.selection.fill,
                   "class_share": config.selection.class_share,
                   "class_coverage": {detector.names.get(c, str(c)): figures
                                      for c, figures in class_coverage(table, chosen).items()},
                   "spread_frames": [r.frame for r in selected if r.score <= 0],
                   **({} if done.embeddings is None else {"embeddings": {
                       "file": EMBEDDINGS_FILE, "frames": len(done.embeddings),
                       "dimensions": done.embeddings.dimensions, "bytes_per_frame": 4 * done.embeddings.dimensions}})},
        timings={
            "processing_seconds": round(done.seconds, 3),
            "frames_per_second": round(processed / done.seconds, 2) if done.seconds > 0 else None,
            **steady_rate(processed, done.seconds, done.first_frame_seconds),
        },
        complete=failure is None,
        stopped_after_frame=None if failure is None else failure.frame,
        error=None if failure is None else str(failure),
        config=config.model_dump(mode="json"),
        versions=package_versions(),
    )
