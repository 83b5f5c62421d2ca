"""Peak memory of ``vidal mine`` as the video gets longer, on a real clip concatenated without
re-encoding (``ffmpeg -f concat -c copy``), for this checkout and, side by side, another one
(``--baseline``, e.g. a worktree of an earlier commit).

Each run is a fresh ``vidal mine`` process; its peak resident memory is the child's
``ru_maxrss``, its rate the summary's frames per second (decode, detect, track, score). The
runs are appended to ``--results`` (JSON lines) as they finish, so that long inputs can be run
later, in the background; ``--write`` puts every run found there into BENCHMARKS.md.

    python tools/bench_memory.py --times 1 6 --baseline /tmp/old   # old and new, 1x and 6x
    python tools/bench_memory.py --times 24 --write                 # new only, then the table

Needs ``imageio-ffmpeg`` (the ``dev`` extra) for its ffmpeg binary.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from benchmark_common import REPO, SHARED, SHARED_MODEL, offline_ultralytics, scratch_folder, write_section

SOCCER = SHARED / "data" / "mot" / "SNMOT-116" / "SNMOT-116.mp4"

MEASURE = r"""
import resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t
if p.returncode:
    sys.stderr.write(p.stdout + p.stderr); sys.exit(p.returncode)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(wall, usage.ru_maxrss, usage.ru_utime + usage.ru_stime)
"""


def concatenate(video: Path, times: int, out: Path) -> Path:
    """``video`` ``times`` times over in ``out``, streams copied (no re-encoding)."""
    import imageio_ffmpeg

    if times == 1:
        return video
    listing = out.with_suffix(".txt")
    listing.write_text(f"file '{video.resolve()}'\n" * times)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i",
                    str(listing), "-c", "copy", str(out)], check=True)
    return out


def mine(code: Path, video: Path, model: Path, out: Path) -> dict[str, object]:
    """Mine ``video`` with the vidal of checkout ``code`` in a fresh process; its figures."""
    environment = dict(os.environ, PYTHONPATH=str(code))
    command = [sys.executable, "-m", "vidal.cli", "mine", "--no-push", str(video), "--model", str(model),
               "--classes", "person", "--budget", "5%", "--out", str(out)]
    done = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, check=True,
                          env=environment)
    wall, rss_kib, cpu = done.stdout.split()[:3]
    summary = json.loads(next(out.glob("*/summary.json")).read_text())
    return {
        "frames": summary["frames"]["processed"],
        "peak_mib": round(float(rss_kib) / 1024, 1),
        "wall_s": round(float(wall), 1),
        "fps": summary["timings"]["frames_per_second"],
        "cpu_ms_per_frame": round(1000 * float(cpu) / summary["frames"]["processed"], 1),
        "selected": summary["selection"]["frames"],
        "version": summary["versions"]["vidal"],
    }


def table(runs: list[dict[str, object]]) -> str:
    """The markdown table of the runs: one row per input length, one column pair per code."""
    codes = list(dict.fromkeys(str(r["code"]) for r in runs))
    by = {(r["code"], r["times"]): r for r in runs}
    head = "| input | frames | " + " | ".join(f"{c}: peak MiB | {c}: frames/s" for c in codes) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(codes))]
    base: dict[str, float] = {}
    for times in sorted({int(r["times"]) for r in runs}):
        cells = []
        frames = ""
        for code in codes:
            run = by.get((code, times))
            if run is None:
                cells += ["", ""]
                continue
            frames = str(run["frames"])
            base.setdefault(code, float(run["peak_mib"]))
            ratio = float(run["peak_mib"]) / base[code]
            cells += [f"{run['peak_mib']:.0f} ({ratio:.3f}x)", f"{run['fps']:.1f}"]
        lines.append(f"| {times}x | {frames} | " + " | ".join(cells) + " |")
    same = []
    if len(codes) == 2:
        for times in sorted({int(r["times"]) for r in runs}):
            a, b = by.get((codes[0], times)), by.get((codes[1], times))
            if a and b:
                same.append(f"{times}x: {'same' if a['selected'] == b['selected'] else 'DIFFERENT'}")
    out = "\n".join(lines)
    if same:
        out += f"\n\nSelected frames, {codes[0]} vs {codes[1]}: " + ", ".join(same) + "."
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=SOCCER)
    parser.add_argument("--model", type=Path, default=SHARED_MODEL)
    parser.add_argument("--times", type=int, nargs="*", default=[1, 6, 24])
    parser.add_argument("--baseline", type=Path, help="another checkout to run side by side (before this one)")
    parser.add_argument("--baseline-name", default="before")
    parser.add_argument("--name", default="this")
    parser.add_argument("--baseline-only", action="store_true", help="run the baseline and not this checkout")
    parser.add_argument("--results", type=Path, default=Path("/tmp/vidal-bench-memory.jsonl"))
    parser.add_argument("--write", action="store_true", help="write every run in --results to BENCHMARKS.md")
    args = parser.parse_args()
    offline_ultralytics()
    work = scratch_folder("vidal-bench-memory-")
    os.environ.setdefault("VIDAL_HOME", str(work / "home"))
    codes = ([(args.baseline_name, args.baseline)] if args.baseline else []) + [(args.name, REPO)]
    if args.baseline_only:
        codes = codes[:1]
    for times in args.times:
        video = concatenate(args.video, times, work / f"{args.video.stem}-x{times}{args.video.suffix}")
        for name, code in codes:
            figures = mine(code, video, args.model, work / f"runs-{name}-{times}")
            run = {"code": name, "times": times, "video": args.video.name, **figures}
            with args.results.open("a") as handle:
                handle.write(json.dumps(run) + "\n")
            print(f"{name} {times}x: {run['frames']} frames, peak {run['peak_mib']} MiB, {run['fps']} frames/s")
    if args.write:
        runs = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
        body = f"""`vidal mine --classes person --budget 5%` on `{args.video.name}` concatenated n times (streams
copied, no re-encoding), model `{args.model.name}`; each run a fresh process, its peak resident
memory (`ru_maxrss`, ratio to the 1x run of the same code) and its rate (frames/s of decoding,
detection, tracking and scoring, from `summary.json`).

{table(runs)}
"""
        write_section("Memory over video length", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
