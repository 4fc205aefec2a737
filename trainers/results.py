"""Types passed between :class:`~trainers.base.ModelTrainer` and its frameworks, and the
result of training."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from metrics import namespaces as ns
from trainers.checkpoints import CheckpointEntry, CheckpointFiles, TopKPolicy
from trainers.config import Hyperparams

if TYPE_CHECKING:
    from trainers.budget import TimeBudget
    from trainers.epoch import EpochRoutine
    from trainers.periods import ValidationSchedule


@dataclass(frozen=True)
class ResumePoint:
    """Where a resumed run starts.

    Attributes:
        checkpoint: The checkpoint to restore (``last.*`` or a framework backup).
        period: The first validation period to train: the framework's epoch, which is the
            epoch itself unless ``trainer.val_check_interval`` cuts epochs
            (:mod:`trainers.periods`).
    """

    checkpoint: Path
    period: int


@dataclass
class FitRequest:
    """Everything a framework's fit loop needs; built by :meth:`ModelTrainer.train`.

    Attributes:
        model: The framework model.
        train_data: Encoded training arrays.
        val_data: Encoded validation arrays.
        metadata_train: Training metadata (``category``, ``noun_count``), row-aligned.
        metadata_val: Validation metadata, row-aligned.
        hyperparams: The model hyperparameters.
        epochs: Total epochs of the run (a resumed run starts at ``resume.period``).
        schedule: The validation periods: the framework trains
            ``schedule.periods(epochs)`` of its epochs, each a slice of an epoch's batches.
        routine: The shared per-epoch routine; call it once per period (the framework's
            epoch) with the validation predictions of that period.
        files: The run's checkpoint file names.
        policy: The top-k policy (the routine's; restored on resume).
        resume: Where to resume from, or ``None`` for a new run.
        budget: The time budget (``trainer.max_minutes``), asked after every training step
            and after each epoch's validation (see :mod:`trainers.budget`); ``None`` for none.
        on_epoch_saved: Called with the number of finished periods as soon as a period's
            resume checkpoint is on disk (the manifest records the progress, so that even a
            run killed with SIGKILL says how far it got); ``None`` for nothing.
    """

    model: Any
    train_data: Any
    val_data: Any
    metadata_train: pd.DataFrame
    metadata_val: pd.DataFrame
    hyperparams: Hyperparams
    epochs: int
    schedule: ValidationSchedule
    routine: EpochRoutine
    files: CheckpointFiles
    policy: TopKPolicy
    resume: ResumePoint | None
    budget: TimeBudget | None = None
    on_epoch_saved: Callable[[int], None] | None = None


@dataclass(frozen=True)
class FitSummary:
    """What a framework's fit loop reports back.

    Attributes:
        epochs_completed: Epochs finished in the run so far (including before a resume).
        stopped_early: Whether training ended before ``max_epochs`` (early stopping or the
            time budget).
        device: What trained the model (``cpu``, ``cuda:0 (<name>)``...).
        precision: Numeric precision used (``32``, ``16-mixed``...).
        periods_completed: Validation periods finished (:mod:`trainers.periods`); ``None``
            when they are the epochs.
    """

    epochs_completed: int
    stopped_early: bool
    device: str
    precision: str
    periods_completed: int | None = None

    @property
    def periods(self) -> int:
        """Validation periods finished (the epochs, without ``val_check_interval``)."""
        return self.epochs_completed if self.periods_completed is None else self.periods_completed


@dataclass(frozen=True)
class TrainingResult:
    """The outcome of :meth:`ModelTrainer.train`.

    Attributes:
        run_dir: The run directory.
        framework: ``lightning`` or ``keras``.
        best_epoch: 0-based epoch with the best validation accuracy (earliest on ties).
        best_val_accuracy: Its validation accuracy.
        best_val_loss: Its validation loss.
        best_checkpoint: ``best.*`` (``None`` if it could not be saved).
        last_checkpoint: ``last.*`` (for resume).
        top_k: Kept epochs, best first (epoch, score, val accuracy, file name).
        top_k_checkpoints: Paths of the kept epoch files, best first.
        epochs_completed: Epochs trained in the run, including before a resume.
        stopped_early: Whether early stopping ended training.
        history: Per-epoch values (index ``epoch``, one column per tracker name); with
            ``trainer.val_check_interval``, per validation (index: the step it followed).
        duration_s: Wall-clock seconds of this call.
        best_step: The step the best validation followed, with ``trainer.val_check_interval``
            (``None`` without).
    """

    run_dir: Path
    framework: str
    best_epoch: int
    best_val_accuracy: float
    best_val_loss: float
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    top_k: tuple[CheckpointEntry, ...]
    top_k_checkpoints: tuple[Path, ...]
    epochs_completed: int
    stopped_early: bool
    history: pd.DataFrame = field(repr=False)
    duration_s: float = 0.0
    best_step: int | None = None

    def learning_curve(self) -> pd.DataFrame:
        """Train/validation loss and accuracy per epoch."""
        names = [ns.epoch_metric(s, m) for s in ("train", "val") for m in ("loss", "accuracy")]
        return self.history[[name for name in names if name in self.history]]
