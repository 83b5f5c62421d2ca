"""Label quality of propagation: how many right labels a few reviewed frames make.

For each video with MOTChallenge ground truth (the shared soccer games, ADL-Rundle-6 and TUD
sequences, the sample clip, fresh synthetic clips), vidal mines once; then, for each share of
reviewed frames and each way of picking them (vidal's selection, uniform, random), the picked
frames get the ground truth's boxes as the human's labels (what ``vidal label --from-mot``
writes), propagation labels the rest, and every processed frame's labels are scored against
the ground truth: box precision and recall at IoU 0.5 with matching class. The baseline is the
tracker's own boxes taken as labels, with no frame reviewed (what self-training would use).

    python tools/bench_propagate.py          # writes the table to BENCHMARKS.md

The detector's input size matters on 1080p video, where players far away and the ball are a
few pixels at 640: ``--imgsz 1280`` mines the real videos with the shared COCO model exported
to OpenVINO with a dynamic input (FP32), run at 1280 on the long side, into its own section:

    python tools/bench_propagate.py --imgsz 1280 --videos SNMOT-116,SNMOT-060,ADL-Rundle-6 \
        --synthetic 0 --section "Propagation: label quality (imgsz 1280)"
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark_common import REPO, SHARED, SHARED_MODEL, SHARED_PT, offline_ultralytics, scratch_folder, write_section

SHARES = (0.02, 0.05, 0.10)
# The reference row: keyframe interpolation of the ground truth's own identities, on the
# keyframes of REFERENCE_KEYFRAMES (what linear interpolation reaches where a human links
# every box by hand; no tracker).
REFERENCE = "gt identities interpolated (reference)"
REFERENCE_KEYFRAMES = "uniform"
SYNTHETIC_FRAMES = 300
SECTION = "Propagation: label quality"
REAL = ("SNMOT-116", "SNMOT-060", "ADL-Rundle-6", "TUD-Stadtmitte", "TUD-Campus")


@dataclass
class Video:
    name: str
    video: Path
    gt: Path
    model: Path
    classes: list[str]
    settings: tuple[str, ...] = ()  # vidal config overrides of this video's mining


@dataclass
class Truth:
    frame: np.ndarray
    xyxy: np.ndarray
    label: np.ndarray
    ignore: tuple[np.ndarray, np.ndarray]
    track_id: np.ndarray


def read_truth(gt_path: Path) -> Truth:
    from vidal.dataset.label import resolve_classes, resolve_roles, row_labels
    from vidal.mot import read_gt

    gt = read_gt(gt_path)
    names = row_labels(gt, resolve_classes(gt_path, None), resolve_roles(gt_path, None))
    keep = names != ""
    return Truth(gt.frame[keep], gt.xyxy[keep], names[keep], (gt.frame[~keep], gt.xyxy[~keep]), gt.track_id[keep])


def interpolate_truth(truth: Truth, keyframes: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keyframe interpolation that knows every identity (a reference, not a method): each
    ground-truth object's boxes on the keyframes, moved linearly between consecutive keyframes
    it is on; nothing before its first keyframe or after its last."""
    on_key = np.isin(truth.frame, np.asarray(sorted(keyframes), np.int64))
    frames, boxes, labels = [], [], []
    for object_id in np.unique(truth.track_id):
        rows = np.flatnonzero((truth.track_id == object_id) & on_key)
        rows = rows[np.argsort(truth.frame[rows], kind="stable")]
        for a, b in zip(rows, rows[1:]):
            fa, fb = int(truth.frame[a]), int(truth.frame[b])
            t = (np.arange(fa, fb) - fa) / (fb - fa)
            frames.append(np.arange(fa, fb))
            boxes.append((1 - t)[:, None] * truth.xyxy[a] + t[:, None] * truth.xyxy[b])
            labels.append(np.full(fb - fa, truth.label[a], object))
        if len(rows):
            frames.append(truth.frame[rows[-1:]])
            boxes.append(truth.xyxy[rows[-1:]])
            labels.append(truth.label[rows[-1:]].astype(object))
    if not frames:
        return np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros(0, object)
    return np.concatenate(frames), np.concatenate(boxes).astype(np.float32), np.concatenate(labels)


