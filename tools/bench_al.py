"""Active-learning benchmark: which frame-picking strategy teaches the detector most per label?

Simulated rounds of active learning, with MOTChallenge ground truth as the oracle:

1. each video is split in time into a *pool* (the first ``--pool-frac`` of its frames), a
   gap of ``--gap-s`` seconds, and *test* frames (the rest): no test frame is a
   near-duplicate of a pool frame;
2. each round, each strategy picks the next ``--batch-frames`` frames of the pool (spread
   over the videos by pool length) with its current model, the oracle labels them, and the
   detector is fine-tuned *from the same base* on everything labelled so far
   (``vidal.training.fine_tune``, vidal's fine-tuning settings with more, smaller
   steps: ``--epochs 32 --lr0 0.0005``);
3. the new model is scored on the test frames (Ultralytics' validator, mAP@0.5 and
   mAP@0.5:0.95).

Strategies: ``random``, ``uniform`` (vidal's: evenly spaced in time, each round refining the
grid of the frames labelled before), ``entropy`` (per frame, no tracking), ``vidal`` (the full
strategy), and two ablations: ``vidal-no-tracking`` (only the per-frame signals
``confidence`` and ``crowding``) and ``vidal-no-diversity`` (the full score, top frames, no
event spread); opt-in, ``vidal-cold-start`` (the first round uniform in time, ``vidal``
from the second) and ``vidal-coverage`` (vidal's ``coverage`` strategy: the full score, picks
at least half the even spacing apart from each other and from the labelled frames).
Model-based strategies run ``vidal``'s pipeline (detect, track, score) over the pool with
the strategy's current model; frames already labelled are left out, and (as ``vidal
mine`` does with the frames reviewed in its dataset) so are the frames within 0.2 s of them
unless nothing else is left, except for ``vidal-no-diversity``.

Labeling cost is counted in frames and in boxes the oracle had to add, move (IoU under
``MOVE_IOU`` or another class) or delete against the draft vidal pre-fills (the current
model's detections with a score of at least 0.5).

Scenarios: ``synthetic`` (a fresh clip of the sample generator per seed, seeds from 1000:
never the shipped sample) and ``real`` (the shared TUD-Stadtmitte and TUD-Campus). The base
detector is the shipped sample model (``--base``; a ``.yaml`` architecture trains from
scratch). That model was trained on the generator's own look, so on the synthetic scenario it
would have nothing left to learn; that scenario starts from ``--synthetic-base``, by default
the shipped ``sample_videos/plaza_yolo11n.pt``, trained on another camera's footage
(``tools/train_sample_detector.py --look plaza``), as a user's detector meets their own footage.

Outputs in ``--out``: ``rounds.csv`` (every round of every strategy and seed, with the
frames it picked as ``video:frame``), one learning-curve plot per scenario
(``curve-<scenario>.png``) and ``summary.md`` (area under the learning curve, and the frames
and boxes each strategy needs to reach the mAP@0.5 that ``random`` reaches with its largest
budget, and vidal minus each strategy within a seed), which also goes to ``BENCHMARKS.md``.
``--summarise rounds.csv`` makes the plots and the summary again from an earlier run's CSV.

    python tools/bench_al.py    # the full run (BENCHMARKS.md)
    python tools/bench_al.py --summarise bench-al/rounds.csv --out bench-al    # again from the CSV, trains nothing
    python tools/bench_al.py --scenarios synthetic --seeds 1 --rounds 2 --imgsz 64 --epochs 1 --frames 60 --gap-s 0.2 --no-write
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from benchmark_common import REPO, TUD, offline_ultralytics, write_section

SAMPLE_MODEL = REPO / "sample_videos" / "crossing_yolo11n.pt"
# Trained on the generator's other look (sample_videos/README.md): a base with something to learn.
PLAZA_MODEL = REPO / "sample_videos" / "plaza_yolo11n.pt"
# Signals that need a video (identities over time); without them only the per-frame
# signals ``confidence`` and ``crowding`` remain.
TRACKING_SIGNALS = ("association", "reactivation", "missed", "class_flip", "short_track", "fragmentation",
                    "flicker", "appearance")
STRATEGIES = ("random", "uniform", "entropy", "vidal", "vidal-no-tracking", "vidal-no-diversity")
# Opt-in (``--strategies``), not in the default run: the first round uniform in time, vidal's after.
EXTRA_STRATEGIES = ("vidal-cold-start", "vidal-coverage")
MODEL_FREE = ("random", "uniform")
# A draft box that overlaps its true box less than this, or has another class, had to be moved.
MOVE_IOU = 0.85
MATCH_IOU = 0.5
DRAFT_CONF = 0.5
COLUMNS = ["scenario", "seed", "strategy", "round", "frames", "boxes_added", "boxes_moved", "boxes_deleted",
           "boxes_cost", "gt_boxes", "map50", "map", "train_s", "select_s", "picked"]


@dataclass
class Video:
    """A video of a scenario with its ground truth and its pool and test frames (1-based)."""

    name: str
    path: Path
    gt: Path
    pool: list[int]
    test: list[int]
    classes: Path | None = None


@dataclass
class Labels:
    """Oracle boxes of a video: ``{frame: (xyxy (N, 4), class ids (N,))}`` in the base's class ids."""

    boxes: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def time_split(frame_count: int, fps: float, pool_frac: float, gap_s: float) -> tuple[list[int], list[int]]:
    """Pool = the first ``pool_frac`` of the frames; test = what follows a gap of ``gap_s``."""
    pool_end = max(1, int(frame_count * pool_frac))
    test_start = pool_end + max(1, int(round(gap_s * fps))) + 1
    if test_start > frame_count:
        raise SystemExit(f"{frame_count} frames leave no test frames after a pool of {pool_end} and a {gap_s:g} s gap")
    return list(range(1, pool_end + 1)), list(range(test_start, frame_count + 1))


