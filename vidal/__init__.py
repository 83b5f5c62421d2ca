"""vidal: find the video frames worth labeling.

Runs a detector and a multi-object tracker over videos, scores per-object and per-frame
uncertainty (including tracking consistency), and selects the frames a human should label.
"""

__version__ = "0.1.0"
