"""The ``vidal`` command line: thin commands that check inputs and call the library.

This is the only module that writes to the console; it installs the logging handlers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from vidal import __version__
from vidal.errors import ConfigError, PartialRunError, VidalError

if TYPE_CHECKING:
    from vidal.dataset.lineage import ModelRecord
    from vidal.training import TrainingPlan

app = typer.Typer(
    name="vidal",
    help="Find the video frames worth labeling: detect, track, score uncertainty, select.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()
T = TypeVar("T")


def _setup_logging(debug: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
        force=True,
    )
    for noisy in ("ultralytics", "matplotlib", "PIL", "fiftyone", "eta"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # FiftyOne installs its own stdout handler when imported (lazily, when a command needs
    # it): its INFO chatter (ssh port-forwarding hints, progress) stays out of vidal's output,
    # and its warnings are printed once, by its handler.
    os.environ.setdefault("FIFTYONE_LOGGING_LEVEL", "DEBUG" if debug else "WARNING")
    logging.getLogger("fiftyone").propagate = False
    logging.getLogger("eta").propagate = False
    database_logger = logging.getLogger("fiftyone.core.odm.database")
    database_logger.removeFilter(_quiet_known_notices)
    if not debug:
        database_logger.addFilter(_quiet_known_notices)


# FiftyOne warns on every connection that the bundled mongod 6.0 is the oldest version it
# supports; vidal ships that mongod on purpose (see the README), so the notice is noise.
_KNOWN_NOTICES = ("You are running the oldest supported major version of MongoDB",)


def _quiet_known_notices(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_KNOWN_NOTICES)


def _run(debug: bool, body: Callable[[], T]) -> T:
    """Run a command body, turning vidal errors into one line and an exit code."""
    _setup_logging(debug)
    try:
        return body()
    except VidalError as error:
        if debug:
            raise
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        raise typer.Exit(130) from None


@app.callback(invoke_without_command=True)
def main(
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.")] = False,
) -> None:
    """vidal: video active learning with tracking-aware uncertainty."""
    if version:
        out.print(f"vidal {__version__}")
        raise typer.Exit()


def _parse_classes(classes: str | None) -> list[str | int] | None:
    if classes is None:
        return None
    items = [item.strip() for item in classes.split(",") if item.strip()]
    return [int(item) if item.isdigit() else item for item in items]


@app.command()
def mine(
    inputs: Annotated[list[Path] | None, typer.Argument(help="Videos, image folders (MOTChallenge img1/) or folders of videos.")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Detector: .pt, ONNX, OpenVINO folder, Ultralytics name, or 'latest' (the dataset's newest trained model).")] = None,
    classes: Annotated[str | None, typer.Option("--classes", help="Comma-separated class names or ids to keep.")] = None,
    conf: Annotated[float | None, typer.Option("--conf", help="Minimum detection score.")] = None,
    imgsz: Annotated[int | None, typer.Option("--imgsz", help="Inference image size.")] = None,
    device: Annotated[str | None, typer.Option("--device", help="cpu, cuda:0, ...")] = None,
    batch: Annotated[int | None, typer.Option("--batch", min=1, help="Frames per inference call (Ultralytics backend; on a GPU, 8-32) \\[default: 1].")] = None,
    budget: Annotated[str | None, typer.Option("--budget", "-b", help="Frames to select: a count (20) or a share (5%).")] = None,
    strategy: Annotated[str | None, typer.Option("--strategy", help="Selection (default cover): cover, vidal, coverage, propagate, committee, coreset, typiclust, density, diverse, random, uniform, confidence, entropy, boxcount.")] = None,
    stride: Annotated[int | None, typer.Option("--stride", help="Process every n-th frame.")] = None,
    start: Annotated[int | None, typer.Option("--start", help="First frame (1-based, inclusive).")] = None,
    end: Annotated[int | None, typer.Option("--end", help="Last frame (inclusive).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for run folders \\[default: vidal-runs].")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="FiftyOne dataset to push into \\[default: vidal].")] = None,
    no_push: Annotated[bool, typer.Option("--no-push", help="Write the run folder only; push nothing to FiftyOne.")] = False,
    media_dir: Annotated[Path | None, typer.Option("--media-dir", help="Folder for the pushed frame images \\[default: the dataset's, or ~/.vidal/media].")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a config field: section.field=value.")] = None,
    detections: Annotated[Path | None, typer.Option("--detections", help="Another detector's boxes (MOTChallenge frame,-1,x,y,w,h,conf[,class]) for the one input: tracked by vidal, no model runs.")] = None,
    tracks: Annotated[Path | None, typer.Option("--tracks", help="Another tracker's tracks (MOTChallenge frame,id,x,y,w,h,conf[,class]) for the one input: no model nor tracker runs.")] = None,
    classes_file: Annotated[Path | None, typer.Option("--classes-file", help="Class names of --detections/--tracks, line i for class i \\[default: classes.txt beside the file].")] = None,
    from_dataset: Annotated[str | None, typer.Option("--from-dataset", help="Mine the videos of this FiftyOne dataset with the tracks of --field (track ids in Detection.index).")] = None,
    field: Annotated[str | None, typer.Option("--field", help="With --from-dataset: the Detections field holding the tracks.")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Mine this many inputs at once, in processes of this machine.")] = 1,
    ray_address: Annotated[str | None, typer.Option("--ray", help="Mine the inputs as Ray tasks: 'auto' (the running cluster), 'local' (start one here, on 127.0.0.1) or HOST:PORT.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Mine inputs again that were mined with the same model and config.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Mine videos for the frames worth labeling, and push them to a FiftyOne dataset."""

    def body() -> None:
        from vidal.api import mine_config, resolve_model
        from vidal.pipeline import check_budget
        from vidal.video import expand_inputs, open_source

        cfg = mine_config(config, set_ or [], {
            "model": model, "classes": _parse_classes(classes), "conf": conf, "imgsz": imgsz, "device": device, "batch": batch,
            "budget": budget, "strategy": strategy, "stride": stride, "start": start, "end": end, "out": out_dir,
            "dataset": dataset, "push": False if no_push else None, "media_dir": media_dir,
            "detections": detections, "tracks": tracks, "classes_file": classes_file,
        })
        if model is not None and (detections or tracks or from_dataset):
            raise ConfigError("--model runs a detector; --detections, --tracks and --from-dataset take another "
                              "system's output instead")
        if (from_dataset is None) == (not inputs):
            raise ConfigError("give the videos to mine, or --from-dataset NAME --field FIELD (not both)")
        if from_dataset is not None and (field is None or detections or tracks):
            raise ConfigError("--from-dataset needs --field FIELD (the Detections with track ids), and no "
                              "--detections nor --tracks")
        resolve_model(cfg)  # the device and dataset name checked before any input is opened or model loaded
        if from_dataset is not None:
            from vidal.dataset.tracked import export_tracks

            folder = Path(cfg.output.out) / "from-dataset" / f"{from_dataset}.{field}"
            exported = export_tracks(from_dataset, str(field), folder)
            jobs = []
            for item in exported:
                each = cfg.model_copy(deep=True)
                each.detector.tracks, each.detector.classes_file = str(item.tracks), str(item.classes)
                jobs.append((each, [open_source(item.source)]))
        else:
            jobs = [(cfg, [open_source(path) for path in expand_inputs(inputs or [])])]
        for each, sources in jobs:
            for source in sources:
                check_budget(source, each)
        partial = _mine_sources(jobs, force, workers, ray_address)
        if partial:  # each one's reason is in its warning above
            raise PartialRunError(
                f"{len(partial)} of {sum(len(s) for _, s in jobs)} inputs stopped early ({', '.join(partial)}); "
                "their processed frames are kept",
                "",
            )

    _run(debug, body)


