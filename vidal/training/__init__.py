"""Training: fine-tune a detector on a dataset's reviewed samples and record it there.

:func:`train` is ``vidal train`` as a library call. Its parts: :mod:`~vidal.training.split`
(train/validation by stretches of time), :mod:`~vidal.training.plan` (every check before
anything is written), :mod:`~vidal.training.run` (export, fine-tune, score, record) and
:mod:`~vidal.training.ultralytics` (the Ultralytics adapter). The records are
:class:`~vidal.dataset.lineage.ModelRecord`.
"""

from __future__ import annotations

from vidal.dataset.lineage import Comparison, Metrics, ModelRecord
from vidal.training.plan import MIN_STEPS, TrainingPlan, balanced_batch, default_base, plan_training, spread_steps
from vidal.training.run import TrainResult, run_training, train
from vidal.training.split import Split, split_by_time
from vidal.training.ultralytics import FINE_TUNE, fine_tune, validate

__all__ = [
    "FINE_TUNE",
    "MIN_STEPS",
    "Comparison",
    "Metrics",
    "ModelRecord",
    "Split",
    "TrainResult",
    "TrainingPlan",
    "balanced_batch",
    "default_base",
    "fine_tune",
    "plan_training",
    "run_training",
    "spread_steps",
    "split_by_time",
    "train",
    "validate",
]
