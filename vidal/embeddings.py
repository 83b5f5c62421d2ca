"""Frame embeddings of a run: one vector per processed frame from the detector's own features.

The detector adapters pool the feature maps its detection head reads (YOLO's P3, P4 and P5
neck outputs, globally averaged and concatenated: 448 numbers for a YOLO11n) in the same
forward pass as the detection, and hand them on as :attr:`vidal.types.Detections.embedding`.
A run writes them, L2-normalised, to an unnamed file as they come (nothing of them stays in
memory while the video is processed), reads them back for the selection, and writes them to its
folder (:data:`vidal.runs.EMBEDDINGS_FILE` and :data:`vidal.runs.EMBEDDING_FRAMES_FILE`) for the
representation strategies of :mod:`vidal.selection` and for the dataset (FiftyOne Brain's
similarity and visualisation).

Float32, 4 D bytes a frame (1,792 for a YOLO11n; 32 MB for 18,000 frames), not float16: the
frames of one video share most of their features (their cosines are 0.98 to 1.0 on
TUD-Stadtmitte), and float16 rounding moved the distances between frames by up to 0.018 where
the median distance is 0.071.
"""

from __future__ import annotations

import tempfile
from array import array
from pathlib import Path

import numpy as np

from vidal.representation import normalise
from vidal.runs import EMBEDDING_FRAMES_FILE, EMBEDDINGS_FILE


class EmbeddingStore:
    """The embeddings of a run's frames, in processing order, in an unnamed temporary file.

    Args:
        folder: Where the file lives (the run's staging folder).
    """

    def __init__(self, folder: Path | None = None) -> None:
        self._file = tempfile.TemporaryFile(dir=folder)
        self._frames = array("q")
        self.dimensions = 0
        """``D``, the length of each embedding (0 before the first)."""

    def __len__(self) -> int:
        return len(self._frames)

    def add(self, frame: int, vector: np.ndarray) -> None:
        """Keep frame ``frame``'s embedding ``(D,)``, L2-normalised.

        Raises:
            ValueError: ``vector`` is not ``(D,)`` for the ``D`` of the first frame.
        """
        vector = normalise(np.asarray(vector, np.float32).reshape(1, -1))[0]
        if not self._frames:
            self.dimensions = len(vector)
        if len(vector) != self.dimensions:
            raise ValueError(f"embedding of frame {frame} has {len(vector)} values, the run's have {self.dimensions}")
        self._file.write(vector.tobytes())
        self._frames.append(frame)

    @property
    def frames(self) -> np.ndarray:
        """The frame numbers, ``(F,)`` int64."""
        return np.array(self._frames, np.int64)

    def matrix(self) -> np.ndarray:
        """The embeddings, ``(F, D)`` float32, rows of unit length."""
        self._file.seek(0)
        rows = np.frombuffer(self._file.read(), np.float32).copy()
        self._file.seek(0, 2)
        return rows.reshape(len(self), self.dimensions)

    def save(self, folder: Path) -> None:
        """Write ``embeddings.npy`` ``(F, D)`` float32 and ``embedding_frames.npy`` ``(F,)`` int64."""
        np.save(folder / EMBEDDINGS_FILE, self.matrix())
        np.save(folder / EMBEDDING_FRAMES_FILE, self.frames)

    def close(self) -> None:
        self._file.close()
