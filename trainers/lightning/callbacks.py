"""Lightning callbacks of the Lightning trainer.

* :class:`EpochReporter` gathers each epoch's validation predictions (all processes, padding
  repeats dropped, original row order), runs the shared routine once through the
  :class:`~trainers.lightning.relay.RoutineRelay` (with the epoch's timing and the optimiser's
  learning rate at its end) and logs the monitor keys.
* :class:`PolicyCheckpoint` is ``ModelCheckpoint`` with the shared top-k policy's tie rule and
  ``best.ckpt``; :class:`PeriodicCheckpoint` keeps the optional every-N-epochs files. Both name
  files by the epoch and step of :mod:`trainers.periods` (Lightning's epoch is a validation
  period).
* :class:`BudgetStop` stops training once ``trainer.max_minutes`` is spent: after the current
  step (the partial epoch is validated and saved as a finished one) or after an epoch's
  validation (see :mod:`trainers.budget`).
* :class:`InterruptRecorder` remembers a ``KeyboardInterrupt`` that Lightning turns into
  ``SystemExit``.
* :class:`BatchOrder` selects each epoch's training batches.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from metrics import namespaces as ns
from trainers.budget import TimeBudget
from trainers.checkpoints import CheckpointFiles, TopKPolicy
from trainers.epoch import EpochClock
from trainers.lightning.checkpointing import (
    lightning_checkpoint_kwargs,
    lightning_periodic_checkpoint_kwargs,
)
from trainers.lightning.data import EpochBatchSampler
from trainers.lightning.module import StoryModule
from trainers.lightning.relay import EpochVerdict, RoutineRelay
from trainers.periods import ValidationSchedule
from trainers.signals import epoch_end_done

logger = logging.getLogger(__name__)


def gather_predictions(module: StoryModule) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The epoch's validation ``(rows, probabilities, losses)`` of every process, each row
    once, in row order."""
    outputs = module.val_outputs
    if outputs:
        rows, probs, losses = (torch.cat(parts) for parts in zip(*outputs, strict=True))
    else:
        rows = torch.zeros(0, dtype=torch.int64, device=module.device)
        probs = losses = torch.zeros(0, device=module.device)
    if module.trainer.world_size > 1:
        rows, probs, losses = (_gather(module, t) for t in (rows, probs, losses))
    rows_np = rows.cpu().numpy()
    kept_rows, first = np.unique(rows_np, return_index=True)
    return kept_rows, probs.cpu().numpy()[first], losses.cpu().numpy()[first]


def _gather(module: StoryModule, tensor: torch.Tensor) -> torch.Tensor:
    gathered = module.all_gather(tensor)
    assert isinstance(gathered, torch.Tensor)
    return gathered.reshape(-1)


class EpochReporter(Callback):
    """Reports each validation epoch to the shared routine and logs ``val/accuracy``.

    Args:
        relay: The routine's door (see :class:`~trainers.lightning.relay.RoutineRelay`).
        labels: Validation labels, row-aligned.
        metadata: Validation metadata, row-aligned.
        schedule: The validation periods (Lightning's epochs).
    """

    def __init__(
        self,
        relay: RoutineRelay,
        labels: np.ndarray,
        metadata: pd.DataFrame,
        schedule: ValidationSchedule,
    ):
        self.relay = relay
        self.labels = np.asarray(labels)
        self.metadata = metadata
        self.schedule = schedule
        self.verdict: EpochVerdict | None = None
        self.clock = EpochClock()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.clock.start()

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.clock.training_done()

    @staticmethod
    def learning_rate(trainer: pl.Trainer) -> float | None:
        """The first optimiser's current learning rate (after this epoch's scheduler steps)."""
        if not trainer.optimizers:
            return None
        return float(trainer.optimizers[0].param_groups[0]["lr"])

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        assert isinstance(pl_module, StoryModule)
        rows, probs, losses = gather_predictions(pl_module)
        if len(rows) != len(self.labels):
            raise RuntimeError(
                f"validation scored {len(rows)} of {len(self.labels)} examples; every example "
                "must be scored exactly once"
            )
        train_loss, train_accuracy, examples = pl_module.train_totals()
        done = trainer.fit_loop.epoch_loop.batch_progress.current.completed
        cut = done < trainer.num_training_batches  # the time budget stopped it mid-epoch
        period = self.schedule.period(trainer.current_epoch)
        trained = min(done * trainer.world_size, period.length) if cut else None
        counted = cut or self.schedule.by_step  # else the whole training split
        stats = self.clock.stats(
            self.learning_rate(trainer), examples if counted else None, trained
        )
        verdict = None
        if trainer.is_global_zero:
            verdict = self.relay(
                trainer.current_epoch,
                train_loss,
                train_accuracy,
                self.labels,
                probs,
                self.metadata,
                losses,
                stats,
            )
        self.verdict = trainer.strategy.broadcast(verdict, src=0)
        assert self.verdict is not None
        for metric, value in (
            ("accuracy", self.verdict.val_accuracy),
            ("loss", self.verdict.val_loss),
        ):
            # Every process holds the same value; "max" keeps it exact (float64 names the file
            # as the policy does).
            value_tensor = torch.tensor(value, dtype=torch.float64)
            pl_module.log(
                ns.monitor_key("val", metric), value_tensor, sync_dist=True, reduce_fx="max"
            )


