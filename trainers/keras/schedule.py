"""The shared warm-up + decay schedule (:func:`trainers.batching.lr_multiplier`) as a Keras
``LearningRateSchedule``.

It reads the optimizer's own step counter, which is saved with the weights, so a resumed run
continues the schedule exactly where it stopped, on every backend.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="storyqa")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``peak * lr_multiplier(step, total_steps, warmup_steps, schedule)``.

    Args:
        peak: The peak learning rate (``model.lr``).
        total_steps: Optimizer steps of the whole run.
        warmup_steps: Steps of linear warm-up.
        schedule: ``constant``, ``cosine`` or ``linear``.

    Raises:
        ValueError: Unknown schedule.
    """

    SCHEDULES = ("constant", "cosine", "linear")

    def __init__(self, peak: float, total_steps: int, warmup_steps: int, schedule: str):
        if schedule not in self.SCHEDULES:
            raise ValueError(f"unknown lr schedule {schedule!r}; expected one of {self.SCHEDULES}")
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.schedule = schedule

    def __call__(self, step: Any) -> Any:
        step = ops.cast(step, "float32")
        warmup = float(self.warmup_steps)
        span = float(max(1, self.total_steps - self.warmup_steps))
        progress = ops.clip((step - warmup) / span, 0.0, 1.0)
        if self.schedule == "cosine":
            decayed = 0.5 * (1.0 + ops.cos(math.pi * progress))
        elif self.schedule == "linear":
            decayed = 1.0 - progress
        else:
            decayed = ops.ones_like(progress)
        if self.warmup_steps > 0:
            decayed = ops.where(step < warmup, (step + 1.0) / warmup, decayed)
        return self.peak * decayed

    def get_config(self) -> dict[str, Any]:
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "schedule": self.schedule,
        }
