"""Detector benchmark of propagation: what a reviewed frame is worth to the detector when its
labels are spread along the tracks.

The soccer scenario of issue 23, counted in *human-reviewed frames*. A pool (the first 600
frames of the SoccerNet game SNMOT-116), two test sets: the same game after a 2 s gap
(frames 651-750) and the other game (SNMOT-060, night, another stadium). vidal mines the pool
once with the base detector (the shared COCO YOLO11n, classes person and sports ball); for
each share of reviewed frames and each arm, the reviewed frames get the ground truth's boxes
(what ``vidal label --from-mot`` writes), and the base is fine-tuned on:

- ``random`` / ``uniform``: the reviewed frames only (human labels);
- ``uniform+prop`` / ``vidal+prop``: the reviewed frames plus, on every ``--stride``-th pool
  frame, the labels propagation spreads from them along vidal's tracks (``vidal
  propagate``'s labels; ``vidal train`` trains on them by default); ``vidal`` picks its frames
  with the ``propagate`` strategy (uncertain events plus a keyframe for each long stretch);
- ``all gt``: the ground truth of every ``--stride``-th pool frame (the ceiling).

Every arm trains the same number of optimizer steps (``--steps`` at batch ``--batch``), so arms
differ only in their labels; seeds pair the arms (training seed, and random's picks). Scores:
Ultralytics' validator, mAP@0.5 over person and ball, and person alone, on each test set.

    python tools/bench_al_propagate.py                 # the run in BENCHMARKS.md (30 steps, imgsz 480)
    python tools/bench_al_propagate.py --steps 90      # longer fine-tunes: a section of their own
    python tools/bench_al_propagate.py --summarise WORK/rows.csv   # the table again, trains nothing
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from benchmark_common import SHARED, SHARED_MODEL, offline_ultralytics, scratch_folder, write_section
from bench_al import parse_hyp
from bench_propagate import keyframes_from, read_truth, run_table

GAMES = SHARED / "data" / "mot"
BASE = SHARED / "models" / "yolo11n_coco_from_openvino.pt"
POOL = ("SNMOT-116", 1, 600)
TESTS = {"same game, later": ("SNMOT-116", 651, 750, 2), "other game": ("SNMOT-060", 1, 750, 10)}
CLASSES = ("person", "sports ball")
ARMS = ("random", "uniform", "uniform+prop", "vidal+prop")
CEILING = "all gt"
# The protocol's fine-tune on 2 CPU cores: 30 steps of batch 8 (vidal's fine-tuning settings).
STEPS = 30
COLUMNS = ["arm", "share", "seed", "reviewed", "train_frames", "human_boxes", "propagated_boxes", "test", "map50",
           "map50_person", "map", "train_s"]


def section(steps: int) -> str:
    """The BENCHMARKS.md section of a run with ``steps`` optimizer steps a fine-tune."""
    return "Propagation: detector (soccer)" if steps == STEPS else f"Propagation: detector (soccer, {steps} steps)"


def video_path(name: str) -> Path:
    return GAMES / name / f"{name}.mp4"


def save_frames(name: str, frames: list[int], folder: Path) -> None:
    """Decode ``frames`` (1-based) of a game into ``folder/<name>_<frame>.jpg`` (kept when present)."""
    from vidal.video import open_source

    folder.mkdir(parents=True, exist_ok=True)
    wanted = [f for f in frames if not (folder / f"{name}_{f:06d}.jpg").is_file()]
    if wanted:
        for frame in open_source(video_path(name)).read(wanted):
            cv2.imwrite(str(folder / f"{name}_{frame.index:06d}.jpg"), frame.image, [cv2.IMWRITE_JPEG_QUALITY, 92])


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from vidal.training.ultralytics import model_names
        from vidal.video import open_source

        self.args, self.work = args, args.work
        self.names = model_names(str(BASE)) or {}
        self.ids = {n: i for i, n in self.names.items()}
        self.size, self.fps = {}, {}
        for name in {POOL[0], *(t[0] for t in TESTS.values())}:
            info = open_source(video_path(name)).info
            self.size[name], self.fps[name] = (info.width, info.height), info.fps
        self.truth = {name: read_truth(GAMES / name / "gt" / "gt.txt") for name in self.size}
        self.frames = self.work / "frames"
        self.tests = {}
        for test, (name, first, last, step) in TESTS.items():
            frames = list(range(first, last + 1, step))
            root = self.work / "test" / test.replace(" ", "-").replace(",", "")
            self.write_set(root, name, {f: self.gt_boxes(name, f) for f in frames})
            self.tests[test] = self.yaml(root)

    def gt_boxes(self, name: str, frame: int) -> tuple[np.ndarray, np.ndarray]:
        truth = self.truth[name]
        mask = (truth.frame == frame) & np.isin(truth.label, CLASSES)
        return truth.xyxy[mask], np.array([self.ids[n] for n in truth.label[mask]], np.int64)

    def write_set(self, root: Path, name: str, boxes: dict[int, tuple[np.ndarray, np.ndarray]]) -> None:
        """A YOLO split at ``root/images``/``root/labels``: links to the decoded frames, label files."""
        from vidal.yolo import write_yolo_labels

        save_frames(name, sorted(boxes), self.frames)
        images, labels = root / "images", root / "labels"
        images.mkdir(parents=True, exist_ok=True)
        labels.mkdir(parents=True, exist_ok=True)
        width, height = self.size[name]
        for frame, (xyxy, class_ids) in boxes.items():
            stem = f"{name}_{frame:06d}"
            if not (images / f"{stem}.jpg").exists():
                os.link(self.frames / f"{stem}.jpg", images / f"{stem}.jpg")
            write_yolo_labels(labels / f"{stem}.txt", xyxy, class_ids, width, height)

    def yaml(self, root: Path) -> Path:
        names = "\n".join(f"  {i}: {n}" for i, n in sorted(self.names.items()))
        path = root / "dataset.yaml"
        path.write_text(f"train: {root / 'images'}\nval: {root / 'images'}\nnames:\n{names}\n")
        return path

    def mine_pool(self):
        """vidal's run over the pool with the base detector (cached in the work folder)."""
        from vidal.config import load_config
        from vidal.pipeline import build_detector, mine_source
        from vidal.video import open_source

        name, first, last = POOL
        config = load_config(None, [f"detector.model={SHARED_MODEL}", "selection.budget=1",
                                    f"detector.classes=[{', '.join(CLASSES)}]"])
        config.input.start, config.input.end = first, last
        run_dir = self.work / "runs" / f"{name}-pool"
        if not (run_dir / "track_states.csv").is_file():
            started = time.perf_counter()
            mine_source(open_source(video_path(name)), build_detector(config), config, self.work / "runs",
                        run_name=run_dir.name)
            print(f"mined the pool in {time.perf_counter() - started:.0f} s", flush=True)
        return config, run_dir

    def picks(self, table, arm: str, budget: int, seed: int, min_gap: int) -> list[int]:
        from vidal.selection import select

        strategy = {"random": "random", "vidal+prop": "propagate"}.get(arm, "uniform")
        chosen = select(table, budget, strategy=strategy, min_gap=min_gap, rng=np.random.default_rng(seed))
        return sorted(int(table.frame[i]) for i in chosen)

    def training_set(self, arm: str, reviewed: list[int], config, run_dir: Path, seed: int, share: float):
        """Boxes by frame for ``arm`` and the number of human and propagated boxes."""
        from vidal.propagation import propagate, read_track_rows
        from vidal.runs import read_summary
        from vidal.video import open_source

        name, first, last = POOL
        stride = list(range(first, last + 1, self.args.stride))
        if arm == CEILING:
            boxes = {f: self.gt_boxes(name, f) for f in stride}
            return boxes, sum(len(b[0]) for b in boxes.values()), 0
        boxes = {f: self.gt_boxes(name, f) for f in reviewed}
        human = sum(len(b[0]) for b in boxes.values())
        if not arm.endswith("+prop"):
            return boxes, human, 0
        names = {int(k): v for k, v in read_summary(run_dir).classes.items()}
        rows = read_track_rows(run_dir, config.propagation.breaks)
        processed = list(range(first, last + 1))
        done = propagate(rows, keyframes_from(self.truth[name], reviewed), names, config.propagation, processed,
                         open_source(video_path(name)))
        labels = done.labels
        spread = 0
        for f in stride:
            if f in boxes:
                continue
            mask = (labels.frame == f) & np.isin(labels.label, CLASSES)
            boxes[f] = (labels.xyxy[mask], np.array([self.ids[n] for n in labels.label[mask]], np.int64))
            spread += int(mask.sum())
        return boxes, human, spread

    def train(self, arm: str, share: float, seed: int, boxes) -> tuple[str, float]:
        from vidal.training import balanced_batch, fine_tune

        root = self.work / "train" / f"{arm}-{share:g}-{seed}".replace("+", "_").replace(" ", "_")
        weights = root / "ultralytics" / "weights" / "last.pt"
        if weights.is_file():
            return str(weights), float("nan")
        self.write_set(root / "set", POOL[0], boxes)
        batch = balanced_batch(len(boxes), self.args.batch)
        # Whole epochs of at least --steps steps (at most one epoch more).
        epochs = max(1, math.ceil(self.args.steps / math.ceil(len(boxes) / batch)))
        started = time.perf_counter()
        fine_tune(str(BASE), self.yaml(root / "set"), root, epochs=epochs, imgsz=self.args.imgsz, batch=batch,
                  device="cpu", seed=seed, hyp={**self.args.hyp, "val": False})
        return str(weights), time.perf_counter() - started

    def evaluate(self, model: str) -> dict[str, tuple[float, float, float]]:
        from vidal.training import validate

        out = {}
        for test, data in self.tests.items():
            m = validate(model, data, imgsz=self.args.imgsz, batch=16, device="cpu", log=self.work / "validate.log")
            out[test] = (m.map50, m.per_class.get("person", {}).get("map50", float("nan")), m.map)
        return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help="frames, the mined pool and trained models (reused)")
    parser.add_argument("--shares", default="0.05,0.1", help="shares of the pool's frames reviewed")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--arms", default=",".join((*ARMS, CEILING)))
    parser.add_argument("--stride", type=int, default=5, help="pool frames that get propagated labels / all gt")
    parser.add_argument("--steps", type=int, default=STEPS, help="optimizer steps of every fine-tune")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--imgsz", type=int, default=480)
    parser.add_argument("--hyp", action="append", default=[], help="Ultralytics training argument key=value")
    parser.add_argument("--summarise", type=Path, default=None, help="a rows.csv of an earlier run: table only")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    args.hyp = parse_hyp(args.hyp)
    if args.summarise:
        with args.summarise.open() as f:
            rows = list(csv.DictReader(f))
        text = summary(rows)
        print(text)
        if not args.no_write:
            write_section(section(args.steps), DESCRIPTION.format(
                steps=args.steps, batch=args.batch, imgsz=args.imgsz, stride=args.stride,
                seeds=len({r["seed"] for r in rows if r["arm"] != "base"})) + "\n\n" + text)
        return 0
    if not (video_path(POOL[0]).exists() and BASE.exists()):
        print(f"shared data missing: {video_path(POOL[0])} or {BASE}", file=sys.stderr)
        return 1
    offline_ultralytics()
    args.work = args.work or scratch_folder("vidal-bench-al-propagate-")
    bench = Bench(args)
    config, run_dir = bench.mine_pool()
    table = run_table(run_dir, config.propagation.breaks)
    min_gap = int(round(config.selection.min_gap_s * bench.fps[POOL[0]]))
    out = args.work / "rows.csv"
    # Rows of earlier invocations on the same work folder are kept (a run can be extended arm by arm).
    rows: list[dict] = list(csv.DictReader(out.open())) if out.is_file() else []
    done = {(r["arm"], float(r["share"]), int(r["seed"])) for r in rows}
    with out.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if not rows:
            writer.writeheader()

        def record(arm, share, seed, reviewed, boxes, human, spread, model, seconds):
            if (arm, share, seed) in done:
                return
            for test, (m50, person, m) in bench.evaluate(model).items():
                row = dict(arm=arm, share=share, seed=seed, reviewed=reviewed, train_frames=len(boxes),
                           human_boxes=human, propagated_boxes=spread, test=test, map50=m50, map50_person=person,
                           map=m, train_s=round(seconds, 1))
                rows.append(row)
                writer.writerow(row)
                f.flush()
                print(f"{arm:12s} {share:5.0%} seed {seed} reviewed {reviewed:3d} frames {len(boxes):3d} "
                      f"({human} human, {spread} propagated boxes) {test}: mAP50 {m50:.3f} person {person:.3f}",
                      flush=True)

        record("base", 0.0, 0, 0, {}, 0, 0, str(BASE), 0.0)
        arms = [a for a in args.arms.split(",") if a]
        for seed in range(args.seeds):
            if CEILING in arms and (CEILING, 1.0, seed) not in done:
                boxes, human, spread = bench.training_set(CEILING, [], config, run_dir, seed, 1.0)
                model, seconds = bench.train(CEILING, 1.0, seed, boxes)
                record(CEILING, 1.0, seed, len(boxes), boxes, human, spread, model, seconds)
            for share in (float(s) for s in args.shares.split(",") if s):
                budget = max(1, round(share * (POOL[2] - POOL[1] + 1)))
                for arm in (a for a in arms if a != CEILING):
                    if (arm, share, seed) in done:
                        continue
                    reviewed = bench.picks(table, arm, budget, seed, min_gap)
                    boxes, human, spread = bench.training_set(arm, reviewed, config, run_dir, seed, share)
                    model, seconds = bench.train(arm, share, seed, boxes)
                    record(arm, share, seed, len(reviewed), boxes, human, spread, model, seconds)
    text = summary([{k: str(v) for k, v in r.items()} for r in rows])
    print(text)
    if not args.no_write:
        write_section(section(args.steps), DESCRIPTION.format(steps=args.steps, batch=args.batch, imgsz=args.imgsz,
                                                              stride=args.stride, seeds=args.seeds) + "\n\n" + text)
    return 0


