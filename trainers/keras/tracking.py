"""The Keras adapter of the shared per-epoch routine.

At the end of every epoch :class:`EpochTracking` takes the epoch's training loss and accuracy
from the logs, runs *one* prediction pass on the validation split, and calls the shared
:class:`~trainers.epoch.EpochRoutine` (breakdowns, tracker names, top-k decision,
console line), with the epoch's timing and the optimizer's learning rate at its end. The
validation loss and accuracy of that pass are written into the logs under
:attr:`EpochTracking.VAL_ACCURACY_KEY` and :attr:`EpochTracking.VAL_LOSS_KEY`, so callbacks
placed after it (``EarlyStopping``, :class:`~trainers.keras.checkpoint.TopKCheckpoint`) see
them. ``fit`` gets no ``validation_data``: validation runs once, here.

It also applies the time budget (``trainer.max_minutes``, :mod:`trainers.budget`): asked after
every training step and after each epoch's validation. A stop mid-epoch ends ``fit``'s step
loop at once; Keras then ends the epoch as usual, so the partial epoch is validated, saved
(top-k, ``best``, ``last`` and the backup, which resumes at the next epoch) and counts as an
epoch.

Keras' epochs are validation periods (:mod:`trainers.periods`): each takes at most
``schedule.longest`` steps of the batch stream, and a shorter one (the last period of an
epoch cut by ``trainer.val_check_interval``) is ended here after its last step, the same way,
except that training then goes on with the next period.

Training loss and accuracy are Keras' epoch metrics ``bce`` and ``accuracy``
(:data:`~trainers.keras.compile.BCE_METRIC`, :data:`~trainers.keras.compile.ACCURACY_METRIC`):
per-example binary cross-entropy and accuracy averaged over every example of the epoch (so
batches count by their size, as on the Lightning side), without the regularisation penalty.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import keras
import pandas as pd

from trainers.epoch import EpochClock
from trainers.errors import NonFiniteLossError
from trainers.keras.compile import ACCURACY_METRIC, BCE_METRIC

if TYPE_CHECKING:
    from stories.encoding import LSTMInputs, TransformerInputs
    from trainers.budget import TimeBudget
    from trainers.epoch import EpochOutcome, EpochRoutine
    from trainers.keras.batches import BucketedBatches, Predictor


class EpochTracking(keras.callbacks.Callback):
    """Feeds the shared routine once per epoch from a single validation pass.

    Args:
        routine: The run's per-epoch routine.
        val_data: The encoded validation split.
        metadata_val: Its metadata, row-aligned.
        predictor: Validation prediction (batch size and width rounding).
        batches: The training batch stream (its schedule, the rows of each batch).
        budget: The time budget; ``None`` for none.

    Attributes:
        outcome: The routine's outcome of the latest epoch (``None`` before the first).
        stopped_by_budget: Whether the time budget ended training.
    """

    VAL_ACCURACY_KEY: ClassVar[str] = "val_accuracy"
    VAL_LOSS_KEY: ClassVar[str] = "val_loss"
    #: Training logs that must stay finite (``loss`` includes the regularisation penalty).
    CHECKED_KEYS: ClassVar[tuple[str, ...]] = ("loss", BCE_METRIC)

    def __init__(
        self,
        routine: EpochRoutine,
        val_data: LSTMInputs | TransformerInputs,
        metadata_val: pd.DataFrame,
        predictor: Predictor,
        batches: BucketedBatches,
        budget: TimeBudget | None = None,
    ):
        super().__init__()
        self.routine = routine
        self.val_data = val_data
        self.metadata_val = metadata_val
        self.predictor = predictor
        self.batches = batches
        self.schedule = batches.schedule
        self.budget = budget
        self.outcome: EpochOutcome | None = None
        self.stopped_by_budget = False
        self.clock = EpochClock()
        self._period = self.schedule.period(0)
        self._trained: int | None = None  # steps of a period the budget cut short
        self._ended_period = False  # this callback ended a short period's Keras epoch

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.clock.start()
        self._period = self.schedule.period(epoch)
        self._trained = None
        self._ended_period = False

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        steps, total = batch + 1, self._period.length
        if self.budget is not None and not self.stopped_by_budget and self.budget.spent():
            self.model.stop_training = True
            self.stopped_by_budget = True
            if steps < total:
                self._trained = steps
                self.budget.stopped_mid_epoch(self.schedule, self._period, steps)
        elif steps == total < self.schedule.longest:
            self.model.stop_training = True  # a short period ends here; training goes on
            self._ended_period = True

    def learning_rate(self) -> float | None:
        """The optimizer's current learning rate (its schedule at its step count)."""
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            return None
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = {} if logs is None else logs
        self._check_finite(epoch, logs)
        self.clock.training_done()
        probabilities, losses = self.predictor(self.model, self.val_data)
        counted = self._trained is not None or self.schedule.by_step
        examples = self.batches.examples(epoch, self._trained) if counted else None
        self.outcome = self.routine(
            epoch,
            float(logs[BCE_METRIC]),
            float(logs[ACCURACY_METRIC]),
            self.val_data.labels,
            probabilities,
            self.metadata_val,
            losses=losses,
            stats=self.clock.stats(self.learning_rate(), examples, self._trained),
        )
        logs[self.VAL_ACCURACY_KEY] = self.outcome.val_accuracy
        logs[self.VAL_LOSS_KEY] = self.outcome.val_loss
        if self._ended_period:
            self.model.stop_training = False  # callbacks after this one may still stop it
        if not self.stopped_by_budget and self.budget is not None and self.budget.spent():
            self.model.stop_training = True
            self.stopped_by_budget = True

    def _check_finite(self, epoch: int, logs: dict[str, Any]) -> None:
        for key in self.CHECKED_KEYS:
            value = float(logs.get(key, 0.0))
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    f"epoch {epoch:03d}: training {key} is {value}; the weights diverged. "
                    "The last good checkpoint is kept (last.weights.h5 of the previous epoch); "
                    "lower model.lr, add warm-up (model.warmup_steps) or gradient clipping "
                    "(trainer.gradient_clip_val)"
                )