def _mine_sources(jobs: list[tuple[Any, list[Any]]], force: bool, workers: int, address: str | None) -> list[str]:
    """Mine the inputs of ``jobs`` (a config and its sources each) with :func:`vidal.api.mine_inputs`,
    printing each input's outcome and push. Return the names of those that stopped early.

    A failed input fails the command, once the inputs before it are reported and pushed.
    """
    from vidal.api import mine_inputs, start_mining
    from vidal.pipeline import expected_frames
    from vidal.scale import parallel as in_parallel

    parallel = in_parallel(workers, address)  # before any model loads
    runs = []
    for cfg, sources in jobs:
        mining = start_mining(cfg, sources)
        console.print(f"model: {mining.detector.description} ({mining.load_seconds:.1f} s to load)",
                      highlight=False, soft_wrap=True)
        runs += [(mining, source) for source in sources]
    if parallel:
        console.print(f"mining {len(runs)} inputs " + (f"as Ray tasks on {address}" if address else
                                                      f"in {workers} processes"), highlight=False)

    def progress_for(source: Any, task: Any) -> contextlib.AbstractContextManager[Callable[[int], None]]:
        _print_reviewed(source.info.name, task)
        return _lazy_progress_bar(source.info.name, expected_frames(source, task.config))

    partial, failed = [], None
    for mined in mine_inputs(runs, force=force, workers=workers, ray=address, progress_for=progress_for):
        name, result = mined.source.info.name, mined.result
        if parallel:
            _print_reviewed(name, mined.task)
        if result.error is not None:
            failed = failed or result
            continue
        if result.skipped:
            out.print(f"{name}: mined already with this model and config -> {mined.run_dir} (skipped; --force "
                      "mines it again)", highlight=False, soft_wrap=True)
        elif result.stopped_early:
            console.print(f"[bold yellow]warning:[/] {escape(result.stopped_early)}", highlight=False,
                          soft_wrap=True)
            partial.append(name)
        else:
            out.print(f"{name}: {result.processed} frames at {result.fps:.1f} fps, "
                      f"{result.selected} selected -> {mined.run_dir}", highlight=False, soft_wrap=True)
        if mined.pushed is not None:
            _print_push(mined.pushed)
    if failed is not None:
        failed.check()
    return partial