DESCRIPTION = (
    "Pool: SNMOT-116 frames 1-600; tests: SNMOT-116 frames 651-750 (every 2nd; the same game after a 2 s gap) "
    "and SNMOT-060 (every 10th frame; the other game). Base: the shared COCO YOLO11n (`.pt`). Every arm is "
    "fine-tuned for {steps} SGD steps at batch {batch}, imgsz {imgsz} (vidal's fine-tuning settings); `+prop` "
    "arms and `all gt` train on every {stride}th pool frame plus the reviewed ones. mAP@0.5 (Ultralytics' "
    "validator) over person and sports ball, mean ± sd over {seeds} paired seeds (training seed; random's picks)."
)


def summary(rows: list[dict]) -> str:
    """Mean ± sd of mAP50 per arm and share on each test set, then the issue's two goals."""
    tests = list(dict.fromkeys(r["test"] for r in rows))
    keys = list(dict.fromkeys((r["arm"], float(r["share"])) for r in rows))
    lines = ["| arm | reviewed | train frames | human / propagated boxes | "
             + " | ".join(f"mAP50 {t} | person {t}" for t in tests) + " | mean mAP50 |",
             "|---" * (5 + 2 * len(tests)) + "|"]
    mean_of = {}
    for arm, share in keys:
        mine = [r for r in rows if r["arm"] == arm and float(r["share"]) == share]
        cells, means = [], []
        for t in tests:
            m = np.array([float(r["map50"]) for r in mine if r["test"] == t])
            p = np.array([float(r["map50_person"]) for r in mine if r["test"] == t])
            cells.append(f"{m.mean():.3f} ± {m.std():.3f} | {p.mean():.3f}")
            means.append(m)
        per_seed = np.mean(means, axis=0)
        mean_of[(arm, share)] = per_seed
        first = mine[0]
        reviewed = "none" if arm == "base" else ("every pool frame" if arm == CEILING else
                                                 f"{share:.0%} ({first['reviewed']})")
        lines.append(f"| {arm} | {reviewed} | {first['train_frames']} | {first['human_boxes']} / "
                     f"{first['propagated_boxes']} | " + " | ".join(cells) + f" | {per_seed.mean():.3f} |")
    shares = sorted({s for a, s in keys if a in ARMS})
    notes = []
    if shares and ("random", shares[-1]) in mean_of and ("vidal+prop", shares[0]) in mean_of:
        target = mean_of[("random", shares[-1])].mean()
        reached = [s for s in shares if ("vidal+prop", s) in mean_of and mean_of[("vidal+prop", s)].mean() >= target]
        notes.append(f"Goal 1 (vidal+prop reaches random's {shares[-1]:.0%} mAP50 {target:.3f} with at most half "
                     f"the reviewed frames): " + (f"reached at {reached[0]:.0%}" if reached else "not reached") +
                     f"; vidal+prop at {shares[0]:.0%}: {mean_of[('vidal+prop', shares[0])].mean():.3f}.")
    if ("vidal+prop", 0.1) in mean_of and (CEILING, 1.0) in mean_of:
        gap = mean_of[(CEILING, 1.0)].mean() - mean_of[("vidal+prop", 0.1)].mean()
        notes.append(f"Goal 2 (vidal+prop at 10% within 0.02 of all gt {mean_of[(CEILING, 1.0)].mean():.3f}): "
                     f"gap {gap:+.3f}.")
    return "\n".join(lines) + ("\n\n" + "\n".join(notes) if notes else "")


if __name__ == "__main__":
    sys.exit(main())
