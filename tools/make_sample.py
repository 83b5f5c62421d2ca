"""Deterministic synthetic pedestrian clips with known identities, for offline demos and tests.

Renders look-alike upright figures of two classes (``person``, ``robot``) walking across a
scene in both directions, crossing each other, stopping, and passing behind a pillar and a
bush, with a brief lighting dip. Everything follows from ``--seed``: the same seed gives
byte-identical ground truth. Two modes:

    python tools/make_sample.py                          # sample_videos/crossing.mp4 + gt (seed 0)
    python tools/make_sample.py --yolo-dataset DIR --seeds 100-111 --val-seeds 112-113

The clip's ground truth is MOTChallenge MOT17 layout, ``frame,id,x,y,w,h,flag,class,visibility``
(1-based frames and ids, class = vidal class id + 1, flag 0 where less than 10% is visible).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT, FPS = 640, 360, 25.0
CLASSES = ("person", "robot")
# Few colours, so that several figures look alike (the bait for identity switches).
PALETTE = ((60, 60, 190), (190, 90, 40), (70, 150, 70), (40, 40, 40))
HORIZON = 150  # feet never above this line
MIN_HEIGHT, MAX_HEIGHT = 45, 110  # figure height at the horizon and at the bottom edge
IGNORE_VISIBILITY = 0.1  # MOT17 convention: flag 0 below this
LABEL_VISIBILITY = 0.3  # training labels skip figures hidden more than this
PILLAR = (300, 40, 338, 330)  # x1, y1, x2, y2 of the foreground pillar
BUSH_CENTER, BUSH_AXES = (520, 330), (70, 34)
DIM_FRAMES = range(120, 136)  # lighting dip
DIM_FACTOR = 0.7


@dataclass
class Walker:
    """One figure: identity, class, look, and its trajectory state."""

    track_id: int
    class_id: int
    colour: tuple[int, int, int]
    x: float
    foot_y: float
    vx: float
    vy: float
    start: int
    pause_at: int
    pause_len: int
    phase: float

    def height(self) -> float:
        t = (self.foot_y - HORIZON) / (HEIGHT - HORIZON)
        return MIN_HEIGHT + t * (MAX_HEIGHT - MIN_HEIGHT)


def spawn_walkers(rng: np.random.Generator, frames: int) -> list[Walker]:
    """Plan every figure of a clip: some already inside, the rest entering from a border."""
    walkers: list[Walker] = []
    lanes = np.linspace(HORIZON + 40, HEIGHT - 10, 5)

    def new(start: int, x: float | None) -> Walker:
        direction = rng.choice([-1.0, 1.0])
        lane = float(rng.choice(lanes) + rng.normal(0, 8))
        speed = float(rng.uniform(1.2, 2.8))
        if x is None:
            x = -20.0 if direction > 0 else WIDTH + 20.0
        return Walker(
            track_id=len(walkers) + 1,
            class_id=int(rng.random() < 0.35),
            colour=PALETTE[int(rng.integers(len(PALETTE)))],
            x=x,
            foot_y=float(np.clip(lane, HORIZON + 10, HEIGHT - 2)),
            vx=direction * speed,
            vy=float(rng.normal(0, 0.15)),
            start=start,
            pause_at=start + int(rng.integers(20, 200)) if rng.random() < 0.3 else -1,
            pause_len=int(rng.integers(10, 40)),
            phase=float(rng.uniform(0, 2 * np.pi)),
        )

    for _ in range(7):
        walkers.append(new(1, float(rng.uniform(40, WIDTH - 40))))
    frame = 1
    while frame < frames:
        frame += int(rng.integers(6, 16))
        walkers.append(new(frame, None))
    return walkers


def step(walker: Walker, frame: int, rng: np.random.Generator) -> None:
    """Advance a walker by one frame (no-op before its start or while it pauses)."""
    if frame <= walker.start:
        return
    if walker.pause_at <= frame < walker.pause_at + walker.pause_len:
        return
    walker.x += walker.vx + float(rng.normal(0, 0.2))
    walker.foot_y = float(np.clip(walker.foot_y + walker.vy, HORIZON + 10, HEIGHT - 2))


def draw_figure(canvas: np.ndarray, mask: np.ndarray, walker: Walker, frame: int) -> None:
    """Draw a figure on ``canvas`` and its silhouette (255) on ``mask``."""
    h = walker.height()
    w = 0.38 * h
    cx, fy = walker.x, walker.foot_y
    leg = 0.42 * h
    body_top, body_bottom = fy - 0.82 * h, fy - leg + 2
    swing = np.sin(walker.phase + frame * 0.35 * np.sign(walker.vx or 1)) * 0.18 * w
    colour = walker.colour
    dark = tuple(int(c * 0.6) for c in colour)
    skin = (150, 170, 200) if walker.class_id == 0 else (170, 170, 170)
    thickness = max(2, int(0.16 * w))

    def shape(target: np.ndarray, fill: tuple[int, ...] | int, body: tuple[int, ...] | int) -> None:
        for sign in (-1, 1):
            hip = (int(cx + sign * 0.2 * w), int(body_bottom))
            foot = (int(cx + sign * 0.2 * w + sign * swing), int(fy))
            cv2.line(target, hip, foot, body, thickness)
        cv2.ellipse(
            target,
            (int(cx), int((body_top + body_bottom) / 2)),
            (int(w / 2), int((body_bottom - body_top) / 2)),
            0, 0, 360, fill, -1,
        )
        head = 0.13 * h
        head_c = (int(cx), int(body_top - head * 0.9))
        if walker.class_id == 0:
            cv2.circle(target, head_c, int(head), body if target is mask else skin, -1)
        else:
            cv2.rectangle(
                target,
                (int(cx - head), int(head_c[1] - head)),
                (int(cx + head), int(head_c[1] + head)),
                body if target is mask else skin,
                -1,
            )
            cv2.line(target, (int(cx), int(head_c[1] - head)), (int(cx), int(head_c[1] - 2 * head)), body, 2)

    shape(canvas, colour, dark)
    if walker.class_id == 1:  # robots carry two horizontal stripes
        for k in (0.35, 0.6):
            y = int(body_top + k * (body_bottom - body_top))
            cv2.line(canvas, (int(cx - 0.4 * w), y), (int(cx + 0.4 * w), y), (220, 220, 220), max(1, int(h / 40)))
    shape(mask, 255, 255)


def background(rng: np.random.Generator) -> np.ndarray:
    """A smooth static scene: sky-to-ground gradient, a building, a path (compresses well)."""
    y = np.linspace(0, 1, HEIGHT)[:, None, None]
    sky = np.array([200, 180, 150], float)
    ground = np.array([120, 140, 130], float)
    image = np.where(y < HORIZON / HEIGHT, sky * (1 - 0.3 * y), ground * (0.8 + 0.3 * y))
    image = np.broadcast_to(image, (HEIGHT, WIDTH, 3)).astype(np.uint8).copy()
    shade = int(rng.integers(-20, 20))
    cv2.rectangle(image, (40, 30), (220, HORIZON), (150 + shade, 150, 160), -1)
    for x in range(60, 220, 40):
        cv2.rectangle(image, (x, 60), (x + 20, 90), (110, 120, 140), -1)
    cv2.rectangle(image, (0, HORIZON + 60), (WIDTH, HORIZON + 100), (135, 150, 150), -1)
    return cv2.GaussianBlur(image, (5, 5), 0)


def occluder_mask() -> np.ndarray:
    """Pixels of the foreground pillar and bush."""
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.rectangle(mask, PILLAR[:2], PILLAR[2:], 255, -1)
    cv2.ellipse(mask, BUSH_CENTER, BUSH_AXES, 0, 0, 360, 255, -1)
    return mask


def draw_occluders(image: np.ndarray) -> None:
    cv2.rectangle(image, PILLAR[:2], PILLAR[2:], (95, 105, 115), -1)
    cv2.rectangle(image, (PILLAR[0] + 6, PILLAR[1]), (PILLAR[0] + 12, PILLAR[3]), (120, 130, 140), -1)
    cv2.ellipse(image, BUSH_CENTER, BUSH_AXES, 0, 0, 360, (50, 110, 60), -1)
    cv2.ellipse(image, (BUSH_CENTER[0] - 25, BUSH_CENTER[1] - 10), (30, 18), 0, 0, 360, (60, 125, 70), -1)


@dataclass
class Visible:
    """Ground truth of one figure in one frame."""

    track_id: int
    class_id: int
    box: tuple[float, float, float, float]  # x, y, w, h clipped to the image
    visibility: float


def render(seed: int, frames: int):
    """Yield ``(frame, image, [Visible])`` for a clip, deterministically from ``seed``."""
    rng = np.random.default_rng(seed)
    walkers = spawn_walkers(rng, frames)
    base = background(rng)
    occluders = occluder_mask()
    for frame in range(1, frames + 1):
        for walker in walkers:
            step(walker, frame, rng)
        image = base.copy()
        active = [w for w in walkers if w.start <= frame and -40 < w.x < WIDTH + 40]
        active.sort(key=lambda w: w.foot_y)  # far first: nearer figures occlude them
        masks = []
        for walker in active:
            mask = np.zeros((HEIGHT, WIDTH), np.uint8)
            draw_figure(image, mask, walker, frame)
            masks.append(mask)
        draw_occluders(image)
        if frame in DIM_FRAMES:
            image = (image.astype(np.float32) * DIM_FACTOR).astype(np.uint8)
        truth = []
        cover = occluders.copy()
        for walker, mask in zip(reversed(active), reversed(masks)):  # near to far
            area = int(np.count_nonzero(mask))
            if area == 0:
                continue
            ys, xs = np.nonzero(mask)
            visible = int(np.count_nonzero(mask & ~cover))
            cover |= mask
            x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
            truth.append(
                Visible(walker.track_id, walker.class_id, (float(x1), float(y1), float(x2 - x1), float(y2 - y1)),
                        visible / area)
            )
        yield frame, image, sorted(truth, key=lambda v: v.track_id)


def write_clip(out_dir: Path, name: str, seed: int, frames: int) -> tuple[Path, int, int]:
    """Write the video, its MOT17-layout gt, seqinfo.ini and classes.txt; return (video, ids, boxes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    video = out_dir / f"{name}.mp4"
    seq = out_dir / name
    (seq / "gt").mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    lines, ids = [], set()
    for frame, image, truth in render(seed, frames):
        writer.write(image)
        for v in truth:
            flag = 0 if v.visibility < IGNORE_VISIBILITY else 1
            x, y, w, h = v.box
            lines.append(f"{frame},{v.track_id},{x:.0f},{y:.0f},{w:.0f},{h:.0f},{flag},{v.class_id + 1},{v.visibility:.3f}")
            ids.add(v.track_id)
    writer.release()
    (seq / "gt" / "gt.txt").write_text("\n".join(lines) + "\n")
    (seq / "seqinfo.ini").write_text(
        f"[Sequence]\nname={name}\nimDir=img1\nframeRate={FPS:.0f}\nseqLength={frames}\n"
        f"imWidth={WIDTH}\nimHeight={HEIGHT}\nimExt=.jpg\n"
    )
    (seq / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return video, len(ids), len(lines)


def write_yolo_dataset(root: Path, train: list[int], val: list[int], frames: int, every: int) -> int:
    """Render frames of other seeds as an Ultralytics detection dataset; return the image count."""
    count = 0
    for split, seeds in (("train", train), ("val", val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for seed in seeds:
            for frame, image, truth in render(seed, frames):
                if frame % every:
                    continue
                stem = f"s{seed}_{frame:04d}"
                cv2.imwrite(str(root / "images" / split / f"{stem}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
                rows = []
                for v in truth:
                    if v.visibility < LABEL_VISIBILITY:
                        continue
                    x, y, w, h = v.box
                    rows.append(f"{v.class_id} {(x + w / 2) / WIDTH:.6f} {(y + h / 2) / HEIGHT:.6f} "
                                f"{w / WIDTH:.6f} {h / HEIGHT:.6f}")
                (root / "labels" / split / f"{stem}.txt").write_text("\n".join(rows) + ("\n" if rows else ""))
                count += 1
    names = "\n".join(f"  {i}: {n}" for i, n in enumerate(CLASSES))
    (root / "data.yaml").write_text(f"path: {root.resolve()}\ntrain: images/train\nval: images/val\nnames:\n{names}\n")
    return count


def seed_range(text: str) -> list[int]:
    """Parse ``100-111`` or ``3,5,9``."""
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in text.split(",")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--name", default="crossing")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "sample_videos")
    parser.add_argument("--yolo-dataset", type=Path, help="write a YOLO dataset here instead of a clip")
    parser.add_argument("--seeds", default="100-111", help="training seeds for --yolo-dataset")
    parser.add_argument("--val-seeds", default="112-113", help="validation seeds for --yolo-dataset")
    parser.add_argument("--every", type=int, default=6, help="keep every n-th frame for --yolo-dataset")
    args = parser.parse_args()
    if args.yolo_dataset:
        n = write_yolo_dataset(args.yolo_dataset, seed_range(args.seeds), seed_range(args.val_seeds), args.frames, args.every)
        print(f"wrote {n} images to {args.yolo_dataset}")
        return 0
    video, ids, boxes = write_clip(args.out, args.name, args.seed, args.frames)
    print(f"wrote {video} ({video.stat().st_size / 1e6:.1f} MB): {args.frames} frames, {ids} identities, {boxes} boxes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
