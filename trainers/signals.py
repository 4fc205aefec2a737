"""Turn a termination request (SIGTERM: ``kill``, a cluster's pre-emption, ``docker stop``)
into the same orderly stop as Ctrl-C while a model trains.

Both trainers stop cleanly on ``KeyboardInterrupt``: the run keeps its ``last`` checkpoint of
the latest finished epoch, the sinks are flushed and closed, and the manifest says
``interrupted``. :func:`termination_as_interrupt` raises :class:`TrainingInterrupted` (a
``KeyboardInterrupt``) on SIGTERM and SIGINT so that a terminated run ends the same way and
can be resumed. Between :func:`epoch_end_begins` and :func:`epoch_end_done` (an epoch's
metrics are being recorded and its checkpoints written) the signal waits, so an epoch is
either wholly recorded or not at all. Outside the main thread (where Python cannot install
handlers) nothing changes.

Example:
    >>> with termination_as_interrupt():
    ...     pass  # train here
    >>> TrainingInterrupted(signal.SIGTERM).exit_code
    143
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class TrainingInterrupted(KeyboardInterrupt):
    """Training was asked to stop by a signal.

    Args:
        signum: The signal received.
    """

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(f"received {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by this signal: ``128 + signum``."""
        return 128 + int(self.signum)


class _EpochEnd:
    """Whether an epoch's end is being recorded, and a signal that arrived meanwhile."""

    recording = False
    pending: int | None = None


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    if _EpochEnd.recording:
        _EpochEnd.pending = signum
        return
    raise TrainingInterrupted(signum)


def epoch_end_begins() -> None:
    """An epoch's metrics and checkpoints are about to be written: hold signals."""
    _EpochEnd.recording = True


def epoch_end_done() -> None:
    """The epoch is wholly recorded (its resume checkpoint on disk): raise the signal that
    arrived meanwhile, if any.

    Raises:
        TrainingInterrupted: A termination signal arrived while the epoch was recorded.
    """
    _EpochEnd.recording = False
    signum, _EpochEnd.pending = _EpochEnd.pending, None
    if signum is not None:
        raise TrainingInterrupted(signum)


@contextlib.contextmanager
def termination_as_interrupt(
    signums: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT),
) -> Iterator[None]:
    """Within the block, each of ``signums`` raises :class:`TrainingInterrupted` (held while
    an epoch's end is recorded); the previous handlers come back afterwards.

    Args:
        signums: Signals to convert.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _EpochEnd.recording, _EpochEnd.pending = False, None
    previous = {signum: signal.signal(signum, _raise_interrupt) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _EpochEnd.recording, _EpochEnd.pending = False, None
