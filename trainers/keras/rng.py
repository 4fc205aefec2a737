"""Dropout randomness that depends only on ``(model seed, epoch, step)``, so a resumed run
draws the same dropout masks as an uninterrupted one.

Keras keeps each layer's random state in a ``SeedGenerator`` variable (``[seed, counter]``)
that ``save_weights`` does not store, so ``BackupAndRestore`` cannot restore it.
:class:`EpochRandomState` instead sets every generator's counter to ``epoch * STRIDE`` when an
epoch begins; within the epoch Keras advances it one step per use, as usual.
"""

from __future__ import annotations

from typing import Any, ClassVar

import keras
import numpy as np


class EpochRandomState(keras.callbacks.Callback):
    """Resets the model's random generators to a state derived from the epoch.

    The generators' seeds (fixed when the model was built from the run's seed) are kept; only
    the counters move.
    """

    STATE_NAME: ClassVar[str] = "seed_generator_state"
    #: Counter values reserved per epoch (far more than the steps of any epoch).
    STRIDE: ClassVar[int] = 1 << 24

    def generator_states(self) -> list[keras.Variable]:
        """The model's random-generator state variables."""
        return [v for v in self.model.non_trainable_variables if v.name == self.STATE_NAME]

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for state in self.generator_states():
            seed = int(keras.ops.convert_to_numpy(state)[0])
            state.assign(np.array([seed, epoch * self.STRIDE], dtype=state.dtype))