def by_class(truth: Truth, labels: tuple[np.ndarray, np.ndarray, np.ndarray], processed: list[int]) -> dict:
    """Precision and recall of each ground-truth class (videos with more than one)."""
    from vidal.evaluation import label_quality

    names = sorted(set(truth.label.tolist()))
    if len(names) < 2:
        return {}
    out = {}
    for name in names:
        g, p = truth.label == name, labels[2] == name
        q = label_quality((truth.frame[g], truth.xyxy[g], truth.label[g]), (labels[0][p], labels[1][p], labels[2][p]),
                          processed, truth.ignore)
        out[name] = (q.precision if q.true_positives + q.false_positives else float("nan"), q.recall)
    return out


def keyframes_from(truth: Truth, frames: list[int]):
    from vidal.propagation import Keyframe

    return {f: Keyframe(frame=f, xyxy=truth.xyxy[truth.frame == f], label=truth.label[truth.frame == f])
            for f in frames}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", default="", help="comma-separated names to run (default: all)")
    parser.add_argument("--synthetic", type=int, default=2, help="fresh clips of the sample generator (seeds from 2000)")
    parser.add_argument("--random-seeds", type=int, default=3)
    parser.add_argument("--strategies", default="propagate,uniform,random")
    parser.add_argument("--set", action="append", default=[], help="vidal config override")
    parser.add_argument("--work", type=Path, default=None, help="keep mined runs here (reused when present)")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--imgsz", type=int, default=None,
                        help="mine the real videos with the shared COCO model exported to OpenVINO with a dynamic "
                             "input, run at this size (default: the shared int8 export, 640)")
    parser.add_argument("--section", default=SECTION,
                        help="BENCHMARKS.md section to write (another one for runs with other --set detector settings)")
    args = parser.parse_args()
    offline_ultralytics()
    work = args.work or scratch_folder("vidal-bench-propagate-")
    videos = []
    model, settings = SHARED_MODEL, ()
    if args.imgsz is not None and SHARED_PT.exists():
        model, settings = dynamic_export(work), (f"detector.imgsz={args.imgsz}",)
    for name in REAL:
        folder = SHARED / "data" / "mot" / name
        classes = ["person", "sports ball"] if name.startswith("SNMOT") else ["person"]
        videos.append(Video(name, folder / f"{name}.mp4", folder / "gt" / "gt.txt", model, classes, settings))
    sample = REPO / "sample_videos"
    videos.append(Video("crossing (sample)", sample / "crossing.mp4", sample / "crossing" / "gt" / "gt.txt",
                        sample / "crossing_yolo11n.pt", []))
    if args.synthetic:
        import make_sample

        for seed in range(2000, 2000 + args.synthetic):
            video, _, _ = make_sample.write_clip(work / "clips", f"synthetic-{seed}", seed, SYNTHETIC_FRAMES)
            videos.append(Video(f"synthetic seed {seed}", video, video.with_suffix("") / "gt" / "gt.txt",
                                sample / "crossing_yolo11n.pt", []))
    wanted = {v for v in args.videos.split(",") if v}
    rows, mined = [], []
    for video in videos:
        if wanted and video.name not in wanted:
            continue
        if not (video.video.exists() and video.model.exists()):
            print(f"skipping {video.name}: missing {video.video if not video.video.exists() else video.model}",
                  file=sys.stderr)
            continue
        rows.extend(run_video(video, work, args))
        mined.append(mining_line(video, work))
    text = table(rows) + "\n\nMining (the tracks propagation reads; a reused run's figures are its own):\n\n" + "\n".join(mined)
    print(text)
    if not args.no_write and rows:
        write_section(args.section, DESCRIPTION + "\n\n" + text)
    return 0


def dynamic_export(work: Path) -> Path:
    """The shared COCO model exported to OpenVINO (FP32) with a dynamic input, once per work
    folder: vidal runs it at ``detector.imgsz`` on the long side, the short side fitted to the
    frame (a 1080p frame at 1280 is 1280x736)."""
    folder = work / "models"
    target = folder / f"{SHARED_PT.stem}_openvino_model"
    if not (target / "metadata.yaml").is_file():
        from ultralytics import YOLO

        folder.mkdir(parents=True, exist_ok=True)
        copy = folder / SHARED_PT.name
        shutil.copyfile(SHARED_PT, copy)
        YOLO(str(copy)).export(format="openvino", dynamic=True, half=False)
    return target


