"""vidal: find the video frames worth labeling.

Runs a detector and a multi-object tracker over videos, scores per-object and per-frame
uncertainty (including tracking consistency), and selects the frames a human should label.

The Python API (:mod:`vidal.api`), imported on first use so that ``import vidal`` stays cheap::

    run = vidal.mine("video.mp4", model="best.pt", budget="5%", push=False)
    vidal.push(run, dataset="street")
    report = vidal.propagate(dataset="street", stride=5)
    run = vidal.load_run("vidal-runs/video")
    result = vidal.train("street", epochs=10)
"""

import os
import sys
from typing import Any

__version__ = "0.1.0"

# Ultralytics sets OMP_NUM_THREADS to 1 when it is imported, if it is unset; vidal reads the
# user's own setting (vidal.detectors.cpu), so it keeps it from before that import. Once
# Ultralytics is imported the variable may be its own: then vidal cannot tell, and ignores it.
USER_OMP_NUM_THREADS = None if "ultralytics" in sys.modules else os.environ.get("OMP_NUM_THREADS")

# Public name -> the module that defines it.
_API = {
    "mine": "vidal.api",
    "mine_all": "vidal.api",
    "push": "vidal.api",
    "propagate": "vidal.api",
    "train": "vidal.training",
    "load_run": "vidal.runs",
    "MinedRun": "vidal.runs",
    "load_config": "vidal.config",
    "VidalConfig": "vidal.config",
    "VidalError": "vidal.errors",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'vidal' has no attribute {name!r}")
