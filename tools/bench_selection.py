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
by timing those calls inside the same ``mine_source`` run.

    python tools/bench_selection.py          # writes the tables to BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark_common import REPO, SHARED_MODEL, TUD, offline_ultralytics, scratch_folder, write_section

COVERAGE_WINDOW = 2
SWITCH_WINDOW = 5
BUDGET_SHARE = 0.05
MIN_BUDGET = 8
BASELINES = ("random", "uniform", "confidence", "entropy")
SYNTHETIC_FRAMES = 300
FIGURES = {"lift": "lift", "coverage": "episode coverage", "switch_recall": "ID-switch recall"}


def summary_table(summary: list[tuple[str, dict[str, dict[str, float]], dict]]) -> str:
    """One line per video: vidal's figure against the best baseline's, and the overhead."""
    lines = ["| video | " + " | ".join(f"{label}: vidal (best baseline)" for label in FIGURES.values())
             + " | scoring + selection overhead |", "|---|" + "---|" * (len(FIGURES) + 1)]
    wins = {key: 0 for key in FIGURES}
    for name, rows, info in summary:
        cells = []
        for key in FIGURES:
            best = max(rows[b][key] for b in BASELINES)
            mine = rows["vidal"][key]
            wins[key] += mine > best
            cells.append(f"{'**' if mine > best else ''}{mine:.2f}{'**' if mine > best else ''} ({best:.2f})")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {100 * info['overhead']:.1f}% |")
    lines.append("\nvidal beats every baseline (bold) on " + ", ".join(
        f"{label} in {wins[key]} of {len(summary)} videos" for key, label in FIGURES.items()) + ".")
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


