"""``vidal mine`` on a GPU against Ultralytics' own ``track`` on the same GPU, side by side in one run.

Both run as whole commands (a fresh process each: imports, model load, every frame, outputs)
on the same 1080p video with the same PyTorch model, class, detection threshold, image size
and precision (half on CUDA, as both default to there), alternating, ``--repeat`` times; the
figure is frames / median wall time, with the processing rate after the first frame beside it
(Ultralytics: timed in its process; vidal: ``summary.json``'s ``steady_frames_per_second``).
The first frame carries each tool's one-off costs where it puts them (Ultralytics loads and
starts CUDA before its loop; vidal's first inference does part of that), so the whole command
is the fair comparison. vidal runs at each ``--batches`` size (frames per inference call, decoded
ahead in a thread); Ultralytics' ``track`` takes one frame at a time (its tracker needs each
frame's boxes before the next).

The project never needs a GPU: this script is for a machine that has one.

    python tools/bench_gpu.py                     # CUDA device 0; writes its section of BENCHMARKS.md
    python tools/bench_gpu.py --device cpu --no-write --batches 1 --repeat 1 --frames 30   # a dry run
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from benchmark_common import SHARED, SHARED_PT, measure, offline_ultralytics, scratch_folder, steady_rate, write_section

from vidal.detectors.ultralytics import precision_args
from vidal.video import open_source

VIDEO = SHARED / "data" / "mot" / "SNMOT-116" / "SNMOT-116.mp4"
MODEL = SHARED_PT

ULTRALYTICS = r"""
import json, sys, time
from ultralytics import YOLO
model_path, video, imgsz, device, precision, frames = sys.argv[1:7]
model = YOLO(model_path, task="detect")
n, first = 0, None
stream = model.track(video, tracker="bytetrack.yaml", classes=[0], conf=0.1, imgsz=int(imgsz), device=device,
                     stream=True, verbose=False, **json.loads(precision))
for result in stream:
    n += 1
    if first is None:
        first = time.perf_counter()
    if n == int(frames):
        break
print("STEADY", (n - 1) / (time.perf_counter() - first))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--video", type=Path, default=VIDEO)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--frames", type=int, default=0, help="only the first N frames (0: all)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    offline_ultralytics()
    cuda = args.device.startswith("cuda") or args.device.isdigit()
    if cuda:
        import torch

        if not torch.cuda.is_available():
            raise SystemExit(f"no CUDA device here for --device {args.device}: run this on a machine with a GPU")
    gpu = torch.cuda.get_device_name(0) if cuda else "none (a dry run)"
    precision = json.dumps(precision_args(cuda))  # vidal's argument for it, whichever Ultralytics is here
    frames = open_source(args.video).info.frame_count
    frames = min(frames, args.frames) if args.frames else frames
    work = scratch_folder("vidal-bench-gpu-")
    ultra = [sys.executable, "-c", ULTRALYTICS, str(args.model), str(args.video), str(args.imgsz), args.device,
             precision, str(frames)]

    def vidal(batch: int, out: Path) -> list[str]:
        return [sys.executable, "-m", "vidal.cli", "mine", "--no-push", str(args.video), "--model", str(args.model),
                "--classes", "person", "--imgsz", str(args.imgsz), "--device", args.device, "--batch", str(batch),
                "--end", str(frames), "--out", str(out)]

    names = ["ultralytics", *(f"vidal batch {b}" for b in args.batches)]
    walls: dict[str, list[float]] = {name: [] for name in names}
    steady: dict[str, list[float]] = {name: [] for name in names}
    for k in range(args.repeat):
        run = measure(ultra)
        walls["ultralytics"].append(run.wall_s)
        steady["ultralytics"].append(float(run.output.split("STEADY")[1].split()[0]))
        for batch in args.batches:
            out = work / f"runs-{k}-{batch}"
            run = measure(vidal(batch, out))
            summary = json.loads(next(out.glob("*/summary.json")).read_text())
            walls[f"vidal batch {batch}"].append(run.wall_s)
            steady[f"vidal batch {batch}"].append(steady_rate(summary))
        print(f"round {k + 1}: " + ", ".join(f"{name} {values[-1]:.1f} s" for name, values in walls.items()))
    rate = {name: frames / statistics.median(values) for name, values in walls.items()}
    rate_steady = {name: statistics.median(values) for name, values in steady.items()}
    lines = [
        f"Device `{args.device}` ({gpu}), video `{args.video.name}` ({frames} frames), model `{args.model.name}`, "
        f"class person, conf 0.1, imgsz {args.imgsz}, half precision {'on' if cuda else 'off'}; median of "
        f"{args.repeat} alternating runs, each a fresh process.",
        "",
        "| command | whole command, frames/s | against Ultralytics | after the first frame, frames/s | against Ultralytics |",
        "|---|---|---|---|---|",
    ]
    for name in names:
        lines.append(f"| {name} | {rate[name]:.1f} | {rate[name] / rate['ultralytics']:.2f}x | "
                     f"{rate_steady[name]:.1f} | {rate_steady[name] / rate_steady['ultralytics']:.2f}x |")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("GPU: vidal mine against Ultralytics track", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
