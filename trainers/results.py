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


@dataclass(frozen=True)
class ResumePoint:
    """Where a resumed run starts.

    Attributes:
        checkpoint: The checkpoint to restore (``last.*`` or a framework backup).
        epoch: The first epoch to train (= epochs already completed).
    """

    checkpoint: Path
    epoch: int


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
        epochs: Total epochs of the run (a resumed run trains ``epochs - resume.epoch``).
        routine: The shared per-epoch routine; call it once per epoch with the validation
            predictions of that epoch.
        files: The run's checkpoint file names.
        policy: The top-k policy (the routine's; restored on resume).
        resume: Where to resume from, or ``None`` for a new run.
        budget: The time budget (``trainer.max_minutes``), asked after every training step
            and after each epoch's validation (see :mod:`trainers.budget`); ``None`` for none.
        on_epoch_saved: Called with the number of finished epochs as soon as an epoch's
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
    """

    epochs_completed: int
    stopped_early: bool
    device: str
    precision: str


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
        history: Per-epoch values (index ``epoch``, one column per tracker name).
        duration_s: Wall-clock seconds of this call.
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

    def learning_curve(self) -> pd.DataFrame:
        """Train/validation loss and accuracy per epoch."""
        names = [ns.epoch_metric(s, m) for s in ("train", "val") for m in ("loss", "accuracy")]
        return self.history[[name for name in names if name in self.history]]