def _print_reviewed(name: str, task: Any) -> None:
    if task.labelled:
        out.print(
            f"{name}: {len(task.labelled)} frames already reviewed "
            f"in {task.config.dataset.name!r}: not selected again, nor frames within "
            f"{task.config.selection.min_gap_s:g} s of them",
            highlight=False,
            soft_wrap=True,
        )


@contextlib.contextmanager
def _lazy_progress_bar(name: str, total: int) -> Iterator[Callable[[int], None]]:
    """:func:`_progress_bar`, shown from the first frame processed (none for an input skipped)."""
    with contextlib.ExitStack() as stack:
        shown: list[Callable[[int], None]] = []

        def advance(n: int) -> None:
            if not shown:
                shown.append(stack.enter_context(_progress_bar(name, total)))
            shown[0](n)

        yield advance


@contextlib.contextmanager
def _progress_bar(name: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar with the frame rate; yields the function that advances it."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[fps]:.1f} fps"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(name, total=total, fps=0.0)
        started = time.perf_counter()

        def advance(n: int) -> None:
            done = bar.tasks[0].completed + n
            bar.update(task, advance=n, fps=done / max(time.perf_counter() - started, 1e-9))

        yield advance


def _call_dataset(name: str, /, **kwargs: Any) -> Any:
    """Run a dataset library call (``vidal.dataset.wire.CALLS``) in the warm vidal worker
    if one serves this database, else in this process (and start one for the next command)."""
    from vidal.dataset.worker import call

    return call(name, **kwargs)


def _print_push(report: Any) -> None:
    out.print(
        f"pushed to dataset {report.dataset!r}: {report.added} new, {report.updated} updated, "
        f"{report.protected} kept as reviewed; {report.total} samples (run {report.run_id})",
        highlight=False,
        soft_wrap=True,
    )


DatasetOption = Annotated[str, typer.Option("--dataset", "-d", help="FiftyOne dataset.")]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]


