"""Helpers shared by the benchmark scripts (never imported by the package)."""

from __future__ import annotations

import atexit
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_MODEL = SHARED / "models" / "yolo11n_int8_openvino_model"
# The same COCO YOLO11n as a trainable PyTorch model (the base for fine-tuning, and for exports).
SHARED_PT = SHARED / "models" / "yolo11n_coco_from_openvino.pt"
TUD = {name: SHARED / "data" / "mot" / name for name in ("TUD-Stadtmitte", "TUD-Campus")}
BENCHMARKS_MD = REPO / "BENCHMARKS.md"

# Runs a command as its child and prints its wall seconds, peak RSS (KiB) and CPU seconds on the
# first line, then the command's output: the figures of that command alone, not of this script.
MEASURE = r"""
import resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t
if p.returncode:
    sys.stderr.write(p.stdout + p.stderr); sys.exit(p.returncode)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(wall, usage.ru_maxrss, usage.ru_utime + usage.ru_stime)
print(p.stdout + p.stderr)
"""


@dataclass
class Measured:
    """What :func:`measure` saw of one command."""

    wall_s: float
    peak_mib: float
    cpu_s: float
    output: str


def measure(command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Measured:
    """Run ``command`` in a fresh process; its wall time, peak resident memory, CPU time and output."""
    try:
        done = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, check=True,
                              env=env, cwd=cwd)
    except subprocess.CalledProcessError as error:  # the command's own output says why it failed
        sys.stderr.write(error.stdout[-4000:] + error.stderr[-4000:])
        raise
    head, _, output = done.stdout.partition("\n")
    wall, rss_kib, cpu = head.split()
    return Measured(float(wall), float(rss_kib) / 1024, float(cpu), output)


def steady_rate(summary: dict) -> float:
    """A ``vidal mine`` run's processing rate after its first frame, from its ``summary.json``
    (a run of a version without ``steady_frames_per_second``: the rate over every frame)."""
    timings = summary["timings"]
    return timings.get("steady_frames_per_second") or timings["frames_per_second"]


def scratch_folder(prefix: str) -> Path:
    """A new folder in the temp folder, removed when the script exits (clips, mined runs, weights)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def offline_ultralytics() -> None:
    """Keep Ultralytics from writing settings in $HOME or reaching the network."""
    if "YOLO_CONFIG_DIR" not in os.environ:
        os.environ["YOLO_CONFIG_DIR"] = str(scratch_folder("vidal-yolo-"))
    os.environ.setdefault("YOLO_OFFLINE", "1")


def command_line() -> str:
    """The command that is running, for BENCHMARKS.md."""
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(REPO)
    except ValueError:
        pass
    return " ".join(["python", str(script), *map(shlex.quote, sys.argv[1:])])


def machine() -> str:
    """A one-line description of the machine."""
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


# Each script's figures sit between these two lines, inside their section of BENCHMARKS.md: a
# re-run replaces what is between them and keeps every other line of the file (the readings,
# one-off checks and earlier runs written by hand above or below them).
BEGIN = "<!-- generated: {name} (re-running its script replaces the text up to the end line) -->"
END = "<!-- end generated: {name} -->"
# The marker of the earlier layout: a section's figures above it, hand-written text below.
HAND_WRITTEN = "<!-- written by hand below: kept when the script re-runs -->"
STALE_NOTE = re.compile(r"_Written for an earlier run \((\d{4}-\d{2}-\d{2}|unknown date)\); the figures above were re-measured on \d{4}-\d{2}-\d{2}\._\n*")
MEASURED = re.compile(r"^Measured (\d{4}-\d{2}-\d{2})", re.M)


def _dated(hand: str, old_figures: str, stamp: str) -> str:
    """Hand-written text that followed the old figures, headed by a note that it was written for
    their run (the date it was first written for, kept across re-runs)."""
    hand = hand.strip()
    if not hand:
        return ""
    measured = MEASURED.search(old_figures)
    written = measured.group(1) if measured else "unknown date"
    previous = STALE_NOTE.match(hand)
    if previous:
        written, hand = previous.group(1), hand[previous.end():]
    note = f"_Written for an earlier run ({written}); the figures above were re-measured on {stamp}._"
    return f"{note}\n\n{hand.strip()}\n"


def write_section(name: str, body: str, machine_text: str | None = None) -> None:
    """Write a script's figures into the section ``## name`` of BENCHMARKS.md.

    Only the text between the section's :data:`BEGIN` and :data:`END` lines is replaced;
    hand-written text after them is kept, with a note that it was written for the earlier
    figures. A section of the earlier layout is converted: its text up to
    :data:`HAND_WRITTEN` was the script's and is replaced; a section with neither marker is
    kept whole below the new figures, since which of its lines were written by hand is
    unknown. A missing section is appended. ``machine_text`` names the machine the figures
    were measured on, where that is not this one (rows measured elsewhere, summarised here).
    """
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    begin, end = BEGIN.format(name=name), END.format(name=name)
    figures = f"Measured {stamp} on {machine_text or machine()} with:\n\n```\n{command_line()}\n```\n\n{body.strip()}\n"
    block = f"{begin}\n\n{figures}\n{end}\n"
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else (
        "# Benchmarks\n\nEvery figure here is written by a script in `tools/`, with the command that "
        "produced it. Ratios are measured side by side in one run.\n"
    )
    if begin in text and end in text.split(begin, 1)[1]:
        before, rest = text.split(begin, 1)
        old, after = rest.split(end, 1)
        following = re.search(r"^## ", after, re.M)
        hand, others = (after[: following.start()], after[following.start():]) if following else (after, "")
        kept = _dated(hand, old, stamp)
        text = before + block + ("\n" + kept if kept else "") + ("\n" + others if others else "")
    else:
        pattern = re.compile(rf"^## {re.escape(name)}\n(.*?)(?=^## |\Z)", re.S | re.M)
        match = pattern.search(text)
        if match:
            old = match.group(1)
            figures_old, marker, hand = old.partition(HAND_WRITTEN)
            if not marker:  # no way to tell the script's lines from a person's: keep them all
                figures_old, hand = "", old
            kept = _dated(hand, figures_old or old, stamp)
            section = f"## {name}\n\n{block}" + ("\n" + kept if kept else "") + "\n"
            text = text[: match.start()] + section + text[match.end():]
        else:
            text = text.rstrip() + f"\n\n## {name}\n\n{block}"
    BENCHMARKS_MD.write_text(text.rstrip() + "\n")
