"""Mining another system's output: ``vidal mine --detections`` and ``--tracks`` against vidal's own run.

For each video (TUD-Stadtmitte, SNMOT-116; person class, the shared COCO YOLO11n int8
OpenVINO model), Ultralytics itself produces the other system's output:

- ``model.predict`` over the video file, with the conf, iou, imgsz and max_det of vidal's own
  run, every class, written as MOTChallenge detections (class = COCO id + 1, a ``classes.txt``
  of the model's names) for ``--detections``;
- ``model.track(..., tracker="bytetrack.yaml", classes=[0], persist=True, stream=True)`` over
  the video file, written as MOTChallenge tracks for ``--tracks``.

Then the video is mined at a budget of 5%: ``--detections`` and ``--tracks`` (no detector; the
association signal off, as ``vidal mine --tracks`` does), and vidal's own run once per
``--backends`` (``auto``: the export on OpenVINO through vidal's own pre- and post-processing;
``ultralytics``: the same export through Ultralytics, as its ``predict`` runs it; vidal's
ByteTrack for both). Each own run's and the ``--detections`` run's ``tracks.txt`` are
compared frame by frame; each run's error coverage is the share of the error episodes of its
own tracks against the ground truth (CLEAR-MOT at IoU 0.5) that its selection covers
(:func:`bench_selection.episodes` and :func:`bench_selection.figures`); the time per frame is
the pipeline's processing clock (decode, detect, track, score) divided by the frames.

    python tools/bench_imported.py          # writes its section of BENCHMARKS.md
    python tools/bench_imported.py --videos TUD-Stadtmitte --backends ultralytics --no-write
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

from bench_selection import episodes, figures
from benchmark_common import SHARED, SHARED_MODEL, offline_ultralytics, scratch_folder, write_section

VIDEOS = {name: SHARED / "data" / "mot" / name for name in ("TUD-Stadtmitte", "SNMOT-116")}
PERSON = 0  # COCO
COVERAGE_TOLERANCE = 0.05


def _box_row(frame: int, ident: int, xyxy: list[float], conf: float, class_id: int) -> str:
    x1, y1, x2, y2 = xyxy
    # repr: the float32 values come back exactly, so the tracker sees what Ultralytics gave
    return f"{frame},{ident},{x1!r},{y1!r},{x2 - x1!r},{y2 - y1!r},{conf!r},{class_id + 1}\n"


def ultralytics_outputs(video: Path, folder: Path, config) -> dict[str, float]:
    """Write ``det.txt``, ``tracks.txt`` and ``classes.txt`` from Ultralytics' predict and track.

    Returns:
        Seconds per frame of each.
    """
    from ultralytics import YOLO

    d = config.detector
    options = dict(conf=d.conf, iou=d.iou, max_det=d.max_det, imgsz=640, verbose=False, stream=True)
    model = YOLO(str(SHARED_MODEL), task="detect")
    (folder / "classes.txt").write_text("".join(f"{model.names[k]}\n" for k in range(len(model.names))))
    seconds: dict[str, float] = {}
    started, frames = time.perf_counter(), 0
    with (folder / "det.txt").open("w") as handle:
        for frames, result in enumerate(model.predict(source=str(video), **options), start=1):
            boxes = result.boxes
            for xyxy, conf, cls in zip(boxes.xyxy.tolist(), boxes.conf.tolist(), boxes.cls.tolist()):
                handle.write(_box_row(frames, -1, xyxy, conf, int(cls)))
    seconds["predict"] = (time.perf_counter() - started) / frames
    model = YOLO(str(SHARED_MODEL), task="detect")
    started = time.perf_counter()
    with (folder / "tracks.txt").open("w") as handle:
        for frames, result in enumerate(
            model.track(source=str(video), tracker="bytetrack.yaml", classes=[PERSON], persist=True, **options),
            start=1,
        ):
            boxes = result.boxes
            if boxes.id is None:
                continue
            for xyxy, ident, conf, cls in zip(boxes.xyxy.tolist(), boxes.id.tolist(), boxes.conf.tolist(),
                                              boxes.cls.tolist()):
                handle.write(_box_row(frames, int(ident), xyxy, conf, int(cls)))
    seconds["track"] = (time.perf_counter() - started) / frames
    return seconds


class Recorder:
    """Wraps a detector and keeps what it hands the tracker, by frame."""

    def __init__(self, detector) -> None:
        self.detector = detector
        self.names, self.classes, self.description = detector.names, detector.classes, detector.description
        self.seen: dict[int, object] = {}

    def stream(self, frames):
        for frame, detections in self.detector.stream(frames):
            self.seen[frame.index] = detections
            yield frame, detections


def mine(video: Path, work: Path, settings: list[str]):
    """Mine ``video`` at 5% with ``settings`` (config overrides); the pipeline's result and the detections."""
    from vidal.config import load_config
    from vidal.pipeline import build_detector, mine_source
    from vidal.video import open_source

    config = load_config(None, ["detector.classes=[person]", "selection.budget=5%", *settings])
    detector = Recorder(build_detector(config))
    return mine_source(open_source(video), detector, config, work), detector.seen


