"""``RoutineRelay``: the one door from the fit loop to the shared per-epoch routine.

In the training process the relay calls :class:`~trainers.epoch.EpochRoutine`
directly. Under a spawning strategy (``ddp_spawn``) rank zero runs in a child process, where the
tracker (open files, client connections) cannot follow: the relay is pickled without it, and
the child sends each epoch's predictions through a queue to a thread of the main process, which
runs the routine there and answers with an :class:`EpochVerdict`.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from trainers.epoch import EpochRoutine, EpochStats
from trainers.errors import TrainerError


@dataclass(frozen=True)
class EpochVerdict:
    """What the fit loop needs back from the routine.

    Attributes:
        epoch: 0-based epoch.
        val_accuracy: Validation accuracy.
        val_loss: Validation loss.
        is_new_best: Whether the epoch is the new best (``best.ckpt`` is to be written).
        period: The validation period (Lightning's epoch; :mod:`trainers.periods`).
        step: The step the validation followed, with ``trainer.val_check_interval``.
    """

    epoch: int
    val_accuracy: float
    val_loss: float
    is_new_best: bool
    period: int
    step: int | None = None


class RoutineRelay:
    """Runs ``routine`` for each epoch, in the main process.

    Args:
        routine: The run's routine.
        spawn: Serve calls from spawned processes (start with :meth:`serve`).
    """

    CONTEXT: ClassVar[str] = "spawn"

    def __init__(self, routine: EpochRoutine, spawn: bool = False):
        self.routine: EpochRoutine | None = routine
        self.last_period: int | None = None
        self._requests: Any = None
        self._replies: Any = None
        self._thread: threading.Thread | None = None
        if spawn:
            context = mp.get_context(self.CONTEXT)
            self._requests, self._replies = context.Queue(), context.Queue()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(routine=None, _thread=None)
        return state

    def __call__(
        self,
        epoch: int,
        train_loss: float,
        train_accuracy: float,
        y_true: np.ndarray,
        y_prob: np.ndarray,
        metadata: pd.DataFrame,
        losses: np.ndarray,
        stats: EpochStats | None = None,
    ) -> EpochVerdict:
        """Run the routine for one epoch (here or in the main process)."""
        args = (epoch, train_loss, train_accuracy, y_true, y_prob, metadata, losses, stats)
        if self.routine is not None:
            return self._run(*args)
        if self._requests is None:
            raise TrainerError("the epoch routine is not reachable from this process")
        self._requests.put(args)
        verdict = self._replies.get()
        if isinstance(verdict, str):
            raise TrainerError(f"the epoch routine failed in the main process: {verdict}")
        assert isinstance(verdict, EpochVerdict)
        return verdict

    def _run(self, *args: Any) -> EpochVerdict:
        assert self.routine is not None
        epoch, train_loss, train_accuracy, y_true, y_prob, metadata, losses, stats = args
        outcome = self.routine(
            epoch, train_loss, train_accuracy, y_true, y_prob, metadata, losses=losses, stats=stats
        )
        self.last_period = outcome.period
        return EpochVerdict(
            outcome.epoch,
            outcome.val_accuracy,
            outcome.val_loss,
            outcome.is_new_best,
            outcome.period,
            outcome.step,
        )

    def serve(self) -> None:
        """Start answering spawned processes (a daemon thread; :meth:`close` ends it)."""
        if self._requests is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._serve, name="epoch-routine", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while (args := self._requests.get()) is not None:
            try:
                self._replies.put(self._run(*args))
            except Exception as error:
                self._replies.put(f"{type(error).__name__}: {error}")

    def close(self) -> None:
        """Stop serving (idempotent)."""
        if self._thread is not None:
            self._requests.put(None)
            self._thread.join()
            self._thread = None
