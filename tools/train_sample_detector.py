"""Train the small sample detector that ships in ``sample_videos/``, offline, on CPU.

Renders a YOLO dataset from seeds other than the sample clip's (``tools/make_sample.py``),
trains YOLO11n from its architecture file (no pretrained weights, nothing downloaded) and
copies ``best.pt`` to ``sample_videos/crossing_yolo11n.pt``. The model is meant to be
decent but imperfect, so that mining the sample clip finds real mistakes.

    python tools/train_sample_detector.py --epochs 20     # the shipped model: about 21 min on 2 CPU cores
    python tools/train_sample_detector.py --look plaza --seeds 200-211 --val-seeds 212-213 \
        --epochs 10 --out sample_videos/plaza_yolo11n.pt  # the shipped base from another camera (benchmarks)

One epoch over the default 600 images at imgsz 320 takes about a minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from make_sample import LOOKS, seed_range, write_yolo_dataset

REPO = Path(__file__).resolve().parents[1]
CLIP_FRAMES = 300  # length of each rendered training clip, the same as the sample's


def main() -> int:
    """Render the dataset (unless already in ``--work``), train, validate, copy ``best.pt``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vidal-sample-detector")
    parser.add_argument("--seeds", default="100-111")
    parser.add_argument("--val-seeds", default="112-113")
    parser.add_argument("--every", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--look", choices=sorted(LOOKS), default="street", help="the scenes' appearance")
    parser.add_argument("--out", type=Path, default=REPO / "sample_videos" / "crossing_yolo11n.pt")
    args = parser.parse_args()
    # Ultralytics puts a relative project under its own runs_dir: hand it absolute paths only.
    args.work = args.work.resolve()
    os.environ.setdefault("YOLO_CONFIG_DIR", str(args.work / "ultralytics"))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO

    from vidal.detectors.cpu import all_cores

    data = args.work / f"data-{args.look}"
    if not (data / "data.yaml").exists():
        count = write_yolo_dataset(data, seed_range(args.seeds), seed_range(args.val_seeds), CLIP_FRAMES,
                                   args.every, LOOKS[args.look])
        print(f"dataset: {count} images in {data}")
    started = time.perf_counter()
    model = YOLO("yolo11n.yaml")
    with all_cores():  # Ultralytics would leave a core idle (vidal.detectors.cpu)
        model.train(
            data=str(data / "data.yaml"),
            epochs=args.epochs,
            imgsz=args.imgsz,
            batch=args.batch,
            device="cpu",
            workers=0,
            seed=0,
            deterministic=True,
            plots=False,
            amp=False,
            val=True,
            project=str(args.work / "runs"),
            name=f"train-{args.look}",
            exist_ok=True,
            verbose=False,
        )
    minutes = (time.perf_counter() - started) / 60
    best = args.work / "runs" / f"train-{args.look}" / "weights" / "best.pt"
    metrics = YOLO(str(best)).val(data=str(data / "data.yaml"), imgsz=args.imgsz, device="cpu", plots=False,
                                  workers=0, verbose=False, project=str(args.work / "runs"),
                                  name=f"val-{args.look}", exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(best, args.out)
    print(f"trained in {minutes:.1f} min; val mAP50 {metrics.box.map50:.3f}, mAP50-95 {metrics.box.map:.3f}; "
          f"per class mAP50 {[round(float(x), 3) for x in metrics.box.ap50]}, "
          f"mAP50-95 {[round(float(x), 3) for x in metrics.box.maps]}; wrote {args.out} "
          f"({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
