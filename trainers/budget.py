"""The time budget of one training call (``trainer.max_minutes``), the same for both trainers.

Both frameworks ask :meth:`TimeBudget.spent` after every training step and once more after
each epoch's validation. Once the budget is spent, training stops after the current step. A
stop before the epoch's last step is a *mid-epoch* stop: the partial epoch is then validated
by the shared per-epoch routine like any other (tracker names at step = epoch, top-k decision,
console line, checkpoints) and **counts as an epoch**: ``epochs_completed`` includes it, and a
resumed run starts with the next epoch, on that epoch's own batch order (the steps the partial
epoch did not reach are not trained). :meth:`TimeBudget.stopped_mid_epoch` says so on the
console and in ``run.log``. With ``trainer.val_check_interval`` the same holds per validation
period (:mod:`trainers.periods`): the cut period is validated and saved, and a resumed run
starts with the next period.

The clock is injectable (``time.time`` by default), so a test can spend the budget after an
exact number of steps without sleeping.

Example:
    >>> ticks = iter(range(100))
    >>> budget = TimeBudget.start(minutes=2 / 60, clock=lambda: float(next(ticks)))
    >>> budget.spent(), budget.spent()
    (False, True)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trainers.periods import Period, ValidationSchedule

logger = logging.getLogger(__name__)

#: Seconds since an arbitrary origin; the budget's clock.
Clock = Callable[[], float]


class TimeBudget:
    """A wall-clock deadline for one training call.

    Args:
        deadline: The clock's reading after which training stops.
        minutes: The budget it was started with (``trainer.max_minutes``), for the note.
        clock: The clock (``time.time`` by default; picklable, as the budget crosses
            processes under ``ddp_spawn``).
    """

    def __init__(self, deadline: float, minutes: float, clock: Clock = time.time):
        self.deadline = deadline
        self.minutes = minutes
        self.clock = clock

    @classmethod
    def start(cls, minutes: float, clock: Clock = time.time) -> TimeBudget:
        """A budget of ``minutes`` from now.

        Args:
            minutes: The budget (``trainer.max_minutes``).
            clock: The clock (see :class:`TimeBudget`).
        """
        return cls(clock() + 60.0 * minutes, minutes, clock)

    def spent(self) -> bool:
        """Whether the deadline has passed (reads the clock once)."""
        return self.clock() >= self.deadline

    def stopped_mid_epoch(self, schedule: ValidationSchedule, period: Period, trained: int) -> str:
        """Say (console and ``run.log``, as a warning) that the budget stopped training in the
        middle of ``period``; returns the note.

        Args:
            schedule: The run's validation periods.
            period: The period that was stopped (an epoch, without an interval).
            trained: Training steps of it that were done.
        """
        spent = f"trainer.max_minutes={self.minutes:g} spent: training stopped mid-epoch"
        resumes = f"a resumed run starts at {schedule.label(period.index + 1)}"
        if not schedule.by_step:
            note = (
                f"{spent}, epoch {period.epoch:03d} after {trained} of {period.length} steps; "
                f"that partial epoch is validated, checkpointed and counts as an epoch "
                f"({resumes})"
            )
        else:
            note = (
                f"{spent}, epoch {period.epoch:03d} after step "
                f"{schedule.step(period, trained):06d} ({trained} of the {period.length} steps "
                f"to its next validation); that partial period is validated, checkpointed and "
                f"counts as done ({resumes})"
            )
        logger.warning("%s", note)
        return note
