"""What a user sets, validated: the ``trainer.*`` keys (:class:`TrainerConfig`, the same
meaning for both frameworks), the ``model.*`` keys (:class:`Hyperparams`: a model's network
settings, defined in :mod:`models`, and the training settings every model shares) and the
model presets. Framework-free, except that checking a model config imports the module of the
callable that builds it.

Example:
    >>> TrainerConfig(max_epochs=2).max_epochs
    2
    >>> preset_config("transformer")["warmup_steps"]
    200
"""

from __future__ import annotations

from trainers.config.model import Hyperparams, TrainingSettings
from trainers.config.presets import PRESETS, model_preset, preset_config
from trainers.config.trainer import TrainerConfig

__all__ = [
    "PRESETS",
    "Hyperparams",
    "TrainerConfig",
    "TrainingSettings",
    "model_preset",
    "preset_config",
]
