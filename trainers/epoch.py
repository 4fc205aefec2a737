"""The per-epoch routine both trainers call: score, log, decide top-k, print one line.

The Lightning and Keras adapters collect, at the end of each epoch, the train loss and
accuracy and the validation labels, probabilities and metadata, and call one
:class:`EpochRoutine`. It

1. scores validation with :class:`~metrics.processor.MetricsProcessor`;
2. logs ``metrics/train/{loss,accuracy}``, every ``metrics/val/...`` name and, from the
   adapter's :class:`EpochStats`, ``metrics/train/learning_rate``,
   ``metrics/train/examples_per_second`` and ``metrics/epoch/seconds``, at step = epoch;
3. asks the :class:`~trainers.checkpoints.TopKPolicy` what to keep and stores the policy state
   (``checkpoints/topk_state.json``, for resume);
4. sets ``best/...`` on a new best and ``top_epochs/<rank>/...`` when the top-k changes;
5. flushes the tracker (``metrics.jsonl`` is then complete up to this epoch) and prints::

       epoch 003 | train loss 0.6012 acc 0.6810 |
           val loss 0.6231 acc 0.6540 | * new best | + top-3 #1

With ``trainer.val_check_interval`` the adapters call it once per validation period (their
own epoch, :mod:`trainers.periods`): the training values cover the period's steps, the values
are logged at the step the period ends (with ``metrics/epoch/progress``), top-k entries and
``best/...`` carry the step too, and the line reads ``epoch 001 step 000450 | ...``.

It returns an :class:`EpochOutcome`: a Keras callback passes ``outcome.decision`` to
:class:`~trainers.checkpoints.CheckpointManager` to save and delete files; a Lightning callback
can trust ``ModelCheckpoint(**lightning_checkpoint_kwargs(...))`` to do the same.

Both adapters time their epochs with an :class:`EpochClock` (started when the epoch starts,
told when training ends and validation begins) and read the optimiser's learning rate at the
end of the epoch, so both frameworks log the same statistics the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pandas as pd

from metrics import EvaluationResult, MetricsProcessor
from metrics import namespaces as ns
from trainers.checkpoints import CheckpointFiles, TopKDecision, TopKPolicy, TopKStateStore
from trainers.periods import ValidationSchedule
from trainers.signals import epoch_end_begins
from trainers.tracking.tracker import Tracker


@dataclass(frozen=True)
class EpochStats:
    """What the framework adds to one epoch's report (picklable: it crosses processes under
    ``ddp_spawn``).

    Attributes:
        learning_rate: The optimiser's learning rate at the end of the epoch.
        epoch_seconds: Wall-clock seconds from the epoch's start to its report (training and
            validation).
        train_seconds: Seconds of the training part alone.
        examples: Training examples of the epoch when it was cut short (the time budget
            stopped it mid-epoch) or was a validation period shorter than an epoch; ``None``
            for the whole training split.
        steps: Steps of the period that were trained when the time budget cut it short;
            ``None`` for all of them.
    """

    learning_rate: float | None = None
    epoch_seconds: float | None = None
    train_seconds: float | None = None
    examples: int | None = None
    steps: int | None = None


class EpochClock:
    """Times the epochs of one fit: :meth:`start` when an epoch starts, :meth:`training_done`
    when its validation begins, :meth:`stats` when it is reported.

    Args:
        clock: Seconds from an arbitrary origin (``time.perf_counter``).
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter):
        self.clock = clock
        self._started: float | None = None
        self._trained: float | None = None

    def start(self) -> None:
        """An epoch starts."""
        self._started = self.clock()
        self._trained = None

    def training_done(self) -> None:
        """The epoch's training ends (validation begins)."""
        self._trained = self.clock()

    def stats(
        self, learning_rate: float | None, examples: int | None = None, steps: int | None = None
    ) -> EpochStats:
        """The statistics of the epoch being reported.

        Args:
            learning_rate: The optimiser's learning rate now.
            examples: Training examples of an epoch cut short or of a period shorter than an
                epoch; ``None`` for a whole epoch.
            steps: Steps trained of a period the time budget cut short; ``None`` for all.
        """
        now = self.clock()
        if self._started is None:
            return EpochStats(learning_rate, examples=examples, steps=steps)
        trained = now if self._trained is None else self._trained
        return EpochStats(
            learning_rate, now - self._started, trained - self._started, examples, steps
        )