def read_labels(video: Video, names: dict[int, str]) -> Labels:
    """The oracle: MOTChallenge rows that are labels (as ``vidal label`` reads them), in the base's ids."""
    from vidal.dataset.label import resolve_classes, row_labels
    from vidal.mot import read_gt

    gt = read_gt(video.gt)
    label = row_labels(gt, resolve_classes(video.gt, video.classes))
    keep = label != ""
    ids = {name: i for i, name in names.items()}
    unknown = sorted(set(label[keep]) - set(ids))
    if unknown:
        raise SystemExit(f"{video.gt}: classes {unknown} are not in the base model's {sorted(ids)}")
    labels = Labels()
    frames, xyxy = gt.frame[keep], gt.xyxy[keep].astype(np.float64)
    class_ids = np.array([ids[name] for name in label[keep]], np.int64)
    for frame in np.unique(frames):
        mask = frames == frame
        labels.boxes[int(frame)] = (xyxy[mask], class_ids[mask])
    return labels


def write_frames(video: Video, labels: Labels, frames: list[int], images: Path, texts: Path) -> None:
    """Decode ``frames`` of the video and write them with their YOLO label files."""
    from vidal.video import open_source
    from vidal.yolo import write_yolo_labels

    images.mkdir(parents=True, exist_ok=True)
    texts.mkdir(parents=True, exist_ok=True)
    for frame in open_source(video.path).read(frames):
        height, width = frame.image.shape[:2]
        stem = f"{video.name}_{frame.index:06d}"
        cv2.imwrite(str(images / f"{stem}.jpg"), frame.image)
        xyxy, cls = labels.boxes.get(frame.index, (np.zeros((0, 4)), np.zeros(0, np.int64)))
        write_yolo_labels(texts / f"{stem}.txt", xyxy, cls, width, height)


