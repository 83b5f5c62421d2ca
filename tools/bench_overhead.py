"""What scoring and selection add to ``vidal mine``'s time per frame, measured by leaving them out.

``vidal mine`` runs the detector's inference in the background (frames in flight) while its
main thread tracks, scores and selects. The stage clocks of ``summary.json`` time the main
thread's calls, and on a machine whose cores the inference keeps busy a call's wall time
also counts its waits for a core: an upper bound of what the call costs the run, not the
cost. This script measures the cost directly. For each video, alternately (A B B A ...):

- **mine**: ``mine_source`` as ``vidal mine`` calls it; the time is its processing (decode,
  detect, track, score) plus its selection; writing the selected frames is left out;
- **detect + track**: the same detector, tracker and decoding, writing ``tracks.txt``, and
  nothing else: mining without scoring and selection. (With ``--classes``, mining's scoring
  stage also drops from ``tracks.txt`` the tracks of other classes; that counts as scoring's.)

The difference of each pair over the mining time is what scoring and selection add; the
table gives the median over ``--pairs`` pairs and their range, beside the stage clocks'
wall and CPU shares of the same mining runs. Every arm of a video uses one loaded detector.

    python tools/bench_overhead.py          # writes the table to BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark_common import REPO, SHARED, SHARED_MODEL, offline_ultralytics, scratch_folder, write_section

REAL = ("TUD-Stadtmitte", "TUD-Campus", "SNMOT-116", "SNMOT-060", "ADL-Rundle-6")


@dataclass
class Pair:
    """One mining run and one detect-and-track run of a video, in seconds."""

    mine: float
    bare: float
    stage_wall: float  # the score and select stages' clocks in the mining run
    stage_cpu: float  # their threads' CPU seconds
    cpu: float  # the mining run's CPU seconds (every thread), with the selection's
    bare_cpu: float  # the detect-and-track run's CPU seconds (every thread)

    @property
    def added(self) -> float:
        return (self.mine - self.bare) / self.mine

    @property
    def added_cpu(self) -> float:
        return (self.cpu - self.bare_cpu) / self.cpu


def mine_seconds(source, detector, config, out: Path) -> tuple[float, float, float, float]:
    """Mine ``source``; return its processing + selection seconds, the score and select stages'
    wall and CPU seconds, and the run's CPU seconds."""
    from vidal.pipeline import mine_source

    result = mine_source(source, detector, config, out)
    stages = ("score", "select")
    wall = sum(result.timings.get(s, 0.0) for s in stages)
    cpu = sum(result.cpu_timings.get(s, 0.0) for s in stages)
    return (result.seconds + result.timings.get("select", 0.0), wall, cpu,
            result.cpu_seconds + result.cpu_timings.get("select", 0.0))


def detect_and_track_seconds(source, detector, config, out: Path) -> tuple[float, float]:
    """Decode, detect and track ``source`` as mining does, writing ``tracks.txt``; return the
    seconds and the process's CPU seconds (every thread)."""
    from vidal.outputs import TrackWriter
    from vidal.pipeline import build_tracker, write_tracks

    info, inputs, tc = source.info, config.input, config.tracker
    out.mkdir(parents=True, exist_ok=True)
    tracker = build_tracker(config, detector)
    writer = TrackWriter(out / "tracks.txt", tracker.history_frames)
    started, cpu = time.perf_counter(), time.process_time()  # as mining's clock: after its setup
    try:
        for frame, detections in detector.stream(source.frames(inputs.start, inputs.end, inputs.stride)):
            step = tracker.update(detections, frame.index)
            write_tracks(writer, step, tc.output_box, tc.backfill_births, info.width, info.height)
        tracker.finish()
    finally:
        writer.close()
    return time.perf_counter() - started, time.process_time() - cpu


