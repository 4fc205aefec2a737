"""Experiment tracking: one :class:`Tracker` fanning out to sinks (``jsonl`` always, plus
``neptune``, ``mlflow``, ``tensorboard``).

Importing this package imports neither an ML framework nor a tracking client: the Neptune,
MLflow and TensorBoard clients load when their sink is created.

Example:
    >>> from trainers.tracking import TrackerConfig
    >>> config = TrackerConfig(sinks=["jsonl"])
    >>> config.sinks
    ('jsonl',)
"""

from __future__ import annotations

from trainers.tracking.config import ResolvedTrackerConfig, TrackerConfig, TrackerConfigError
from trainers.tracking.context import GitState, Invocation, RunContext
from trainers.tracking.factory import open_tracker
from trainers.tracking.secrets import SecretFilter
from trainers.tracking.tracker import Tracker
from trainers.tracking.types import DatasetInput, RunStatus, Scalar, Sink

__all__ = [
    "DatasetInput",
    "GitState",
    "Invocation",
    "ResolvedTrackerConfig",
    "RunContext",
    "RunStatus",
    "Scalar",
    "SecretFilter",
    "Sink",
    "Tracker",
    "TrackerConfig",
    "TrackerConfigError",
    "open_tracker",
]
