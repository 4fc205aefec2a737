"""Experiment tracking: one :class:`Tracker` fanning out to sinks (``jsonl`` always, plus
``neptune``, ``mlflow``, ``tensorboard``), and the per-epoch routine both trainers share.

Importing this package imports neither an ML framework nor a tracking client: the Neptune,
MLflow and TensorBoard clients load when their sink is created, and :mod:`~.epoch` (pandas and
the metrics package) loads on first use of :class:`EpochRoutine`/:class:`EpochOutcome`.

Example:
    >>> from trainers.tracking import Tracker, TrackerConfig
    >>> config = TrackerConfig(sinks=["jsonl"])
    >>> config.sinks
    ('jsonl',)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from trainers.tracking.config import ResolvedTrackerConfig, TrackerConfig, TrackerConfigError
from trainers.tracking.secrets import SecretFilter
from trainers.tracking.tracker import RunStatus, Scalar, Sink, Tracker

if TYPE_CHECKING:
    from trainers.tracking.epoch import EpochOutcome, EpochRoutine

_LAZY = {"EpochOutcome": "trainers.tracking.epoch", "EpochRoutine": "trainers.tracking.epoch"}

__all__ = [
    "EpochOutcome",
    "EpochRoutine",
    "ResolvedTrackerConfig",
    "RunStatus",
    "Scalar",
    "SecretFilter",
    "Sink",
    "Tracker",
    "TrackerConfig",
    "TrackerConfigError",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
