"""The time budget of one training call (``trainer.max_minutes``), the same for both trainers.

Both frameworks ask :meth:`TimeBudget.spent` after every training step and once more after
each epoch's validation. Once the budget is spent, training stops after the current step. A
stop before the epoch's last step is a *mid-epoch* stop: the partial epoch is then validated
by the shared per-epoch routine like any other (tracker names at step = epoch, top-k decision,
console line, checkpoints) and **counts as an epoch**: ``epochs_completed`` includes it, and a
resumed run starts with the next epoch, on that epoch's own batch order (the steps the partial
epoch did not reach are not trained). :meth:`TimeBudget.stopped_mid_epoch` says so on the
console and in ``run.log``.

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

    def stopped_mid_epoch(self, epoch: int, steps: int, total: int) -> str:
        """Say (console and ``run.log``, as a warning) that the budget stopped training in the
        middle of ``epoch``; returns the note.

        Args:
            epoch: 0-based epoch that was stopped.
            steps: Training steps it did.
            total: Training steps of a whole epoch.
        """
        note = (
            f"trainer.max_minutes={self.minutes:g} spent: training stopped mid-epoch, epoch "
            f"{epoch:03d} after {steps} of {total} steps; that partial epoch is validated, "
            f"checkpointed and counts as an epoch (a resumed run starts at epoch {epoch + 1:03d})"
        )
        logger.warning("%s", note)
        return note