def run_video(name: str, video: Path, model: Path, classes: list[str], pairs: int, work: Path) -> list[Pair]:
    from vidal.config import load_config
    from vidal.pipeline import build_detector
    from vidal.video import open_source

    settings = [f"detector.model={model}"]  # the default selection: 5% of the frames
    if classes:
        settings.append(f"detector.classes=[{', '.join(classes)}]")
    config = load_config(None, settings)
    detector = build_detector(config)
    # Both arms once, untimed: the first inference, lazy imports and file caches are paid here.
    detect_and_track_seconds(open_source(video), detector, config, work / f"{name}-warm-up-bare")
    mine_seconds(open_source(video), detector, config, work / f"{name}-warm-up-mine")
    out: list[Pair] = []
    for k in range(pairs):
        mined = bare = None
        for arm in ("mine", "bare") if k % 2 == 0 else ("bare", "mine"):
            folder = work / f"{name}-{k}-{arm}"
            if arm == "mine":
                mined = mine_seconds(open_source(video), detector, config, folder)
            else:
                bare = detect_and_track_seconds(open_source(video), detector, config, folder)
        assert mined is not None and bare is not None
        pair = Pair(mined[0], bare[0], mined[1], mined[2], mined[3], bare[1])
        out.append(pair)
        print(f"{name}: pair {k + 1}: mine {pair.mine:.2f} s, detect + track {pair.bare:.2f} s, "
              f"added {100 * pair.added:+.1f}% of the wall, {100 * pair.added_cpu:+.1f}% of the CPU (stage clocks {100 * pair.stage_wall / pair.mine:.1f}% of the wall, "
              f"{100 * pair.stage_cpu / pair.cpu:.1f}% of the CPU)", flush=True)
    return out


def standard_error(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")


def table(results: dict[str, tuple[int, list[Pair]]]) -> str:
    lines = [("| video | frames | mine, s | detect + track, s | added: wall, median (range) | added: wall, mean +- 2 SE | "
              "added: CPU, median | stage clocks: wall share | stage clocks: CPU share |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for name, (frames, pairs) in results.items():
        added = np.array([p.added for p in pairs])
        lines.append(
            f"| {name} | {frames} | {np.median([p.mine for p in pairs]):.2f} | {np.median([p.bare for p in pairs]):.2f} | "
            f"{100 * np.median(added):+.1f}% ({100 * added.min():+.1f}% to {100 * added.max():+.1f}%) | "
            f"{100 * added.mean():+.1f}% +- {200 * standard_error(added):.1f}% | "
            f"{100 * np.median([p.added_cpu for p in pairs]):+.1f}% | "
            f"{100 * np.median([p.stage_wall / p.mine for p in pairs]):.1f}% | "
            f"{100 * np.median([p.stage_cpu / p.cpu for p in pairs]):.1f}% |")
    return "\n".join(lines)


DESCRIPTION = (
    "What scoring and selection add to `vidal mine`'s time: each video mined (decode, detect, track, score, "
    "select; writing the selected frames left out) and, alternately, only decoded, detected and tracked with the "
    "same loaded detector, tracker and `tracks.txt` writer. *Added* is (mine - detect + track) / mine per pair, of "
    "the wall time and of the process's CPU time (every thread; OpenVINO's threads spin while they wait, so the "
    "CPU time moves with the wall time). "
    "The stage clocks are the same mining runs' `score` and `select` stages: their wall share counts the main "
    "thread's waits for a core while the next frames' inference runs, their CPU share is their threads' CPU time "
    "over the run's (every thread)."
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6, help="mine / detect-and-track pairs per video")
    parser.add_argument("--videos", default="", help="comma-separated names to run (default: all)")
    parser.add_argument("--work", type=Path, default=None, help="run folders go here (default: a temp folder)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    offline_ultralytics()
    work = args.work.resolve() if args.work else scratch_folder("vidal-bench-overhead-")
    videos = [(name, SHARED / "data" / "mot" / name / f"{name}.mp4", SHARED_MODEL, ["person"]) for name in REAL]
    videos.append(("crossing (sample)", REPO / "sample_videos" / "crossing.mp4",
                   REPO / "sample_videos" / "crossing_yolo11n.pt", []))
    wanted = {v for v in args.videos.split(",") if v}
    results: dict[str, tuple[int, list[Pair]]] = {}
    from vidal.video import open_source

    for name, video, model, classes in videos:
        if wanted and name not in wanted:
            continue
        if not (video.exists() and model.exists()):
            print(f"skipping {name}: missing {video if not video.exists() else model}", file=sys.stderr)
            continue
        frames = open_source(video).info.frame_count
        results[name] = (frames, run_video(name, video, model, classes, args.pairs, work))
    text = table(results)
    print(text)
    if not args.no_write and results:
        write_section("Scoring overhead: what scoring and selection add to vidal mine", DESCRIPTION + "\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
