"""Top-k checkpoints for Keras on the shared policy.

:class:`TopKCheckpoint` applies the routine's decision of each epoch (read from the
:class:`~trainers.keras.tracking.EpochTracking` placed before it) with a
:class:`~trainers.checkpoints.CheckpointManager` saving through ``model.save_weights``: the
epoch file when it enters the top-k, ``best.weights.h5`` on a new best, ``last.weights.h5``
every epoch, the optional periodic file, and the deletion of evicted files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras

from trainers.checkpoints import CheckpointFiles, CheckpointManager, SaveReport

if TYPE_CHECKING:
    from trainers.keras.tracking import EpochTracking


class TopKCheckpoint(keras.callbacks.Callback):
    """Saves and deletes ``.weights.h5`` files as the shared top-k policy decides.

    Args:
        files: The run's checkpoint files (framework ``keras``).
        tracking: The tracking callback whose outcome holds each epoch's decision; it must
            come earlier in the callback list.
        every_n_epochs: Also keep a periodic file every N epochs; ``None`` for none.

    Attributes:
        reports: What was saved and deleted, one report per epoch.
    """

    def __init__(
        self, files: CheckpointFiles, tracking: EpochTracking, every_n_epochs: int | None = None
    ):
        super().__init__()
        self.files = files
        self.tracking = tracking
        self.every_n_epochs = every_n_epochs
        self.reports: list[SaveReport] = []

    def _save(self, path: Path) -> None:
        self.model.save_weights(str(path))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        outcome = self.tracking.outcome
        if outcome is None or outcome.period != epoch:
            raise RuntimeError(
                f"epoch {epoch}: no top-k decision; place TopKCheckpoint after EpochTracking"
            )
        manager = CheckpointManager(self.files, self._save, every_n_epochs=self.every_n_epochs)
        ends_epoch = self.tracking.schedule.period(epoch).ends_epoch
        self.reports.append(manager.apply(outcome.decision, ends_epoch))
