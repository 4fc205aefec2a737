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
    from models.settings import SettingsError
    from trainers.base import ModelTrainer
    from trainers.checkpoints import CheckpointFiles, CheckpointManager, TopKPolicy
    from trainers.config import Hyperparams, TrainerConfig, TrainingSettings, model_preset
    from trainers.epoch import EpochRoutine
    from trainers.keras.trainer import KerasTrainer
    from trainers.lightning.trainer import LightningTrainer
    from trainers.records.manifest import RunManifest
    from trainers.records.run import DatasetInfo
    from trainers.results import TrainingResult
    from trainers.runs.predict import Predictor
    from trainers.tracking import Tracker, TrackerConfig

_LAZY = {
    "CheckpointFiles": "trainers.checkpoints",
    "CheckpointManager": "trainers.checkpoints",
    "DatasetInfo": "trainers.records.run",
    "Hyperparams": "trainers.config",
    "EpochRoutine": "trainers.epoch",
    "KerasTrainer": "trainers.keras.trainer",
    "LightningTrainer": "trainers.lightning.trainer",
    "ModelTrainer": "trainers.base",
    "Predictor": "trainers.runs.predict",
    "RunManifest": "trainers.records.manifest",
    "SettingsError": "models.settings",
    "TopKPolicy": "trainers.checkpoints",
    "Tracker": "trainers.tracking",
    "TrackerConfig": "trainers.tracking",
    "TrainerConfig": "trainers.config",
    "TrainingResult": "trainers.results",
    "TrainingSettings": "trainers.config",
    "model_preset": "trainers.config",
}

__all__ = [
    "CheckpointFiles",
    "CheckpointManager",
    "DatasetInfo",
    "EpochRoutine",
    "Hyperparams",
    "KerasTrainer",
    "LightningTrainer",
    "ModelTrainer",
    "Predictor",
    "RunManifest",
    "SettingsError",
    "TopKPolicy",
    "Tracker",
    "TrackerConfig",
    "TrainerConfig",
    "TrainingResult",
    "TrainingSettings",
    "model_preset",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
