"""Wall time of the dataset commands (``vidal status``, ``label``, ``export``), cold and warm.

Cold: no database running (``vidal db stop`` before each run), so the command starts
FiftyOne's ``mongod``, as every command did before vidal kept one running. Warm mongod: the
``mongod`` that an earlier command started is running, the command runs in-process
(``VIDAL_WORKER=0``) and pays ``import fiftyone``. Warm worker: the vidal worker that an
earlier command started serves the command (checked by its request count). Each figure is
the median of ``--repeat`` runs of the whole command (new process). Beside them: what a
fresh Python spends importing fiftyone, ``vidal db status``, and how long an unreachable
``FIFTYONE_DATABASE_URI`` takes to be reported.

The dataset: the sample clip's first 60 frames mined with the sample detector (9 frames
selected), labelled from its ground truth. Everything runs on a database folder of its own.

    python tools/bench_db.py              # writes the table to BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

from benchmark_common import REPO, offline_ultralytics, scratch_folder, write_section

from vidal.dataset.database import DatabaseSettings
from vidal.dataset.worker import worker_paths, worker_status

VIDEO = REPO / "sample_videos" / "crossing.mp4"
MODEL = REPO / "sample_videos" / "crossing_yolo11n.pt"
GT = REPO / "sample_videos" / "crossing" / "gt" / "gt.txt"


def timed(command: list[str], env: dict[str, str], *, ok: bool = True) -> float:
    """Wall time of ``command``; it must succeed unless ``ok`` is false."""
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if ok and result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    offline_ultralytics()
    work = scratch_folder("vidal-bench-db-")
    env = {k: v for k, v in os.environ.items() if k not in ("FIFTYONE_DATABASE_URI", "FIFTYONE_PRIVATE_DATABASE_PORT")}
    env.update(FIFTYONE_DATABASE_DIR=str(work / "db"), FIFTYONE_CONFIG_PATH=str(work / "no-config.json"),
               VIDAL_HOME=str(work / "home"), FIFTYONE_DO_NOT_TRACK="true")
    in_process = dict(env, VIDAL_WORKER="0")
    served = dict(env, VIDAL_WORKER="1")
    paths = worker_paths(DatabaseSettings(None, work / "db"))
    load_before = os.getloadavg()
    vidal = [sys.executable, "-m", "vidal.cli"]
    stop = [*vidal, "db", "stop"]
    env = in_process
    try:
        timed([*vidal, "mine", str(VIDEO), "--model", str(MODEL), "--end", "60", "--budget", "9",
               "--out", str(work / "runs")], env)
        timed([*vidal, "label", "--from-mot", str(GT), "--video", str(VIDEO)], env)
        exports = iter(range(10**6))
        commands = {
            "`vidal status`": lambda: [*vidal, "status"],
            "`vidal label --from-mot` (9 frames, unchanged)": lambda: [*vidal, "label", "--from-mot", str(GT),
                                                                       "--video", str(VIDEO)],
            "`vidal export --format yolo` (9 samples)": lambda: [*vidal, "export", str(work / f"x{next(exports)}")],
        }
        cold: dict[str, list[float]] = {name: [] for name in commands}
        warm: dict[str, list[float]] = {name: [] for name in commands}
        for k in range(args.repeat):
            for name, command in commands.items():
                timed(stop, env)
                cold[name].append(timed(command(), env))
                warm[name].append(timed(command(), env))
                print(f"round {k + 1}: {name} cold {cold[name][-1]:.2f} s, warm {warm[name][-1]:.2f} s")
        timed([*vidal, "status"], served)  # in-process; starts the worker
        deadline = time.monotonic() + 600
        while "started" not in (worker_status(paths) or {}) and time.monotonic() < deadline:
            time.sleep(0.2)
        worker: dict[str, list[float]] = {name: [] for name in commands}
        for k in range(args.repeat):
            for name, command in commands.items():
                before = (worker_status(paths) or {}).get("requests", -1)
                worker[name].append(timed(command(), served))
                if (worker_status(paths) or {}).get("requests") != before + 1:
                    raise SystemExit(f"{name} was not served by the worker: {worker_status(paths)}")
                print(f"round {k + 1}: {name} worker {worker[name][-1]:.2f} s")
        imports = [timed([sys.executable, "-c", "import fiftyone"], env) for _ in range(args.repeat)]
        bare = [timed([sys.executable, "-c", "import vidal.cli"], env) for _ in range(args.repeat)]
        db_status = [timed([*vidal, "db", "status"], env) for _ in range(args.repeat)]
    finally:
        timed(stop, env, ok=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = [timed([*vidal, "status"], dict(env, FIFTYONE_DATABASE_URI=f"mongodb://127.0.0.1:{port}"), ok=False)
                   for _ in range(args.repeat)]

    def med(values: list[float]) -> str:
        return f"{statistics.median(values):.1f}"

    rows = "\n".join(f"| {name} | {med(cold[name])} | {med(warm[name])} | **{med(worker[name])}** |"
                     for name in commands)
    load = os.getloadavg()
    body = f"""Median wall time in seconds of {args.repeat} runs of each whole command (a new process) on
{os.cpu_count()} cores; the machine's load average (1, 5, 15 min) was {load_before[0]:.1f}, {load_before[1]:.1f},
{load_before[2]:.1f} at the start and {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} at the end (other jobs share its cores).

| command | cold: starts mongod (every command, before) | warm mongod, in-process (`VIDAL_WORKER=0`) | warm worker |
|---|---|---|---|
{rows}
| `vidal db status` | | {med(db_status)} | |

A fresh `python -c "import fiftyone"`, timed in the same run, takes {med(imports)} s (`import vidal.cli`:
{med(bare)} s): what the in-process warm column pays and the worker column does not.
An unreachable `FIFTYONE_DATABASE_URI` is reported after {med(unreachable)} s (whole command).
"""
    print(body)
    if not args.no_write:
        write_section("Dataset commands", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
