"""storyqa trainers: ``ModelTrainer`` and its Lightning and Keras implementations, the shared
checkpoint policy, the tracking layer and the run records.

Importing ``trainers`` is cheap: no ML framework, no tracking client. Names are loaded on first
access, so ``from trainers import LightningTrainer`` never imports TensorFlow and
``from trainers import KerasTrainer`` never imports Lightning.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainers.base import ModelTrainer
    from trainers.checkpoints import CheckpointFiles, CheckpointManager, TopKPolicy
    from trainers.config import TrainerConfig
    from trainers.hyperparams import (
        EntityMemoryHyperparams,
        LSTMHyperparams,
        TransformerHyperparams,
    )
    from trainers.keras_trainer import KerasTrainer
    from trainers.lightning_trainer import LightningTrainer
    from trainers.manifest import RunManifest
    from trainers.results import TrainingResult
    from trainers.run import DatasetInfo
    from trainers.settings import SettingsError
    from trainers.tracking import EpochRoutine, Tracker, TrackerConfig

_LAZY = {
    "CheckpointFiles": "trainers.checkpoints",
    "CheckpointManager": "trainers.checkpoints",
    "DatasetInfo": "trainers.run",
    "EntityMemoryHyperparams": "trainers.hyperparams",
    "EpochRoutine": "trainers.tracking",
    "KerasTrainer": "trainers.keras_trainer",
    "LightningTrainer": "trainers.lightning_trainer",
    "LSTMHyperparams": "trainers.hyperparams",
    "ModelTrainer": "trainers.base",
    "RunManifest": "trainers.manifest",
    "SettingsError": "trainers.settings",
    "TopKPolicy": "trainers.checkpoints",
    "Tracker": "trainers.tracking",
    "TrackerConfig": "trainers.tracking",
    "TrainerConfig": "trainers.config",
    "TrainingResult": "trainers.results",
    "TransformerHyperparams": "trainers.hyperparams",
}

__all__ = [
    "CheckpointFiles",
    "CheckpointManager",
    "DatasetInfo",
    "EntityMemoryHyperparams",
    "EpochRoutine",
    "KerasTrainer",
    "LSTMHyperparams",
    "LightningTrainer",
    "ModelTrainer",
    "RunManifest",
    "SettingsError",
    "TopKPolicy",
    "Tracker",
    "TrackerConfig",
    "TrainerConfig",
    "TrainingResult",
    "TransformerHyperparams",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
