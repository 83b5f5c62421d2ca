"""Helpers shared by the benchmark scripts (never imported by the package)."""

from __future__ import annotations

import os
import platform
import re
import shlex
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_MODEL = SHARED / "models" / "yolo11n_int8_openvino_model"
TUD = {name: SHARED / "data" / "mot" / name for name in ("TUD-Stadtmitte", "TUD-Campus")}
BENCHMARKS_MD = REPO / "BENCHMARKS.md"


def offline_ultralytics() -> None:
    """Keep Ultralytics from writing settings in $HOME or reaching the network."""
    os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="vidal-yolo-"))
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


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section ``## name`` of BENCHMARKS.md."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    section = f"## {name}\n\nMeasured {stamp} on {machine()} with:\n\n```\n{command_line()}\n```\n\n{body.strip()}\n"
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else (
        "# Benchmarks\n\nEvery figure here is written by a script in `tools/`, with the command that "
        "produced it. Ratios are measured side by side in one run.\n"
    )
    pattern = re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(section + "\n", text)
    else:
        text = text.rstrip() + "\n\n" + section
    BENCHMARKS_MD.write_text(text.rstrip() + "\n")