@app.command()
def push(
    runs: Annotated[list[Path], typer.Argument(help="Run folders written by `vidal mine`.")],
    dataset: DatasetOption = "vidal",
    media_dir: Annotated[Path | None, typer.Option("--media-dir", help="Folder for the frame images.")] = None,
    draft_conf: Annotated[float, typer.Option("--draft-conf", min=0.0, max=1.0, help="Score from which tracked detections make the ground_truth draft.")] = 0.5,
    debug: DebugOption = False,
) -> None:
    """Push run folders into a FiftyOne dataset (again): safe to repeat."""

    def body() -> None:
        for run_dir in runs:
            _print_push(_call_dataset("push_run", run=run_dir, name=dataset, media_dir=media_dir, draft_conf=draft_conf))

    _run(debug, body)


@app.command()
def review(
    dataset: DatasetOption = "vidal",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port of the App.")] = 5151,
    address: Annotated[str, typer.Option("--address", help="Address to bind (0.0.0.0 to share on the network).")] = "127.0.0.1",
    debug: DebugOption = False,
) -> None:
    """Open the FiftyOne App on the frames to review, most uncertain first (Ctrl-C stops it)."""

    def body() -> None:
        from vidal.dataset.app import launch_review
        from vidal.dataset.report import dataset_status

        status = dataset_status(dataset)
        session = launch_review(dataset, port=port, address=address)
        host = "localhost" if address in ("127.0.0.1", "localhost") else address
        out.print(f"FiftyOne App: http://{host}:{port}/", highlight=False, soft_wrap=True)
        console.print(
            f"dataset {dataset!r}: {status.to_review} to review, {status.reviewed} reviewed. In the App: open a "
            "sample, Annotate tab, correct ground_truth, then tag the sample 'reviewed'. Ctrl-C to stop.",
            highlight=False,
            soft_wrap=True,
        )
        if status.missing_images:
            console.print(
                f"[bold yellow]warning:[/] {status.missing_images} samples' images are missing "
                f"(media folder {status.media_dir}); mine their videos again to restore them",
                highlight=False,
                soft_wrap=True,
            )
        try:
            session.wait(-1)
        except KeyboardInterrupt:
            pass
        finally:
            session.close()
        console.print("App stopped")

    _run(debug, body)


@app.command()
def status(dataset: DatasetOption = "vidal", debug: DebugOption = False) -> None:
    """Mined, to review and reviewed samples, per video and per mining run."""

    def body() -> None:
        from rich.table import Table

        st = _call_dataset("dataset_status", name=dataset)
        wide = Console(width=max(out.width, 160))
        wide.print(
            f"dataset {st.name!r}: {st.mined} mined, {st.to_review} to review, {st.reviewed} reviewed; "
            f"classes {', '.join(st.labels)}; media {st.media_dir}",
            highlight=False,
            soft_wrap=True,
        )
        if st.missing_images:
            wide.print(f"[bold yellow]{st.missing_images} samples' images are missing[/]", highlight=False)
        videos = Table("video", "sha256", "mined", "to review", "reviewed", title="per video")
        for v in st.videos:
            videos.add_row(v.path, v.video_hash[:12], str(v.mined), str(v.to_review), str(v.reviewed))
        wide.print(videos)
        runs = Table("run", "started", "video", "model", "selected", "new", "updated", "kept", "reviewed", "status",
                     title="per mining run")
        for r in st.runs:
            rec = r.record
            runs.add_row(
                r.run_id, str(rec.started), Path(str(rec.video_path)).name,
                _model_label(rec.model_path or rec.model, st.models), str(rec.selected),
                str(rec.added), str(rec.updated), str(rec.protected), str(r.reviewed), rec.status,
            )
        wide.print(runs)
        covered = [(r.run_id, name, c) for r in st.runs for name, c in (r.record.class_coverage or {}).items()]
        if covered:
            classes = Table("run", "class", "selected frames showing it", "tracks with a selected frame",
                            title="per class: what each run's selection shows")
            for run_id, name, c in covered:
                classes.add_row(run_id, name, f"{int(c['selected_frames'])} of {int(c['frames'])}",
                                f"{int(c['selected_tracks'])} of {int(c['tracks'])}")
            wide.print(classes)
        if st.models:
            lineage = Table("model", "created", "base", "train", "human boxes", "propagated", "val",
                            "mAP50 base -> new", "mAP50-95 base -> new", "epochs", "file",
                            title="models trained on this dataset")
            for m in st.models:
                lineage.add_row(
                    f"v{m.version}", m.created, _model_label(m.base, st.models), str(len(m.train_samples)),
                    "?" if m.human_boxes is None else f"{m.human_boxes} ({m.human_frames} frames)",
                    "?" if m.propagated_boxes is None else f"{m.propagated_boxes} ({m.propagated_frames} frames)",
                    str(len(m.val_samples)), f"{m.metrics.base.map50:.3f} -> {m.metrics.new.map50:.3f}",
                    f"{m.metrics.base.map:.3f} -> {m.metrics.new.map:.3f}", str(m.epochs), str(m.model_path),
                )
            wide.print(lineage)

    _run(debug, body)