def edit_cost(draft: tuple[np.ndarray, np.ndarray], truth: tuple[np.ndarray, np.ndarray]) -> tuple[int, int, int]:
    """Boxes the reviewer adds, moves and deletes to turn the draft into the truth.

    Draft and truth boxes are matched one to one by IoU (at least :data:`MATCH_IOU`, the
    assignment that maximises total IoU, as the tracker matches); a matched box with IoU under
    :data:`MOVE_IOU` or another class is moved, an unmatched true box is added, an unmatched
    draft box is deleted.
    """
    from vidal.tracking.matching import box_iou, linear_assignment

    (d_box, d_cls), (t_box, t_cls) = draft, truth
    if len(d_box) == 0 or len(t_box) == 0:
        return len(t_box), 0, len(d_box)
    overlap = box_iou(d_box, t_box)
    pairs = [(int(i), int(j)) for i, j in linear_assignment(1 - overlap, 1 - MATCH_IOU).matches]
    moved = sum(1 for i, j in pairs if overlap[i, j] < MOVE_IOU or d_cls[i] != t_cls[j])
    return len(t_box) - len(pairs), moved, len(d_box) - len(pairs)


def top_score(table, budget: int, min_gap: int, rng: np.random.Generator) -> np.ndarray:
    """``vidal-no-diversity``: the frames with the highest full score, nothing spread."""
    from vidal.selection import greedy_with_gap

    return greedy_with_gap(table.score, table.frame, budget, 0)


