"""One ``model.fit`` of the Keras trainer: optimizer, batches and callbacks from a
:class:`~trainers.results.FitRequest`.

Keras' epochs are the run's validation periods (:mod:`trainers.periods`): ``fit`` runs
``schedule.periods(epochs)`` of them over one stream of batches, at most
``schedule.longest`` steps each.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar

import keras

from metrics import namespaces as ns
from metrics.history import epoch_history
from trainers.batching import steps_per_epoch
from trainers.config import TrainerConfig, TrainingSettings
from trainers.keras.backup import AtomicBackupAndRestore
from trainers.keras.batches import BucketedBatches, Predictor
from trainers.keras.checkpoint import TopKCheckpoint
from trainers.keras.compile import compile_for_training
from trainers.keras.rng import EpochRandomState
from trainers.keras.schedule import WarmupDecay
from trainers.keras.tracking import EpochTracking
from trainers.results import FitRequest


class KerasFit:
    """Compiles the model for the run and calls ``model.fit`` with the trainer's callbacks.

    Args:
        request: What to fit (from :meth:`~trainers.base.ModelTrainer.train`).
        config: Trainer settings.
        seed: The run's seed (batch order).
        backup_dir: ``BackupAndRestore``'s folder.
        width_multiple: Batch width rounding (see :func:`~trainers.keras.batches.batch_inputs`).
        run_dir: The run directory (``metrics.jsonl`` replays early stopping on resume).

    Raises:
        models.settings.SettingsError: ``config`` asks for what the Keras trainer cannot do
            (several devices or nodes, a strategy: :meth:`TrainerConfig.check_framework`).
    """

    METRICS_FILE: ClassVar[str] = "metrics.jsonl"

    def __init__(
        self,
        request: FitRequest,
        *,
        config: TrainerConfig,
        seed: int,
        backup_dir: Path,
        width_multiple: int,
        run_dir: Path,
    ):
        config.check_framework("keras")  # devices, strategy...: never silently ignored
        self.request = request
        self.config = config
        self.seed = seed
        self.backup_dir = backup_dir
        self.width_multiple = width_multiple
        self.run_dir = run_dir
        self.start = 0 if request.resume is None else request.resume.period

    @staticmethod
    def clear_backup(backup_dir: Path) -> None:
        """Remove a stale backup so a new run never restores another attempt's state."""
        shutil.rmtree(backup_dir, ignore_errors=True)

    def optimizer(self, hp: TrainingSettings, total_steps: int) -> keras.optimizers.Optimizer:
        """Adam at ``hp.lr`` with the shared schedule, global-norm gradient clipping and
        decoupled weight decay when ``hp.weight_decay > 0`` (as AdamW)."""
        scheduled = hp.lr_schedule != "constant" or hp.warmup_steps > 0
        lr: float | WarmupDecay = (
            WarmupDecay(hp.lr, total_steps, hp.warmup_steps, hp.lr_schedule) if scheduled else hp.lr
        )
        return keras.optimizers.Adam(
            learning_rate=lr,
            global_clipnorm=self.config.gradient_clip_val,
            weight_decay=hp.weight_decay or None,
        )

    def early_stopping(self) -> keras.callbacks.EarlyStopping:
        """``EarlyStopping`` on the routine's validation accuracy, replayed up to the resume
        period so patience counts the validations before the interruption too."""
        stopper = _ResumableEarlyStopping(
            monitor=EpochTracking.VAL_ACCURACY_KEY,
            mode="max",
            patience=self.config.patience,
            min_delta=self.config.min_delta,
        )
        if self.start > 0:
            history = epoch_history(self.run_dir / self.METRICS_FILE)
            column = history[ns.epoch_metric("val", "accuracy")].dropna().sort_index()
            stopper.past = [float(value) for value in column.iloc[: self.start]]
        return stopper

    def run(self, extra: list[keras.callbacks.Callback]) -> tuple[int, bool]:
        """Fit; returns ``(periods completed in the run, stopped early)``."""
        request = self.request
        hp = request.hyperparams.training
        model = request.model
        schedule = request.schedule
        batches = BucketedBatches(
            request.train_data,
            hp.batch_size,
            self.seed,
            hp.bucket_by_length,
            self.width_multiple,
            schedule=schedule,
        )
        total = steps_per_epoch(len(request.train_data), hp.batch_size) * request.epochs
        compile_for_training(model, self.optimizer(hp, total))
        tracking = EpochTracking(
            request.routine,
            request.val_data,
            request.metadata_val,
            Predictor(self.config.eval_batch_size, self.width_multiple),
            batches,
            request.budget,
        )
        callbacks: list[keras.callbacks.Callback] = [EpochRandomState(schedule)]
        if self.config.progress:
            from tqdm.keras import TqdmCallback

            callbacks.append(TqdmCallback(verbose=1, leave=False))
        callbacks += [tracking, TopKCheckpoint(request.files, tracking, self.config.every_n_epochs)]
        stopper = self.early_stopping() if self.config.early_stopping else None
        if stopper is not None:
            callbacks.append(stopper)
        callbacks.append(AtomicBackupAndRestore(self.backup_dir, request.on_epoch_saved))
        model.fit(
            batches.fit_input(self.start),
            epochs=schedule.periods(request.epochs),
            steps_per_epoch=schedule.longest,
            callbacks=[*callbacks, *extra],
            shuffle=False,  # the batch order is ours (epoch_batches)
            verbose=0,
        )
        done = self.start if tracking.outcome is None else tracking.outcome.period + 1
        early = stopper is not None and stopper.stopped_epoch > 0
        return done, early or tracking.stopped_by_budget


class _ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """``EarlyStopping`` that first replays the monitored values of earlier epochs."""

    past: list[float]

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_begin(logs)
        for epoch, value in enumerate(getattr(self, "past", [])):
            super().on_epoch_end(epoch, {self.monitor: value})