def _model_label(path: str | None, models: list[ModelRecord]) -> str:
    """``v2`` for a model trained on the dataset, else the file name."""
    for m in models:
        if path and Path(path) == m.model_path:
            return f"v{m.version}"
    return Path(str(path)).name


@app.command()
def export(
    out_dir: Annotated[Path, typer.Argument(help="Export folder: new, empty, or an earlier export (with --overwrite).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="yolo, coco or cvat.")] = "yolo",
    dataset: DatasetOption = "vidal",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier vidal export (no other folder).")] = False,
    debug: DebugOption = False,
) -> None:
    """Export the reviewed samples' ground_truth (YOLO, COCO or CVAT), images included."""

    def body() -> None:
        count = _call_dataset("export_reviewed", name=dataset, fmt=fmt, out=out_dir, overwrite=overwrite)
        out.print(f"exported {count} reviewed samples to {out_dir} ({fmt})", highlight=False, soft_wrap=True)

    _run(debug, body)


@app.command()
def label(
    from_mot: Annotated[Path, typer.Option("--from-mot", help="The video's MOTChallenge ground truth (gt.txt).")],
    video: Annotated[Path, typer.Option("--video", help="The mined video, or image folder (MOTChallenge img1/).")],
    dataset: DatasetOption = "vidal",
    classes: Annotated[Path | None, typer.Option("--classes", help="Class names, line i for MOT class i (default: gameinfo.ini roles beside gt/, else classes.txt there, else 1 = person).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace frames a human corrected or reviewed too.")] = False,
    debug: DebugOption = False,
) -> None:
    """Label a video's mined frames from MOTChallenge ground truth and tag them reviewed (a simulated reviewer)."""

    def body() -> None:
        report = _call_dataset("label_from_mot", name=dataset, gt_path=from_mot, video=video, classes=classes,
                               overwrite=overwrite)
        out.print(
            f"matched {report.matched} of {report.frames} mined frames of {video.name} in {from_mot}: "
            f"{report.written} labelled, {report.unchanged} unchanged, {report.kept} kept as corrected by hand; "
            f"{report.boxes} boxes, {report.empty} frames without gt rows (no objects); "
            f"{report.ignored_rows} of {report.rows} gt rows ignored (flag 0 or other classes)",
            highlight=False,
            soft_wrap=True,
        )
        if report.kept:
            console.print(
                f"[bold yellow]warning:[/] {report.kept} frames corrected or reviewed by hand differ from "
                f"{from_mot}; pass --overwrite to replace them",
                highlight=False,
                soft_wrap=True,
            )

    _run(debug, body)


@app.command()
def propagate(
    dataset: DatasetOption = "vidal",
    video: Annotated[Path | None, typer.Option("--video", help="Only this video (file or image folder) \\[default: every video with reviewed frames].")] = None,
    stride: Annotated[int | None, typer.Option("--stride", help="Every n-th processed frame becomes a propagated sample \\[default: propagation.stride, 1].")] = None,
    mot_out: Annotated[Path | None, typer.Option("--mot-out", help="Also write every label to DIR/<video>.txt (MOTChallenge) and DIR/classes.txt.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file (its propagation: section).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a config field: propagation.field=value.")] = None,
    retrack: Annotated[bool, typer.Option("--retrack/--no-retrack", help="Track a video again, as its latest mining run did, when its run folders are gone (--no-retrack: refuse).")] = True,
    debug: DebugOption = False,
) -> None:
    """Spread the reviewed frames' labels along the tracks: pseudo_labels on the frames they cover (tag 'propagated')."""

    def body() -> None:
        from vidal.api import propagate_config

        cfg = propagate_config(config, set_ or [], stride)
        # Tracking again loads a detector and takes as long as mining: here, with a progress bar,
        # not in the warm dataset worker; the dataset call only says which videos need it.
        for job in _call_dataset("retrack_jobs", name=dataset, video=video) if retrack else []:
            from vidal.dataset.propagate import run_retrack
            from vidal.pipeline import expected_frames
            from vidal.video import open_source

            total = expected_frames(open_source(job.video), job.config)
            with _lazy_progress_bar(Path(job.video).name, total) as advance:
                run_dir = run_retrack(job, advance)
            out.print(f"tracked again into {run_dir} (its tracks were gone)", highlight=False, soft_wrap=True)
        report = _call_dataset("propagate_dataset", name=dataset, video=video, mot_out=mot_out, config=cfg,
                               retrack=False)
        for v in report.videos:
            _print_propagation(v)
        out.print(
            f"dataset {report.dataset!r}: {report.propagated} propagated samples to spot-check (saved view "
            f"'propagated', least confident first; correct one and tag it 'reviewed' to make it a keyframe)",
            highlight=False,
            soft_wrap=True,
        )

    _run(debug, body)


def _print_propagation(v: Any) -> None:
    by_source = ", ".join(f"{count} {source}" for source, count in v.labels.items())
    followed = sorted(v.followed)
    follow = (
        f"{len(followed) // 2} added boxes followed {min(followed)}-{max(followed)} frames each way "
        f"(median {followed[len(followed) // 2]}), {v.stopped_early} stopped early by the flow"
        if followed else "no added box to follow"
    )
    lines = [
        f"{Path(v.video_path).name}: {v.keyframes} reviewed frames over {v.processed} processed "
        f"(run {v.run_id})",
        f"  labels: {by_source}",
        f"  {follow}",
        f"  samples: {v.frames} with pseudo_labels ({v.pseudo_boxes} boxes): {v.added} new, {v.updated} updated, "
        f"{v.unchanged} unchanged, {v.kept} edited by hand and kept",
    ]
    if v.mot_file:
        lines.append(f"  labels file: {v.mot_file}")
    out.print("\n".join(lines), highlight=False, soft_wrap=True)


@app.command()
def train(
    dataset: DatasetOption = "vidal",
    base: Annotated[str | None, typer.Option("--base", help="Model to fine-tune (.pt, or a .yaml architecture) \\[default: the dataset's latest model, else the model of its latest mining run].")] = None,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Training epochs (more, at a lower learning rate, if they make fewer than --min-steps optimizer steps).")] = 10,
    min_steps: Annotated[int | None, typer.Option("--min-steps", min=0, help="Fewest optimizer steps of a fine-tune: a small review trains more epochs at a learning rate cut in the same ratio (0: exactly --epochs) \\[default: 32].")] = None,
    imgsz: Annotated[int | None, typer.Option("--imgsz", min=32, max=4096, help="Training image size \\[default: the base's].")] = None,
    val_frac: Annotated[float, typer.Option("--val-frac", min=0.05, max=0.5, help="Share of time blocks held out for validation.")] = 0.2,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Batch size.")] = 16,
    device: Annotated[str | None, typer.Option("--device", help="cpu, 0, cuda:0... \\[default: the first GPU, else the CPU].")] = None,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for run folders.")] = Path("vidal-runs"),
    no_propagated: Annotated[bool, typer.Option("--no-propagated", help="Train on reviewed frames only, not on the pseudo_labels of propagated ones.")] = False,
    adapt_bn: Annotated[bool, typer.Option("--adapt-bn", help="Update the base's BatchNorm statistics from the training batches (default: keep them).")] = False,
    debug: DebugOption = False,
) -> None:
    """Fine-tune the detector on the reviewed samples, score it against its base, record it on the dataset."""

    def body() -> None:
        from vidal.dataset.connection import check_name
        from vidal.training import train as train_model

        check_name(dataset)
        with contextlib.ExitStack() as stack:
            shown: dict[str, Any] = {}

            def on_plan(plan: TrainingPlan) -> None:
                spread = (f" (asked {plan.epochs_asked}; more, at learning rate {plan.hyp['lr0']:g}, for enough "
                          "optimizer steps)" if plan.epochs != plan.epochs_asked else "")
                extra = len(plan.propagated_ids)
                console.print(
                    f"training {Path(plan.base).name} on {len(plan.train_ids) - extra} reviewed frames "
                    f"({plan.human_boxes} boxes) and {extra} propagated ({plan.propagated_boxes} boxes), validating on "
                    f"{len(plan.val_ids)} ({len(plan.dropped_ids)} left out for being near them in time); "
                    f"{plan.epochs} epochs{spread} at imgsz {plan.imgsz}, device {plan.device or 'auto'}",
                    highlight=False,
                    soft_wrap=True,
                )
                # Training sends Ultralytics' output to a log by redirecting sys.stdout and
                # sys.stderr: the progress bar writes to the terminal's stream, bound now.
                bar = stack.enter_context(Progress(
                    TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=Console(file=sys.stderr), transient=False,
                ))
                shown.update(bar=bar, task=bar.add_task("export", total=plan.epochs, completed=0))

            def on_stage(stage: str) -> None:
                shown["bar"].update(shown["task"], description=stage)

            def on_epoch(epoch: int, total: int) -> None:
                shown["bar"].update(shown["task"], description="train", completed=epoch, total=total)

            result = train_model(dataset, base=base, epochs=epochs, imgsz=imgsz, val_frac=val_frac, batch=batch,
                                 device=device, out_root=out_dir, min_steps=min_steps,
                                 propagated=not no_propagated, adapt_bn=adapt_bn, on_plan=on_plan,
                                 on_stage=on_stage, on_epoch=on_epoch)
            on_stage("done")
        _print_training(result.record)

    _run(debug, body)


def _print_training(record: ModelRecord) -> None:
    from rich.table import Table

    base, new = record.metrics.base, record.metrics.new
    table = Table("class", "base mAP50", "new mAP50", "base mAP50-95", "new mAP50-95",
                  title=f"validation: {record.metrics.val_images} held-out frames ({record.metrics.validator} validator)")
    table.add_row("[bold]all[/]", f"{base.map50:.3f}", f"{new.map50:.3f}", f"{base.map:.3f}", f"{new.map:.3f}")
    for name, scores in new.per_class.items():
        before = base.per_class.get(name, {"map50": 0.0, "map": 0.0})
        table.add_row(escape(name), f"{before['map50']:.3f}", f"{scores['map50']:.3f}", f"{before['map']:.3f}",
                      f"{scores['map']:.3f}")
    out.print(table)
    verdict = "better than" if record.metrics.improved else "[bold yellow]not better than[/]"
    out.print(
        f"model v{record.version} ({len(record.train_samples)} training frames, {record.epochs} epochs, "
        f"{record.train_seconds:.0f} s) is {verdict} its base {escape(Path(record.base).name)} on mAP50; "
        f"saved {escape(str(record.model_path))}. Mine the next round with: vidal mine VIDEO --model latest",
        highlight=False,
        soft_wrap=True,
    )


# --- vidal db: the local database that dataset commands start once and reuse ---
db_app = typer.Typer(help="FiftyOne's database: where it is, whether it runs; stop the local one.",
                     no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("status")
def db_status(debug: DebugOption = False) -> None:
    """Where the database is and whether it runs (FIFTYONE_DATABASE_URI, or the local mongod)."""

    def body() -> None:
        from vidal.dataset.database import database_settings, find_service, find_services, probe

        settings = database_settings()
        if settings.uri:
            probe(settings.uri)
            out.print(f"database {settings.describe()} (FIFTYONE_DATABASE_URI): reachable", highlight=False,
                      soft_wrap=True)
            _print_worker(settings)
            return
        service = find_service(settings.folder)
        if service is None:
            out.print(f"local database in {settings.folder}: not running (the next dataset command starts it)",
                      highlight=False, soft_wrap=True)
        else:
            keeper = (f"kept running by vidal (pid {service.holder_pid}) until `vidal db stop`" if service.holder_pid
                      else f"started by a FiftyOne process (pid {service.pid}), stops when its last client exits")
            port = f"127.0.0.1:{service.port}" if service.port else "(starting)"
            out.print(
                f"local database in {settings.folder}: running, mongod pid {service.mongod_pid} on {port} since "
                f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(service.started))}; {keeper}",
                highlight=False, soft_wrap=True,
            )
        for other in find_services():
            if other.pid != (service.pid if service else None):
                console.print(
                    f"note: another FiftyOne database runs in {other.folder} (pid {other.pid}); FiftyOne's own "
                    "tools attach to the first one they find, whatever their FIFTYONE_DATABASE_DIR",
                    highlight=False, soft_wrap=True,
                )
        _print_worker(settings)

    _run(debug, body)


def _print_worker(settings: Any) -> None:
    """The `vidal db status` line of the warm worker that runs dataset commands."""
    from vidal.dataset.worker import WorkerUnavailable, enabled, worker_paths, worker_status

    try:
        info = worker_status(worker_paths(settings))
    except WorkerUnavailable as error:
        out.print(f"vidal worker: unavailable ({error})", highlight=False, soft_wrap=True)
        return
    if info is None:
        state = "not running" + (" (the next dataset command starts it)" if enabled() else "")
    elif "started" not in info:
        state = f"pid {info['pid']}, busy or starting"
    else:
        state = (f"pid {info['pid']} since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(info['started']))}, "
                 f"{info['requests']} requests served; stops after {info['idle_timeout_s'] / 60:g} min idle or "
                 "`vidal db stop`")
    off = " (off here: VIDAL_WORKER=0)" if not enabled() else ""
    out.print(f"vidal worker: {state}{off}", highlight=False, soft_wrap=True)


@db_app.command("stop")
def db_stop(debug: DebugOption = False) -> None:
    """Stop the local mongod that vidal keeps running (once the processes using it exit)."""

    def body() -> None:
        from vidal.dataset.connection import CONNECT_LOCK, file_lock
        from vidal.dataset.database import clients, database_settings, find_service, stop_service
        from vidal.errors import DatasetError

        from vidal.dataset.worker import WorkerUnavailable, stop_worker, worker_paths

        settings = database_settings()
        worker = None
        if settings.folder.is_dir():  # the worker is a client of the database: it goes first
            try:
                worker = stop_worker(worker_paths(settings))
            except WorkerUnavailable:
                pass
        if worker is not None:
            out.print(f"stopped the vidal worker (pid {worker})", highlight=False, soft_wrap=True)
        if settings.uri:
            if worker is not None:
                return
            raise DatasetError(f"the database is {settings.describe()} (FIFTYONE_DATABASE_URI): vidal stops only "
                               "the local mongod it starts")
        if not settings.folder.is_dir():
            out.print(f"local database in {settings.folder}: not running", highlight=False, soft_wrap=True)
            return
        with file_lock(settings.folder / CONNECT_LOCK):
            service = find_service(settings.folder)
            if service is None:
                out.print(f"local database in {settings.folder}: not running", highlight=False, soft_wrap=True)
                return
            if stop_service(service):
                out.print(f"stopped the local database in {settings.folder}", highlight=False, soft_wrap=True)
                return
        console.print(
            f"[bold yellow]warning:[/] released the local database in {settings.folder}; its mongod stops when the "
            f"processes still using it exit (pids {', '.join(map(str, clients(service))) or 'unknown'})",
            highlight=False, soft_wrap=True,
        )

    _run(debug, body)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