class PeriodNames(ModelCheckpoint):
    """``ModelCheckpoint`` whose file names read the epoch and the step of the period just
    validated (:mod:`trainers.periods`), not Lightning's epoch (a period) and step.

    Args:
        reporter: Holds the verdict of the period just validated.
        **kwargs: ``ModelCheckpoint``'s arguments.
    """

    def __init__(self, reporter: EpochReporter, **kwargs: Any):
        super().__init__(**kwargs)
        self.reporter = reporter

    def _monitor_candidates(self, trainer: pl.Trainer) -> dict[str, torch.Tensor]:
        candidates = super()._monitor_candidates(trainer)
        verdict = self.reporter.verdict
        if verdict is not None and verdict.period == trainer.current_epoch:
            candidates["epoch"] = torch.tensor(verdict.epoch)
            if verdict.step is not None:
                candidates["step"] = torch.tensor(verdict.step)
        return candidates


class PeriodicCheckpoint(PeriodNames):
    """The optional every-N-epochs files (``trainer.every_n_epochs``), saved at the end of
    every N-th epoch whatever the validation periods.

    Args:
        files: The run's checkpoint files.
        every_n_epochs: N.
        reporter: Holds the verdict of the period just validated.
    """

    def __init__(self, files: CheckpointFiles, every_n_epochs: int, reporter: EpochReporter):
        parts = reporter.schedule.parts
        super().__init__(
            reporter, **lightning_periodic_checkpoint_kwargs(files, every_n_epochs * parts)
        )


class PolicyCheckpoint(PeriodNames):
    """``ModelCheckpoint`` configured by, and evicting by, the shared :class:`TopKPolicy`;
    also keeps ``best.ckpt``.

    ``ModelCheckpoint`` evicts the *earliest* of several kept epochs tied for worst; the
    policy the *latest* (the earlier epoch wins every tie). Before each update the file to
    evict is re-chosen by the policy's rule. ``last.ckpt`` is written after every epoch (plain
    ``ModelCheckpoint`` skips it in epochs that save no top-k file), and a new best epoch (as
    the routine decided) is copied to ``best.ckpt``. A save that fails is logged and
    retried in the fallback directory (``checkpoints_fallback``); training goes on either way.

    Args:
        files: The run's checkpoint files.
        policy: The run's top-k policy.
        reporter: Holds the verdict of the epoch just validated.
        on_saved: Called with the number of finished epochs once an epoch's ``last.ckpt``
            and ``best.ckpt`` are written; ``None`` for nothing.

    With ``trainer.val_check_interval`` every "epoch" here is a validation period.
    """

    TMP_PREFIX = CheckpointFiles.TMP_PREFIX

    def __init__(
        self,
        files: CheckpointFiles,
        policy: TopKPolicy,
        reporter: EpochReporter,
        on_saved: Callable[[int], None] | None = None,
    ):
        by_step = reporter.schedule.by_step
        super().__init__(reporter, **lightning_checkpoint_kwargs(files, policy, by_step))
        self.files = files
        self.on_saved = on_saved
        self._best_written: int | None = None
        self._last_saved_step: int | None = None

    def _update_best_and_save(
        self, current: torch.Tensor, trainer: pl.Trainer, monitor_candidates: dict[str, Any]
    ) -> None:
        if self.best_k_models and len(self.best_k_models) == self.save_top_k:
            worst = self.best_k_models[self.kth_best_model_path]
            tied = [path for path, score in self.best_k_models.items() if score == worst]
            self.kth_best_model_path = tied[-1]  # insertion order = epoch order: the latest
        super()._update_best_and_save(current, trainer, monitor_candidates)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)  # saves here when validating each epoch
        if self._should_save_on_train_epoch_end(trainer):
            self._finish_epoch(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)  # saves here otherwise
        if not self._should_save_on_train_epoch_end(trainer):
            self._finish_epoch(trainer)

    def _finish_epoch(self, trainer: pl.Trainer) -> None:
        if trainer.sanity_checking:
            return
        # ModelCheckpoint refreshes last.ckpt only in epochs that saved a top-k file; resume
        # needs it after every epoch.
        if self._last_saved_step != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        self._write_best(trainer)
        if self.on_saved is not None:
            self.on_saved(trainer.current_epoch + 1)  # periods finished
        epoch_end_done()  # the epoch is wholly saved: a stop signal that came meanwhile acts

    def _save_last_checkpoint(
        self, trainer: pl.Trainer, monitor_candidates: dict[str, Any]
    ) -> None:
        super()._save_last_checkpoint(trainer, monitor_candidates)
        self._last_saved_step = trainer.global_step

    def _write_best(self, trainer: pl.Trainer) -> None:
        verdict = self.reporter.verdict
        if verdict is None or not verdict.is_new_best or verdict.period == self._best_written:
            return
        self._best_written = verdict.period
        name = self.files.best_filename
        if self.save_top_k == 0:
            self._save_checkpoint(trainer, str(self.files.directory / name))
            return
        source = self._locate(Path(self.best_model_path).name)
        if not trainer.is_global_zero or source is None:
            return
        for directory in (self.files.directory, self.files.fallback_directory):
            tmp = directory / f"{self.TMP_PREFIX}{name}"
            try:
                directory.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, tmp)
                os.replace(tmp, directory / name)
                return
            except OSError as error:
                tmp.unlink(missing_ok=True)
                logger.error("checkpoint save to %s failed (%s)", directory / name, error)
        logger.error("checkpoint %s could not be saved anywhere; training goes on", name)

    def _locate(self, name: str) -> Path | None:
        for directory in (self.files.directory, self.files.fallback_directory):
            if (directory / name).is_file():
                return directory / name
        return None

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        """Save; on failure retry in the fallback directory, and go on if that fails too."""
        name = Path(filepath).name
        for path in (Path(filepath), self.files.fallback_directory / name):
            tmp = path.with_name(f"{self.TMP_PREFIX}{name}")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                super()._save_checkpoint(trainer, str(tmp))  # a kill cannot leave half a file
                if trainer.is_global_zero:
                    os.replace(tmp, path)
                self._last_checkpoint_saved = str(path)
            except OSError as error:
                if trainer.is_global_zero:
                    tmp.unlink(missing_ok=True)
                logger.error("checkpoint save to %s failed (%s)", path, error)
                continue
            if path.parent != Path(filepath).parent:
                logger.error("checkpoint %s saved to the fallback directory: %s", name, path)
            return
        logger.error("checkpoint %s could not be saved anywhere; training goes on", name)

    def _remove_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        super()._remove_checkpoint(trainer, filepath)
        fallback = self.files.fallback_directory / Path(filepath).name
        super()._remove_checkpoint(trainer, str(fallback))


