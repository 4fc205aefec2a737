"""Validation periods: how ``trainer.val_check_interval`` cuts each epoch, the same for both
trainers.

Without an interval a run validates once per epoch, at its end. With one, every epoch is cut
into *periods* of ``interval`` training steps (the last period of an epoch takes what is
left), and the run validates at the end of every period: after every ``interval`` steps of an
epoch and after its last step. Both frameworks train one period as one of their own epochs
(Lightning's ``current_epoch``, Keras' ``epoch``), so everything they do per epoch (the shared
routine, top-k checkpoints, ``last.*`` and the backup, early stopping, the time budget, exact
resume after ``kill -9``) happens per period. A period's batches are a slice of its epoch's
batch order (:func:`~trainers.batching.epoch_batches`), so the batches an epoch trains on do
not depend on the interval.

A *step* is one training batch of the epoch order: epoch ``e``'s batch ``b`` is step
``e * steps_per_epoch + b + 1`` counted from the start of the run (under DDP the processes
share each step's batches). With an interval, tracker values are logged at the step a period
ends (``step`` = steps trained so far); without one, at the epoch, as before.

Example:
    >>> schedule = ValidationSchedule.resolve(8, steps_per_epoch=22)
    >>> schedule.parts, [schedule.period(i).stop for i in range(4)]
    (3, [8, 16, 22, 8])
    >>> period = schedule.period(4)
    >>> period.epoch, period.part, period.start, period.stop, schedule.step(period)
    (1, 1, 8, 16, 38)
    >>> ValidationSchedule.resolve(0.5, steps_per_epoch=21).interval
    11
    >>> unsliced = ValidationSchedule.resolve(None, steps_per_epoch=21)
    >>> unsliced.parts, unsliced.step(unsliced.period(2))
    (1, 2)
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Period:
    """One validation period: a slice of one epoch's batch order.

    Attributes:
        index: The period's number in the run (the framework's 0-based epoch).
        epoch: The 0-based epoch it belongs to.
        part: Its 0-based place in that epoch.
        start: Its first batch in the epoch order.
        stop: One past its last batch.
        ends_epoch: Whether it ends its epoch.
    """

    index: int
    epoch: int
    part: int
    start: int
    stop: int
    ends_epoch: bool

    @property
    def length(self) -> int:
        """Its training steps."""
        return self.stop - self.start


@dataclass(frozen=True)
class ValidationSchedule:
    """The validation periods of a run.

    Args:
        steps_per_epoch: Training batches of one epoch (the whole epoch order).
        interval: Steps between validations within an epoch; ``None`` to validate once per
            epoch. An interval of at least an epoch is the same as ``None``.
    """

    steps_per_epoch: int
    interval: int | None = None

    def __post_init__(self) -> None:
        if self.steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be positive, got {self.steps_per_epoch}")
        if self.interval is not None and self.interval < 1:
            raise ValueError(f"interval must be a positive number of steps, got {self.interval}")

    @classmethod
    def resolve(cls, interval: int | float | None, steps_per_epoch: int) -> ValidationSchedule:
        """The schedule of ``trainer.val_check_interval``: a number of steps (an ``int``), a
        fraction of an epoch (a ``float`` in ``(0, 1]``, rounded up to whole steps) or
        ``None``.

        Args:
            interval: ``trainer.val_check_interval``.
            steps_per_epoch: Training batches of one epoch.
        """
        if interval is None:
            return cls(steps_per_epoch)
        steps = interval if isinstance(interval, int) else math.ceil(interval * steps_per_epoch)
        steps = max(1, steps)
        return cls(steps_per_epoch, None if steps >= steps_per_epoch else steps)

    @property
    def by_step(self) -> bool:
        """Whether epochs are cut (values are then logged at steps, not epochs)."""
        return self.interval is not None

    @property
    def parts(self) -> int:
        """Periods per epoch."""
        return 1 if self.interval is None else -(-self.steps_per_epoch // self.interval)

    @property
    def longest(self) -> int:
        """Steps of the longest period."""
        return self.steps_per_epoch if self.interval is None else self.interval

    def periods(self, epochs: int) -> int:
        """Periods of ``epochs`` whole epochs."""
        return epochs * self.parts

    def epochs_completed(self, periods: int) -> int:
        """Whole epochs among the first ``periods`` periods."""
        return periods // self.parts

    def period(self, index: int) -> Period:
        """Period ``index`` of the run.

        Args:
            index: The framework's 0-based epoch.
        """
        epoch, part = divmod(index, self.parts)
        size = self.longest
        start, stop = part * size, min((part + 1) * size, self.steps_per_epoch)
        return Period(index, epoch, part, start, stop, stop == self.steps_per_epoch)

    def step(self, period: Period, trained: int | None = None) -> int:
        """The tracker step of ``period``'s validation: its epoch without an interval, else
        the steps trained up to its end (or up to ``trained`` of its steps, when the time
        budget cut it short).

        Args:
            period: The period validated.
            trained: Steps of it that were trained; ``None`` for all.
        """
        if not self.by_step:
            return period.epoch
        done = period.length if trained is None else trained
        return period.epoch * self.steps_per_epoch + period.start + done

    def epochs_trained(self, period: Period, trained: int | None = None) -> float:
        """Epochs trained at ``period``'s validation, a fraction within an epoch (e.g. 1.5).

        Args:
            period: The period validated.
            trained: Steps of it that were trained; ``None`` for all.
        """
        done = period.length if trained is None else trained
        return period.epoch + (period.start + done) / self.steps_per_epoch

    def label(self, index: int) -> str:
        """Where period ``index`` starts, for people: ``epoch 002``, or with an interval
        ``epoch 002 step 000451`` (the step it trains first).

        Example:
            >>> ValidationSchedule(22, 8).label(4)
            'epoch 001 step 000031'
        """
        period = self.period(index)
        if not self.by_step:
            return f"epoch {period.epoch:03d}"
        first = period.epoch * self.steps_per_epoch + period.start + 1
        return f"epoch {period.epoch:03d} step {first:06d}"
