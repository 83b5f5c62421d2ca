"""Peak memory of ``vidal mine`` as the video gets longer, on a real clip concatenated without
re-encoding (``ffmpeg -f concat -c copy``), for this checkout and, side by side, another one
(``--baseline``, e.g. a worktree of an earlier commit).

Each run is a fresh ``vidal mine`` process; its peak resident memory is the child's
``ru_maxrss``, its rate the summary's frames per second (decode, detect, track, score). The
runs are appended to ``--results`` (JSON lines) as they finish, so that long inputs can be run
later, in the background; ``--write`` puts every run found there into BENCHMARKS.md.

    python tools/bench_memory.py --times 1 6 --baseline /tmp/old   # old and new, 1x and 6x
    python tools/bench_memory.py --times 24 --write                 # new only, then the table
    python tools/bench_memory.py --scripted 750 4500 18000 --baseline /tmp/old --write

``--scripted`` measures without a network in minutes: a scripted detector replaying 20 boxes a
frame that move and wrap around every 150 frames (tracks end and start all through the video,
one box missed every 13th frame, one weak every 11th) on a 320x320 clip, ``mine_source`` in a
fresh process: what the pipeline itself keeps, apart from a model's memory.

Needs ``imageio-ffmpeg`` (the ``dev`` extra) for its ffmpeg binary.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from benchmark_common import REPO, SHARED, SHARED_MODEL, measure, offline_ultralytics, scratch_folder, write_section

SOCCER = SHARED / "data" / "mot" / "SNMOT-116" / "SNMOT-116.mp4"

SCRIPTED = r"""
import resource, sys, tempfile, time
from pathlib import Path
import vidal
import cv2
import numpy as np
from vidal.config import load_config
from vidal.pipeline import mine_source
from vidal.types import Detections
from vidal.video import open_source

frames, video = int(sys.argv[1]), Path(sys.argv[2])
BOXES, PERIOD, SIZE = 20, 150, 320
if not video.exists():
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (SIZE, SIZE))
    for f in range(frames):
        writer.write(np.full((SIZE, SIZE, 3), (f * 7) % 255, np.uint8))
    writer.release()