def run_video(name: str, video: Path, gt_path: Path, model: Path, classes: list[str], work: Path, seeds: int,
              overrides: list[str]):
    from vidal.config import load_config
    from vidal.evaluation import frame_errors
    from vidal.mot import read_mot
    from vidal.pipeline import build_detector, frame_table, mine_source
    from vidal.scoring import combine
    from vidal.selection import greedy_with_gap, select
    from vidal.video import open_source

    settings = [f"detector.model={model}", "selection.budget=1", *overrides]
    if classes:
        settings.append(f"detector.classes=[{', '.join(classes)}]")
    config = load_config(None, settings)
    detector = build_detector(config)
    source = open_source(video)
    result = mine_source(source, detector, config, work)
    # The pipeline times its own stages: the processing clock covers decode, detect, track
    # and score; the selection runs after it.
    mine_seconds = result.seconds + result.timings["select"]
    overhead_seconds = result.timings["score"] + result.timings["select"]
    errors = frame_errors(read_mot(gt_path), read_mot(result.run_dir / "tracks.txt"), [r.frame for r in result.records])
    found, switches = episodes(errors)
    n = len(result.records)
    budget = max(MIN_BUDGET, math.ceil(BUDGET_SHARE * n))
    min_gap = int(round(config.selection.min_gap_s * source.info.fps))
    table = result.table

    def pick(strategy: str, tbl=table, seed: int = 0) -> list[int]:
        chosen = select(tbl, budget, strategy=strategy, min_gap=min_gap, rng=np.random.default_rng(seed))
        return [int(tbl.frame[i]) for i in chosen]

    # The oracles: the budget's frames with the most true errors (what no strategy can beat on
    # lift), the same kept as far apart as vidal's picks (what a strategy that avoids
    # near-duplicates can reach), and greedy covers of the episodes and of the ID switches.
    oracle = [int(f) for f in errors.frame[np.argsort(-errors.total, kind="stable")[:budget]]]
    spread = [int(errors.frame[i]) for i in greedy_with_gap(errors.total.astype(np.float64), errors.frame, budget, min_gap)]
    rows: dict[str, dict[str, float]] = {
        "oracle (most true errors)": figures(oracle, errors, found, switches),
        f"oracle, picks > {min_gap} frames apart": figures(spread, errors, found, switches),
        "oracle, most episodes covered": figures(greedy_cover(errors.frame, [
            (e.first - COVERAGE_WINDOW, e.last + COVERAGE_WINDOW) for e in found], budget), errors, found, switches),
        "oracle, most ID switches recalled": figures(greedy_cover(errors.frame, [
            (s - SWITCH_WINDOW, s + SWITCH_WINDOW) for s in switches], budget), errors, found, switches),
        "vidal": figures(pick("vidal"), errors, found, switches),
    }
    for strategy in BASELINES:
        draws = [figures(pick(strategy, seed=s), errors, found, switches) for s in range(seeds if strategy == "random" else 1)]
        rows[strategy] = {k: float(np.mean([d[k] for d in draws])) for k in draws[0]}
    ablation: dict[str, dict[str, float]] = {}
    for signal in sorted(result.records[0].signals):
        for record in result.records:
            kept = {k: v for k, v in record.signals.items() if k != signal}
            scored = combine(kept, len(record.objects))
            record.score, record.uncertainty = scored.score, scored.object_uncertainty
        ablation[f"without {signal}"] = figures(pick("vidal", frame_table(result.records)), errors, found, switches)
    info = {"frames": n, "budget": budget, "errors": int(errors.total.sum()), "episodes": len(found),
            "switches": len(switches), "mean": float(errors.total.mean()), "max": int(errors.total.max()),
            "scoring_ms": 1000 * overhead_seconds / n, "mine_ms": 1000 * mine_seconds / n,
            "overhead": overhead_seconds / mine_seconds}
    return rows, ablation, info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random-seeds", type=int, default=20)
    parser.add_argument("--set", action="append", default=[], help="vidal config override")
    parser.add_argument("--synthetic", type=int, default=4,
                        help="fresh clips of the sample generator (seeds from 2000, never the shipped sample) to add")
    parser.add_argument("--synthetic-model", type=Path, default=REPO / "sample_videos" / "crossing_yolo11n.pt",
                        help="the detector for the synthetic clips")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    offline_ultralytics()
    work = scratch_folder("vidal-bench-selection-")
    videos = [
        (name, folder / f"{name}.mp4", folder / "gt" / "gt.txt", SHARED_MODEL, ["person"]) for name, folder in TUD.items()
    ]
    sample = REPO / "sample_videos"
    videos.append(("crossing (sample)", sample / "crossing.mp4", sample / "crossing" / "gt" / "gt.txt",
                   sample / "crossing_yolo11n.pt", []))
    if args.synthetic:
        import make_sample

        for seed in range(2000, 2000 + args.synthetic):
            video, _, _ = make_sample.write_clip(work / "clips", f"synthetic-{seed}", seed, SYNTHETIC_FRAMES)
            seq = video.with_suffix("")
            videos.append((f"synthetic seed {seed}", video, seq / "gt" / "gt.txt", args.synthetic_model, []))
    body, summary = [], []
    for name, video, gt, model, classes in videos:
        if not (video.exists() and model.exists()):
            print(f"skipping {name}: missing {video if not video.exists() else model}", file=sys.stderr)
            continue
        rows, ablation, info = run_video(name, video, gt, model, classes, work, args.random_seeds, args.set)
        summary.append((name, rows, info))
        lines = [f"### {name}: {info['frames']} frames, budget {info['budget']}, {info['errors']} errors in "
                 f"{info['episodes']} episodes, {info['switches']} ID switches; errors per frame: mean "
                 f"{info['mean']:.2f}, max {info['max']} (so lift <= {info['max'] / info['mean']:.2f})\n",
                 "| strategy | lift | episode coverage | ID-switch recall |", "|---|---|---|---|"]
        for strategy, f in {**rows, **ablation}.items():
            lines.append(f"| {strategy} | {f['lift']:.2f} | {f['coverage']:.2f} | {f['switch_recall']:.2f} |")
            print(f"{name:20s} {strategy:24s} lift {f['lift']:.2f} coverage {f['coverage']:.2f} "
                  f"switch recall {f['switch_recall']:.2f}")
        lines.append(f"\nScoring and selection: {info['scoring_ms']:.2f} ms per frame of {info['mine_ms']:.1f} ms "
                     f"of processing per frame (decode, detect, track, score, select): **{100 * info['overhead']:.1f}%**.")
        print(f"{name:20s} scoring+selection {info['scoring_ms']:.2f} ms/frame of {info['mine_ms']:.1f} ms/frame "
              f"({100 * info['overhead']:.1f}%)")
        body.append("\n".join(lines))
    print(summary_table(summary))
    if not args.no_write and body:
        write_section(
            "Selection quality",
            "Errors of vidal's own tracker output against MOTChallenge ground truth (CLEAR-MOT, IoU 0.5); "
            f"budget 5% of the frames, at least {MIN_BUDGET}; random averaged over {args.random_seeds} seeds; "
            "`without X` re-scores the same run without signal X. "
            + (f"The synthetic clips are fresh clips of the sample generator (`tools/make_sample.py`, street look, "
               f"detector `{args.synthetic_model.name}`); no threshold was set on them.\n\n" if args.synthetic else "\n\n")
            + summary_table(summary) + "\n\n" + "\n\n".join(body),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
