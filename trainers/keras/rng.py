"""Dropout randomness that depends only on ``(model seed, epoch, step)``, so a resumed run
draws the same dropout masks as an uninterrupted one.

Keras keeps each layer's random state in a ``SeedGenerator`` variable (``[seed, counter]``)
that ``save_weights`` does not store, so ``BackupAndRestore`` cannot restore it.
:class:`EpochRandomState` instead sets every generator's counter to ``epoch * STRIDE`` when an
epoch begins; within the epoch Keras advances it one step per use, as usual. With
``trainer.val_check_interval`` Keras' epochs are validation periods (:mod:`trainers.periods`):
the epoch's counter range is then shared out among its periods, part ``p`` of ``n`` starting
at ``epoch * STRIDE + p * (STRIDE // n)``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import keras
import numpy as np

from trainers.periods import ValidationSchedule


class EpochRandomState(keras.callbacks.Callback):
    """Resets the model's random generators to a state derived from the epoch.

    The generators' seeds (fixed when the model was built from the run's seed) are kept; only
    the counters move.

    Args:
        schedule: The validation periods (Keras' epochs); default one per epoch.
    """

    def __init__(self, schedule: ValidationSchedule | None = None):
        super().__init__()
        self.schedule = schedule

    STATE_NAME: ClassVar[str] = "seed_generator_state"
    #: Counter values reserved per epoch (far more than the steps of any epoch).
    STRIDE: ClassVar[int] = 1 << 24

    def generator_states(self) -> list[keras.Variable]:
        """The model's random-generator state variables."""
        return [v for v in self.model.non_trainable_variables if v.name == self.STATE_NAME]

    def counter(self, index: int) -> int:
        """The counter at the start of period ``index`` (Keras' epoch).

        Example:
            >>> from trainers.periods import ValidationSchedule
            >>> EpochRandomState().counter(2) == 2 * EpochRandomState.STRIDE
            True
            >>> EpochRandomState(ValidationSchedule(10, 5)).counter(3) // (1 << 23)
            3
        """
        if self.schedule is None:
            return index * self.STRIDE
        period = self.schedule.period(index)
        return period.epoch * self.STRIDE + period.part * (self.STRIDE // self.schedule.parts)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        counter = self.counter(epoch)
        for state in self.generator_states():
            seed = int(keras.ops.convert_to_numpy(state)[0])
            state.assign(np.array([seed, counter], dtype=state.dtype))
