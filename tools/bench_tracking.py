"""Tracker quality: vidal's ByteTrack against Ultralytics' own ``track`` on the shared TUD sequences.

Both trackers get the same detector (the shared OpenVINO YOLO11n), the same classes
(person), the same detection threshold and image size; both outputs are scored by the same
code (:func:`vidal.evaluation.evaluate_tracking`, TrackEval's CLEAR, Identity and HOTA).

    python tools/bench_tracking.py            # writes the table to BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark_common import SHARED_MODEL, TUD, offline_ultralytics, scratch_folder, write_section


def ultralytics_tracks(video: Path, out: Path, conf: float, imgsz: int) -> Path:
    """Run Ultralytics' ``track`` with bytetrack.yaml and write its MOTChallenge file."""
    from ultralytics import YOLO

    model = YOLO(str(SHARED_MODEL), task="detect")
    lines = []
    results = model.track(
        str(video), tracker="bytetrack.yaml", classes=[0], conf=conf, imgsz=imgsz, stream=True, verbose=False
    )
    for frame, result in enumerate(results, start=1):
        boxes = result.boxes
        if boxes.id is None:
            continue
        for (x1, y1, x2, y2), track_id, score in zip(
            boxes.xyxy.tolist(), boxes.id.int().tolist(), boxes.conf.tolist()
        ):
            lines.append(f"{frame},{track_id},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{score:.4f},-1,-1,-1")
    out.write_text("\n".join(lines) + "\n")
    return out


def vidal_tracks(video: Path, out_root: Path, conf: float, imgsz: int, overrides: list[str]) -> Path:
    """Run ``vidal mine`` through the library and return its ``tracks.txt``."""
    from vidal.config import load_config
    from vidal.pipeline import build_detector, mine_source
    from vidal.video import open_source

    config = load_config(
        None,
        [f"detector.model={SHARED_MODEL}", "detector.classes=[person]", f"detector.conf={conf}",
         f"detector.imgsz={imgsz}", "selection.budget=1", *overrides],
    )
    detector = build_detector(config)
    result = mine_source(open_source(video), detector, config, out_root)
    return result.run_dir / "tracks.txt"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conf", type=float, default=0.1, help="detection threshold for both (ByteTrack's floor)")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--set", action="append", default=[], help="vidal config override")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = parser.parse_args()
    if not SHARED_MODEL.exists():
        print(f"shared model not found at {SHARED_MODEL}", file=sys.stderr)
        return 1
    offline_ultralytics()
    from vidal.evaluation import evaluate_tracking
    from vidal.mot import read_mot

    rows = []
    work = scratch_folder("vidal-bench-tracking-")
    for name, folder in TUD.items():
        video = folder / f"{name}.mp4"
        gt = read_mot(folder / "gt" / "gt.txt")
        scores = {
            "Ultralytics track (bytetrack.yaml)": evaluate_tracking(
                gt, read_mot(ultralytics_tracks(video, work / f"{name}-ultralytics.txt", args.conf, args.imgsz))
            ),
            "vidal mine": evaluate_tracking(
                gt, read_mot(vidal_tracks(video, work / "runs", args.conf, args.imgsz, args.set))
            ),
        }
        for tracker, s in scores.items():
            rows.append(
                f"| {name} | {tracker} | {s.mota:.3f} | {s.idf1:.3f} | {s.hota:.3f} | {s.id_switches} "
                f"| {s.false_positives} | {s.misses} |"
            )
            print(f"{name:15s} {tracker:36s} MOTA {s.mota:.3f} IDF1 {s.idf1:.3f} HOTA {s.hota:.3f} "
                  f"IDSW {s.id_switches} FP {s.false_positives} FN {s.misses}")
    body = (
        f"Same detector (shared YOLO11n OpenVINO int8), class person, conf {args.conf}, imgsz {args.imgsz}; "
        "both scored by `vidal.evaluation` (TrackEval CLEAR/Identity/HOTA, IoU 0.5).\n\n"
        "| sequence | tracker | MOTA | IDF1 | HOTA | ID switches | FP | FN |\n|---|---|---|---|---|---|---|---|\n"
        + "\n".join(rows)
    )
    if not args.no_write:
        write_section("Tracking quality (TUD)", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