@dataclass(frozen=True)
class EpochOutcome:
    """What happened at the end of one epoch.

    Attributes:
        epoch: 0-based epoch.
        period: The validation period (the framework's epoch; the epoch itself without
            ``trainer.val_check_interval``).
        step: The step the validation followed, with ``trainer.val_check_interval``; else
            ``None``.
        train_loss: Mean training loss.
        train_accuracy: Training accuracy.
        val_loss: Validation loss (from the processor).
        val_accuracy: Validation accuracy.
        is_new_best: Whether this epoch is the new best by the monitored value.
        top_k_rank: Rank among the kept epochs (1 = best), ``None`` if not kept.
        checkpoint: File name to save for this epoch (entering the top-k), else ``None``.
        delete: File names of evicted epochs, to delete.
        decision: The full top-k decision (for :class:`~trainers.checkpoints.CheckpointManager`).
        result: The validation :class:`~metrics.processor.EvaluationResult`.
        line: The console line printed.
    """

    epoch: int
    period: int
    step: int | None
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    is_new_best: bool
    top_k_rank: int | None
    checkpoint: str | None
    delete: tuple[str, ...]
    decision: TopKDecision
    result: EvaluationResult
    line: str


class EpochRoutine:
    """The shared end-of-epoch routine.

    Args:
        tracker: Where values go.
        files: The run's checkpoint file names (and ``topk_state.json`` location).
        policy: Top-k policy (default :class:`~trainers.checkpoints.TopKPolicy` ``()``).
        processor: Validation scorer (default ``MetricsProcessor()``).
        resume_epoch: First period (epoch) of a resumed run: the policy state stored after
            ``resume_epoch - 1`` is restored. ``None`` for a new run.
        echo: Prints the console line (``print`` by default; ``tqdm.write`` under a progress
            bar; ``None`` for silence).
        train_examples: Training examples per epoch (for ``examples_per_second``).
        schedule: The run's validation periods (``trainer.val_check_interval``); ``None``:
            once per epoch.
    """

    STAGE: ClassVar[str] = "val"
    BEST_MARK: ClassVar[str] = "* new best"
    TOP_K_MARK: ClassVar[str] = "+ top-{k} #{rank}"
    SEPARATOR: ClassVar[str] = " | "

    def __init__(
        self,
        tracker: Tracker,
        files: CheckpointFiles,
        policy: TopKPolicy | None = None,
        processor: MetricsProcessor | None = None,
        resume_epoch: int | None = None,
        echo: Callable[[str], object] | None = print,
        train_examples: int | None = None,
        schedule: ValidationSchedule | None = None,
    ):
        self.tracker = tracker
        self.schedule = ValidationSchedule(1) if schedule is None else schedule
        self.train_examples = train_examples
        self.files = files
        self.processor = MetricsProcessor() if processor is None else processor
        self.state = TopKStateStore(files.state_path)
        fresh = TopKPolicy() if policy is None else policy
        self.policy = fresh if resume_epoch is None else self.state.load(resume_epoch, fresh)
        self.echo = echo

    def __call__(
        self,
        index: int,
        train_loss: float,
        train_accuracy: float,
        y_true: object,
        y_prob: object,
        metadata: pd.DataFrame,
        losses: object | None = None,
        stats: EpochStats | None = None,
    ) -> EpochOutcome:
        """Run the routine for one finished epoch (validation period).

        Args:
            index: The framework's 0-based epoch: the validation period (the epoch itself
                without ``trainer.val_check_interval``).
            train_loss: Mean training loss of the epoch.
            train_accuracy: Training accuracy of the epoch.
            y_true: Validation 0/1 labels.
            y_prob: Validation probabilities of label 1.
            metadata: Validation metadata (``category``, ``noun_count``...), aligned by row.
            losses: Optional per-example validation losses (their mean is the val loss).
            stats: The epoch's learning rate and timing, from the framework.
        """
        epoch_end_begins()  # a stop signal waits until the trainer has saved this epoch
        train_loss, train_accuracy = float(train_loss), float(train_accuracy)
        period = self.schedule.period(index)
        trained = None if stats is None else stats.steps
        tracker_step = self.schedule.step(period, trained)
        step = tracker_step if self.schedule.by_step else None
        result = self.processor.evaluate(y_true, y_prob, metadata, losses=losses)
        series = {
            ns.epoch_metric("train", "loss"): train_loss,
            ns.epoch_metric("train", "accuracy"): train_accuracy,
            **result.epoch_namespaces(stage=self.STAGE),
        }
        if step is not None:
            series[ns.epoch_progress()] = self.schedule.epochs_trained(period, trained)
        # metrics/epoch/seconds last: a reader of metrics.jsonl knows the epoch's values are in
        series.update(self._stat_series(stats))
        self.tracker.log_metrics(series, step=tracker_step)

        val_accuracy = float(result.accuracy)
        val_loss = float(result.loss)
        decision = self.policy.update(
            period.epoch,
            float(getattr(result, self.policy.metric)),
            val_accuracy,
            self.files.epoch_filename(period.epoch, val_accuracy, step),
            step,
        )
        self.tracker.log_fields(self._fields(decision, val_loss))
        self.state.save(index, self.policy, tracker_step)
        self.tracker.flush()

        line = self.format_line(
            period.epoch, train_loss, train_accuracy, val_loss, val_accuracy, decision, step
        )
        if self.echo is not None:
            self.echo(line)
        return EpochOutcome(
            epoch=period.epoch,
            period=index,
            step=step,
            train_loss=train_loss,
            train_accuracy=train_accuracy,
            val_loss=val_loss,
            val_accuracy=val_accuracy,
            is_new_best=decision.is_new_best,
            top_k_rank=decision.rank,
            checkpoint=decision.entry.filename if decision.rank is not None else None,
            delete=decision.delete,
            decision=decision,
            result=result,
            line=line,
        )

    def _stat_series(self, stats: EpochStats | None) -> dict[str, float]:
        """``metrics/train/learning_rate``, ``metrics/train/examples_per_second`` and
        ``metrics/epoch/seconds``, those that ``stats`` allows."""
        if stats is None:
            return {}
        series: dict[str, float] = {}
        if stats.learning_rate is not None:
            series[ns.train_stat("learning_rate")] = float(stats.learning_rate)
        examples = self.train_examples if stats.examples is None else stats.examples
        if stats.train_seconds and examples:
            series[ns.train_stat("examples_per_second")] = examples / stats.train_seconds
        if stats.epoch_seconds is not None:
            series[ns.epoch_seconds()] = float(stats.epoch_seconds)
        return series

    def _fields(self, decision: TopKDecision, val_loss: float) -> dict[str, object]:
        fields: dict[str, object] = {}
        if decision.is_new_best:
            entry = decision.entry
            fields[ns.best("epoch")] = entry.epoch
            if entry.step is not None:
                fields[ns.best("step")] = entry.step
            fields[ns.best("val_accuracy")] = entry.val_accuracy
            fields[ns.best("val_loss")] = val_loss
            fields[ns.best("checkpoint")] = entry.filename
        if decision.rank is not None:
            for rank, kept in enumerate(decision.ranking, start=1):
                fields[ns.top_epoch(rank, "epoch")] = kept.epoch
                if kept.step is not None:
                    fields[ns.top_epoch(rank, "step")] = kept.step
                fields[ns.top_epoch(rank, "val_accuracy")] = kept.val_accuracy
                fields[ns.top_epoch(rank, "checkpoint")] = kept.filename
        return fields

    def format_line(
        self,
        epoch: int,
        train_loss: float,
        train_accuracy: float,
        val_loss: float,
        val_accuracy: float,
        decision: TopKDecision,
        step: int | None = None,
    ) -> str:
        """The console line of one epoch, with marks for a new best and a top-k entry.

        Args:
            epoch: 0-based epoch.
            train_loss: Training loss.
            train_accuracy: Training accuracy.
            val_loss: Validation loss.
            val_accuracy: Validation accuracy.
            decision: The top-k decision of the epoch.
            step: The step the validation followed (``trainer.val_check_interval``).
        """
        at = "" if step is None else f" step {step:06d}"
        parts = [
            f"epoch {epoch:03d}{at}",
            f"train loss {train_loss:.4f} acc {train_accuracy:.4f}",
            f"val loss {val_loss:.4f} acc {val_accuracy:.4f}",
        ]
        if decision.is_new_best:
            parts.append(self.BEST_MARK)
        if decision.rank is not None:
            k = "all" if self.policy.k == -1 else str(self.policy.k)
            parts.append(self.TOP_K_MARK.format(k=k, rank=decision.rank))
        return self.SEPARATOR.join(parts)

    def log_checkpoints(self, directories: tuple[Path, ...] | None = None) -> list[Path]:
        """Record the best file and the kept top-k files as ``artifacts/checkpoints/...``.

        Call once after training (files are linked into ``<run_dir>/artifacts/checkpoints``).

        Args:
            directories: Where to look for the files; default the checkpoint directory,
                then the fallback directory.

        Returns:
            The kept artifact paths.
        """
        search = directories or (self.files.directory, self.files.fallback_directory)
        names = [self.files.best_filename, *(entry.filename for entry in self.policy.ranking())]
        logged: list[Path] = []
        for name in names:
            found = next((d / name for d in search if (d / name).exists()), None)
            if found is not None:
                kept = self.tracker.log_artifact("checkpoints", found)
                if kept is not None:
                    logged.append(kept)
        return logged
