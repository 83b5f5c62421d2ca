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

The larger protocol on a GPU machine that has neither the shared data nor vidal's video stack:
export every fine-tune's training set here (frames at the training size, label lines, the base;
about 38 MB), train and score there with Ultralytics and ``vidal.training`` alone, summarise here:

    python tools/bench_al_propagate.py --work WORK --arms "all gt,random,uniform,uniform+prop,vidal+prop" \
        --export EXPORT --export-side 640
    python tools/bench_al_propagate.py --run-exported EXPORT --steps 300 --imgsz 640 --batch 16 --device 0 \
        --jobs 7 --hyp workers=2 --rows rows.csv                                      # on the GPU machine
    python tools/bench_al_propagate.py --summarise rows.csv --steps 300 --imgsz 640 --batch 16 \
        --measured-on "the GPU machine's description"
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from benchmark_common import SHARED, SHARED_MODEL, SHARED_PT, offline_ultralytics, scratch_folder, write_section
from bench_al import parse_hyp
from bench_propagate import keyframes_from, read_truth, run_table

GAMES = SHARED / "data" / "mot"
BASE = SHARED_PT
POOL = ("SNMOT-116", 1, 600)
TESTS = {"same game, later": ("SNMOT-116", 651, 750, 2), "other game": ("SNMOT-060", 1, 750, 10)}
CLASSES = ("person", "sports ball")
ARMS = ("random", "uniform", "uniform+prop", "vidal+prop")
CEILING = "all gt"
# The protocol's fine-tune on 2 CPU cores: 30 steps of batch 8 (vidal's fine-tuning settings).
STEPS = 30
IMGSZ = 480
COLUMNS = ["arm", "share", "seed", "reviewed", "train_frames", "human_boxes", "propagated_boxes", "test", "map50",
           "map50_person", "map", "train_s"]


