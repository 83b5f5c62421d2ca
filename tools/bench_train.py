"""Does ``vidal train`` make a better detector? Base against fine-tuned, on frames it never saw.

The loop of the README on the sample clip, through vidal's public API:

1. ``vidal mine`` the sample clip with its shipped detector (vidal's selection, ``--budget``);
2. ``vidal label --from-mot`` its ground truth (the simulated reviewer);
3. ``vidal train``: split by time, fine-tune, score base and new model on the held-out
   validation frames (Ultralytics' validator, as ``vidal train`` reports);
4. score both models again on clips the generator renders with other seeds (other walkers,
   another background, the same camera): new footage from the same camera, which is what
   the fine-tuned model will mine next.

Ground truth labels every figure at least 10% visible (the MOTChallenge flag); the shipped
detector was trained on figures at least 30% visible, so the reviewer's labels also teach it
the camera's partly hidden people.

The base is the shipped sample detector, or ``--base``: the shipped one was trained on other
clips of this very generator, so the clip holds little it has not seen. A detector trained on
another camera's footage (``make_sample.py``'s ``plaza`` look, made by
``tools/train_sample_detector.py --look plaza``) meets the sample clip the way a user's detector
meets their own footage: the situation ``vidal train`` is for. Each base has its own section in
``BENCHMARKS.md``.

Runs in a FiftyOne dataset of its own (deleted at the end) and a temporary media folder.

    python tools/bench_train.py              # writes the table to BENCHMARKS.md
    python tools/bench_train.py --base sample_videos/plaza_yolo11n.pt
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from benchmark_common import REPO, offline_ultralytics, scratch_folder, write_section

SAMPLE_VIDEO = REPO / "sample_videos" / "crossing.mp4"
SAMPLE_MODEL = REPO / "sample_videos" / "crossing_yolo11n.pt"
SAMPLE_GT = REPO / "sample_videos" / "crossing" / "gt" / "gt.txt"


def write_later_frames(root: Path, first: int, last: int | None) -> Path:
    """Frames ``first..last`` (``None``: to the end) of the sample clip, decoded from the video, labelled from its gt.txt."""
    from vidal.dataset.label import resolve_classes, row_labels
    from vidal.mot import read_gt
    from vidal.video import open_source
    from vidal.yolo import write_yolo_labels

    classes = resolve_classes(SAMPLE_GT, None)  # the sample's classes.txt, as `vidal label` reads it
    gt = read_gt(SAMPLE_GT)
    labels = row_labels(gt, classes)
    names = list(classes.values())
    (root / "images" / "val").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "val").mkdir(parents=True, exist_ok=True)
    for frame in open_source(SAMPLE_VIDEO).frames(start=first, end=last):
        height, width = frame.image.shape[:2]
        cv2.imwrite(str(root / "images" / "val" / f"{frame.index:06d}.jpg"), frame.image)
        rows = ((gt.frame == frame.index) & (labels != "")).nonzero()[0]
        write_yolo_labels(root / "labels" / "val" / f"{frame.index:06d}.txt", gt.xyxy[rows],
                          [names.index(label) for label in labels[rows]], width, height)
    listed = "\n".join(f"  {i}: {n}" for i, n in enumerate(names))
    yaml = root / "dataset.yaml"
    yaml.write_text(f"path: {root.resolve()}\ntrain: images/val\nval: images/val\nnames:\n{listed}\n")
    return yaml


def write_heldout(root: Path, seeds: list[int], frames: int, every: int) -> Path:
    """Render clips of other seeds as a YOLO validation set labelled like ``vidal label`` does."""
    import make_sample as sample

    from vidal.yolo import write_yolo_labels

    (root / "images" / "val").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "val").mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        for frame, image, truth in sample.render(seed, frames):
            if frame % every:
                continue
            stem = f"s{seed}_{frame:04d}"
            cv2.imwrite(str(root / "images" / "val" / f"{stem}.jpg"), image)
            kept = [v for v in truth if v.visibility >= sample.IGNORE_VISIBILITY]  # flag 0 in gt.txt: not labelled
            xyxy = np.array([(x, y, x + w, y + h) for x, y, w, h in (v.box for v in kept)], np.float64).reshape(-1, 4)
            write_yolo_labels(root / "labels" / "val" / f"{stem}.txt", xyxy, [v.class_id for v in kept],
                              sample.WIDTH, sample.HEIGHT)
    names = "\n".join(f"  {i}: {n}" for i, n in enumerate(sample.CLASSES))
    yaml = root / "dataset.yaml"
    yaml.write_text(f"path: {root.resolve()}\ntrain: images/val\nval: images/val\nnames:\n{names}\n")
    return yaml


def yaml_value(text: str) -> object:
    """``0.01`` -> 0.01, ``SGD`` -> "SGD": values of ``--hyp`` as YAML reads them."""
    import yaml

    return yaml.safe_load(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=SAMPLE_MODEL, help="the detector to mine with and fine-tune")
    parser.add_argument("--budget", default="50%", help="frames vidal mines (and the reviewer labels)")
    parser.add_argument("--mine-end", type=int, default=200, help="mine frames 1..N; later frames are held out")
    parser.add_argument("--gap", type=int, default=25, help="frames between the mined part and the later frames")
    parser.add_argument("--hyp", action="append", default=[], help="Ultralytics training argument, key=value")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--adapt-bn", action="store_true", help="vidal train's --adapt-bn")
    parser.add_argument("--min-steps", type=int, default=None,
                        help="vidal train's --min-steps (default: vidal's; 0: exactly --epochs)")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--device", default=None)
    parser.add_argument("--heldout-seeds", default="1,2", help="generator seeds of the unseen clips")
    parser.add_argument("--every", type=int, default=5, help="every n-th frame of an unseen clip is scored")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    offline_ultralytics()
    work = scratch_folder("vidal-bench-train-")
    os.environ["VIDAL_HOME"] = str(work / "home")
    from vidal.config import load_config
    from vidal.dataset import push_run
    from vidal.dataset.connection import connect
    from vidal.dataset.label import label_from_mot
    from vidal.pipeline import build_detector, mine_source
    from vidal.training import FINE_TUNE, plan_training, run_training, validate
    from vidal.video import open_source

    name = f"bench-train-{os.getpid()}"
    fo = connect()
    try:
        config = load_config(overrides=[f"detector.model={args.base}", f"selection.budget={args.budget}",
                                        f"input.end={args.mine_end}"])
        started = time.perf_counter()
        mined = mine_source(open_source(SAMPLE_VIDEO), build_detector(config), config, work / "runs")
        pushed = push_run(mined.run_dir, name)
        labelled = label_from_mot(name, SAMPLE_GT, SAMPLE_VIDEO)
        print(f"mined {len(mined.selected)} of {mined.processed} frames, pushed {pushed.added}, labelled "
              f"{labelled.written} ({labelled.boxes} boxes) in {time.perf_counter() - started:.0f} s")
        hyp = {key: yaml_value(value) for key, value in (item.split("=", 1) for item in args.hyp)}
        plan = plan_training(name, base=str(args.base), epochs=args.epochs, imgsz=args.imgsz, device=args.device,
                             out_root=work / "models", hyp=hyp, min_steps=args.min_steps,
                             adapt_bn=args.adapt_bn)
        arguments = json.dumps(dict(FINE_TUNE, **plan.hyp))
        print(f"training on {len(plan.train_ids)} frames, validating on {len(plan.val_ids)} "
              f"({len(plan.dropped_ids)} left out near them), {plan.epochs} epochs at imgsz {args.imgsz} "
              f"({arguments})")
        terminal = sys.stdout  # training redirects sys.stdout to its log
        result = run_training(plan, on_epoch=lambda e, n: print(f"  epoch {e}/{n}", file=terminal, flush=True))
        record = result.record
        seeds = [int(s) for s in args.heldout_seeds.split(",") if s.strip()]
        first_later = args.mine_end + args.gap + 1
        sets = {
            "later": write_later_frames(work / "later", first_later, None),
            "unseen": write_heldout(work / "heldout", seeds, 300, args.every),
        }
        log = work / "heldout.log"
        scores = {
            key: {model: validate(path, data, imgsz=args.imgsz, batch=16, device=args.device, log=log).as_dict()
                  for model, path in (("base", str(args.base)), ("new", str(result.model_path)))}
            for key, data in sets.items()
        }
        images = {key: len(list((data.parent / "images" / "val").glob("*.jpg"))) for key, data in sets.items()}
    finally:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)

    base, new = record.metrics.base.as_dict(), record.metrics.new.as_dict()
    rows = [
        ("`vidal train`'s validation split (mined frames held out by time)", record.metrics.val_images, base, new),
        (f"later frames of the clip ({first_later}-{images['later'] + first_later - 1}, {args.gap} frames after the mined part)", images["later"],
         scores["later"]["base"], scores["later"]["new"]),
        (f"unseen clips (generator seeds {args.heldout_seeds}, every {args.every}th frame)", images["unseen"],
         scores["unseen"]["base"], scores["unseen"]["new"]),
    ]
    table = ["| evaluated on | frames | base mAP50 | fine-tuned mAP50 | base mAP50-95 | fine-tuned mAP50-95 |",
             "|---|---|---|---|---|---|"]
    better = 0
    for label, count, b, n in rows:
        mark = lambda x, y: f"**{x:.3f}**" if x > y else f"{x:.3f}"  # noqa: E731
        table.append(f"| {label} | {count} | {mark(b['map50'], n['map50'])} | {mark(n['map50'], b['map50'])} | "
                     f"{mark(b['map'], n['map'])} | {mark(n['map'], b['map'])} |")
        better += n["map50"] > b["map50"]
    verdict = (f"The fine-tuned model's mAP50 is higher on {better} of the {len(rows)} evaluation sets "
               "(the higher figure of each pair in bold).")
    later = scores["later"]
    classes = ["| class | base mAP50 | fine-tuned mAP50 (later frames) |", "|---|---|---|"]
    for cls, value in later["new"]["per_class"].items():
        classes.append(f"| {cls} | {later['base']['per_class'].get(cls, {}).get('map50', 0.0):.3f} | {value['map50']:.3f} |")
    shipped = args.base.resolve() == SAMPLE_MODEL.resolve()
    detector = "the shipped detector" if shipped else f"`{args.base.name}`"
    body = (
        f"`vidal mine` (budget {args.budget}) with {detector} picked {len(mined.selected)} of the sample clip's first "
        f"{mined.processed} frames; `vidal label --from-mot` labelled them ({labelled.boxes} boxes); `vidal train` "
        f"fine-tuned {detector} on {len(plan.train_ids)} of them for {plan.epochs} epochs"
        f"{f' ({plan.epochs_asked} asked)' if plan.epochs != plan.epochs_asked else ''} at imgsz {args.imgsz} "
        f"({record.train_seconds:.0f} s) and validated on {len(plan.val_ids)} held-out frames "
        f"({len(plan.dropped_ids)} more left out for being within 1 s of them). Fine-tuning arguments: "
        f"{arguments}. Ultralytics' validator, imgsz {args.imgsz}.\n\n"
        + "\n".join(table) + "\n\n" + verdict + "\n\n" + "\n".join(classes) + "\n"
    )
    print(body)
    if not args.no_write:
        title = "Retraining on corrections (sample clip)"
        write_section(title if shipped else f"{title[:-1]}, base from another camera)", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
