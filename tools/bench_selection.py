"""Selection quality: does vidal put the frames with the most distinct mistakes first?

For each video with MOTChallenge ground truth (the shared TUD sequences, the sample clip and
``--synthetic`` fresh clips of the sample generator), vidal's tracker runs once; the errors of its
own output are found by CLEAR-MOT matching at IoU 0.5 (missed ground-truth boxes, false
positive boxes, ID switches), and the selection of each strategy at a budget of 5% of the
frames (at least 8) is scored by:

- lift: mean errors per selected frame / mean errors per frame over the video;
- episode coverage: share of error episodes with a selected frame within 2 frames (an
  episode is a run of consecutive misses of one ground-truth identity, a run of
  consecutive false positives of one track, or one ID switch);
- ID-switch recall: share of ID switches within 5 frames of a selected frame.

``random`` is averaged over ``--random-seeds`` draws. Four oracle rows, which know the errors,
come with them: the budget's frames with the most true errors (the ceiling of lift), the same
kept as far apart as vidal's picks, and the frames that cover the most error episodes and
the most ID switches, picked greedily (a greedy cover reaches at least 1 - 1/e of the best
one, so these show what is reachable at the budget, not the exact ceiling). The ablation
re-scores the same run without each signal. The overhead is the time spent in scoring (object tables, overlaps,
track history, signals, deferred signals) and selection (frame table, suspect events, strategy),
as a share of the run's processing time (decode, detect, track, score, select), measured
by timing those calls inside the same ``mine_source`` run; beside it, their CPU time as a share
of the CPU time the run used (every thread), which is what leaving them out would save where
the detector keeps every core busy (their wall time then also counts waits for a core).
What they add to the run, measured by leaving them out: ``tools/bench_overhead.py``.

    python tools/bench_selection.py          # writes the tables to BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark_common import REPO, SHARED, SHARED_MODEL, offline_ultralytics, scratch_folder, write_section

COVERAGE_WINDOW = 2
SWITCH_WINDOW = 5
BUDGET_SHARE = 0.05
MIN_BUDGET = 8
BASELINES = ("random", "uniform", "confidence", "entropy")
SYNTHETIC_FRAMES = 300
FIGURES = {"lift": "lift", "coverage": "episode coverage", "switch_recall": "ID-switch recall"}


# The oracle each figure is measured against: what is reachable at the budget when the errors are known.
ORACLES = {"lift": "oracle (most true errors)", "coverage": "oracle, most episodes covered",
           "switch_recall": "oracle, most ID switches recalled"}
# The row of vidal's default selection (the default config's strategy, under --set).
DEFAULT = "default"
# The goal for vidal's default, as shares of the oracle's figure (lift: no lower than uniform's).
GOALS = {"coverage": 0.8, "switch_recall": 0.9}


def ratio(rows: dict[str, dict[str, float]], strategy: str, key: str) -> float:
    """A strategy's figure as a share of its oracle's (1 when the oracle's is 0)."""
    best = rows[ORACLES[key]][key]
    return rows[strategy][key] / best if best > 0 else 1.0


def cpu_share(info: dict) -> str:
    """Scoring and selection's share of the run's CPU time, as a percentage ("n/a" for a cached
    run mined before CPU times were kept)."""
    return "n/a" if info.get("overhead_cpu") is None else f"{100 * info['overhead_cpu']:.1f}%"


def summary_table(summary: list[tuple[str, dict[str, dict[str, float]], dict]]) -> str:
    """One line per video: vidal's default against the oracle (and the ratio), the best baseline, and the overhead."""
    lines = ["| video | " + " | ".join(f"{label}: vidal / oracle (ratio); best baseline" for label in FIGURES.values())
             + " | uniform's lift | scoring + selection overhead: wall time (CPU time) |", "|---|" + "---|" * (len(FIGURES) + 2)]
    wins = {key: 0 for key in FIGURES}
    goals = {key: 0 for key in (*GOALS, "lift")}
    for name, rows, info in summary:
        cells = []
        for key in FIGURES:
            best = max(rows[b][key] for b in BASELINES)
            mine = rows[DEFAULT][key]
            wins[key] += mine > best
            share = ratio(rows, DEFAULT, key)
            met = share >= GOALS[key] - 1e-9 if key in GOALS else mine >= rows["uniform"][key]
            goals[key] += met
            cells.append(f"{'**' if met else ''}{mine:.2f} / {rows[ORACLES[key]][key]:.2f} ({share:.2f})"
                         f"{'**' if met else ''}; {best:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {rows['uniform']['lift']:.2f} | "
                     f"{100 * info['overhead']:.1f}% ({cpu_share(info)}) |")
    lines.append("\nGoal (bold where met): episode coverage >= "
                 f"{GOALS['coverage']} of the oracle's in {goals['coverage']} of {len(summary)} videos, "
                 f"ID-switch recall >= {GOALS['switch_recall']} of the oracle's in {goals['switch_recall']}, "
                 "lift >= uniform's in "
                 f"{goals['lift']}. vidal beats every baseline on " + ", ".join(
                     f"{label} in {wins[key]}" for key, label in FIGURES.items()) + f" of {len(summary)} videos.")
    return "\n".join(lines)


@dataclass
class Episode:
    first: int
    last: int


def episodes(errors) -> tuple[list[Episode], list[int]]:
    """Error episodes and ID-switch frames from per-frame errors."""
    found: list[Episode] = []
    for ids_per_frame in (errors.miss_ids, errors.fp_ids):
        open_runs: dict[int, int] = {}
        previous: set[int] = set()
        for k, ids in enumerate(ids_per_frame):
            frame = int(errors.frame[k])
            current = set(ids)
            for gone in previous - current:
                found.append(Episode(open_runs.pop(gone), int(errors.frame[k - 1])))
            for new in current - previous:
                open_runs[new] = frame
            previous = current
        for ident, start in open_runs.items():
            found.append(Episode(start, int(errors.frame[-1])))
    switches = [int(errors.frame[k]) for k, ids in enumerate(errors.switch_ids) for _ in ids]
    found += [Episode(f, f) for f in switches]
    return found, switches


def greedy_cover(frames: np.ndarray, spans: list[tuple[int, int]], budget: int) -> list[int]:
    """The ``budget`` frames that together fall inside the most ``spans`` (first, last), greedily.

    Each step takes the frame inside the most spans not yet hit (the earliest on a tie); an
    oracle for the coverage figures, since it needs the true errors.
    """
    hits = [{i for i, (first, last) in enumerate(spans) if first <= f <= last} for f in frames.tolist()]
    chosen: list[int] = []
    hit: set[int] = set()
    for _ in range(min(budget, len(hits))):
        best = max((k for k in range(len(hits)) if k not in chosen), key=lambda k: (len(hits[k] - hit), -k))
        chosen.append(best)
        hit |= hits[best]
    return [int(frames[k]) for k in chosen]


def figures(selected: list[int], errors, found: list[Episode], switches: list[int]) -> dict[str, float]:
    per_frame = dict(zip(errors.frame.tolist(), errors.total.tolist()))
    mean_all = float(errors.total.mean())
    lift = float(np.mean([per_frame[f] for f in selected])) / mean_all if mean_all > 0 else 0.0
    sel = np.array(selected)
    covered = [e for e in found if np.any((sel >= e.first - COVERAGE_WINDOW) & (sel <= e.last + COVERAGE_WINDOW))]
    recall = [s for s in switches if np.any(np.abs(sel - s) <= SWITCH_WINDOW)]
    return {
        "lift": lift,
        "coverage": len(covered) / len(found) if found else 1.0,
        "switch_recall": len(recall) / len(switches) if switches else 1.0,
    }


# Settings that change what mining computes (boxes, tracks, signals and the committee's views): a
# cached run is reused only under the same ones. The rest (selection, frame aggregation) is applied
# to the cached records.
MINING_PREFIXES = ("detector.", "tracker.", "input.", "scoring.")


def mining_settings(model: Path, classes: list[str], overrides: list[str]) -> list[str]:
    """The config overrides a mining run depends on: the model, the classes and the mining ones of ``overrides``."""
    settings = [f"detector.model={model}", "selection.budget=1",
                *[o for o in overrides if o.startswith(MINING_PREFIXES)]]
    if classes:
        settings.append(f"detector.classes=[{', '.join(classes)}]")
    return settings


@dataclass
class Mined:
    """What the bench keeps of one mined video (pickled under ``--work``)."""

    records: list
    run_dir: Path
    fps: float
    seconds: float
    timings: dict[str, float]
    class_ids: list[int] | None = None  # the wanted classes (--classes), None: all
    cpu_timings: dict[str, float] | None = None  # CPU seconds of each stage's thread (None: a cache from before)
    cpu_seconds: float | None = None  # CPU seconds of the process while processing


def mine_cached(name: str, video: Path, model: Path, classes: list[str], work: Path, overrides: list[str],
                embeddings: bool = False) -> Mined:
    """Mine ``video`` once: a run mined under the same mining settings in ``work`` is loaded instead.

    ``embeddings``: the run keeps its frame embeddings (for the strategies that rank by them).
    """
    import hashlib
    import pickle

    from vidal.config import load_config
    from vidal.pipeline import build_detector, mine_source
    from vidal.video import open_source

    settings = mining_settings(model, classes, overrides)
    if embeddings:
        settings.append("selection.embeddings=always")
    key = hashlib.sha256("\n".join([str(video), *settings]).encode()).hexdigest()[:12]
    slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    cache = work / f"{slug}-{key}.pkl"
    if cache.is_file():
        # a dict of plain fields, so that a cache written by the script loads from anywhere
        fields = pickle.loads(cache.read_bytes())
        mined = Mined(**{**fields, "run_dir": work / fields["run_dir"]})
        if mined.run_dir.is_dir():
            print(f"{name}: reusing the run mined in {mined.run_dir}", file=sys.stderr)
            if classes and mined.class_ids is None:  # a cache written before class_ids were kept
                mined.class_ids = build_detector(load_config(None, settings)).classes
            return mined
    config = load_config(None, settings)
    source = open_source(video)
    detector = build_detector(config)
    result = mine_source(source, detector, config, work / f"{slug}-{key}")
    mined = Mined(result.records, result.run_dir, source.info.fps, result.seconds, dict(result.timings),
                  detector.classes, dict(result.cpu_timings), result.cpu_seconds)
    cache.write_bytes(pickle.dumps({**vars(mined), "run_dir": str(mined.run_dir.relative_to(work))}))
    return mined


def gt_boxes(gt_path: Path, roles_dropped: tuple[str, ...]):
    """The ground truth, without the tracks whose gameinfo role is in ``roles_dropped`` (the ball)."""
    from vidal.mot import read_gameinfo, read_mot

    gt = read_mot(gt_path)
    info = gt_path.parent.parent / "gameinfo.ini"
    if roles_dropped and info.is_file():
        dropped = [t for t, role in read_gameinfo(info).items() if role.strip().lower() in roles_dropped]
        gt = gt[~np.isin(gt.track_id, dropped)]
    return gt


def run_video(name: str, video: Path, gt_path: Path, model: Path, classes: list[str], work: Path, seeds: int,
              overrides: list[str], strategies: tuple[str, ...] = (), ablate: bool = True):
    from vidal.config import load_config
    from vidal.evaluation import frame_errors
    from vidal.mot import read_mot
    from vidal.pipeline import frame_table
    from vidal.runs import read_embeddings
    from vidal.scoring import combine
    from vidal.selection import EMBEDDING_STRATEGIES, greedy_with_gap, select

    config = load_config(None, [f"detector.model={model}", *overrides])
    embedded = bool(EMBEDDING_STRATEGIES & {config.selection.strategy, *strategies})
    mined = mine_cached(name, video, model, classes, work, overrides, embedded)
    embedding = None
    if embedded:
        _, rows_read = read_embeddings(mined.run_dir)
        embedding = np.asarray(rows_read, np.float32)
    records = mined.records
    n = len(records)
    budget = max(MIN_BUDGET, math.ceil(BUDGET_SHARE * n))
    min_gap = int(round(config.selection.min_gap_s * mined.fps))
    # The pipeline times its own stages: the processing clock covers decode, detect, track
    # and score. The selection (frame table and strategy) is timed here, on the same records,
    # with the configured strategy and the bench's budget (the mining run selected 1 frame,
    # perhaps with an earlier strategy when its run was cached).
    started, cpu = time.perf_counter(), time.thread_time()
    table = frame_table(records, config.propagation.breaks, config.selection.aggregate, config.selection.top_k,
                        mined.class_ids)
    table.embedding = embedding
    select(table, budget, strategy=config.selection.strategy, min_gap=min_gap, class_share=config.selection.class_share)
    select_seconds, select_cpu = time.perf_counter() - started, time.thread_time() - cpu
    mine_seconds = mined.seconds + select_seconds
    overhead_seconds = mined.timings["score"] + select_seconds
    # The same share of the CPU time the run used (every thread): where the detector keeps the
    # cores busy, scoring's wall time also counts its waits for a core while the next frame's
    # inference runs, and the CPU share is what leaving scoring out would save.
    overhead_cpu = (None if mined.cpu_timings is None or not mined.cpu_seconds else
                    (mined.cpu_timings["score"] + select_cpu) / (mined.cpu_seconds + select_cpu))
    errors = frame_errors(gt_boxes(gt_path, () if "sports ball" in classes else ("ball",)),
                          read_mot(mined.run_dir / "tracks.txt"), [r.frame for r in records])
    found, switches = episodes(errors)

    def pick(strategy: str, tbl=table, seed: int = 0) -> list[int]:
        chosen = select(tbl, budget, strategy=strategy, min_gap=min_gap, rng=np.random.default_rng(seed),
                        class_share=config.selection.class_share)
        return [int(tbl.frame[i]) for i in chosen]

    # The oracles: the budget's frames with the most true errors (what no strategy can beat on
    # lift), the same kept as far apart as vidal's picks (what a strategy that avoids
    # near-duplicates can reach), and greedy covers of the episodes and of the ID switches.
    oracle = [int(f) for f in errors.frame[np.argsort(-errors.total, kind="stable")[:budget]]]
    spread = [int(errors.frame[i]) for i in greedy_with_gap(errors.total.astype(np.float64), errors.frame, budget, min_gap)]
    rows: dict[str, dict[str, float]] = {
        ORACLES["lift"]: figures(oracle, errors, found, switches),
        f"oracle, picks > {min_gap} frames apart": figures(spread, errors, found, switches),
        ORACLES["coverage"]: figures(greedy_cover(errors.frame, [
            (e.first - COVERAGE_WINDOW, e.last + COVERAGE_WINDOW) for e in found], budget), errors, found, switches),
        ORACLES["switch_recall"]: figures(greedy_cover(errors.frame, [
            (s - SWITCH_WINDOW, s + SWITCH_WINDOW) for s in switches], budget), errors, found, switches),
        DEFAULT: figures(pick(config.selection.strategy), errors, found, switches),
    }
    for strategy in dict.fromkeys((*BASELINES, *strategies)):
        draws = [figures(pick(strategy, seed=s), errors, found, switches) for s in range(seeds if strategy == "random" else 1)]
        rows[strategy] = {k: float(np.mean([d[k] for d in draws])) for k in draws[0]}
    ablation: dict[str, dict[str, float]] = {}
    original = [r.signals for r in records]
    for signal in sorted(records[0].signals) if ablate else ():
        for record, signals in zip(records, original):
            record.signals = {k: v for k, v in signals.items() if k != signal}
            scored = combine(record.signals, len(record.objects))
            record.score, record.uncertainty = scored.score, scored.object_uncertainty
        without = frame_table(records, config.propagation.breaks, config.selection.aggregate, config.selection.top_k,
                              mined.class_ids)
        without.embedding = embedding
        ablation[f"without {signal}"] = figures(pick(config.selection.strategy, without), errors, found, switches)
    info = {"frames": n, "budget": budget, "errors": int(errors.total.sum()), "episodes": len(found),
            "switches": len(switches), "mean": float(errors.total.mean()), "max": int(errors.total.max()),
            "scoring_ms": 1000 * overhead_seconds / n, "mine_ms": 1000 * mine_seconds / n,
            "overhead": overhead_seconds / mine_seconds, "overhead_cpu": overhead_cpu}
    return rows, ablation, info


# The shared real videos with MOTChallenge ground truth (classes: person; the soccer ball's
# tracklet, named in gameinfo.ini, is left out of the ground truth, as in issue 24's figures).
REAL = ("TUD-Stadtmitte", "TUD-Campus", "SNMOT-116", "SNMOT-060", "ADL-Rundle-6")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random-seeds", type=int, default=20)
    parser.add_argument("--set", action="append", default=[], help="vidal config override")
    parser.add_argument("--synthetic", type=int, default=4,
                        help="fresh clips of the sample generator (seeds from 2000, never the shipped sample) to add")
    parser.add_argument("--synthetic-model", type=Path, default=REPO / "sample_videos" / "crossing_yolo11n.pt",
                        help="the detector for the synthetic clips")
    parser.add_argument("--videos", default="", help="comma-separated names to run (default: all)")
    parser.add_argument("--strategies", default="cover,vidal,coverage,boxcount,coreset,typiclust,density",
                        help="strategies to list besides the default and the baselines")
    parser.add_argument("--work", type=Path, default=None,
                        help="keep mined runs here and reuse them (a video is mined once per mining setting)")
    parser.add_argument("--no-ablation", action="store_true", help="skip the without-signal rows")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    offline_ultralytics()
    work = args.work.resolve() if args.work else scratch_folder("vidal-bench-selection-")
    work.mkdir(parents=True, exist_ok=True)
    from vidal.selection import STRATEGIES

    strategies = tuple(s for s in args.strategies.split(",") if s)
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        parser.error(f"unknown strategies {', '.join(unknown)}; valid: {', '.join(sorted(STRATEGIES))}")
    if "committee" in strategies and "scoring.signals.committee.enabled=true" not in args.set:
        parser.error("the committee strategy ranks by the committee signal: add "
                     "--set scoring.signals.committee.enabled=true (every row then mines with it)")
    videos = [(name, SHARED / "data" / "mot" / name / f"{name}.mp4", SHARED / "data" / "mot" / name / "gt" / "gt.txt",
               SHARED_MODEL, ["person"]) for name in REAL]
    sample = REPO / "sample_videos"
    videos.append(("crossing (sample)", sample / "crossing.mp4", sample / "crossing" / "gt" / "gt.txt",
                   sample / "crossing_yolo11n.pt", []))
    wanted = {v for v in args.videos.split(",") if v}
    if args.synthetic:
        import make_sample

        for seed in range(2000, 2000 + args.synthetic):
            name = f"synthetic seed {seed}"
            if wanted and name not in wanted:
                continue
            video, _, _ = make_sample.write_clip(work / "clips", f"synthetic-{seed}", seed, SYNTHETIC_FRAMES)
            seq = video.with_suffix("")
            videos.append((name, video, seq / "gt" / "gt.txt", args.synthetic_model, []))
    body, summary = [], []
    for name, video, gt, model, classes in videos:
        if wanted and name not in wanted:
            continue
        if not (video.exists() and model.exists()):
            print(f"skipping {name}: missing {video if not video.exists() else model}", file=sys.stderr)
            continue
        rows, ablation, info = run_video(name, video, gt, model, classes, work, args.random_seeds, args.set,
                                         strategies, not args.no_ablation)
        summary.append((name, rows, info))
        lines = [f"### {name}: {info['frames']} frames, budget {info['budget']}, {info['errors']} errors in "
                 f"{info['episodes']} episodes, {info['switches']} ID switches; errors per frame: mean "
                 f"{info['mean']:.2f}, max {info['max']} (so lift <= {info['max'] / info['mean']:.2f})\n",
                 "| strategy | lift | episode coverage | ID-switch recall | share of the oracle's: lift, coverage, "
                 "recall |", "|---|---|---|---|---|"]
        for strategy, f in {**rows, **ablation}.items():
            shares = ", ".join(f"{f[key] / rows[ORACLES[key]][key]:.2f}" if rows[ORACLES[key]][key] > 0 else "-"
                               for key in FIGURES)
            label = f"vidal (default: {load_default_strategy(args.set)})" if strategy == DEFAULT else strategy
            lines.append(f"| {label} | {f['lift']:.2f} | {f['coverage']:.2f} | {f['switch_recall']:.2f} | {shares} |")
            print(f"{name:20s} {label:36s} lift {f['lift']:.2f} coverage {f['coverage']:.2f} "
                  f"switch recall {f['switch_recall']:.2f}  of oracle: {shares}")
        lines.append(f"\nScoring and selection: {info['scoring_ms']:.2f} ms per frame of {info['mine_ms']:.1f} ms "
                     f"of processing per frame (decode, detect, track, score, select): **{100 * info['overhead']:.1f}%**"
                     f" of the wall time, {cpu_share(info)} of the CPU time.")
        print(f"{name:20s} scoring+selection {info['scoring_ms']:.2f} ms/frame of {info['mine_ms']:.1f} ms/frame "
              f"({100 * info['overhead']:.1f}% of the wall time, {cpu_share(info)} of the CPU time)")
        body.append("\n".join(lines))
    print(summary_table(summary))
    if not args.no_write and body:
        write_section(
            "Selection quality",
            "Errors of vidal's own tracker output against MOTChallenge ground truth (CLEAR-MOT, IoU 0.5); "
            f"budget 5% of the frames, at least {MIN_BUDGET}; random averaged over {args.random_seeds} seeds; "
            "`vidal (default: X)` is the default config's selection, the oracle rows know the errors; "
            "`without X` re-scores the same run without signal X. Real videos: person only (the soccer ball's "
            "tracklet left out of the ground truth, as in issue 24). "
            + (f"The synthetic clips are fresh clips of the sample generator (`tools/make_sample.py`, street look, "
               f"detector `{args.synthetic_model.name}`); no threshold was set on them.\n\n" if args.synthetic else "\n\n")
            + summary_table(summary) + "\n\n" + "\n\n".join(body),
        )
    return 0


def load_default_strategy(overrides: list[str]) -> str:
    """The selection strategy of the default config under ``overrides``."""
    from vidal.config import load_config

    return load_config(None, overrides).selection.strategy


if __name__ == "__main__":
    sys.exit(main())