def same_detections(a, b) -> bool:
    return (len(a) == len(b) and (a.xyxy == b.xyxy).all() and (a.confidence == b.confidence).all()
            and (a.class_id == b.class_id).all())


def rows_by_frame(path: Path) -> dict[int, set[str]]:
    """The lines of a ``tracks.txt``, frame by frame."""
    out: dict[int, set[str]] = defaultdict(set)
    for line in path.read_text().splitlines():
        out[int(line.split(",", 1)[0])].add(line)
    return out


def coverage(result, gt: Path) -> tuple[float, int]:
    """The share of the error episodes of a run's own tracks that its selection covers, and their number."""
    from vidal.evaluation import frame_errors
    from vidal.mot import read_mot

    errors = frame_errors(read_mot(gt), read_mot(result.run_dir / "tracks.txt"), [r.frame for r in result.records])
    found, switches = episodes(errors)
    return figures(result.selected, errors, found, switches)["coverage"], len(found)


def compare(own, own_seen, det, det_seen) -> dict:
    """Frame by frame, whether an own run and the ``--detections`` run have the same tracks (and detections)."""
    own_rows, det_rows = rows_by_frame(own.run_dir / "tracks.txt"), rows_by_frame(det.run_dir / "tracks.txt")
    frames = [r.frame for r in own.records]
    same = [f for f in frames if own_rows.get(f, set()) == det_rows.get(f, set())]
    # Where the tracks differ: did the tracker get other detections (Ultralytics' OpenVINO path
    # against vidal's own decoding), or the same ones?
    same_input = [f for f in frames if same_detections(own_seen[f], det_seen[f])]
    first_other = next((f for f in frames if f not in same_input), None)
    return {"same_frames": len(same), "same_input": len(same_input), "first_other_input": first_other,
            "same_tracks_same_input_prefix": all(f in same for f in frames if first_other is None or f < first_other),
            "own_rows": sum(map(len, own_rows.values())), "det_rows": sum(map(len, det_rows.values()))}


def run_video(name: str, folder: Path, work: Path, backends: list[str]) -> dict:
    from vidal.config import load_config

    video, gt = folder / f"{name}.mp4", folder / "gt" / "gt.txt"
    files = work / name
    files.mkdir(parents=True)
    ultra = ultralytics_outputs(video, files, load_config(None, [f"detector.model={SHARED_MODEL}"]))
    det, det_seen = mine(video, work / "detections", [f"detector.detections={files / 'det.txt'}",
                                                      f"detector.classes_file={files / 'classes.txt'}"])
    tracks, _ = mine(video, work / "tracks", [f"detector.tracks={files / 'tracks.txt'}",
                                              f"detector.classes_file={files / 'classes.txt'}",
                                              "scoring.signals.association.enabled=false"])
    runs = {"detections": det, "tracks": tracks}
    out: dict = {"frames": det.processed, "ultralytics": ultra, "backends": {}}
    for backend in backends:
        own, own_seen = mine(video, work / f"own-{backend}", [f"detector.model={SHARED_MODEL}",
                                                              f"detector.backend={backend}"])
        runs[f"own-{backend}"] = own
        same = out["backends"][backend] = compare(own, own_seen, det, det_seen)
        print(f"{name:16s} own ({backend}) vs detections: identical tracks in {same['same_frames']} of "
              f"{own.processed} frames; identical detections in {same['same_input']}; first frame with other "
              f"detections: {same['first_other_input']}; tracks identical in every frame before it: "
              f"{same['same_tracks_same_input_prefix']}")
    for key, result in runs.items():
        cov, found = coverage(result, gt)
        out[key] = {"coverage": cov, "episodes": found, "ms": 1000 * result.seconds / result.processed,
                    "selected": len(result.selected)}
        stages = ", ".join(f"{stage} {1000 * seconds / result.processed:.1f}"
                           for stage, seconds in result.timings.items())
        print(f"{name:16s} {key:18s} coverage {cov:.3f} of {found} episodes, {out[key]['ms']:.1f} ms/frame "
              f"(ms per frame by stage: {stages})")
    return out


