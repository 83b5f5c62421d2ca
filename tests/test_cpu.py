"""vidal gives PyTorch every available core while Ultralytics runs (Ultralytics keeps one back)."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO

SAMPLE_MODEL = REPO / "sample_videos" / "crossing_yolo11n.pt"

# Detect one frame with the sample model, then print PyTorch's thread count and vidal's core count.
PROBE = f"""
import numpy as np, torch
from vidal.detectors.cpu import available_cores
from vidal.detectors.ultralytics import UltralyticsDetector
UltralyticsDetector({str(SAMPLE_MODEL)!r})._detect([np.zeros((64, 64, 3), np.uint8)])
print(torch.get_num_threads(), available_cores())
"""


def probe(env: dict[str, str]) -> tuple[int, int]:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    threads, cores = done.stdout.split()[-2:]
    return int(threads), int(cores)


def test_detection_uses_every_core(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["YOLO_CONFIG_DIR"] = str(tmp_path)
    threads, cores = probe(env)
    assert cores == len(os.sched_getaffinity(0))
    assert threads == cores  # Ultralytics alone would set cores - 1 (at least 1)


def test_the_users_thread_setting_wins(tmp_path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", YOLO_CONFIG_DIR=str(tmp_path))
    assert probe(env) == (1, 1)


def test_ultralytics_own_setting_is_not_taken_for_the_users(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["YOLO_CONFIG_DIR"] = str(tmp_path)
    code = "import ultralytics, vidal; from vidal.detectors.cpu import available_cores; print(available_cores())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) == len(os.sched_getaffinity(0))