class Runner:
    """Runs the rounds of one scenario and seed."""

    def __init__(self, args: argparse.Namespace, scenario: str, seed: int, videos: list[Video], work: Path,
                 base: str) -> None:
        from vidal.training.ultralytics import model_names

        self.args, self.scenario, self.seed, self.videos, self.work = args, scenario, seed, videos, work
        self.base = base
        self.names = model_names(base) or {0: "person"}
        self.labels = {v.name: read_labels(v, self.names) for v in videos}
        for v in videos:
            write_frames(v, self.labels[v.name], v.pool, work / "pool" / "images", work / "pool" / "labels")
            write_frames(v, self.labels[v.name], v.test, work / "test" / "images" / "val", work / "test" / "labels" / "val")
        test = work / "test" / "images" / "val"
        self.test_yaml = self._yaml(work / "test", test, test)
        pool_sizes = np.array([len(v.pool) for v in videos], np.float64)
        self.share = pool_sizes / pool_sizes.sum()

    def _yaml(self, root: Path, train: Path, val: Path) -> Path:
        names = "\n".join(f"  {i}: {n}" for i, n in sorted(self.names.items()))
        path = root / "dataset.yaml"
        path.write_text(f"train: {train}\nval: {val}\nnames:\n{names}\n")
        return path

    def evaluate(self, model: str) -> tuple[float, float]:
        from vidal.training import validate

        metrics = validate(model, self.test_yaml, imgsz=self.args.imgsz, batch=16, device=self.args.device,
                           log=self.work / "validate.log")
        return metrics.map50, metrics.map

    def batches(self, total: int) -> list[int]:
        """``total`` frames spread over the videos by pool length (largest remainders)."""
        raw = self.share * total
        counts = np.floor(raw).astype(int)
        for i in np.argsort(-(raw - counts))[: total - counts.sum()]:
            counts[i] += 1
        return counts.tolist()

    def config(self, strategy: str, model: str):
        from vidal.config import load_config

        overrides = [f"detector.model={model}", f"detector.imgsz={self.args.imgsz}", "selection.budget=1",
                     f"selection.seed={self.seed}"]
        if strategy == "vidal-no-tracking":
            overrides += [f"scoring.signals.{s}.enabled=false" for s in TRACKING_SIGNALS]
        return load_config(overrides=overrides)

    def pick(self, strategy: str, model: str, labelled: dict[str, set[int]], round_: int) -> dict[str, list[int]]:
        """The next frames of each video's pool for ``strategy`` with ``model``."""
        from vidal.pipeline import build_detector, frame_table, mine_source
        from vidal.selection import FrameTable, select
        from vidal.video import open_source

        picked: dict[str, list[int]] = {}
        config = self.config(strategy, model)
        if strategy == "vidal-cold-start":
            # The usual answer to active learning's cold start (a model new to the footage):
            # a first batch spread evenly in time, uncertainty from the second round on.
            strategy = "uniform" if round_ == 1 else "vidal"
        detector = None if strategy in MODEL_FREE else build_detector(config)
        for video, count in zip(self.videos, self.batches(self.args.batch_frames)):
            pool = np.array(video.pool)
            rng = np.random.default_rng([self.seed, round_, zlib_crc(video.name)])
            free = np.array([f not in labelled[video.name] for f in pool])
            if strategy == "random":
                picked[video.name] = sorted(rng.choice(pool[free], size=min(count, int(free.sum())), replace=False).tolist())
                continue
            if strategy == "uniform":
                # vidal's uniform: bin centres in the first round, the gaps the labelled frames leave after.
                table = FrameTable(frame=pool, score=np.zeros(len(pool)), least_confidence=np.zeros(len(pool)),
                                   entropy=np.zeros(len(pool)))
                chosen_index = select(table, count, strategy="uniform", labelled=sorted(labelled[video.name]))
                picked[video.name] = sorted(int(pool[i]) for i in chosen_index)
                continue
            source = open_source(video.path)
            config.input.start, config.input.end = int(pool[0]), int(pool[-1])
            result = mine_source(source, detector, config, self.work / "mined" / strategy)
            table = frame_table(result.records)
            function: str | Callable = {"vidal-no-diversity": top_score, "entropy": "entropy",
                                         "vidal-coverage": "coverage"}.get(strategy, "vidal")
            # No diversity: nothing spread, within the round or away from the labelled frames.
            min_gap = 0 if strategy == "vidal-no-diversity" else int(round(config.selection.min_gap_s * source.info.fps))
            # As `vidal mine` does with the frames reviewed in the dataset: labelled frames are
            # left out, and frames within min_gap of them unless nothing else is left.
            chosen_index = select(table, count, strategy=function, min_gap=min_gap, rng=rng,
                                  labelled=sorted(labelled[video.name]))
            picked[video.name] = sorted(int(table.frame[i]) for i in chosen_index)
        return picked

    def drafts(self, model: str, frames: dict[str, list[int]]) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
        """The current model's boxes with a score of at least :data:`DRAFT_CONF` on the picked frames."""
        from vidal.pipeline import build_detector
        from vidal.video import open_source

        detector = build_detector(self.config("vidal", model))
        out = {}
        for video in self.videos:
            if not frames.get(video.name):
                continue
            for frame, det in detector.stream(open_source(video.path).read(frames[video.name])):
                keep = det.confidence >= DRAFT_CONF
                out[(video.name, frame.index)] = (det.xyxy[keep].astype(np.float64), det.class_id[keep])
        return out

    def train(self, strategy: str, round_: int, labelled: dict[str, set[int]]) -> tuple[str, float]:
        """Fine-tune the base on every labelled frame; returns the weights and seconds."""
        from vidal.training import balanced_batch, fine_tune

        root = self.work / "train" / strategy / f"round{round_}"
        images, texts = root / "images" / "train", root / "labels" / "train"
        images.mkdir(parents=True, exist_ok=True)
        texts.mkdir(parents=True, exist_ok=True)
        for video, frames in labelled.items():
            for frame in frames:
                stem = f"{video}_{frame:06d}"
                os.link(self.work / "pool" / "images" / f"{stem}.jpg", images / f"{stem}.jpg")
                os.link(self.work / "pool" / "labels" / f"{stem}.txt", texts / f"{stem}.txt")
        started = time.perf_counter()
        # Ultralytics validates the last epoch and best.pt even with val=False: on the few
        # training images that costs little; the test frames are scored once, by evaluate().
        weights = fine_tune(self.base, self._yaml(root, images, images), root, epochs=self.args.epochs,
                            imgsz=self.args.imgsz, batch=balanced_batch(sum(map(len, labelled.values())), self.args.batch),
                            device=self.args.device, seed=self.seed,
                            hyp={**self.args.hyp, "val": False})
        return str(weights), time.perf_counter() - started

    def run(self, strategies: list[str], writer: Callable[[dict], None]) -> None:
        base50, base = self.evaluate(self.base)
        for strategy in strategies:
            writer(dict(scenario=self.scenario, seed=self.seed, strategy=strategy, round=0, frames=0, boxes_added=0,
                        boxes_moved=0, boxes_deleted=0, boxes_cost=0, gt_boxes=0, map50=base50, map=base,
                        train_s=0.0, select_s=0.0, picked=""))
        for strategy in strategies:
            model = self.base
            labelled: dict[str, set[int]] = {v.name: set() for v in self.videos}
            totals = np.zeros(4, np.int64)  # added, moved, deleted, true boxes
            for round_ in range(1, self.args.rounds + 1):
                started = time.perf_counter()
                picked = self.pick(strategy, model, labelled, round_)
                select_s = time.perf_counter() - started
                drafts = self.drafts(model, picked)
                for video, frames in picked.items():
                    for frame in frames:
                        truth = self.labels[video].boxes.get(frame, (np.zeros((0, 4)), np.zeros(0, np.int64)))
                        totals[:3] += edit_cost(drafts[(video, frame)], truth)
                        totals[3] += len(truth[0])
                        labelled[video].add(frame)
                model, train_s = self.train(strategy, round_, labelled)
                map50, map_ = self.evaluate(model)
                writer(dict(scenario=self.scenario, seed=self.seed, strategy=strategy, round=round_,
                            frames=sum(len(f) for f in labelled.values()), boxes_added=int(totals[0]),
                            boxes_moved=int(totals[1]), boxes_deleted=int(totals[2]), boxes_cost=int(totals[:3].sum()),
                            gt_boxes=int(totals[3]), map50=map50, map=map_, train_s=round(train_s, 1),
                            select_s=round(select_s, 1), picked=format_picks(picked)))