def table(results: dict[str, dict], backends: list[str]) -> str:
    """The section's table: the speed-up is against the fastest own run (mining as it would be done)."""
    lines = [
        "| video | frames | own vs `--detections`, by own backend: frames with identical tracks (with identical "
        "detections) | error coverage: own / `--detections` / `--tracks` (Ultralytics' tracks) "
        "| ms per frame: own, by backend / `--detections` / `--tracks` | speed-up of `--detections` / `--tracks` "
        "over the fastest own run | Ultralytics predict / track, ms per frame |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        det, trk = r["detections"], r["tracks"]
        owns = {b: r[f"own-{b}"] for b in backends}
        fastest = min(owns.values(), key=lambda o: o["ms"])
        first = owns[backends[0]]
        same = "; ".join(f"{b}: {s['same_frames']} of {r['frames']} ({s['same_input']}), {s['own_rows']} / "
                         f"{s['det_rows']} track rows" for b, s in r["backends"].items())
        own_ms = " or ".join(f"{o['ms']:.1f} ({b})" for b, o in owns.items())
        lines.append(
            f"| {name} | {r['frames']} | {same} "
            f"| {first['coverage']:.2f} ({first['episodes']} episodes) / {det['coverage']:.2f} / "
            f"{trk['coverage']:.2f} ({trk['episodes']} episodes) | {own_ms} / {det['ms']:.1f} / {trk['ms']:.1f} "
            f"| {fastest['ms'] / det['ms']:.1f}x / {fastest['ms'] / trk['ms']:.1f}x "
            f"| {1000 * r['ultralytics']['predict']:.1f} / {1000 * r['ultralytics']['track']:.1f} |"
        )
    within = [name for name, r in results.items()
              if abs(r["tracks"]["coverage"] - r[f"own-{backends[0]}"]["coverage"]) <= COVERAGE_TOLERANCE]
    lines.append(f"\n`--tracks` error coverage within {COVERAGE_TOLERANCE} of vidal's own run ({backends[0]}) on "
                 f"{len(within)} of {len(results)} videos.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", nargs="*", default=list(VIDEOS), choices=list(VIDEOS))
    parser.add_argument("--backends", nargs="+", default=["auto", "ultralytics"],
                        choices=["auto", "ultralytics", "openvino"],
                        help="vidal's own runs' detector backends (auto: the export on OpenVINO directly; "
                             "ultralytics: the export through Ultralytics, as its predict runs it)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    offline_ultralytics()
    work = scratch_folder("vidal-bench-imported-")
    results = {name: run_video(name, VIDEOS[name], work, args.backends) for name in args.videos}
    text = table(results, args.backends)
    print(text)
    if not args.no_write:
        write_section(
            "Bring your own detections and tracks",
            "Ultralytics' own `predict` (every class, vidal's conf 0.1, iou 0.7, imgsz 640, max_det 300) and `track` "
            "(ByteTrack, person) over each video with the shared COCO YOLO11n int8 OpenVINO model, given to `vidal "
            "mine --detections` and `--tracks`, against vidal's own run with the model (`--classes person`, budget 5% "
            f"for each; own runs with detector backends {', '.join(f'`{b}`' for b in args.backends)}). Error "
            "coverage: the share of the error episodes of the run's own tracks (CLEAR-MOT at IoU 0.5 against the ground truth, `tools/bench_selection.py`) with a "
            "selected frame within 2 frames. Time per frame: the pipeline's processing clock (decode, detect, "
            "track, score).\n\n" + text,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