class BatchOrder(Callback):
    """Tells the training batch sampler which epoch (validation period) starts, so that
    every epoch trains on its own order (:func:`~trainers.batching.epoch_batches`).

    Lightning calls ``set_epoch`` on a loader's sampler, and on its batch sampler's
    ``sampler``, but not on the batch sampler itself, which is what
    :class:`~trainers.lightning.data.EpochBatchSampler` is. The loader's iterator is made after
    this hook, so the epoch's batches are those of the epoch set here.
    """

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        sampler = getattr(trainer.train_dataloader, "batch_sampler", None)
        if not isinstance(sampler, EpochBatchSampler):
            raise TypeError(
                f"the training loader's batch sampler is {type(sampler).__name__}, not the "
                "EpochBatchSampler of StoryDataModule"
            )
        sampler.set_epoch(trainer.current_epoch)


class InterruptRecorder(Callback):
    """Records the ``KeyboardInterrupt`` (Ctrl-C, or SIGTERM as
    :class:`~trainers.signals.TrainingInterrupted`) that ended fitting: Lightning exits
    instead of raising it, and the trainer raises it again."""

    def __init__(self) -> None:
        self.interrupt: KeyboardInterrupt | None = None

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if self.interrupt is None and isinstance(exception, KeyboardInterrupt):
            self.interrupt = exception


class BudgetStop(Callback):
    """Stops training once the time budget is spent, the same rule as the Keras trainer's
    (:mod:`trainers.budget`): asked after every training step and after each epoch's
    validation.

    A stop before the epoch's last step marks the epoch's batches as done, so that Lightning
    validates the partial epoch at once, saves it like a finished epoch (``last.ckpt``, top-k,
    ``best.ckpt``) and a resume starts the next epoch.

    Args:
        budget: The run's time budget.
        schedule: The validation periods (Lightning's epochs).

    Attributes:
        stopped: Whether the budget ended training.
    """

    def __init__(self, budget: TimeBudget, schedule: ValidationSchedule):
        self.budget = budget
        self.schedule = schedule
        self.stopped = False

    def _spent(self, trainer: pl.Trainer) -> bool:
        """Whether any process finds the budget spent (every process then stops)."""
        return bool(trainer.strategy.reduce_boolean_decision(self.budget.spent(), all=False))

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self.stopped or not self._spent(trainer):
            return
        trainer.should_stop = True
        self.stopped = True
        steps, total = batch_idx + 1, int(trainer.num_training_batches)
        if steps < total:
            trainer.fit_loop.epoch_loop.batch_progress.is_last_batch = True
            if trainer.is_global_zero:
                period = self.schedule.period(trainer.current_epoch)
                trained = min(steps * trainer.world_size, period.length)
                self.budget.stopped_mid_epoch(self.schedule, period, trained)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.stopped:
            return
        if self._spent(trainer):
            trainer.should_stop = True
            self.stopped = True