def format_picks(picked: dict[str, list[int]]) -> str:
    """A round's new frames for the CSV: ``video:frame`` separated by spaces."""
    return " ".join(f"{video}:{frame}" for video, frames in picked.items() for frame in frames)


def zlib_crc(text: str) -> int:
    import zlib

    return zlib.crc32(text.encode())


def synthetic_videos(seed: int, frames: int, work: Path, pool_frac: float, gap_s: float) -> list[Video]:
    """A fresh clip of the sample generator (seed ``1000 + seed``), split in time."""
    import make_sample

    video, _, _ = make_sample.write_clip(work / "clips", f"synthetic-{seed}", 1000 + seed, frames)
    pool, test = time_split(frames, make_sample.FPS, pool_frac, gap_s)
    seq = video.with_suffix("")
    return [Video(seq.name, video, seq / "gt" / "gt.txt", pool, test, seq / "classes.txt")]


def real_videos(pool_frac: float, gap_s: float) -> list[Video]:
    """The shared TUD sequences, each split in time."""
    from vidal.video import open_source

    videos = []
    for name, folder in TUD.items():
        path = folder / f"{name}.mp4"
        if not path.exists():
            raise SystemExit(f"shared data missing: {path}")
        info = open_source(path).info
        pool, test = time_split(info.frame_count, info.fps, pool_frac, gap_s)
        videos.append(Video(name, path, folder / "gt" / "gt.txt", pool, test))
    return videos


