"""Shared fixtures: isolated Ultralytics settings, synthetic videos, a scripted detector."""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from vidal.types import Detections, Frame

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_MODEL = SHARED / "models" / "yolo11n_int8_openvino_model"
SAMPLE_VIDEO = REPO / "sample_videos" / "crossing.mp4"
SAMPLE_MODEL = REPO / "sample_videos" / "crossing_yolo11n.pt"


def import_tool(name: str) -> Any:
    """A script of ``tools/`` as a module (the scripts import each other by bare name)."""
    sys.path.insert(0, str(REPO / "tools"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(REPO / "tools"))


@pytest.fixture(autouse=True, scope="session")
def _isolated_ultralytics(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Ultralytics writes a settings file on import: keep it out of $HOME, and stay offline."""
    os.environ["YOLO_CONFIG_DIR"] = str(tmp_path_factory.mktemp("ultralytics"))
    os.environ["YOLO_OFFLINE"] = "1"


class IsolatedMongod:
    """The test session's own MongoDB: its address fixed at session start, started on first need.

    FiftyOne's own database service attaches to any FiftyOne database already running on the
    machine, whatever ``FIFTYONE_DATABASE_DIR`` says, so tests start the ``mongod`` that
    ships with FiftyOne themselves, on a free port and a temporary folder. Until then the
    port stays bound (not listening) by this object: nobody else can take it, and a test
    that reaches FiftyOne without asking for the database (the ``fiftyone`` marker or the
    ``fo`` fixture) gets "connection refused", never another database.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._reserved: socket.socket | None = socket.socket()
        self._reserved.bind(("127.0.0.1", 0))
        self.port: int = self._reserved.getsockname()[1]
        self.uri = f"mongodb://127.0.0.1:{self.port}"
        self.server: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the ``mongod`` (once) and wait until it accepts connections."""
        if self.server is not None:
            return
        spec = importlib.util.find_spec("fiftyone")
        mongod = Path(list(spec.submodule_search_locations)[0]) / "db" / "bin" / "mongod" if spec else None
        if mongod is None or not mongod.exists():
            pytest.fail(f"no mongod shipped with FiftyOne ({mongod}): the FiftyOne tests need one")
        assert self._reserved is not None
        self._reserved.close()
        self._reserved = None
        self.server = subprocess.Popen(
            [str(mongod), "--dbpath", str(self.folder), "--port", str(self.port), "--bind_ip", "127.0.0.1",
             "--nounixsocket", "--logpath", str(self.folder / "mongod.log")],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.server.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"the test mongod did not start on port {self.port}: see {self.folder / 'mongod.log'}")

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=30)
        if self._reserved is not None:
            self._reserved.close()


@pytest.fixture(autouse=True, scope="session")
def _isolated_fiftyone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IsolatedMongod]:
    """Every test session gets a MongoDB of its own and a vidal media folder of its own.

    The variables point at them from the start, before anything imports fiftyone (vidal
    imports it lazily), and subprocesses inherit them; the ``mongod`` itself starts only
    for the tests that need it (:func:`_fiftyone_database`), so ``pytest tests/tracking``
    starts none.
    """
    os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
    # No warm worker outlives a test (tests/dataset/test_worker.py turns it on and stops it).
    os.environ["VIDAL_WORKER"] = "0"
    os.environ["VIDAL_HOME"] = str(tmp_path_factory.mktemp("vidal-home"))
    database = IsolatedMongod(tmp_path_factory.mktemp("mongodb"))
    os.environ["FIFTYONE_DATABASE_URI"] = database.uri
    os.environ["FIFTYONE_DATABASE_DIR"] = str(database.folder)
    try:
        yield database
    finally:
        database.stop()


@pytest.fixture(autouse=True)
def _fiftyone_database(request: pytest.FixtureRequest, _isolated_fiftyone: IsolatedMongod) -> None:
    """Start the session's MongoDB for a test marked ``fiftyone`` or using ``fo``/``dataset_name``."""
    if request.node.get_closest_marker("fiftyone") or {"fo", "dataset_name"} & set(request.fixturenames):
        _isolated_fiftyone.start()


def square_track(frame: int, start: tuple[float, float], velocity: tuple[float, float], size: float) -> np.ndarray:
    """The ``xyxy`` box of a square moving at constant velocity, at 1-based ``frame``."""
    x = start[0] + velocity[0] * (frame - 1)
    y = start[1] + velocity[1] * (frame - 1)
    return np.array([x, y, x + size, y + size], np.float32)


# Two squares that cross in the middle of a 64-frame clip, and a third one that stays still.
SCENE = [
    ((10.0, 40.0), (2.0, 0.0), 24.0),
    ((140.0, 46.0), (-2.0, 0.0), 24.0),
    ((80.0, 5.0), (0.0, 0.0), 18.0),
]
SCENE_FRAMES = 64
SCENE_SIZE = (192, 112)  # width, height


def scene_boxes(frame: int) -> np.ndarray:
    """Ground-truth boxes ``(3, 4)`` of :data:`SCENE` at ``frame``."""
    return np.stack([square_track(frame, *obj) for obj in SCENE])


def write_scene_video(path: Path, frames: int = SCENE_FRAMES, fourcc: str = "mp4v") -> Path:
    """Render :data:`SCENE` to a video file and return its path."""
    width, height = SCENE_SIZE
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, (width, height))
    colours = [(40, 40, 220), (220, 40, 40), (40, 200, 40)]
    for frame in range(1, frames + 1):
        image = np.full((height, width, 3), 200, np.uint8)
        cv2.putText(image, str(frame), (2, height - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        for box, colour in zip(scene_boxes(frame), colours):
            x1, y1, x2, y2 = box.round().astype(int)
            cv2.rectangle(image, (x1, y1), (x2, y2), colour, -1)
        writer.write(image)
    writer.release()
    return path


@pytest.fixture
def scene_video(tmp_path: Path) -> Path:
    """A 64-frame mp4 of :data:`SCENE`."""
    return write_scene_video(tmp_path / "scene.mp4")


@pytest.fixture
def scene_images(tmp_path: Path) -> Path:
    """The scene as a MOTChallenge sequence folder (``img1/`` + ``seqinfo.ini`` at 10 fps)."""
    video = write_scene_video(tmp_path / "tmp.mp4", frames=12)
    folder = tmp_path / "SEQ-01"
    (folder / "img1").mkdir(parents=True)
    capture = cv2.VideoCapture(str(video))
    index = 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        index += 1
        cv2.imwrite(str(folder / "img1" / f"{index:06d}.jpg"), image)
    capture.release()
    (folder / "seqinfo.ini").write_text("[Sequence]\nname=SEQ-01\nframeRate=10\nseqLength=12\n")
    return folder


class ScriptedDetector:
    """A detector that replays known boxes, with controlled noise, misses and low scores.

    Args:
        boxes: Function from a 1-based frame number to ground-truth boxes ``(N, 4)``.
        names: Class names.
        noise: Standard deviation of box jitter in pixels.
        misses: ``{frame: [object indices]}`` to drop.
        low: ``{frame: [object indices]}`` reported with a low score (0.15).
        swaps: ``{frame: (i, j)}`` whose boxes are reported in swapped order.
        seed: Seed of the jitter.
        class_ids: Function from a frame number to each object's class id (default all 0).
        classes: The classes of interest it reports as ``classes`` (``--classes``); like
            the real detectors it returns every class all the same.
    """

    def __init__(
        self,
        boxes=scene_boxes,
        names: dict[int, str] | None = None,
        noise: float = 0.0,
        misses: dict[int, list[int]] | None = None,
        low: dict[int, list[int]] | None = None,
        seed: int = 0,
        class_ids=None,
        classes: list[int] | None = None,
    ) -> None:
        self.boxes = boxes
        self.class_ids = class_ids
        self.names = names or {0: "square"}
        self.noise = noise
        self.misses = misses or {}
        self.low = low or {}
        self.rng = np.random.default_rng(seed)
        self.description = "scripted detector"
        self.classes: list[int] | None = classes

    def detections(self, frame: int) -> Detections:
        xyxy = self.boxes(frame).astype(np.float32).copy()
        if self.noise:
            xyxy += self.rng.normal(0, self.noise, xyxy.shape).astype(np.float32)
        scores = np.full(len(xyxy), 0.9, np.float32)
        scores[self.low.get(frame, [])] = 0.15
        keep = np.ones(len(xyxy), bool)
        keep[self.misses.get(frame, [])] = False
        class_id = np.zeros(len(xyxy), np.int64) if self.class_ids is None else np.asarray(self.class_ids(frame))
        return Detections(xyxy[keep], scores[keep], class_id[keep])

    def stream(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, Detections]]:
        for frame in frames:
            yield frame, self.detections(frame.index)


@pytest.fixture
def scripted_detector() -> ScriptedDetector:
    return ScriptedDetector()


# FiftyOne: real FiftyOne and MongoDB, one database per test session, started on first need
# (see IsolatedMongod).
_names = itertools.count()


@pytest.fixture(scope="session")
def fo(_isolated_fiftyone: IsolatedMongod):
    """FiftyOne, connected to the session's isolated database."""
    from vidal.dataset.connection import connect

    _isolated_fiftyone.start()
    return connect()


@pytest.fixture
def dataset_name(fo) -> str:
    """A fresh dataset name (datasets of one session share its database)."""
    return f"test-{next(_names)}"


def mine_run(video: Path, out: Path, *, budget: int | str = 6, noise: float = 1.0, names=None, seed: int = 0) -> Path:
    """Mine ``video`` with a scripted detector and return the run folder."""
    from vidal.config import load_config
    from vidal.pipeline import mine_source
    from vidal.video import open_source

    detector = ScriptedDetector(noise=noise, misses={20: [0], 21: [0]}, low={40: [1]}, names=names, seed=seed)
    config = load_config(overrides=[f"selection.budget={budget}", "selection.min_gap_s=0.1"])
    return mine_source(open_source(video), detector, config, out).run_dir
