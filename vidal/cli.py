"""The ``vidal`` command line: thin commands that check inputs and call the library.

This is the only module that writes to the console; it installs the logging handlers.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from vidal import __version__
from vidal.errors import PartialRunError, VidalError

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
    for noisy in ("ultralytics", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _run(debug: bool, body: Callable[[], T]) -> T:
    """Run a command body, turning vidal errors into one line and an exit code."""
    _setup_logging(debug)
    try:
        return body()
    except VidalError as error:
        if debug:
            raise
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
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


def _overrides(pairs: dict[str, Any]) -> list[str]:
    import json

    result = []
    for key, value in pairs.items():
        if value is None:
            continue
        result.append(f"{key}={json.dumps(value)}")
    return result


def _parse_classes(classes: str | None) -> list[str | int] | None:
    if classes is None:
        return None
    items = [item.strip() for item in classes.split(",") if item.strip()]
    return [int(item) if item.isdigit() else item for item in items]


@app.command()
def mine(
    inputs: Annotated[list[Path], typer.Argument(help="Videos, image folders (MOTChallenge img1/) or folders of videos.")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Detector: .pt, ONNX, OpenVINO folder or Ultralytics name.")] = None,
    classes: Annotated[str | None, typer.Option("--classes", help="Comma-separated class names or ids to keep.")] = None,
    conf: Annotated[float | None, typer.Option("--conf", help="Minimum detection score.")] = None,
    imgsz: Annotated[int | None, typer.Option("--imgsz", help="Inference image size.")] = None,
    device: Annotated[str | None, typer.Option("--device", help="cpu, cuda:0, ...")] = None,
    budget: Annotated[str | None, typer.Option("--budget", "-b", help="Frames to select: a count (20) or a share (5%).")] = None,
    strategy: Annotated[str | None, typer.Option("--strategy", help="Selection: vidal, random, uniform, confidence, entropy.")] = None,
    stride: Annotated[int | None, typer.Option("--stride", help="Process every n-th frame.")] = None,
    start: Annotated[int | None, typer.Option("--start", help="First frame (1-based, inclusive).")] = None,
    end: Annotated[int | None, typer.Option("--end", help="Last frame (inclusive).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for run folders [default: vidal-runs].")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a config field: section.field=value.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Mine videos for the frames worth labeling."""

    def body() -> None:
        from vidal.config import load_config
        from vidal.outputs import ensure_writable
        from vidal.pipeline import build_detector, check_budget, expected_frames, mine_source
        from vidal.video import expand_inputs, open_source

        overrides = list(set_ or []) + _overrides(
            {
                "detector.model": model,
                "detector.classes": _parse_classes(classes),
                "detector.conf": conf,
                "detector.imgsz": imgsz,
                "detector.device": device,
                "selection.budget": budget,
                "selection.strategy": strategy,
                "input.stride": stride,
                "input.start": start,
                "input.end": end,
                "output.out": str(out_dir) if out_dir is not None else None,
            }
        )
        cfg = load_config(config, overrides)
        sources = [open_source(path) for path in expand_inputs(inputs)]
        for source in sources:
            check_budget(source, cfg)
        root = Path(cfg.output.out)
        ensure_writable(root)
        started = time.perf_counter()
        detector = build_detector(cfg)
        console.print(
            f"model: {detector.description} ({time.perf_counter() - started:.1f} s to load)",
            highlight=False,
            soft_wrap=True,
        )
        partial: list[str] = []
        for source in sources:
            info = source.info
            total = expected_frames(source, cfg)
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[fps]:.1f} fps"),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            ) as bar:
                task = bar.add_task(info.name, total=total, fps=0.0)
                t0 = time.perf_counter()

                def advance(n: int) -> None:
                    done = bar.tasks[0].completed + n
                    bar.update(task, advance=n, fps=done / max(time.perf_counter() - t0, 1e-9))

                try:
                    result = mine_source(source, detector, cfg, root, progress=advance)
                except PartialRunError as error:
                    console.print(f"[bold yellow]warning:[/] {error}", highlight=False, soft_wrap=True)
                    partial.append(str(error))
                    continue
            out.print(
                f"{info.name}: {result.processed} frames at {result.fps:.1f} fps, "
                f"{len(result.selected)} selected -> {result.run_dir}",
                highlight=False,
                soft_wrap=True,
            )
        if partial:
            raise PartialRunError(f"{len(partial)} input(s) stopped early: {partial[0]}", "")

    _run(debug, body)


def run() -> None:  # pragma: no cover - console script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
