"""vidal: find the video frames worth labeling.

Runs a detector and a multi-object tracker over videos, scores per-object and per-frame
uncertainty (including tracking consistency), and selects the frames a human should label.
"""

import os
import sys

__version__ = "0.1.0"

# Ultralytics sets OMP_NUM_THREADS to 1 when it is imported, if it is unset; vidal reads the
# user's own setting (vidal.detectors.cpu), so it keeps it from before that import. Once
# Ultralytics is imported the variable may be its own: then vidal cannot tell, and ignores it.
USER_OMP_NUM_THREADS = None if "ultralytics" in sys.modules else os.environ.get("OMP_NUM_THREADS")