def area_under_curve(frames: np.ndarray, values: np.ndarray, horizon: float) -> float:
    """Mean of the learning curve over ``[0, horizon]`` labelled frames (trapezoids)."""
    return float(np.trapezoid(values, frames) / horizon) if horizon > 0 else float(values[0])


def reach(frames: np.ndarray, values: np.ndarray, target: float) -> float:
    """Labelled frames at which the (mean) curve first reaches ``target``, linearly interpolated; nan if never."""
    for k in range(len(values)):
        if values[k] >= target - 1e-9:
            if k == 0:
                return float(frames[0])
            f0, f1, v0, v1 = frames[k - 1], frames[k], values[k - 1], values[k]
            return float(f0 + (target - v0) / (v1 - v0) * (f1 - f0)) if v1 != v0 else float(f1)
    return math.nan


def read_rounds(path: Path) -> list[dict]:
    """The rows of a ``rounds.csv``, typed as the benchmark wrote them."""
    with open(path, newline="") as handle:
        return [{k: (v if k in ("scenario", "strategy", "picked") else float(v) if "." in v else int(v))
                 for k, v in row.items()}
                for row in csv.DictReader(handle)]


def summarise(rows: list[dict], out: Path) -> str:
    """Per scenario: final mAP, area under the curve, frames and boxes to reach random's final mAP50.

    The plots and ``summary.md`` go to ``out``; the summary's text is returned.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    text = []
    for scenario in sorted({r["scenario"] for r in rows}):
        mine = [r for r in rows if r["scenario"] == scenario]
        strategies = list(dict.fromkeys(r["strategy"] for r in mine))
        seeds = sorted({r["seed"] for r in mine})
        rounds = sorted({r["round"] for r in mine})

        def curve(strategy: str, key: str) -> np.ndarray:
            return np.array([[next(r[key] for r in mine if r["strategy"] == strategy and r["seed"] == s and
                                   r["round"] == k) for k in rounds] for s in seeds], np.float64)

        horizon = float(curve(strategies[0], "frames").mean(axis=0)[-1])
        target = float(curve("random", "map50").mean(axis=0)[-1]) if "random" in strategies else math.nan
        figure, axis = plt.subplots(figsize=(6.4, 4.2), dpi=110)
        table = ["| strategy | final mAP50 | final mAP50-95 | AUC (mAP50) | frames to reach random's final mAP50 "
                 "| boxes edited to reach it |", "|---|---|---|---|---|---|"]
        auc_of: dict[str, np.ndarray] = {}
        final_of: dict[str, np.ndarray] = {}
        for strategy in strategies:
            frames, m50, m, cost = (curve(strategy, k) for k in ("frames", "map50", "map", "boxes_cost"))
            aucs = [area_under_curve(frames[i], m50[i], horizon) for i in range(len(seeds))]
            auc_of[strategy], final_of[strategy] = np.array(aucs), m50[:, -1]
            mean_frames, mean50, mean_cost = frames.mean(axis=0), m50.mean(axis=0), cost.mean(axis=0)
            needed = reach(mean_frames, mean50, target)
            boxes = float(np.interp(needed, mean_frames, mean_cost)) if not math.isnan(needed) else math.nan
            spread = lambda a: f"{np.mean(a):.3f} ± {np.std(a):.3f}"  # noqa: E731
            table.append(f"| {strategy} | {spread(m50[:, -1])} | {spread(m[:, -1])} | {spread(aucs)} | "
                         f"{'not reached' if math.isnan(needed) else f'{needed:.1f}'} | "
                         f"{'' if math.isnan(boxes) else f'{boxes:.0f}'} |")
            axis.plot(mean_frames, mean50, marker="o", label=strategy)
            axis.fill_between(mean_frames, m50.min(axis=0), m50.max(axis=0), alpha=0.12)
        axis.set_xlabel("labelled frames")
        axis.set_ylabel("test mAP@0.5")
        axis.set_title(f"{scenario}: mean of {len(seeds)} seed(s), band = min..max")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(out / f"curve-{scenario}.png")
        plt.close(figure)
        text.append(f"### {scenario}\n\n{len(seeds)} seed(s), {rounds[-1]} rounds, random's final mAP50 "
                    f"{target:.3f}. AUC is the mean test mAP50 over 0..{horizon:.0f} labelled frames; ± is the "
                    f"standard deviation over seeds. Plot: `curve-{scenario}.png`.\n\n" + "\n".join(table)
                    + "".join(paired_table(auc_of, final_of, mine) for mine in ("vidal", "vidal-coverage")))
    summary = "\n\n".join(text) + "\n"
    (out / "summary.md").write_text(summary)
    return summary


def paired_table(auc_of: dict[str, np.ndarray], final_of: dict[str, np.ndarray], mine: str = "vidal") -> str:
    """vidal minus each other strategy, seed by seed: mean ± standard deviation, and seeds where vidal is higher.

    A seed fixes everything but the strategy (the clip of the synthetic scenario, the training
    seed), so the difference within a seed is free of what varies between seeds (one clip is
    harder than another) and its spread is the one that says whether a gap is noise.
    """
    if mine not in auc_of or len(auc_of[mine]) < 2 or len(auc_of) < 2:
        return ""
    n = len(auc_of[mine])
    lines = [f"\n\n{mine} minus each strategy within a seed (mean ± standard deviation over the {n} seeds; "
             f"in brackets, the seeds where {mine} is higher):\n",
             "| strategy | AUC difference | final mAP50 difference |", "|---|---|---|"]
    for strategy in auc_of:
        if strategy == mine:
            continue
        cells = []
        for values in (auc_of, final_of):
            gap = values[mine] - values[strategy]
            cells.append(f"{gap.mean():+.3f} ± {gap.std():.3f} ({int((gap > 0).sum())}/{n})")
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_hyp(items: list[str]) -> dict[str, object]:
    """``["freeze=10", "lr0=0.001"]`` to ``{"freeze": 10, "lr0": 0.001}`` (values read as YAML)."""
    import yaml

    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--hyp wants KEY=VALUE, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="synthetic,real")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds run from here (a fresh set: the synthetic clips are generator seeds 1000 + seed)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-frames", type=int, default=6, help="frames labelled per round")
    # A few labelled frames make one batch, so an epoch is one optimizer step. 8 steps at
    # vidal train's lr0 0.002 left the test mAP50 of one set of 6 frames anywhere from 0.21
    # to 0.51 by the training seed alone, more than any strategy moved it; 32 steps at 0.0005
    # held the same set within 0.49-0.53, and the mean rose with the frames where 8 steps'
    # fell (random's sets of the synthetic scenario; BENCHMARKS.md, "Active learning").
    # vidal train now spreads a small review the same way (MIN_STEPS): 8 epochs at 0.002 on
    # up to 32 frames become these 32 epochs at 0.0005.
    parser.add_argument("--epochs", type=int, default=32)
    parser.add_argument("--lr0", type=float, default=0.0005, help="fine-tuning learning rate (vidal train's is 0.002)")
    # One batch per epoch while the labelled set fits: split in two batches of 9, the 18-frame
    # sets of the real scenario trained to mAP50 0.60 on average, in one batch to 0.73
    # (BENCHMARKS.md, "Active learning"); a batch of 32 at imgsz 320 is small on a CPU.
    parser.add_argument("--batch", type=int, default=32,
                        help="largest training batch; the labelled frames are split into as few equal batches as it allows")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--device", default=None)
    parser.add_argument("--base", default=str(SAMPLE_MODEL), help="the detector every strategy starts from")
    parser.add_argument("--synthetic-base", default=str(PLAZA_MODEL),
                        help="the synthetic scenario's base (default: the shipped detector trained on the plaza look)")
    parser.add_argument("--frames", type=int, default=300, help="length of a synthetic clip")
    parser.add_argument("--pool-frac", type=float, default=0.6)
    parser.add_argument("--gap-s", type=float, default=0.5)
    parser.add_argument("--hyp", action="append", default=[], metavar="KEY=VALUE",
                        help="Ultralytics training argument over vidal's fine-tuning settings, e.g. freeze=10 (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("bench-al"))
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--keep-work", action="store_true",
                        help="keep each scenario and seed's working folder (frames, mined runs, weights) in the temp folder")
    parser.add_argument("--summarise", type=Path, metavar="ROUNDS_CSV",
                        help="only summarise the rounds.csv of an earlier run into --out (plots, summary.md); trains nothing")
    args = parser.parse_args()
    if args.summarise:
        if not args.summarise.is_file():
            parser.error(f"no rounds file {args.summarise}")
        args.out.mkdir(parents=True, exist_ok=True)
        print(summarise(read_rounds(args.summarise), args.out))
        return 0
    try:
        args.hyp = {"lr0": args.lr0, **parse_hyp(args.hyp)}
    except ValueError as error:
        parser.error(str(error))

    offline_ultralytics()
    strategies = [s for s in args.strategies.split(",") if s]
    unknown = sorted(set(strategies) - set(STRATEGIES) - set(EXTRA_STRATEGIES))
    if unknown:
        parser.error(f"unknown strategies {unknown}; valid: {', '.join(STRATEGIES + EXTRA_STRATEGIES)}")
    scenarios = [s for s in args.scenarios.split(",") if s]
    for scenario in scenarios:
        if scenario not in ("synthetic", "real"):
            parser.error(f"unknown scenario {scenario!r}: synthetic or real")
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    started = time.perf_counter()
    with open(args.out / "rounds.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()

        def write(row: dict) -> None:
            rows.append(row)
            writer.writerow(row)
            handle.flush()
            print(f"[{time.perf_counter() - started:6.0f} s] {row['scenario']} seed {row['seed']} {row['strategy']:<19} "
                  f"round {row['round']}: {row['frames']:3d} frames, {row['boxes_cost']:4d} boxes edited, "
                  f"mAP50 {row['map50']:.3f}", flush=True)

        for scenario in scenarios:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                # Frames, mined runs and every round's weights: about 200 MB per scenario and seed.
                work = Path(tempfile.mkdtemp(prefix=f"vidal-bench-al-{scenario}-{seed}-"))
                try:
                    if scenario == "synthetic":
                        videos = synthetic_videos(seed, args.frames, work, args.pool_frac, args.gap_s)
                    else:
                        videos = real_videos(args.pool_frac, args.gap_s)
                    base = args.synthetic_base if scenario == "synthetic" else args.base
                    Runner(args, scenario, seed, videos, work, base).run(strategies, write)
                finally:
                    if args.keep_work:
                        print(f"kept {work}", flush=True)
                    else:
                        shutil.rmtree(work, ignore_errors=True)
    summary = summarise(rows, args.out)
    elapsed = time.perf_counter() - started
    print(summary)
    print(f"total {elapsed / 60:.1f} min")
    if not args.no_write:
        write_section("Active learning (labels saved)", (
            f"Rounds of {args.batch_frames} frames, {args.rounds} rounds, {args.seeds} seeds; base "
            f"`{Path(args.base).name}`"
            + (f" (synthetic scenario: `{Path(args.synthetic_base).name}`)" if "synthetic" in scenarios else "")
            + f" fine-tuned from the base each round for {args.epochs} epochs at imgsz "
            f"{args.imgsz} in batches of at most {args.batch}"
            + (f" with {', '.join(f'{k}={v}' for k, v in args.hyp.items())}" if args.hyp else "")
            + f"; pool = first {args.pool_frac:.0%} of each video, test after a {args.gap_s:g} s gap. "
            f"Took {elapsed / 60:.0f} min.\n\n" + summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
