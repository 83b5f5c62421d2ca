"""Speed and memory of ``vidal mine`` against Ultralytics' own ``track``, side by side in one run.

Speed: both run as whole commands (new process, imports, model load, every frame, outputs)
on the same video with the same model, classes, detection threshold and image size,
alternating, ``--repeat`` times; the figure is frames / median wall time. The steady-state
rate (model loaded, first frame excluded) is reported beside it.

Memory: peak resident memory of ``vidal mine`` on the video and on the same video
concatenated ``--times`` times: decoding streams, so the ratio must stay near 1.

    python tools/bench_speed.py              # writes the table to BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import cv2

from benchmark_common import SHARED_MODEL, TUD, measure, offline_ultralytics, scratch_folder, steady_rate, write_section

ULTRALYTICS_SCRIPT = r"""
import sys, time
t0 = time.perf_counter()
from ultralytics import YOLO
model = YOLO(sys.argv[1], task="detect")
lines, n, first = [], 0, None
for frame, r in enumerate(model.track(sys.argv[2], tracker="bytetrack.yaml", classes=[0], conf=0.1,
                                       imgsz=int(sys.argv[3]), stream=True, verbose=False), start=1):
    n += 1
    if first is None:
        first = time.perf_counter()
    if r.boxes.id is not None:
        for (x1, y1, x2, y2), i, c in zip(r.boxes.xyxy.tolist(), r.boxes.id.int().tolist(), r.boxes.conf.tolist()):
            lines.append(f"{frame},{i},{x1:.2f},{y1:.2f},{x2-x1:.2f},{y2-y1:.2f},{c:.4f},-1,-1,-1")
open(sys.argv[4], "w").write("\n".join(lines) + "\n")
print("STEADY", (n - 1) / (time.perf_counter() - first))
"""

def concatenate(video: Path, times: int, out: Path) -> int:
    """Write ``video`` ``times`` times over into ``out``; return its frame count."""
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for _ in range(times):
        for image in frames:
            writer.write(image)
    writer.release()
    return len(frames) * times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=TUD["TUD-Stadtmitte"] / "TUD-Stadtmitte.mp4")
    parser.add_argument("--model", type=Path, default=SHARED_MODEL)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--times", type=int, default=10, help="concatenation factor for the memory test")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    offline_ultralytics()
    work = scratch_folder("vidal-bench-speed-")
    frames = int(cv2.VideoCapture(str(args.video)).get(cv2.CAP_PROP_FRAME_COUNT))
    vidal_bin = str(Path(sys.executable).with_name("vidal"))
    ultra_cmd = [sys.executable, "-c", ULTRALYTICS_SCRIPT, str(args.model), str(args.video), str(args.imgsz),
                 str(work / "ultralytics.txt")]

    def vidal_cmd(video: Path, out: Path) -> list[str]:
        return [vidal_bin, "mine", "--no-push", str(video), "--model", str(args.model), "--classes", "person",
                "--imgsz", str(args.imgsz), "--out", str(out)]

    walls: dict[str, list[float]] = {"ultralytics": [], "vidal": []}
    steady: dict[str, list[float]] = {"ultralytics": [], "vidal": []}
    peak_one: list[float] = []
    for k in range(args.repeat):
        run = measure(ultra_cmd)
        wall, output = run.wall_s, run.output
        walls["ultralytics"].append(wall)
        steady["ultralytics"].append(float(output.split("STEADY")[1].split()[0]))
        run = measure(vidal_cmd(args.video, work / f"runs-{k}"))
        wall, rss = run.wall_s, run.peak_mib
        walls["vidal"].append(wall)
        peak_one.append(rss)
        summary = json.loads((work / f"runs-{k}" / args.video.stem / "summary.json").read_text())
        steady["vidal"].append(steady_rate(summary))
        print(f"round {k + 1}: ultralytics {walls['ultralytics'][-1]:.2f} s, vidal {walls['vidal'][-1]:.2f} s")
    long_video = work / f"{args.video.stem}-x{args.times}.mp4"
    long_frames = concatenate(args.video, args.times, long_video)
    peak_long = measure(vidal_cmd(long_video, work / "runs-long")).peak_mib
    peak_one_again = measure(vidal_cmd(args.video, work / "runs-one")).peak_mib
    one = max(statistics.median(peak_one), peak_one_again)

    fps = {name: frames / statistics.median(values) for name, values in walls.items()}
    fps_steady = {name: statistics.median(values) for name, values in steady.items()}
    ratio = fps["vidal"] / fps["ultralytics"]
    print(f"whole command: ultralytics {fps['ultralytics']:.1f} fps, vidal {fps['vidal']:.1f} fps, ratio {ratio:.2f}")
    print(f"steady state: ultralytics {fps_steady['ultralytics']:.1f} fps, vidal {fps_steady['vidal']:.1f} fps")
    print(f"peak memory: one pass {one:.0f} MiB, x{args.times} ({long_frames} frames) {peak_long:.0f} MiB, "
          f"ratio {peak_long / one:.3f}")
    body = f"""Video `{args.video.name}` ({frames} frames), model `{args.model.name}`, class person, conf 0.1,
imgsz {args.imgsz}; median of {args.repeat} alternating runs, each a fresh process.

| | Ultralytics `track` (bytetrack.yaml) | `vidal mine` | ratio |
|---|---|---|---|
| whole command, frames/s (frames / wall time incl. imports, model load, outputs) | {fps['ultralytics']:.1f} | {fps['vidal']:.1f} | **{ratio:.2f}x** |
| steady state, frames/s (after the first frame) | {fps_steady['ultralytics']:.1f} | {fps_steady['vidal']:.1f} | {fps_steady['vidal'] / fps_steady['ultralytics']:.2f}x |

Peak resident memory of `vidal mine`: {one:.0f} MiB for one pass, {peak_long:.0f} MiB for the video
concatenated {args.times} times ({long_frames} frames): ratio **{peak_long / one:.3f}**.
"""
    if not args.no_write:
        write_section("Speed and memory", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
