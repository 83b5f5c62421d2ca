"""Multi-object tracking: ByteTrack with its association decisions exposed."""

from vidal.tracking.bytetrack import ByteTracker, TrackerStep, TrackSet

__all__ = ["ByteTracker", "TrackSet", "TrackerStep"]
