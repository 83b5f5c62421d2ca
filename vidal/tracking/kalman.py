"""Constant-velocity Kalman filter on ``(cx, cy, aspect, height)``, as in SORT/DeepSORT/ByteTrack.

The state is ``(cx, cy, a, h, vx, vy, va, vh)``. Noise scales with the box height, with the
weights of DeepSORT (Wojke et al., 2017) that ByteTrack (Zhang et al., 2022) keeps: 1/20 of
the height for position and 1/160 for velocity.
"""

from __future__ import annotations

import numpy as np

STD_WEIGHT_POSITION = 1.0 / 20
STD_WEIGHT_VELOCITY = 1.0 / 160
_NDIM = 4


class KalmanFilterXYAH:
    """Stateless filter: every method takes and returns the mean and covariance."""

    def __init__(self) -> None:
        self._motion = np.eye(2 * _NDIM)
        for i in range(_NDIM):
            self._motion[i, _NDIM + i] = 1.0
        self._update = np.eye(_NDIM, 2 * _NDIM)

    def initiate(self, measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Start a track from one measurement ``(cx, cy, a, h)``.

        Returns:
            Mean, shape ``(8,)``, and covariance, shape ``(8, 8)``.
        """
        mean = np.r_[measurement, np.zeros(_NDIM)]
        h = measurement[3]
        std = [
            2 * STD_WEIGHT_POSITION * h,
            2 * STD_WEIGHT_POSITION * h,
            1e-2,
            2 * STD_WEIGHT_POSITION * h,
            10 * STD_WEIGHT_VELOCITY * h,
            10 * STD_WEIGHT_VELOCITY * h,
            1e-5,
            10 * STD_WEIGHT_VELOCITY * h,
        ]
        return mean, np.diag(np.square(std))

    def multi_predict(self, mean: np.ndarray, covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predict one step for many tracks.

        Args:
            mean: Shape ``(N, 8)``.
            covariance: Shape ``(N, 8, 8)``.

        Returns:
            The predicted mean and covariance, same shapes.
        """
        h = mean[:, 3]
        std_pos = np.stack(
            [STD_WEIGHT_POSITION * h, STD_WEIGHT_POSITION * h, np.full_like(h, 1e-2), STD_WEIGHT_POSITION * h]
        )
        std_vel = np.stack(
            [STD_WEIGHT_VELOCITY * h, STD_WEIGHT_VELOCITY * h, np.full_like(h, 1e-5), STD_WEIGHT_VELOCITY * h]
        )
        sqr = np.square(np.r_[std_pos, std_vel]).T
        motion_cov = np.zeros_like(covariance)
        idx = np.arange(2 * _NDIM)
        motion_cov[:, idx, idx] = sqr
        mean = mean @ self._motion.T
        covariance = self._motion @ covariance @ self._motion.T + motion_cov
        return mean, covariance

    def update(
        self, mean: np.ndarray, covariance: np.ndarray, measurement: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Correct a track's state with a measurement ``(cx, cy, a, h)``."""
        h = mean[3]
        std = np.array([STD_WEIGHT_POSITION * h, STD_WEIGHT_POSITION * h, 1e-1, STD_WEIGHT_POSITION * h])
        projected_mean = self._update @ mean
        projected_cov = self._update @ covariance @ self._update.T + np.diag(np.square(std))
        gain = np.linalg.solve(projected_cov, (covariance @ self._update.T).T).T
        innovation = measurement - projected_mean
        new_mean = mean + innovation @ gain.T
        new_covariance = covariance - gain @ projected_cov @ gain.T
        return new_mean, new_covariance


def xyxy_to_xyah(xyxy: np.ndarray) -> np.ndarray:
    """Convert boxes ``(N, 4)`` or ``(4,)`` from ``xyxy`` to ``(cx, cy, w/h, h)``."""
    xyxy = np.asarray(xyxy, dtype=np.float64)
    w = xyxy[..., 2] - xyxy[..., 0]
    h = np.maximum(xyxy[..., 3] - xyxy[..., 1], 1e-6)
    return np.stack([(xyxy[..., 0] + xyxy[..., 2]) / 2, (xyxy[..., 1] + xyxy[..., 3]) / 2, w / h, h], axis=-1)


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """Convert boxes ``(N, 4)`` or ``(4,)`` from ``(cx, cy, w/h, h)`` to ``xyxy``."""
    w = xyah[..., 2] * xyah[..., 3]
    h = xyah[..., 3]
    return np.stack(
        [xyah[..., 0] - w / 2, xyah[..., 1] - h / 2, xyah[..., 0] + w / 2, xyah[..., 1] + h / 2], axis=-1
    )
