"""Helpers shared by the benchmark scripts (never imported by the package)."""

from __future__ import annotations

import atexit
import os
import platform
import re
import shlex
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_MODEL = SHARED / "models" / "yolo11n_int8_openvino_model"
TUD = {name: SHARED / "data" / "mot" / name for name in ("TUD-Stadtmitte", "TUD-Campus")}
BENCHMARKS_MD = REPO / "BENCHMARKS.md"


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


# A line in a section of BENCHMARKS.md after which the text is written by hand (readings,
# one-off checks, earlier runs): a re-run replaces the figures above it and keeps the rest.
HAND_WRITTEN = "<!-- written by hand below: kept when the script re-runs -->"
STALE_NOTE = re.compile(r"_Written for an earlier run \((\d{4}-\d{2}-\d{2})\); the figures above were re-measured on \d{4}-\d{2}-\d{2}\._\n*")
MEASURED = re.compile(r"^Measured (\d{4}-\d{2}-\d{2})", re.M)


def kept_text(old_section: str, stamp: str) -> str:
    """The hand-written end of a section (from :data:`HAND_WRITTEN` on), empty if there is
    none, with a note that it was written for an earlier run than the figures of ``stamp``."""
    if HAND_WRITTEN not in old_section:
        return ""
    head, _, tail = old_section.partition(HAND_WRITTEN)
    tail = tail.strip()
    measured = MEASURED.search(head)
    written = measured.group(1) if measured else "unknown date"
    previous = STALE_NOTE.match(tail)
    if previous:  # the date the text was written for, not the last re-run's
        written, tail = previous.group(1), tail[previous.end():]
    note = f"_Written for an earlier run ({written}); the figures above were re-measured on {stamp}._"
    return f"{HAND_WRITTEN}\n\n{note}\n\n{tail.strip()}\n"


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section ``## name`` of BENCHMARKS.md.

    The text after a :data:`HAND_WRITTEN` line of the old section is kept below the new
    figures, marked as written for the earlier run.
    """
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    section = f"## {name}\n\nMeasured {stamp} on {machine()} with:\n\n```\n{command_line()}\n```\n\n{body.strip()}\n"
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else (
        "# Benchmarks\n\nEvery figure here is written by a script in `tools/`, with the command that "
        "produced it. Ratios are measured side by side in one run.\n"
    )
    pattern = re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.S | re.M)
    match = pattern.search(text)
    if match:
        kept = kept_text(match.group(0), stamp)
        new = section + ("\n" + kept if kept else "") + "\n"
        text = text[: match.start()] + new + text[match.end():]
    else:
        text = text.rstrip() + "\n\n" + section
    BENCHMARKS_MD.write_text(text.rstrip() + "\n")
