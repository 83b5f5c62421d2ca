"""vidal's Python API: mine videos, push the runs to FiftyOne, train, and read run folders.

The ``vidal`` command line is argument parsing and printing over these functions, so a
notebook or a script can do everything it does::

    import vidal

    run = vidal.mine("video.mp4", model="best.pt", budget="5%", push=False)
    run.selected[0].frame, run.selected[0].regions   # the most valuable frame and what to check
    vidal.push(run, dataset="street")

Workflows live here, not in the CLI: the loop over inputs with one loaded detector
(:func:`start_mining`, :func:`mine_inputs`, in this process, in a process pool or on Ray), the lookup of frames already reviewed, the
handling of runs that stopped early, and the push. The layers below never reach the CLI,
and only :mod:`vidal.dataset` reaches FiftyOne.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vidal.chunks import StoredDetections, plan_chunks, remove_chunks
from vidal.config import CLASS_SCORE_SIGNALS, VidalConfig, load_config
from vidal.detectors import Detector
from vidal.errors import ConfigError, InputError, VidalError
from vidal.pipeline import build_detector, check_budget, check_imported, kept_labels
from vidal.runs import MinedRun, load_run
from vidal.scale import MineTask, TaskResult, absolute_if_file, parallel
from vidal.video import FrameSource, expand_inputs, open_source

logger = logging.getLogger(__name__)

LATEST = "latest"
# scoring.committee_models: every model of the dataset's lineage.
LINEAGE = "lineage"
Progress = Callable[[int], None]
# The options of ``vidal mine`` (and keyword arguments of :func:`mine`) and the fields they set.
OPTIONS = {
    "model": "detector.model", "classes": "detector.classes", "conf": "detector.conf", "imgsz": "detector.imgsz",
    "device": "detector.device", "batch": "detector.batch", "budget": "selection.budget", "strategy": "selection.strategy",
    "stride": "input.stride", "start": "input.start", "end": "input.end", "out": "output.out",
    "dataset": "dataset.name", "push": "dataset.push", "media_dir": "dataset.media_dir",
    "detections": "detector.detections", "tracks": "detector.tracks", "classes_file": "detector.classes_file",
}


def mine_config(
    config: str | Path | VidalConfig | None = None,
    overrides: Sequence[str] = (),
    options: dict[str, Any] | None = None,
) -> VidalConfig:
    """The configuration of a mining run: a YAML file, a configuration or the defaults, then
    ``--set`` overrides, then typed options (:data:`OPTIONS`: the CLI's options, the API's
    keyword arguments; ``None`` leaves a field as it is).

    Raises:
        ConfigError: An invalid file, override or value.
        TypeError: An option :data:`OPTIONS` does not name.
    """
    options = options or {}
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)}; valid: {', '.join(OPTIONS)}")
    typed = {OPTIONS[key]: str(value) if isinstance(value, Path) else value for key, value in options.items()}
    return load_config(config, list(overrides), typed)


@dataclass
class Mining:
    """A checked mining set-up: the configuration and the loaded detector, shared by inputs.

    Attributes:
        config: The resolved configuration (``detector.model`` resolved if it was ``latest``).
        detector: The loaded detector.
        load_seconds: How long loading the detector took.
    """

    config: VidalConfig
    detector: Detector
    load_seconds: float

    def reviewed(self, source: FrameSource) -> list[int]:
        """Frames of ``source`` already reviewed in the dataset, which the selection leaves out
        (with their near-duplicates); none when the run does not push or
        ``selection.skip_reviewed`` is off."""
        if not (self.config.dataset.push and self.config.selection.skip_reviewed):
            return []
        from vidal.dataset.report import reviewed_frames

        return reviewed_frames(self.config.dataset.name, source.content_hash())


def resolve_model(config: VidalConfig) -> None:
    """Check the device and dataset name, and resolve ``--model latest``, before anything loads.

    Raises:
        ConfigError: The device is unknown or absent.
        DatasetError: An invalid dataset name, or no model trained on it for ``latest``.
    """
    from vidal.detectors.device import check_device

    check_device(config.detector.device)
    if config.dataset.push:
        from vidal.dataset.connection import check_name

        check_name(config.dataset.name)
    if config.detector.model == LATEST:
        from vidal.dataset.lineage import latest_model_path

        config.detector.model = latest_model_path(config.dataset.name)
    resolve_committee(config)


def resolve_committee(config: VidalConfig) -> None:
    """Turn the committee signal on for the ``committee`` strategy (which ranks frames by it);
    turn ``scoring.committee_models``' ``lineage`` into the dataset's model files and ``latest``
    into its newest; the mining model itself is left out. With the committee signal on and no
    member left (no model trained yet, no view), the signal is switched off with a warning.

    Raises:
        DatasetError: ``latest`` with no model trained, or the dataset unreachable.
        ConfigError: The ``committee`` strategy with no member left.
    """
    scoring = config.scoring
    committee = scoring.signals.get("committee")
    strategy = config.selection.strategy == "committee"
    if strategy and committee is not None and not committee.enabled:
        logger.debug("strategy committee: the committee signal is on")
        committee.enabled = True
    if strategy and not scoring.committee_views and not scoring.committee_models:
        raise ConfigError("the committee strategy needs members: scoring.committee_views (flip, scale) or "
                          "scoring.committee_models")
    if committee is None or not committee.enabled or not scoring.committee_models:
        return
    expanded: list[str] = []
    for entry in scoring.committee_models:
        if entry in (LINEAGE, LATEST):
            from vidal.dataset.lineage import latest_model_path, lineage_paths

            expanded += lineage_paths(config.dataset.name) if entry == LINEAGE else [latest_model_path(config.dataset.name)]
        else:
            expanded.append(entry)
    # Files as absolute paths (a worker's working folder is not this one's), each once, the mining
    # model left out; a name that is no file is left to the loader (it says what is missing).
    mining = Path(config.detector.model).resolve()
    members = list(dict.fromkeys(p for p in map(absolute_if_file, expanded) if Path(p).resolve() != mining))
    if not members and not scoring.committee_views:
        if strategy:
            raise ConfigError(f"the committee strategy has no member: no other model in the lineage of dataset "
                              f"{config.dataset.name!r} and no view (scoring.committee_views)")
        logger.warning("the committee has no member: no other model in the lineage of dataset %r and no view; "
                       "the committee signal is off for this run", config.dataset.name)
        committee.enabled = False
    scoring.committee_models = members


def start_mining(config: VidalConfig, sources: Sequence[FrameSource] = ()) -> Mining:
    """Check the output folder, load the detector and check the dataset can take its runs.

    Call :func:`resolve_model` first. With another system's detections or tracks
    (``detector.detections``, ``detector.tracks``) there must be one source, and the file is
    checked against it here, before the dataset is reached; the association signal is left
    out of a run on tracks (nothing says how the other tracker associated).

    Raises:
        OutputError: The output folder is not writable.
        ModelError: The model cannot be loaded.
        ConfigError: Detections or tracks given for several sources.
        InputError: The detections or tracks file is malformed or does not fit the source.
        DatasetError: The dataset cannot take the runs (foreign, other classes, unreachable).
    """
    from vidal.outputs import ensure_writable

    imported = config.detector.detections or config.detector.tracks
    if imported and len(sources) > 1:
        raise ConfigError(f"{imported} holds the boxes of one video; {len(sources)} inputs were given")
    if imported and config.selection.strategy == "committee":
        raise ConfigError(f"the committee strategy runs a model on views of each frame; {imported} gives boxes "
                          "only: pick another strategy")
    ensure_writable(Path(config.output.out))
    started = time.perf_counter()
    detector = build_detector(config)
    loaded = time.perf_counter() - started
    for source in sources:
        check_imported(source, detector)
    association = config.scoring.signals.get("association")
    if config.detector.tracks and association is not None and association.enabled:
        association.enabled = False
        logger.info("tracks from another tracker: the association signal (how close the tracker's match was to "
                    "the next candidate) is left out, as the tracks do not say")
    committee = config.scoring.signals.get("committee")
    if imported and committee is not None and committee.enabled:
        committee.enabled = False
        logger.warning("the committee signal needs a model to run the views of each frame; %s gives boxes only: "
                       "it is left out", imported)
    _resolve_class_signals(config, detector)
    if config.dataset.push:
        from vidal.dataset import preflight

        preflight(config.dataset.name, kept_labels(detector), config.dataset.media_dir)
    return Mining(config, detector, loaded)


# What each class-distribution signal looks for, for the line that says it is on.
_CLASS_SIGNAL_MEANING = {
    "class_margin": "top two classes close",
    "class_entropy": "class scores spread over many classes",
    "variation_ratio": "best class weak",
}


def _resolve_class_signals(config: VidalConfig, detector: Detector) -> None:
    """Turn the ``auto`` of the class-distribution signals (``class_margin``, ``class_entropy``,
    ``variation_ratio``) into on or off, said once and kept in the run's config.

    On where another system's file gives per-class scores (the user gave them for it), off for
    vidal's own detectors: the selection was measured without them (``true`` turns one on, and
    the detector then computes the scores).
    """
    from vidal.detectors.imported import ImportedDetections

    signals = config.scoring.signals
    present = [name for name in CLASS_SCORE_SIGNALS if name in signals]
    scored = isinstance(detector, ImportedDetections) and detector.has_class_scores
    resolved = [name for name in present if signals[name].enabled is None]
    for name in resolved:
        signals[name].enabled = scored
    source = config.detector.detections or config.detector.tracks
    if scored and resolved:
        logger.info("%s gives per-class scores: on: %s", source,
                    ", ".join(f"the {name} signal ({_CLASS_SIGNAL_MEANING[name]})" for name in resolved))
    wanting = [name for name in present if name not in resolved and signals[name].enabled]
    if wanting and isinstance(detector, ImportedDetections) and not scored:
        named = " and ".join(f"the {name} signal" for name in wanting)
        logger.warning("%s %s on, but %s gives no per-class scores: %s 0", named, "are" if len(wanting) > 1 else "is",
                       source, "they score" if len(wanting) > 1 else "it scores")


@dataclass(frozen=True)
class Mined:
    """One input of :func:`mine_inputs`: mined, skipped (mined before) or failed.

    Attributes:
        source: The opened input.
        task: What was asked (the config, the frames already reviewed, ``force``).
        result: What the task did (:class:`~vidal.scale.TaskResult`: its run folder, or its
            error's one-line message and exit code, or why decoding stopped early).
        pushed: What the push did; ``None`` without a push or when the input failed.
    """

    source: FrameSource
    task: MineTask
    result: TaskResult
    pushed: Any | None

    @property
    def run_dir(self) -> Path | None:
        """The run folder as the configured output folder names it (a worker's path is absolute)."""
        if self.result.run_dir is None:
            return None
        return Path(self.task.config.output.out) / Path(self.result.run_dir).name


def mine_inputs(
    runs: Sequence[tuple[Mining, FrameSource]],
    *,
    force: bool = False,
    workers: int = 1,
    ray: str | None = None,
    progress_for: Callable[[FrameSource, MineTask], AbstractContextManager[Progress | None]] | None = None,
) -> Iterator[Mined]:
    """Mine inputs one at a time with their set-up's loaded detector, or in ``workers``
    processes, or as Ray tasks on the cluster at ``ray``; push each run (here, in this process).

    An input mined already with the same content, model, config and reviewed frames is
    skipped unless ``force`` (its run is pushed again: nothing is added twice).

    Args:
        runs: Each input with its set-up from :func:`start_mining`.
        force: Mine inputs again that were mined already.
        workers: Processes on this machine (1: this process).
        ray: ``"auto"`` (the running cluster), ``"local"`` (start one in this process, on
            127.0.0.1) or a cluster's ``host:port``; ``None``: no Ray.
        progress_for: For an input mined in this process, a context manager giving the
            function called with the number of newly processed frames (entered just before
            the input is mined; for a skipped input it is never called).

    Yields:
        Each input's :class:`Mined`, in the order of ``runs``. In workers a failed input is a
        result with an ``error`` and the others go on.

    Raises:
        VidalError: In this process, the error of the input that failed (the inputs before it
            are mined and pushed); :class:`~vidal.errors.ConfigError` for both ``workers`` > 1
            and ``ray``, or Ray missing or unreachable.
    """
    from vidal.scale import mine_task

    tasks = [MineTask(m.config, s.info.path, tuple(m.reviewed(s)), force) for m, s in runs]

    def serial() -> Iterator[TaskResult]:
        for (mining, source), task in zip(runs, tasks, strict=True):
            with progress_for(source, task) if progress_for else contextlib.nullcontext() as progress:
                yield mine_task(task, source=source, detector=mining.detector, progress=progress)

    results = _parallel_results(runs, tasks, workers, ray) if parallel(workers, ray) else serial()
    for (_, source), task, result in zip(runs, tasks, results, strict=True):
        mined, config = Mined(source, task, result, None), task.config
        if result.error is None and config.dataset.push:
            mined = replace(mined, pushed=push(mined.run_dir, dataset=config.dataset.name,
                                               media_dir=config.dataset.media_dir, draft_conf=config.dataset.draft_conf))
        yield mined


def _parallel_results(
    runs: Sequence[tuple[Mining, FrameSource]], tasks: Sequence[MineTask], workers: int, ray: str | None
) -> Iterator[TaskResult]:
    """The results of ``tasks`` run in workers or on Ray, in order.

    A video longer than ``scale.chunk_s`` is detected in chunks, each a task of its own, and
    then mined here from their detections (:mod:`vidal.chunks`), while the workers go on with
    the tasks after it.
    """
    from vidal.resume import find_mined
    from vidal.scale import map_tasks

    plans = []
    for (_, source), task in zip(runs, tasks, strict=True):
        mined = None if task.force else find_mined(Path(task.config.output.out), source, task.config, task.labelled)
        chunks = [] if mined is not None else plan_chunks(task.config, source)  # a run found: the worker skips it
        plans.append([replace(task, chunk=chunk) for chunk in chunks])
    results = map_tasks([part for task, plan in zip(tasks, plans, strict=True) for part in plan or [task]],
                        workers=workers, ray_address=ray)
    for (mining, source), task, plan in zip(runs, tasks, plans, strict=True):
        if not plan:
            yield next(results)
            continue
        parts = [next(results) for _ in plan]
        failed = next((part for part in parts if part.error is not None), None)
        yield failed or _mine_chunked(task, source, mining.detector, plan[0].chunk.folder)  # type: ignore[union-attr]


def _mine_chunked(task: MineTask, source: FrameSource, detector: Detector, folder: str) -> TaskResult:
    """Mine ``task``'s video here from the detections its chunk tasks left in ``folder``;
    the chunk folder goes once the run folder is made."""
    from vidal.scale import failed_result, mine_task

    out = Path(task.config.output.out)
    stored = StoredDetections(out / folder, detector)
    try:
        result = mine_task(replace(task, force=True), source=source, detector=stored)
    except VidalError as error:
        return failed_result(task, error)
    # the rate of the whole work, the chunks' detection and this pass, as a serial run's
    seconds = stored.chunk_timings()["chunk_seconds"] + (result.processed / result.fps if result.fps > 0 else 0.0)
    remove_chunks(out, [folder])
    return replace(result, fps=result.processed / seconds if seconds > 0 else 0.0)


def mine_all(
    inputs: Sequence[str | Path],
    *,
    config: str | Path | VidalConfig | None = None,
    overrides: Sequence[str] = (),
    progress: Progress | None = None,
    workers: int = 1,
    ray: str | None = None,
    force: bool = False,
    **options: Any,
) -> list[MinedRun]:
    """Mine several inputs (videos, image folders, folders of videos), as ``vidal mine`` does.

    Takes the keyword arguments of :func:`mine`, and ``workers``/``ray`` (``--workers``,
    ``--ray``: :func:`mine_inputs`). An input mined already into the output folder with the
    same content, model, config and reviewed frames is not mined again unless ``force``: its
    run is returned (and pushed again, which adds nothing twice). A run whose decoding stopped
    early is returned with ``complete`` false (and a warning logged). With workers or Ray,
    ``progress`` is called once per input, when it is done.

    Raises:
        VidalError: As :func:`mine`: in this process at the input that failed, once those
            before it are mined and pushed; with workers or Ray, once the others are mined and
            pushed, as a :class:`~vidal.errors.WorkerError` with its message and exit code.
    """
    in_workers = parallel(workers, ray)  # before any model loads
    cfg = mine_config(config, overrides, options)
    resolve_model(cfg)
    sources = [open_source(path) for path in expand_inputs([Path(p) for p in inputs])]
    for source in sources:
        check_budget(source, cfg)
    mining = start_mining(cfg, sources)
    runs, failed = [], None

    def with_progress(source: FrameSource, task: MineTask) -> AbstractContextManager[Progress | None]:
        return contextlib.nullcontext(progress)

    for mined in mine_inputs([(mining, s) for s in sources], force=force, workers=workers, ray=ray,
                             progress_for=with_progress):
        result = mined.result
        if result.error is not None:
            failed = failed or result
            continue
        if result.stopped_early:
            logger.warning("%s", result.stopped_early)
        elif result.skipped:
            logger.info("%s: mined already with this model and config: %s (force=True mines it again)",
                        mined.source.info.name, mined.run_dir)
        elif progress is not None and in_workers:
            progress(result.processed)
        runs.append(load_run(mined.run_dir))
    if failed is not None:
        failed.check()
    return runs


def mine(
    source: str | Path,
    *,
    config: str | Path | VidalConfig | None = None,
    overrides: Sequence[str] = (),
    progress: Progress | None = None,
    force: bool = False,
    **options: Any,
) -> MinedRun:
    """Mine one video or image folder, as ``vidal mine`` does, and return its run folder.

    Args:
        source: A video, or a folder of frame images (a MOTChallenge sequence or its ``img1/``).
        config: A YAML config file, or a :class:`~vidal.config.VidalConfig`; default: the defaults.
        overrides: ``section.field=value`` strings, as ``--set``.
        progress: Called with the number of newly processed frames.
        **options: The CLI's options: ``model``, ``classes`` (a list), ``conf``, ``imgsz``,
            ``device``, ``budget`` (``20`` or ``"5%"``), ``strategy``, ``stride``, ``start``,
            ``end``, ``out`` (the folder of run folders), ``dataset``, ``push`` (like the CLI,
            a run is pushed to the dataset unless ``push=False``) and ``media_dir``; instead of
            a model, ``detections`` or ``tracks`` (another system's MOTChallenge file for the
            source) with ``classes_file``.
        force: Mine the source again even if it was mined into ``out`` with the same content,
            model, config and reviewed frames (by default that run is returned, as ``vidal
            mine`` skips it).

    Returns:
        The run folder, read back (:class:`~vidal.runs.MinedRun`): its summary, its selected
        frames most valuable first, each with its objects and regions to review.

    Raises:
        VidalError: What the CLI reports as a one-line error (bad input, model, config,
            dataset, output folder).
    """
    if len(expand_inputs([Path(source)])) != 1:
        raise InputError(f"{source} holds several videos: mine them with vidal.mine_all")
    return mine_all([source], config=config, overrides=overrides, progress=progress, force=force, **options)[0]


def push(
    run: str | Path | MinedRun,
    *,
    dataset: str = "vidal",
    media_dir: str | Path | None = None,
    draft_conf: float = 0.5,
) -> Any:
    """Push a run folder's selected frames into a FiftyOne dataset (again: it is safe to repeat).

    Returns:
        A :class:`vidal.dataset.PushReport`: samples added, updated, kept as reviewed.
    """
    from vidal.dataset import push_run

    return push_run(run, dataset, media_dir=media_dir, draft_conf=draft_conf)


def propagate_config(
    config: str | Path | VidalConfig | None = None, overrides: Sequence[str] = (), stride: int | None = None
) -> VidalConfig:
    """The configuration of a propagation: a YAML file, a configuration or the defaults, then
    ``--set`` overrides, then ``stride`` (``propagation.stride``; ``None`` leaves it).

    Raises:
        ConfigError: An invalid file, override or value.
    """
    return load_config(config, list(overrides), {"propagation.stride": stride})


def propagate(
    *,
    dataset: str = "vidal",
    video: str | Path | None = None,
    stride: int | None = None,
    mot_out: str | Path | None = None,
    config: str | Path | VidalConfig | None = None,
    overrides: Sequence[str] = (),
    retrack: bool = True,
) -> Any:
    """Label the frames the tracks of a dataset's reviewed frames cover, as ``vidal propagate`` does.

    Every ``stride``-th processed frame of each video with reviewed frames (or of ``video``)
    becomes a sample tagged ``propagated`` whose ``pseudo_labels`` hold the labels the
    reviewed frames' ``ground_truth`` gives it along the tracks of the video's latest mining
    run; reviewed samples are never written, and running again adds nothing twice.

    Example::

        report = vidal.propagate(dataset="street", stride=5, mot_out="labels")
        report.videos[0].labels   # {"human": ..., "track": ..., "followed": ..., "interpolated": ..., "unconfirmed": ...}

    Args:
        dataset: The FiftyOne dataset.
        video: Only this video (found by its content hash); ``None`` for every video with reviewed frames.
        stride: Every n-th processed frame becomes a sample; ``None`` for ``propagation.stride``.
        mot_out: Also write every label to ``<mot_out>/<video stem>.txt`` (MOTChallenge) and ``classes.txt``.
        config: A YAML config file or a :class:`~vidal.config.VidalConfig` (its ``propagation``
            section); default: the defaults.
        overrides: ``section.field=value`` strings, as ``--set``.
        retrack: Track a video again, as its latest mining run did, when its run folders are
            gone; ``False`` refuses instead.

    Returns:
        A :class:`vidal.dataset.propagate.PropagateReport`, per video: keyframes, labels by
        source, samples added and updated, how far added boxes were followed.

    Raises:
        VidalError: What the CLI reports as a one-line error.
    """
    from vidal.dataset.propagate import propagate_dataset

    cfg = propagate_config(config, overrides, stride)
    return propagate_dataset(dataset, video=video, mot_out=mot_out, config=cfg, retrack=retrack)


__all__ = ["LATEST", "LINEAGE", "Mined", "Mining", "load_run", "mine", "mine_all", "mine_config", "mine_inputs", "propagate",
           "propagate_config", "push", "resolve_committee", "resolve_model", "start_mining"]
