"""Mining many inputs at once: in a loop, in a process pool (``--workers``) or as Ray tasks (``--ray``).

Each input is one :class:`MineTask`, and :func:`mine_task` mines it, whichever runs it: the
serial loop (with the detector the parent loaded), a pool process or a Ray task (each loads
the detector once per process). A task skips an input already mined with the same content,
model and config (:func:`vidal.resume.find_mined`) unless ``force``, so a run killed midway
resumes where it stopped, and a retried task (Ray, or a pool made again) does not mine an input twice.

Pushing to FiftyOne stays in the parent, as do the console and the one-line errors: a
worker's :class:`~vidal.errors.VidalError` comes back as a :class:`TaskResult` with its
message and exit code. Run folders are staged and renamed into place
(:class:`vidal.outputs.RunFolder`), so a killed worker leaves only a hidden staging folder,
which the next run folder made in the same place, or the end of :func:`map_tasks`, deletes.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import multiprocessing
import os
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vidal.chunks import Chunk, detect_chunk
from vidal.config import VidalConfig
from vidal.detectors import Detector
from vidal.errors import ConfigError, OutputError, VidalError, WorkerError
from vidal.outputs import remove_abandoned
from vidal.resume import find_mined
from vidal.video import FrameSource, open_source

logger = logging.getLogger(__name__)

LOCAL = "local"
# Ray's switch for one-machine clusters: with it off, 127.0.0.1 stays 127.0.0.1 (see _import_ray).
_ONE_MACHINE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
# The parent's mark in the output folder, which each worker checks it sees (check_shared).
SHARED_MARK = ".vidal-parent-"
# An input whose worker dies (killed, out of memory, a node lost) runs again this many times (Ray, pool).
MAX_RETRIES = 3
# Loaded detectors of this process by their configuration: a pool or Ray worker mines several
# inputs with one load. The parent passes its own detector instead.
_DETECTORS: dict[str, Detector] = {}


@dataclass(frozen=True)
class MineTask:
    """One input to mine (picklable: it travels to pool and Ray workers).

    Attributes:
        config: The resolved configuration.
        path: The input: a video or a folder of frame images.
        labelled: Frames already reviewed in the dataset, left out of the selection.
        force: Mine even if a run of the same content, model and config exists.
        shared: The name of a file the parent made in the output folder, which the worker must
            see there (:func:`check_shared`); ``None`` in the parent's own process.
        chunk: Only detect these frames of the video, into a chunk file (:mod:`vidal.chunks`);
            ``None``: mine the whole input.
    """

    config: VidalConfig
    path: Path
    labelled: tuple[int, ...] = ()
    force: bool = False
    shared: str | None = None
    chunk: Chunk | None = None


@dataclass(frozen=True)
class TaskResult:
    """What a task did (picklable: it travels back from workers).

    Attributes:
        path: The input.
        run_dir: Its run folder (a run found and skipped, or a new one); ``None`` on error.
        processed: Frames processed; ``fps`` their rate; ``selected`` frames selected.
        skipped: The input was mined already with this model and config.
        stopped_early: Why decoding stopped early (the run keeps what was processed), else ``None``.
        error: The error's one-line message, else ``None``; ``exit_code`` its exit code.
    """

    path: Path
    run_dir: Path | None = None
    processed: int = 0
    fps: float = 0.0
    selected: int = 0
    skipped: bool = False
    stopped_early: str | None = None
    error: str | None = None
    exit_code: int = 0

    def check(self) -> None:
        """Raise the task's error in this process.

        Raises:
            WorkerError: The task failed, with its message and exit code.
        """
        if self.error is not None:
            raise WorkerError(self.error, self.exit_code)


def _detector(config: VidalConfig) -> Detector:
    from vidal.pipeline import build_detector

    # the scoring section too: it decides whether the detector keeps class scores or runs a committee
    key = json.dumps({"detector": config.detector.model_dump(mode="json"),
                      "scoring": config.scoring.model_dump(mode="json")}, sort_keys=True)
    if key not in _DETECTORS:
        _DETECTORS[key] = build_detector(config)
    return _DETECTORS[key]


def mine_task(
    task: MineTask,
    *,
    source: FrameSource | None = None,
    detector: Detector | None = None,
    progress: Callable[[int], None] | None = None,
) -> TaskResult:
    """Mine one input, or skip it if it was mined already with the same content, model and config.

    Args:
        task: The input and its configuration.
        source: The input already opened (default: opened from ``task.path``).
        detector: A loaded detector (default: this process's, loaded on first use).
        progress: Called with the number of newly processed frames.

    Raises:
        VidalError: The input cannot be mined (nothing is written); a run that stopped early
            is returned with ``stopped_early``, not raised.
    """
    from vidal.pipeline import mine_keeping_partial

    config, out_root = task.config, Path(task.config.output.out)
    check_shared(task)
    source = source or open_source(task.path)
    if not task.force:
        found = find_mined(out_root, source, config, task.labelled)
        if found is not None:
            return TaskResult(task.path, found, skipped=True)
    result, run_dir, stopped = mine_keeping_partial(source, detector or _detector(config), config, out_root,
                                                    progress=progress, labelled=list(task.labelled))
    if result is None:
        return TaskResult(task.path, run_dir, stopped_early=stopped)
    return TaskResult(task.path, run_dir, result.processed, result.fps, len(result.selected))


def check_shared(task: MineTask) -> None:
    """Check that this process sees the output folder the parent sees (on a cluster: storage
    every node mounts at the same path), where the parent reads the run folders to push them.

    Raises:
        OutputError: The parent's mark is not in the output folder here.
    """
    if task.shared is None:
        return
    out = Path(task.config.output.out)
    if not (out / task.shared).is_file():
        raise OutputError(f"the output folder {out} on {socket.gethostname()} is not the one vidal mine was started "
                          "with: on a cluster, give --out a folder on storage every node mounts at the same path")


def run_task(task: MineTask) -> TaskResult:
    """:func:`mine_task` (or a chunk's :func:`~vidal.chunks.detect_chunk`) in a worker: a
    :class:`VidalError` comes back as the result's ``error``."""
    try:
        if task.chunk is not None:
            check_shared(task)
            done = detect_chunk(task.path, Path(task.config.output.out), task.chunk, _detector(task.config))
            return TaskResult(task.path, processed=done.processed, fps=done.fps, skipped=done.skipped)
        return mine_task(task)
    except VidalError as error:
        return failed_result(task, error)


def failed_result(task: MineTask, error: VidalError) -> TaskResult:
    """``task``'s result for ``error``: its one-line message and exit code."""
    return TaskResult(task.path, error=str(error).splitlines()[0] if str(error) else type(error).__name__,
                      exit_code=error.exit_code)


def _died(task: MineTask, why: str) -> TaskResult:
    return TaskResult(task.path, error=f"the worker mining {task.path} died ({why}); run the command again: "
                      "inputs already mined are skipped", exit_code=2)


def absolute_if_file(value: str) -> str:
    """``value`` as an absolute path where it names an existing file or folder; else as it is (a
    model name for Ultralytics, or a path the loader will say is missing)."""
    return str(Path(value).resolve()) if Path(value).exists() else value


def portable(task: MineTask) -> MineTask:
    """``task`` with absolute paths: a worker's working directory is not this process's."""
    config = task.config.model_copy(deep=True)
    for section, name in (("detector", "model"), ("detector", "detections"), ("detector", "tracks"),
                          ("detector", "classes_file"), ("output", "out"), ("dataset", "media_dir")):
        part = getattr(config, section)
        value = getattr(part, name)
        if value is not None:
            setattr(part, name, str(Path(value).resolve()) if name == "out" else absolute_if_file(value))
    config.scoring.committee_models = [absolute_if_file(m) for m in config.scoring.committee_models]
    return replace(task, config=config, path=task.path.resolve())


def _finished(future: concurrent.futures.Future[TaskResult] | None) -> bool:
    """Whether ``future`` holds a result (of a pool that is shut down: it is done or cancelled)."""
    return future is not None and not future.cancelled() and future.exception() is None


def _pool_results(tasks: Sequence[MineTask], workers: int) -> Iterator[TaskResult]:
    """Results of ``tasks`` from a pool of ``workers`` processes, in order.

    A worker that dies (killed, out of memory) breaks the whole pool: a new pool runs the tasks
    not finished yet again, as Ray retries its tasks, each :data:`MAX_RETRIES` times at most
    (an input finished meanwhile is found and skipped, :func:`mine_task`).
    """
    # Spawned, not forked: the parent holds a loaded detector and threads (OpenVINO, torch, the prefetch).
    context = multiprocessing.get_context("spawn")
    retries = [0] * len(tasks)
    futures: list[concurrent.futures.Future[TaskResult] | None] = [None] * len(tasks)
    pool: concurrent.futures.ProcessPoolExecutor | None = None
    try:
        for index, task in enumerate(tasks):
            while True:
                if pool is None:
                    pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context)
                    for later in range(index, len(tasks)):
                        if not _finished(futures[later]):  # never run, or lost with the broken pool
                            futures[later] = pool.submit(run_task, tasks[later])
                try:
                    result = futures[index].result()  # type: ignore[union-attr]
                    break
                except concurrent.futures.process.BrokenProcessPool as error:
                    pool.shutdown(wait=True, cancel_futures=True)
                    pool = None
                    retries[index] += 1
                    if retries[index] > MAX_RETRIES:
                        result = _died(task, f"{error or 'killed'}, after {MAX_RETRIES} retries")
                        futures[index] = None
                        break
                    logger.warning("a worker process died (%s); running the unfinished inputs again", error or "killed")
            yield result
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def parallel(workers: int, ray_address: str | None) -> bool:
    """Whether inputs are mined in other processes (``--workers`` above 1, or ``--ray``).

    Raises:
        ConfigError: Both are given.
    """
    if workers > 1 and ray_address is not None:
        raise ConfigError("--workers runs processes on this machine, --ray on a Ray cluster: give one")
    return workers > 1 or ray_address is not None


def _loopback(address: str) -> bool:
    return address == LOCAL or address.rsplit(":", 1)[0] in ("127.0.0.1", "localhost")


def _import_ray(loopback: bool) -> Any:
    """Import Ray; for a cluster on 127.0.0.1, keep Ray from replacing that address by the
    machine's reachable one (it would start, or look for, the cluster on every interface)."""
    if loopback:
        os.environ[_ONE_MACHINE] = "0"  # read when Ray is imported, and by the processes it starts
    try:
        import ray
        import ray._private.ray_constants as constants
    except ImportError as error:
        raise ConfigError("--ray needs Ray: install vidal[ray] (pip install 'vidal[ray]')") from error
    if loopback:
        constants.ENABLE_RAY_CLUSTER = False  # Ray imported before: the variable was read already
    return ray


def _ray_results(tasks: Sequence[MineTask], address: str) -> Iterator[TaskResult]:
    ray = _import_ray(_loopback(address))
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address == LOCAL:  # a cluster of this process, reachable from this machine only
        options["_node_ip_address"] = "127.0.0.1"
    else:
        options["address"] = address
    try:
        ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ConfigError(f"cannot reach the Ray cluster at {address!r}: {str(error).splitlines()[0]}") from error
    try:
        remote = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(run_task)
        refs = [remote.remote(task) for task in tasks]
        for task, ref in zip(tasks, refs, strict=True):
            try:
                yield ray.get(ref)
            except ray.exceptions.RayTaskError:  # a bug, not a VidalError: its traceback
                raise
            except ray.exceptions.RayError as error:
                yield _died(task, f"{type(error).__name__}, after {MAX_RETRIES} retries")
    finally:
        ray.shutdown()


def map_tasks(tasks: Sequence[MineTask], *, workers: int = 1, ray_address: str | None = None) -> Iterator[TaskResult]:
    """Run ``tasks`` in ``workers`` processes, or as Ray tasks on the cluster at ``ray_address``.

    Results come in the order of ``tasks``, each as soon as it and those before it are done.
    A failed input is a result with an ``error``; the others go on.

    Args:
        tasks: The inputs.
        workers: Processes on this machine (with ``ray_address`` ``None``).
        ray_address: ``"auto"`` (the running cluster), ``"local"`` (start one in this
            process, bound to 127.0.0.1) or a cluster's ``host:port``.

    Raises:
        ConfigError: Ray is not installed, or the cluster cannot be reached.
    """
    mark = f"{SHARED_MARK}{uuid.uuid4().hex}"
    tasks = [portable(replace(task, shared=mark)) for task in tasks]
    roots = {Path(task.config.output.out) for task in tasks}
    for root in roots:
        root.mkdir(parents=True, exist_ok=True)
        (root / mark).write_text(f"{socket.gethostname()} {os.getpid()}\n")
    try:
        if ray_address is not None:
            yield from _ray_results(tasks, ray_address)
        else:
            yield from _pool_results(tasks, workers)
    finally:
        for root in roots:
            (root / mark).unlink(missing_ok=True)
            if root.is_dir():
                remove_abandoned(root)  # the staging folders of workers killed midway