class Scripted:
    names, description, classes = {0: "object"}, "scripted detector", None

    def __init__(self):
        self.rng = np.random.default_rng(0)

    def stream(self, source):
        k = np.arange(BOXES)
        for frame in source:
            t = (frame.index - 1) % PERIOD
            x, y = 5 + (k % 5) * 60 + t * 0.3, 5 + (k // 5) * 75.0
            xyxy = np.stack([x, y, x + 30, y + 50], 1) + self.rng.normal(0, 1.0, (BOXES, 4))
            score = np.full(BOXES, 0.9)
            if frame.index % 11 == 3:
                score[(frame.index * 3) % BOXES] = 0.15
            keep = np.ones(BOXES, bool)
            if frame.index % 13 == 7:
                keep[frame.index % BOXES] = False
            yield frame, Detections(xyxy[keep], score[keep], np.zeros(int(keep.sum()), np.int64))


config = load_config(overrides=["selection.budget=5%", f"input.end={frames}"])
cpu = time.process_time()
result = mine_source(open_source(video), Scripted(), config, Path(tempfile.mkdtemp()))
cpu = time.process_time() - cpu
print(vidal.__file__, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, cpu, ",".join(map(str, result.selected)))
"""


def scripted(code: Path, frames: int, video: Path) -> dict[str, object]:
    """Mine ``frames`` frames of the scripted clip with the vidal of checkout ``code``; its figures."""
    environment = dict(os.environ, PYTHONPATH=str(code))
    done = subprocess.run([sys.executable, "-c", SCRIPTED, str(frames), str(video)], capture_output=True, text=True,
                          check=True, env=environment, cwd=code)  # see mine()
    module, rss_kib, cpu, selected = done.stdout.split()[-4:]
    if not Path(module).resolve().is_relative_to(code.resolve()):
        raise RuntimeError(f"{code} ran the vidal of {module}")
    return {"frames": frames, "peak_mib": round(float(rss_kib) / 1024, 1),
            "cpu_ms_per_frame": round(1000 * float(cpu) / frames, 2), "selected": selected.split(",")}


def scripted_table(runs: list[dict[str, object]]) -> str:
    """The markdown table of scripted runs: one row per length, peak and CPU time per code."""
    codes = list(dict.fromkeys(str(r["code"]) for r in runs))
    by = {(r["code"], r["frames"]): r for r in runs}
    lines = ["| frames | " + " | ".join(f"{c}: peak MiB | {c}: CPU ms/frame" for c in codes) + " |",
             "|" + "---|" * (1 + 2 * len(codes))]
    base: dict[str, float] = {}
    for frames in sorted({int(r["frames"]) for r in runs}):
        cells = []
        for code in codes:
            run = by.get((code, frames))
            if run is None:
                cells += ["", ""]
                continue
            base.setdefault(code, float(run["peak_mib"]))
            cells += [f"{run['peak_mib']:.1f} (+{float(run['peak_mib']) - base[code]:.1f})",
                      f"{run['cpu_ms_per_frame']:.2f}"]
        lines.append(f"| {frames:,} | " + " | ".join(cells) + " |")
    out = "\n".join(lines)
    if len(codes) == 2:
        same = []
        for frames in sorted({int(r["frames"]) for r in runs}):
            a, b = by.get((codes[0], frames)), by.get((codes[1], frames))
            if a and b:
                same.append(f"{frames:,}: {'same' if a['selected'] == b['selected'] else 'DIFFERENT'}")
        out += f"\n\nSelected frames, {codes[0]} vs {codes[1]}: " + ", ".join(same) + "."
    return out


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
    # In the checkout's folder: `python -m` and `-c` put the working folder first on sys.path,
    # before PYTHONPATH, so another folder with a vidal/ in it (this repository) would win.
    run = measure(command, env=environment, cwd=code)
    summary = json.loads(next(out.glob("*/summary.json")).read_text())
    return {
        "frames": summary["frames"]["processed"],
        "peak_mib": round(run.peak_mib, 1),
        "wall_s": round(run.wall_s, 1),
        "fps": summary["timings"]["frames_per_second"],
        "cpu_ms_per_frame": round(1000 * run.cpu_s / summary["frames"]["processed"], 1),
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
    parser.add_argument("--scripted", type=int, nargs="+", metavar="FRAMES",
                        help="measure the scripted clip of these lengths instead (no model)")
    args = parser.parse_args()
    offline_ultralytics()
    work = scratch_folder("vidal-bench-memory-")
    os.environ.setdefault("VIDAL_HOME", str(work / "home"))
    codes = ([(args.baseline_name, args.baseline)] if args.baseline else []) + [(args.name, REPO)]
    if args.baseline_only:
        codes = codes[:1]
    if args.scripted:
        return run_scripted(args, codes, work)
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


def run_scripted(args: argparse.Namespace, codes: list[tuple[str, Path]], work: Path) -> int:
    """``--scripted``: each length with each code, alternating; the table into BENCHMARKS.md."""
    runs = []
    for frames in args.scripted:
        video = work / f"scripted-{frames}.mp4"
        for name, code in codes:
            run = {"code": name, **scripted(code, frames, video)}
            runs.append(run)
            print(f"{name} {frames} frames: peak {run['peak_mib']} MiB, {run['cpu_ms_per_frame']} CPU ms/frame")
    if args.write:
        body = f"""The pipeline's own memory, without a model: a scripted detector replaying 20 boxes a frame
that move and wrap around every 150 frames (so tracks end and start all through the video), on a
320x320 clip; `mine_source` at budget 5% in a fresh process per run, its peak resident memory
(`ru_maxrss`; in brackets, more than the shortest run of the same code) and CPU time per frame.

{scripted_table(runs)}
"""
        write_section("Memory over video length (scripted)", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