def run_folder(video: Video, work: Path) -> Path:
    """Where a video's mined run is kept (and reused) in the work folder."""
    return work / "runs" / video.name.replace(" ", "_")


def mining_line(video: Video, work: Path) -> str:
    """The detector a video's run used and its processing time per frame (``summary.json``)."""
    from vidal.runs import read_summary

    summary = read_summary(run_folder(video, work))
    processed = int(summary.frames.get("processed", 0))
    seconds = float(summary.timings.get("processing_seconds", 0.0))
    per_frame = f"{1000 * seconds / processed:.0f} ms per frame" if processed and seconds else "time not recorded"
    return f"- {video.name}: {summary.model}; {per_frame} (decode, detect, track, score)"


DESCRIPTION = (
    "Every processed frame's labels against the ground truth (box precision and recall at IoU 0.5, class "
    "must match; ground-truth rows flagged 0 are ignore regions). Reviewed frames get the ground truth's "
    "boxes, as `vidal label --from-mot` gives them; `tracker only` takes the tracker's boxes as labels with "
    "no frame reviewed. Soccer: ball -> `sports ball`, every other role -> `person` (`gameinfo.ini`). "
    f"`{REFERENCE}` is no method but a yardstick: the ground truth's boxes on the `{REFERENCE_KEYFRAMES}` "
    "keyframes moved linearly between consecutive keyframes of the same ground-truth identity (keyframe "
    "interpolation where a human links every box by hand, with no tracker)."
)


def run_table(run_dir: Path, breaks):
    """The selection's frame table of a mined run, rebuilt from its files: the frame scores of
    ``frames.csv`` and the suspect events (a track's objects of uncertainty >= 0.35 on a
    frame) of ``track_states.csv``, as the pipeline builds them."""
    from vidal.runs import load_run, read_track_states
    from vidal.scoring import SUSPECT_MIN_UNCERTAINTY
    from vidal.selection import FrameTable, stretch_ids

    frames = load_run(run_dir).frames()
    number = np.array([f.frame for f in frames], np.int64)
    states = read_track_states(run_dir)
    keep = states.uncertainty >= SUSPECT_MIN_UNCERTAINTY
    index = np.searchsorted(number, states.frame[keep])
    pairs, inverse = np.unique(np.c_[index, states.track_id[keep]], axis=0, return_inverse=True)
    value = np.bincount(inverse.ravel(), weights=states.uncertainty[keep].astype(np.float64), minlength=len(pairs))
    zeros = np.zeros(len(number))
    tracked = ~states.predicted
    cut = states.any_reason(breaks)[tracked]
    box_index = np.searchsorted(number, states.frame[tracked])
    stretches = {"frame_index": box_index, "stretch": stretch_ids(box_index, states.track_id[tracked], cut)}
    return FrameTable(frame=number, score=np.array([f.score for f in frames]), least_confidence=zeros, entropy=zeros,
                      events={"frame_index": pairs[:, 0].astype(np.int64), "event": pairs[:, 1].astype(np.int64),
                              "value": value}, stretches=stretches)


