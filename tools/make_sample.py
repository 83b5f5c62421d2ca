"""Deterministic synthetic pedestrian clips with known identities, for offline demos and tests.

Renders look-alike upright figures of two classes (``person``, ``robot``) walking across a
scene in both directions, crossing each other, some stopping for a while, passing behind a
pillar and a bush, with a brief lighting dip. Everything follows from ``--seed``: the same seed gives
byte-identical ground truth. Two modes:

    python tools/make_sample.py                          # sample_videos/crossing.mp4 + gt (seed 0)
    python tools/make_sample.py --yolo-dataset DIR --seeds 100-111 --val-seeds 112-113

A *look* sets the scene's appearance (``--look``): ``street``, the sample's, or ``plaza``, another
camera's footage of the same kind of scene (warm evening light, other colours, smaller figures
seen from farther away). A detector trained on one look and run on the other is a detector
meeting footage it has not seen: the situation vidal's review and retraining are for.

The clip's ground truth is MOTChallenge MOT17 layout, ``frame,id,x,y,w,h,flag,class,visibility``
(1-based frames and ids, class = vidal class id + 1, flag 0 where less than 10% is visible).
Visibility is the share of a figure's silhouette pixels that neither an occluder nor a nearer
figure covers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT, FPS = 640, 360, 25.0
CLASSES = ("person", "robot")  # line order of classes.txt = vidal class id
HORIZON = 150  # feet never above this line


@dataclass(frozen=True)
class Look:
    """The appearance of a scene: what changes from one camera's footage to another's.

    Attributes:
        palette: BGR body colours. Few, so that several figures look alike: the bait for
            identity switches.
        min_height: body height (without head) in pixels at the horizon.
        max_height: body height at the bottom edge.
        sky: BGR colour of the sky at the top.
        ground: BGR colour of the ground.
        building: BGR colour of the building (a random shade is added to its blue channel).
        window: BGR colour of the building's windows.
        path: BGR colour of the path across the ground.
        pillar: BGR colour of the foreground pillar.
        bush: BGR colour of the bush.
        light: overall brightness factor (1 = as drawn).
    """

    palette: tuple[tuple[int, int, int], ...]
    min_height: float
    max_height: float
    sky: tuple[int, int, int]
    ground: tuple[int, int, int]
    building: tuple[int, int, int]
    window: tuple[int, int, int]
    path: tuple[int, int, int]
    pillar: tuple[int, int, int]
    bush: tuple[int, int, int]
    light: float = 1.0


LOOKS = {
    # The sample clip's look (and the shipped detector's training data).
    "street": Look(
        palette=((60, 60, 190), (190, 90, 40), (70, 150, 70), (40, 40, 40)),
        min_height=45, max_height=110, sky=(200, 180, 150), ground=(120, 140, 130), building=(150, 150, 160),
        window=(110, 120, 140), path=(135, 150, 150), pillar=(95, 105, 115), bush=(50, 110, 60),
    ),
    # Another camera: warm evening light on sand-coloured paving, bright clothes, figures
    # about two thirds the size (the camera stands farther away).
    "plaza": Look(
        palette=((40, 200, 230), (180, 60, 160), (200, 190, 60), (230, 230, 230)),
        min_height=30, max_height=80, sky=(120, 140, 210), ground=(110, 160, 190), building=(90, 100, 150),
        window=(60, 170, 230), path=(90, 130, 160), pillar=(70, 80, 110), bush=(40, 90, 50), light=0.85,
    ),
}
STREET = LOOKS["street"]
FIGURE_ASPECT = 0.38  # body width / height: upright, pedestrian-like

# Crowd plan. Seven figures at the start plus one entering every 6-15 frames keeps a street
# of 7-27 figures (mean about 18 in the seed-0 clip): crowded enough for heavy overlaps.
INITIAL_WALKERS = 7
SPAWN_GAP = (6, 16)  # frames between two entries, [low, high)
LANE_COUNT = 5  # walking corridors between the horizon and the bottom edge
LANE_JITTER = 8.0  # px, standard deviation of a figure's offset from its lane
SPEED = (1.2, 2.8)  # px per frame, uniform: 1-3 px/frame at 25 fps is a walk at this scale
DRIFT_SD = 0.15  # px per frame, standard deviation of the vertical drift
STEP_SD = 0.2  # px, standard deviation of the per-frame jitter of the horizontal step
# A third of the figures are robots: rare enough that a small detector leans towards person.
ROBOT_SHARE = 0.35
PAUSE_SHARE = 0.3  # figures that stop once on their way
PAUSE_START = (20, 200)  # frames after entry, [low, high)
PAUSE_LENGTH = (10, 40)  # frames, [low, high)
ENTRY_OFFSET = 20.0  # px outside the border where an entering figure starts
ACTIVE_MARGIN = 40  # px outside the image beyond which a figure is not drawn

IGNORE_VISIBILITY = 0.1  # MOT17 convention: flag 0 below this
LABEL_VISIBILITY = 0.3  # training labels skip figures hidden more than this: genuinely hard
PILLAR = (300, 40, 338, 330)  # x1, y1, x2, y2 of the foreground pillar
BUSH_CENTER, BUSH_AXES = (520, 330), (70, 34)
DIM_FRAMES = range(120, 136)  # lighting dip
DIM_FACTOR = 0.7
JPEG_QUALITY = 90  # dataset images: small files, no visible artefacts on the smooth scene


@dataclass
class Walker:
    """One figure: identity, class, look, and its trajectory state.

    Attributes:
        track_id: 1-based identity, as written to the ground truth.
        class_id: vidal class id (0 person, 1 robot).
        colour: BGR body colour from the look's palette.
        x: horizontal centre in pixels.
        foot_y: vertical position of the feet in pixels; sets the size and the depth order.
        vx: horizontal velocity in pixels per frame (sign = direction).
        vy: vertical drift in pixels per frame.
        start: first frame (1-based) in which the figure moves.
        pause_at: frame at which it stops, or -1 if it never does.
        pause_len: number of frames it stands still.
        phase: phase of the leg swing in radians.
        look: the scene's look (sets the size range).
    """

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
    look: Look = STREET

    def height(self) -> float:
        """Body height in pixels, growing linearly from the horizon down (fake perspective)."""
        t = (self.foot_y - HORIZON) / (HEIGHT - HORIZON)
        return self.look.min_height + t * (self.look.max_height - self.look.min_height)


def spawn_walkers(rng: np.random.Generator, frames: int, look: Look = STREET) -> list[Walker]:
    """Plan every figure of a clip: some already inside, the rest entering from a border.

    Args:
        rng: the clip's random generator (consumed in a fixed order).
        frames: clip length; entries are planned until this frame.
        look: the scene's look (palette and sizes).

    Returns:
        The figures, ``track_id`` 1, 2, ... in order of entry.
    """
    walkers: list[Walker] = []
    lanes = np.linspace(HORIZON + 40, HEIGHT - 10, LANE_COUNT)

    def new(start: int, x: float | None) -> Walker:
        direction = rng.choice([-1.0, 1.0])
        lane = float(rng.choice(lanes) + rng.normal(0, LANE_JITTER))
        speed = float(rng.uniform(*SPEED))
        if x is None:
            x = -ENTRY_OFFSET if direction > 0 else WIDTH + ENTRY_OFFSET
        return Walker(
            track_id=len(walkers) + 1,
            class_id=int(rng.random() < ROBOT_SHARE),
            colour=look.palette[int(rng.integers(len(look.palette)))],
            x=x,
            foot_y=float(np.clip(lane, HORIZON + 10, HEIGHT - 2)),
            vx=direction * speed,
            vy=float(rng.normal(0, DRIFT_SD)),
            start=start,
            pause_at=start + int(rng.integers(*PAUSE_START)) if rng.random() < PAUSE_SHARE else -1,
            pause_len=int(rng.integers(*PAUSE_LENGTH)),
            phase=float(rng.uniform(0, 2 * np.pi)),
            look=look,
        )

    for _ in range(INITIAL_WALKERS):
        walkers.append(new(1, float(rng.uniform(ACTIVE_MARGIN, WIDTH - ACTIVE_MARGIN))))
    frame = 1
    while frame < frames:
        frame += int(rng.integers(*SPAWN_GAP))
        walkers.append(new(frame, None))
    return walkers


def step(walker: Walker, frame: int, rng: np.random.Generator) -> None:
    """Advance a walker by one frame (no-op before its start or while it pauses).

    Args:
        walker: the figure, updated in place.
        frame: the 1-based frame being rendered.
        rng: the clip's random generator.
    """
    if frame <= walker.start:
        return
    if walker.pause_at <= frame < walker.pause_at + walker.pause_len:
        return
    walker.x += walker.vx + float(rng.normal(0, STEP_SD))
    walker.foot_y = float(np.clip(walker.foot_y + walker.vy, HORIZON + 10, HEIGHT - 2))


def draw_figure(canvas: np.ndarray, mask: np.ndarray, walker: Walker, frame: int) -> None:
    """Draw a figure on ``canvas`` and its silhouette (255) on ``mask``.

    A person has a round skin-coloured head; a robot a square grey head, an antenna and two
    light stripes across the body. Everything else (body, legs, palette) is shared, so the
    classes look alike to a small detector.

    Args:
        canvas: ``(H, W, 3)`` uint8 BGR image, drawn on in place.
        mask: ``(H, W)`` uint8 silhouette of this figure alone, drawn on in place.
        walker: the figure.
        frame: the 1-based frame, for the leg swing.
    """
    h = walker.height()
    w = FIGURE_ASPECT * h
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
            stripe = max(1, int(h / 40))
            cv2.line(canvas, (int(cx - 0.4 * w), y), (int(cx + 0.4 * w), y), (220, 220, 220), stripe)
    shape(mask, 255, 255)


def background(rng: np.random.Generator, look: Look = STREET) -> np.ndarray:
    """A smooth static scene: sky-to-ground gradient, a building, a path (compresses well).

    Args:
        rng: the clip's random generator (one draw: the building's shade).
        look: the scene's colours.

    Returns:
        ``(HEIGHT, WIDTH, 3)`` uint8 BGR image.
    """
    y = np.linspace(0, 1, HEIGHT)[:, None, None]
    sky = np.array(look.sky, float)
    ground = np.array(look.ground, float)
    image = np.where(y < HORIZON / HEIGHT, sky * (1 - 0.3 * y), ground * (0.8 + 0.3 * y))
    image = np.broadcast_to(image, (HEIGHT, WIDTH, 3)).astype(np.uint8).copy()
    shade = int(rng.integers(-20, 20))
    blue, green, red = look.building
    cv2.rectangle(image, (40, 30), (220, HORIZON), (blue + shade, green, red), -1)
    for x in range(60, 220, 40):
        cv2.rectangle(image, (x, 60), (x + 20, 90), look.window, -1)
    cv2.rectangle(image, (0, HORIZON + 60), (WIDTH, HORIZON + 100), look.path, -1)
    return cv2.GaussianBlur(image, (5, 5), 0)


def occluder_mask() -> np.ndarray:
    """Pixels (255) of the foreground pillar and bush, ``(HEIGHT, WIDTH)`` uint8."""
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.rectangle(mask, PILLAR[:2], PILLAR[2:], 255, -1)
    cv2.ellipse(mask, BUSH_CENTER, BUSH_AXES, 0, 0, 360, 255, -1)
    return mask


def draw_occluders(image: np.ndarray, look: Look = STREET) -> None:
    """Draw the pillar and the bush over ``image`` (uint8 BGR, in place), same shapes as the mask."""
    light = tuple(c + 25 for c in look.pillar)
    bush_light = tuple(c + 10 + 5 * (i == 1) for i, c in enumerate(look.bush))
    cv2.rectangle(image, PILLAR[:2], PILLAR[2:], look.pillar, -1)
    cv2.rectangle(image, (PILLAR[0] + 6, PILLAR[1]), (PILLAR[0] + 12, PILLAR[3]), light, -1)
    cv2.ellipse(image, BUSH_CENTER, BUSH_AXES, 0, 0, 360, look.bush, -1)
    cv2.ellipse(image, (BUSH_CENTER[0] - 25, BUSH_CENTER[1] - 10), (30, 18), 0, 0, 360, bush_light, -1)


@dataclass
class Visible:
    """Ground truth of one figure in one frame.

    Attributes:
        track_id: 1-based identity.
        class_id: vidal class id (0 person, 1 robot).
        box: ``(x, y, w, h)`` in pixels: the silhouette's extent, clipped to the image.
        visibility: share of the silhouette not covered by occluders or nearer figures, in [0, 1].
    """

    track_id: int
    class_id: int
    box: tuple[float, float, float, float]
    visibility: float


def render(seed: int, frames: int, look: Look = STREET) -> Iterator[tuple[int, np.ndarray, list[Visible]]]:
    """Render a clip deterministically from ``seed``.

    Args:
        seed: seeds the clip's only random generator.
        frames: number of frames.
        look: the scene's appearance.

    Yields:
        ``(frame, image, truth)``: the 1-based frame number, the ``(HEIGHT, WIDTH, 3)`` uint8
        BGR image, and the ground truth of every figure with at least one pixel inside the
        image, sorted by ``track_id``.
    """
    rng = np.random.default_rng(seed)
    walkers = spawn_walkers(rng, frames, look)
    base = background(rng, look)
    occluders = occluder_mask()
    for frame in range(1, frames + 1):
        for walker in walkers:
            step(walker, frame, rng)
        image = base.copy()
        active = [w for w in walkers if w.start <= frame and -ACTIVE_MARGIN < w.x < WIDTH + ACTIVE_MARGIN]
        active.sort(key=lambda w: w.foot_y)  # far first: nearer figures occlude them
        masks = []
        for walker in active:
            mask = np.zeros((HEIGHT, WIDTH), np.uint8)
            draw_figure(image, mask, walker, frame)
            masks.append(mask)
        draw_occluders(image, look)
        if look.light != 1.0:
            image = (image.astype(np.float32) * look.light).astype(np.uint8)
        if frame in DIM_FRAMES:
            image = (image.astype(np.float32) * DIM_FACTOR).astype(np.uint8)
        yield frame, image, visible_truth(active, masks, occluders)


def visible_truth(active: list[Walker], masks: list[np.ndarray], occluders: np.ndarray) -> list[Visible]:
    """Boxes and visibilities of the drawn figures.

    Args:
        active: the drawn figures, far to near (drawing order).
        masks: their ``(H, W)`` uint8 silhouettes, same order.
        occluders: ``(H, W)`` uint8 mask of the foreground occluders.

    Returns:
        One :class:`Visible` per figure with a pixel inside the image, sorted by ``track_id``.
    """
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
        box = (float(x1), float(y1), float(x2 - x1), float(y2 - y1))
        truth.append(Visible(walker.track_id, walker.class_id, box, visible / area))
    return sorted(truth, key=lambda v: v.track_id)


def write_clip(out_dir: Path, name: str, seed: int, frames: int, look: Look = STREET) -> tuple[Path, int, int]:
    """Write the video, its MOT17-layout gt, seqinfo.ini and classes.txt.

    Layout: ``out_dir/name.mp4``, ``out_dir/name/gt/gt.txt``, ``out_dir/name/seqinfo.ini``,
    ``out_dir/name/classes.txt``.

    Args:
        out_dir: folder for the clip (created if missing).
        name: sequence name.
        seed: seeds the clip.
        frames: number of frames.
        look: the scene's appearance.

    Returns:
        ``(video path, number of identities, number of gt lines)``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    video = out_dir / f"{name}.mp4"
    seq = out_dir / name
    (seq / "gt").mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    lines, ids = [], set()
    for frame, image, truth in render(seed, frames, look):
        writer.write(image)
        for v in truth:
            flag = 0 if v.visibility < IGNORE_VISIBILITY else 1
            x, y, w, h = v.box
            lines.append(
                f"{frame},{v.track_id},{x:.0f},{y:.0f},{w:.0f},{h:.0f},{flag},{v.class_id + 1},{v.visibility:.3f}"
            )
            ids.add(v.track_id)
    writer.release()
    (seq / "gt" / "gt.txt").write_text("\n".join(lines) + "\n")
    (seq / "seqinfo.ini").write_text(
        f"[Sequence]\nname={name}\nimDir=img1\nframeRate={FPS:.0f}\nseqLength={frames}\n"
        f"imWidth={WIDTH}\nimHeight={HEIGHT}\nimExt=.jpg\n"
    )
    (seq / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return video, len(ids), len(lines)


def write_yolo_dataset(
    root: Path, train: list[int], val: list[int], frames: int, every: int, look: Look = STREET
) -> int:
    """Render frames of other seeds as an Ultralytics detection dataset.

    Writes ``root/images/{train,val}/*.jpg``, ``root/labels/{train,val}/*.txt`` (``class cx cy w h``,
    normalised; figures less than :data:`LABEL_VISIBILITY` visible get no label) and
    ``root/data.yaml``. The split is by seed, so no clip contributes to both sides.

    Args:
        root: dataset folder (created if missing).
        train: seeds of the training clips.
        val: seeds of the validation clips, disjoint from ``train``.
        frames: length of each clip.
        every: keep every ``every``-th frame of a clip, for variety.
        look: the scenes' appearance.

    Returns:
        The number of images written.

    Raises:
        ValueError: if a split has no seed, the splits share a seed, or ``every`` < 1.
    """
    if not train or not val:
        raise ValueError(f"need training and validation seeds, got train={train} val={val}")
    if shared := sorted(set(train) & set(val)):
        raise ValueError(f"seeds {shared} are in both the training and the validation split")
    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    from vidal.yolo import write_yolo_labels

    count = 0
    for split, seeds in (("train", train), ("val", val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for seed in seeds:
            for frame, image, truth in render(seed, frames, look):
                if frame % every:
                    continue
                stem = f"s{seed}_{frame:04d}"
                jpeg = root / "images" / split / f"{stem}.jpg"
                cv2.imwrite(str(jpeg), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                kept = [v for v in truth if v.visibility >= LABEL_VISIBILITY]
                xyxy = np.array([(x, y, x + w, y + h) for x, y, w, h in (v.box for v in kept)], np.float64)
                write_yolo_labels(root / "labels" / split / f"{stem}.txt", xyxy.reshape(-1, 4),
                                  [v.class_id for v in kept], WIDTH, HEIGHT)
                count += 1
    names = "\n".join(f"  {i}: {n}" for i, n in enumerate(CLASSES))
    (root / "data.yaml").write_text(
        f"path: {root.resolve()}\ntrain: images/train\nval: images/val\nnames:\n{names}\n"
    )
    return count


def seed_range(text: str) -> list[int]:
    """Parse a seed list: ``100-111`` (inclusive) or ``3,5,9``.

    Raises:
        ValueError: if ``text`` is neither form or the range is empty.
    """
    if "-" in text:
        low, high = (int(part) for part in text.split("-"))
        if high < low:
            raise ValueError(f"empty seed range {text!r}")
        return list(range(low, high + 1))
    return [int(part) for part in text.split(",")]


def main() -> int:
    """Command line: write the sample clip, or a YOLO dataset with ``--yolo-dataset``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the clip (the shipped sample is 0)")
    parser.add_argument("--frames", type=int, default=300, help="frames per clip")
    parser.add_argument("--name", default="crossing", help="sequence name")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "sample_videos")
    parser.add_argument("--yolo-dataset", type=Path, help="write a YOLO dataset here instead of a clip")
    parser.add_argument("--seeds", default="100-111", help="training seeds for --yolo-dataset")
    parser.add_argument("--val-seeds", default="112-113", help="validation seeds for --yolo-dataset")
    parser.add_argument("--every", type=int, default=6, help="keep every n-th frame for --yolo-dataset")
    parser.add_argument("--look", choices=sorted(LOOKS), default="street", help="the scene's appearance")
    args = parser.parse_args()
    look = LOOKS[args.look]
    if args.yolo_dataset:
        try:
            n = write_yolo_dataset(args.yolo_dataset, seed_range(args.seeds), seed_range(args.val_seeds),
                                   args.frames, args.every, look)
        except ValueError as error:
            parser.error(str(error))
        print(f"wrote {n} images to {args.yolo_dataset}")
        return 0
    video, ids, boxes = write_clip(args.out, args.name, args.seed, args.frames, look)
    size_mb = video.stat().st_size / 1e6
    print(f"wrote {video} ({size_mb:.1f} MB): {args.frames} frames, {ids} identities, {boxes} boxes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