def section(steps: int, imgsz: int = IMGSZ, measured_on: str | None = None) -> str:
    """The BENCHMARKS.md section of a run: the protocol's, or one of its own for other steps,
    image size or machine."""
    extra = [f"{steps} steps"] * (steps != STEPS) + [f"imgsz {imgsz}"] * (imgsz != IMGSZ) + ["GPU"] * bool(measured_on)
    return "Propagation: detector (soccer" + "".join(f", {e}" for e in extra) + ")"


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
            root = folder_of_test(self.work, test)
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
        return dataset_yaml(root, self.names)

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
        root = folder_of_fine_tune(self.work, arm, share, seed)
        weights = root / "ultralytics" / "weights" / "last.pt"
        if weights.is_file():
            return str(weights), float("nan")
        self.write_set(root / "set", POOL[0], boxes)
        started = time.perf_counter()
        train_one(str(BASE), self.yaml(root / "set"), root, len(boxes), seed, self.args)
        return str(weights), time.perf_counter() - started

    def evaluate(self, model: str) -> dict[str, tuple[float, float, float]]:
        return evaluate(model, self.tests, self.args, self.work / "validate.log")

    def jobs(self, table, config, run_dir: Path, min_gap: int, done: set) -> Iterator[Job]:
        """Every fine-tune of the run, seed by seed (the ceiling first), skipping those in ``done``."""
        arms = [a for a in self.args.arms.split(",") if a]
        for seed in range(self.args.seeds):
            if CEILING in arms and (CEILING, 1.0, seed) not in done:
                boxes, human, spread = self.training_set(CEILING, [], config, run_dir, seed, 1.0)
                yield Job(CEILING, 1.0, seed, len(boxes), boxes, human, spread)
            for share in (float(s) for s in self.args.shares.split(",") if s):
                budget = max(1, round(share * (POOL[2] - POOL[1] + 1)))
                for arm in (a for a in arms if a != CEILING):
                    if (arm, share, seed) in done:
                        continue
                    reviewed = self.picks(table, arm, budget, seed, min_gap)
                    boxes, human, spread = self.training_set(arm, reviewed, config, run_dir, seed, share)
                    yield Job(arm, share, seed, len(reviewed), boxes, human, spread)

    def export(self, jobs: list[Job], folder: Path, side: int) -> None:
        """Write ``jobs`` and the test sets to ``folder`` for :func:`run_exported`: the frames
        they use (long side ``side`` px), every set's YOLO label lines, and ``manifest.json``."""
        from vidal.yolo import yolo_lines

        def lines(name: str, boxes: dict[int, tuple[np.ndarray, np.ndarray]]) -> dict[str, list[str]]:
            save_frames(name, sorted(boxes), self.frames)
            width, height = self.size[name]
            return {f"{name}_{f:06d}": yolo_lines(xyxy, ids, width, height) for f, (xyxy, ids) in boxes.items()}

        tests = {test: lines(name, {f: self.gt_boxes(name, f) for f in range(first, last + 1, step)})
                 for test, (name, first, last, step) in TESTS.items()}
        exported = [{"arm": j.arm, "share": j.share, "seed": j.seed, "reviewed": j.reviewed, "human_boxes": j.human,
                     "propagated_boxes": j.spread, "labels": lines(POOL[0], j.boxes)} for j in jobs]
        stems = {stem for labels in [*tests.values(), *(j["labels"] for j in exported)] for stem in labels}
        (folder / "frames").mkdir(parents=True, exist_ok=True)
        for stem in sorted(stems):
            image = cv2.imread(str(self.frames / f"{stem}.jpg"))
            scale = side / max(image.shape[:2])
            if scale < 1:
                image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(folder / "frames" / f"{stem}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        shutil.copy2(BASE, folder / BASE.name)
        manifest = {"base": BASE.name, "names": {str(k): v for k, v in self.names.items()}, "tests": tests,
                    "jobs": exported}
        (folder / "manifest.json").write_text(json.dumps(manifest))
        print(f"exported {len(exported)} fine-tunes and {len(tests)} test sets, {len(stems)} frames, to {folder}")


@dataclass
class Job:
    """One fine-tune of the benchmark: an arm's training set at a share and seed."""

    arm: str
    share: float
    seed: int
    reviewed: int
    boxes: dict[int, tuple[np.ndarray, np.ndarray]]
    human: int
    spread: int


def train_one(base: str, data: Path, root: Path, frames: int, seed: int, args: argparse.Namespace) -> None:
    """Fine-tune ``base`` on ``frames`` images for whole epochs of at least ``--steps`` steps."""
    from vidal.training import balanced_batch, fine_tune

    batch = balanced_batch(frames, args.batch)
    # Whole epochs of at least --steps steps (at most one epoch more).
    epochs = max(1, math.ceil(args.steps / math.ceil(frames / batch)))
    fine_tune(base, data, root, epochs=epochs, imgsz=args.imgsz, batch=batch, device=args.device, seed=seed,
              hyp={**args.hyp, "val": False})


def evaluate(model: str, tests: dict[str, Path], args: argparse.Namespace, log: Path) -> dict[str, tuple[float, float, float]]:
    """mAP50, person mAP50 and mAP50-95 of ``model`` on each test set."""
    from vidal.training import validate

    out = {}
    for test, data in tests.items():
        m = validate(model, data, imgsz=args.imgsz, batch=16, device=args.device, log=log)
        out[test] = (m.map50, m.per_class.get("person", {}).get("map50", float("nan")), m.map)
    return out


def yolo_set(root: Path, frames: Path, labels: dict[str, list[str]], names: dict[str, str]) -> Path:
    """A YOLO split at ``root`` (links to ``frames``, label files) and its ``dataset.yaml``."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    for stem, rows in labels.items():
        image = root / "images" / f"{stem}.jpg"
        if not image.exists():
            image.symlink_to((frames / f"{stem}.jpg").resolve())
        (root / "labels" / f"{stem}.txt").write_text("".join(f"{r}\n" for r in rows))
    return dataset_yaml(root, {int(k): v for k, v in names.items()})


def dataset_yaml(root: Path, names: dict[int, str]) -> Path:
    """``root/dataset.yaml``: ``root/images`` as both splits, and the class ``names``."""
    listed = "\n".join(f"  {i}: {n}" for i, n in sorted(names.items()))
    path = root / "dataset.yaml"
    path.write_text(f"train: {root / 'images'}\nval: {root / 'images'}\nnames:\n{listed}\n")
    return path


def folder_of_test(work: Path, test: str) -> Path:
    """The folder of a test set in ``work``."""
    return work / "test" / test.replace(" ", "-").replace(",", "")


def folder_of_fine_tune(work: Path, arm: str, share: float, seed: int) -> Path:
    """The folder of one fine-tune (its training set, weights and logs) in ``work``."""
    return work / "train" / f"{arm}-{share:g}-{seed}".replace("+", "_").replace(" ", "_")


BASE_JOB = {"arm": "base", "share": 0.0, "seed": 0, "reviewed": 0, "human_boxes": 0, "propagated_boxes": 0,
            "labels": {}}


def _results_without_polars() -> None:
    """Let Ultralytics' trainer save checkpoints where Polars is missing.

    Each checkpoint carries the run's ``results.csv`` as a dict of columns, read with Polars
    (``BaseTrainer.read_results_csv``); a GPU machine that cannot install packages may lack it,
    and its wheels (54 MB) do not fit in what travels there. Without Polars, the same dict is
    read with the csv module. Training and scoring do not touch it.
    """
    try:
        import polars  # noqa: F401
    except ImportError:
        from ultralytics.engine.trainer import BaseTrainer

        def read_results_csv(trainer) -> dict[str, list[float]]:
            try:
                with open(trainer.csv, newline="") as f:
                    rows = list(csv.DictReader(f, skipinitialspace=True))
            except OSError:
                return {}
            return {key.strip(): [float(r[key]) for r in rows] for key in rows[0]} if rows else {}

        BaseTrainer.read_results_csv = read_results_csv


def _run_job(folder: str, work: str, index: int, args: argparse.Namespace) -> list[dict]:
    """Fine-tune and score the ``index``-th job of an exported run (in a worker process)."""
    offline_ultralytics()
    _results_without_polars()
    folder_, work_ = Path(folder), Path(work)
    manifest = json.loads((folder_ / "manifest.json").read_text())
    job = manifest["jobs"][index] if index >= 0 else BASE_JOB
    tests = {t: folder_of_test(work_, t) / "dataset.yaml" for t in manifest["tests"]}
    root = folder_of_fine_tune(work_, job["arm"], job["share"], job["seed"])
    started = time.perf_counter()
    if job["arm"] == "base":
        model, seconds = str(folder_ / manifest["base"]), 0.0
    else:
        data = yolo_set(root / "set", folder_ / "frames", job["labels"], manifest["names"])
        train_one(str(folder_ / manifest["base"]), data, root, len(job["labels"]), job["seed"], args)
        model, seconds = str(root / "ultralytics" / "weights" / "last.pt"), time.perf_counter() - started
    return [dict(arm=job["arm"], share=job["share"], seed=job["seed"], reviewed=job["reviewed"],
                 train_frames=len(job["labels"]), human_boxes=job["human_boxes"],
                 propagated_boxes=job["propagated_boxes"], test=test, map50=m50, map50_person=person, map=m,
                 train_s=round(seconds, 1))
            for test, (m50, person, m) in evaluate(model, tests, args, root / "validate.log").items()]


def run_exported(args: argparse.Namespace) -> int:
    """Train and score every job of an ``--export`` folder (on a machine without the shared data,
    vidal's video stack or FiftyOne: Ultralytics and ``vidal.training`` suffice), ``--jobs`` at a
    time, into ``--rows``; no new fine-tune starts after ``--deadline`` seconds."""
    import concurrent.futures
    import multiprocessing

    folder = args.run_exported.resolve()
    manifest = json.loads((folder / "manifest.json").read_text())
    work = (args.work or scratch_folder("vidal-bench-exported-")).resolve()
    for test, labels in manifest["tests"].items():
        yolo_set(folder_of_test(work, test), folder / "frames", labels, manifest["names"])
    out = args.rows or work / "rows.csv"
    jobs = [-1, *range(len(manifest["jobs"]))]  # -1: the base model, scored untrained
    if args.skip_done:  # the fine-tunes of an earlier invocation's rows are not run again
        with args.skip_done.open() as f:
            done = {(r["arm"], float(r["share"]), int(r["seed"])) for r in csv.DictReader(f)}
        listed = [BASE_JOB, *manifest["jobs"]]
        jobs = [i for i in jobs if (listed[i + 1]["arm"], float(listed[i + 1]["share"]), listed[i + 1]["seed"]) not in done]
    print(f"{len(jobs)} fine-tunes to run", flush=True)
    # Each fine-tune gets its share of the cores (vidal reads OMP_NUM_THREADS before Ultralytics does).
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // args.jobs))
    started = time.perf_counter()
    with out.open("w", newline="") as f, concurrent.futures.ProcessPoolExecutor(
            args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        pending = set()
        queue = list(jobs)
        while queue or pending:
            while queue and len(pending) < args.jobs and (args.deadline is None or
                                                          time.perf_counter() - started < args.deadline):
                pending.add(pool.submit(_run_job, str(folder), str(work), queue.pop(0), args))
            if not pending:
                print(f"deadline: {len(queue)} fine-tunes not started", flush=True)
                break
            finished, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                if future.exception() is not None:  # one failed fine-tune does not lose the others
                    print(f"a fine-tune failed: {future.exception()!r}", flush=True)
                    continue
                for row in future.result():
                    writer.writerow(row)
                    print(f"{row['arm']:12s} {row['share']:5.0%} seed {row['seed']} {row['test']}: mAP50 "
                          f"{row['map50']:.3f} person {row['map50_person']:.3f} ({row['train_s']} s)", flush=True)
                f.flush()
    print(f"{time.perf_counter() - started:.0f} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help="frames, the mined pool and trained models (reused)")
    parser.add_argument("--shares", default="0.05,0.1", help="shares of the pool's frames reviewed")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--arms", default=",".join((*ARMS, CEILING)))
    parser.add_argument("--stride", type=int, default=5, help="pool frames that get propagated labels / all gt")
    parser.add_argument("--steps", type=int, default=STEPS, help="optimizer steps of every fine-tune")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--imgsz", type=int, default=IMGSZ)
    parser.add_argument("--device", default="cpu", help="where fine-tunes and scoring run (cpu, 0, cuda:0)")
    parser.add_argument("--hyp", action="append", default=[], help="Ultralytics training argument key=value")
    parser.add_argument("--summarise", type=Path, default=None, help="a rows.csv of an earlier run: table only")
    parser.add_argument("--measured-on", default=None, help="with --summarise: the machine the rows were measured on")
    parser.add_argument("--export", type=Path, default=None,
                        help="write every fine-tune's training set and the test sets to this folder, train nothing "
                             "(for --run-exported on a machine without the shared data, e.g. a GPU)")
    parser.add_argument("--export-side", type=int, default=960, help="long side of the exported frames (px)")
    parser.add_argument("--run-exported", type=Path, default=None, help="an --export folder: train and score its jobs")
    parser.add_argument("--jobs", type=int, default=1, help="with --run-exported: fine-tunes at a time")
    parser.add_argument("--deadline", type=float, default=None,
                        help="with --run-exported: seconds after which no fine-tune starts")
    parser.add_argument("--rows", type=Path, default=None, help="with --run-exported: the rows.csv to write")
    parser.add_argument("--skip-done", type=Path, default=None,
                        help="with --run-exported: a rows.csv of an earlier run whose fine-tunes are skipped")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    args.hyp = parse_hyp(args.hyp)
    if args.summarise:
        with args.summarise.open() as f:
            rows = list(csv.DictReader(f))
        text = summary(rows)
        print(text)
        if not args.no_write:
            write_section(section(args.steps, args.imgsz, args.measured_on), describe(args, rows) + "\n\n" + text,
                          machine_text=args.measured_on)
        return 0
    if args.run_exported:
        return run_exported(args)
    if not (video_path(POOL[0]).exists() and BASE.exists()):
        print(f"shared data missing: {video_path(POOL[0])} or {BASE}", file=sys.stderr)
        return 1
    offline_ultralytics()
    args.work = args.work or scratch_folder("vidal-bench-al-propagate-")
    bench = Bench(args)
    config, run_dir = bench.mine_pool()
    table = run_table(run_dir, config.propagation.breaks)
    min_gap = int(round(config.selection.min_gap_s * bench.fps[POOL[0]]))
    if args.export:
        bench.export(list(bench.jobs(table, config, run_dir, min_gap, set())), args.export, args.export_side)
        return 0
    out = args.work / "rows.csv"
    # Rows of earlier invocations on the same work folder are kept (a run can be extended arm by arm).
    rows: list[dict] = list(csv.DictReader(out.open())) if out.is_file() else []
    done = {(r["arm"], float(r["share"]), int(r["seed"])) for r in rows}
    with out.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if not rows:
            writer.writeheader()

        def record(job: Job, model: str, seconds: float) -> None:
            for test, (m50, person, m) in bench.evaluate(model).items():
                row = dict(arm=job.arm, share=job.share, seed=job.seed, reviewed=job.reviewed,
                           train_frames=len(job.boxes), human_boxes=job.human, propagated_boxes=job.spread, test=test,
                           map50=m50, map50_person=person, map=m, train_s=round(seconds, 1))
                rows.append(row)
                writer.writerow(row)
                f.flush()
                print(f"{job.arm:12s} {job.share:5.0%} seed {job.seed} reviewed {job.reviewed:3d} frames "
                      f"{len(job.boxes):3d} ({job.human} human, {job.spread} propagated boxes) {test}: mAP50 {m50:.3f} "
                      f"person {person:.3f}", flush=True)

        if ("base", 0.0, 0) not in done:
            record(Job("base", 0.0, 0, 0, {}, 0, 0), str(BASE), 0.0)
        for job in bench.jobs(table, config, run_dir, min_gap, done):
            model, seconds = bench.train(job.arm, job.share, job.seed, job.boxes)
            record(job, model, seconds)
    text = summary([{k: str(v) for k, v in r.items()} for r in rows])
    print(text)
    if not args.no_write:
        write_section(section(args.steps, args.imgsz, None), describe(args, rows) + "\n\n" + text)
    return 0


DESCRIPTION = (
    "Pool: SNMOT-116 frames 1-600; tests: SNMOT-116 frames 651-750 (every 2nd; the same game after a 2 s gap) "
    "and SNMOT-060 (every 10th frame; the other game). Base: the shared COCO YOLO11n (`.pt`). Every arm is "
    "fine-tuned for {steps} SGD steps at batch {batch}, imgsz {imgsz} (vidal's fine-tuning settings); `+prop` "
    "arms and `all gt` train on every {stride}th pool frame plus the reviewed ones. mAP@0.5 (Ultralytics' "
    "validator) over person and sports ball, mean ± sd over {seeds} paired seeds (training seed; random's picks)."
)


def describe(args: argparse.Namespace, rows: list[dict]) -> str:
    """The protocol's paragraph for a run of ``rows``."""
    seeds = len({str(r["seed"]) for r in rows if r["arm"] != "base"})
    text = DESCRIPTION.format(steps=args.steps, batch=args.batch, imgsz=args.imgsz, stride=args.stride, seeds=seeds)
    if args.measured_on:
        text += (" Training sets exported here (`--export`, frames resized to the training size), fine-tuned and "
                 "scored on the machine named above (`--run-exported`, several fine-tunes at a time: their "
                 "seconds are not a speed figure); the commands are in the script's docstring.")
    return text


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