def run_video(video: Video, work: Path, args) -> list[dict]:
    from vidal.config import load_config
    from vidal.evaluation import label_quality
    from vidal.pipeline import build_detector, mine_source
    from vidal.runs import read_summary
    from vidal.propagation import propagate, read_track_rows
    from vidal.propagation.spread import Verdicts, spread_tracks
    from vidal.selection import select
    from vidal.video import open_source

    settings = [f"detector.model={video.model}", "selection.budget=1", *video.settings, *args.set]
    if video.classes:
        settings.append(f"detector.classes=[{', '.join(video.classes)}]")
    config = load_config(None, settings)
    run_dir = run_folder(video, work)
    if not (run_dir / "track_states.csv").is_file():
        detector = build_detector(config)
        started = time.perf_counter()
        mine_source(open_source(video.video), detector, config, work / "runs", run_name=run_dir.name)
        print(f"{video.name}: mined in {time.perf_counter() - started:.0f} s", flush=True)
    summary = read_summary(run_dir)
    names = {int(k): v for k, v in summary.classes.items()}
    reported = [str(name) for name in summary.labels]
    table = run_table(run_dir, config.propagation.breaks)
    source = open_source(video.video)
    rows = read_track_rows(run_dir, config.propagation.breaks)
    truth = read_truth(video.gt)
    processed = [int(f) for f in table.frame]
    gt = (truth.frame, truth.xyxy, truth.label)
    min_gap = int(round(config.selection.min_gap_s * source.info.fps))
    out = []
    # The baseline: every tracker box, its track's majority class.
    baseline = spread_tracks(rows, {}, Verdicts({}, set(), {}, {}), names, 0.0)
    baseline = baseline[np.isin(baseline.label.astype(str), reported)]
    q = label_quality(gt, (baseline.frame, baseline.xyxy, baseline.label), processed, truth.ignore)
    out.append({"video": video.name, "share": 0.0, "strategy": "tracker only", "reviewed": 0, "precision": q.precision,
                "recall": q.recall, "f1": q.f1, "seconds": 0.0,
                "by_class": by_class(truth, (baseline.frame, baseline.xyxy, baseline.label), processed)})
    print(f"{video.name}: {len(processed)} frames; tracker only: "
          f"P {q.precision:.3f} R {q.recall:.3f}", flush=True)
    for share in SHARES:
        budget = max(1, int(round(share * len(processed))))
        reference = None
        for strategy in args.strategies.split(","):
            seeds = range(args.random_seeds) if strategy == "random" else range(1)
            qs, seconds, classes = [], [], []
            for seed in seeds:
                chosen = select(table, budget, strategy=strategy, min_gap=min_gap,
                                rng=np.random.default_rng(seed))
                frames = sorted(int(table.frame[i]) for i in chosen)
                t0 = time.perf_counter()
                done = propagate(rows, keyframes_from(truth, frames), names, config.propagation, processed,
                                 open_source(video.video))
                seconds.append(time.perf_counter() - t0)
                labels = done.labels
                # as `vidal propagate` writes them: the run's reported classes only (an unconfirmed
                # track whose boxes were mostly of another class is not one of them)
                labels = labels[np.isin(labels.label.astype(str), reported)]
                qs.append(label_quality(gt, (labels.frame, labels.xyxy, labels.label), processed, truth.ignore))
                classes.append(by_class(truth, (labels.frame, labels.xyxy, labels.label), processed))
                if strategy == REFERENCE_KEYFRAMES and seed == 0:
                    reference = interpolate_truth(truth, frames)
            row = {"video": video.name, "share": share, "strategy": strategy, "reviewed": budget,
                   "precision": float(np.mean([q.precision for q in qs])), "recall": float(np.mean([q.recall for q in qs])),
                   "f1": float(np.mean([q.f1 for q in qs])), "seconds": float(np.mean(seconds)),
                   "by_class": {name: tuple(np.mean([c[name] for c in classes], axis=0)) for name in classes[0]}}
            out.append(row)
            print(f"{video.name}: {100 * share:.0f}% ({budget} frames) {strategy:8s} P {row['precision']:.3f} "
                  f"R {row['recall']:.3f} F1 {row['f1']:.3f} ({row['seconds']:.1f} s)", flush=True)
        if reference is not None:
            q = label_quality(gt, reference, processed, truth.ignore)
            out.append({"video": video.name, "share": share, "strategy": REFERENCE, "reviewed": budget,
                        "precision": q.precision, "recall": q.recall, "f1": q.f1, "seconds": 0.0,
                        "by_class": by_class(truth, reference, processed)})
            print(f"{video.name}: {100 * share:.0f}% ({budget} frames) {REFERENCE}: P {q.precision:.3f} "
                  f"R {q.recall:.3f} F1 {q.f1:.3f}", flush=True)
    return out


def table(rows: list[dict]) -> str:
    lines = ["| video | reviewed | keyframes | precision | recall | F1 | by class: precision / recall | propagation s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        share = "none" if r["share"] == 0 else f"{100 * r['share']:.0f}% ({r['reviewed']})"
        classes = ", ".join(f"{name} {'-' if np.isnan(p) else f'{p:.3f}'} / {q:.3f}"
                            for name, (p, q) in r.get("by_class", {}).items())  # -: no label of the class
        seconds = "" if r["strategy"] == REFERENCE else f"{r['seconds']:.1f}"
        lines.append(f"| {r['video']} | {share} | {r['strategy']} | {r['precision']:.3f} | {r['recall']:.3f} | "
                     f"{r['f1']:.3f} | {classes} | {seconds} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
