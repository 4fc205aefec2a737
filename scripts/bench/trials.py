"""Timing the two sides of a comparison in pairs of trials, so that both meet the same machine.

On a shared machine a trial's time depends on what else runs, and that changes from second to
second. Two schedules pair the trials of two sides (after the same warm-up on each side; pair
``i`` is the ``i``-th trial of each side):

* :func:`run_together`: each pair's two trials run at the same time, each side in a process of
  its own, and the next pair starts when both are done. Whatever else the machine does in
  those seconds, both sides meet it. Used for the trainer comparisons, timed in CPU time.
* :func:`take_turns`: one trial at a time, in the order A B, B A, A B, ... (a trend in the load
  falls on both sides alike). Used where a trial needs the whole machine (generation on every
  core) or where the sides share this process.

A side is a call in this process (:class:`InProcess`) or a program in a fresh process of its
own (:class:`OwnProcess`: same interpreter, same thread settings, nothing left over from the
other side) that calls :meth:`Turns.tick` at the start and at the end of every trial, e.g. as a
trainer's ``echo``, which it calls at the end of each epoch. Between its trials a side waits,
untimed.

Each trial is a :class:`Sample`: wall time and the process's CPU time (all its threads, user
and system, and its child processes that ended within the trial). CPU time is what the trial
cost the machine: other processes' load barely moves it, while it stretches wall time (on this
2-core machine at a load average of 7, by 2-5x, and unevenly). It leaves out time spent
blocked, e.g. in ``fsync``.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol

#: How long a side may take to start, or to finish one trial, before the benchmark gives up.
TURN_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class Sample:
    """Seconds of one trial (or a clock reading: seconds since an arbitrary origin).

    Attributes:
        wall: Wall time.
        cpu: CPU time of the process (all its threads, user and system) and of its child
            processes that ended within the trial (e.g. a pool's workers).
    """

    wall: float
    cpu: float

    @classmethod
    def now(cls) -> Sample:
        """The clocks now."""
        times = os.times()
        children = times.children_user + times.children_system
        return cls(time.perf_counter(), time.process_time() + children)

    def since(self, start: Sample) -> Sample:
        """The trial from ``start`` to this reading."""
        return Sample(self.wall - start.wall, self.cpu - start.cpu)


def measure(fn: Callable[[], object]) -> Sample:
    """One call of ``fn``, timed."""
    start = Sample.now()
    fn()
    return Sample.now().since(start)


class Side(ABC):
    """One side of a comparison: started, asked for one trial at a time, stopped."""

    name: str

    def start(self) -> None:  # noqa: B027 - optional: launch without waiting
        """Begin starting (a process starts in the background)."""

    def ready(self) -> None:  # noqa: B027 - optional
        """Wait until the side can run its first trial."""

    def go(self) -> None:  # noqa: B027 - optional: a side in this process runs in result()
        """Start one trial without waiting for it (where the side runs elsewhere)."""

    @abstractmethod
    def result(self) -> Sample:
        """Finish the trial :meth:`go` started (or run it, in this process): its timing."""

    def turn(self) -> Sample:
        """Run one trial and return its timing."""
        self.go()
        return self.result()

    def stop(self, abort: bool = False) -> None:  # noqa: B027 - optional
        """Let the side finish and release what it holds (``abort``: at once, after a
        failure)."""


class InProcess(Side):
    """A call in this process; each trial is one call.

    Args:
        name: What the side is, for messages.
        fn: The trial.
    """

    def __init__(self, name: str, fn: Callable[[], object]):
        self.name = name
        self.fn = fn

    def result(self) -> Sample:
        return measure(self.fn)


class Ticker(Protocol):
    """What a program ticks at the start and at the end of every trial."""

    def tick(self, *_: object) -> None:
        """A trial ends (none at the first tick) and the next one starts."""


class Clock:
    """A :class:`Ticker` that keeps each trial's timing and waits for nobody (a program
    timed alone)."""

    def __init__(self) -> None:
        self.started: Sample | None = None
        self.samples: list[Sample] = []

    def tick(self, *_: object) -> None:
        now = Sample.now()
        if self.started is not None:
            self.samples.append(now.since(self.started))
        self.started = Sample.now()


class EnoughTrials(BaseException):
    """Raised by :meth:`Turns.tick` when the benchmark needs no more trials: the program
    ends there (a ``BaseException``, so that a trainer's error handling lets it through)."""


class Turns:
    """The program side of :class:`OwnProcess`: :meth:`tick` at the start and at the end of
    every trial.

    Args:
        conn: The pipe to the benchmark's process.
    """

    def __init__(self, conn: Connection):
        self.conn = conn
        self.started: Sample | None = None

    def tick(self, *_: object) -> None:
        """Report the trial that ends now (none at the first tick) and wait for the next
        turn; takes and ignores any arguments (it can be a trainer's ``echo``).

        Raises:
            EnoughTrials: The benchmark has all the trials it needs.
        """
        if self.started is None:
            self.conn.send(("ready", None))
        else:
            self.conn.send(("trial", Sample.now().since(self.started)))
        if self.conn.recv() == STOP:
            raise EnoughTrials
        self.started = Sample.now()


#: The benchmark's answer to a tick when it needs no more trials (else ``"go"``).
STOP = "stop"


def _program(conn: Connection, target: Callable[..., object], args: tuple[Any, ...]) -> None:
    try:
        target(Turns(conn), *args)
    except EnoughTrials:
        conn.send(("done", None))
    except BaseException:  # reported to the benchmark, which raises it there
        conn.send(("error", traceback.format_exc()))
    else:
        conn.send(("done", None))
    finally:
        conn.close()


class OwnProcess(Side):
    """A program in a fresh (spawned) process; each trial is the span between two of its
    :meth:`Turns.tick` calls.

    Args:
        name: What the side is, for messages.
        target: A module-level function called as ``target(turns, *args)`` (``turns`` a
            :class:`Ticker`); it ticks once before its first trial and once after each, and
            must run at least as many trials as it is given turns (the tick after the last
            one it is given raises :class:`EnoughTrials`, ending it there).
        args: Its other arguments (picklable).
    """

    def __init__(self, name: str, target: Callable[..., object], *args: Any):
        self.name = name
        self.target = target
        self.args = args
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        self._process = context.Process(
            target=_program, args=(theirs, self.target, self.args), name=f"bench: {self.name}"
        )
        self._process.start()
        theirs.close()
        self._conn = ours

    def _receive(self) -> tuple[str, Any]:
        assert self._conn is not None and self._process is not None
        if not self._conn.poll(TURN_TIMEOUT_S):
            raise RuntimeError(f"{self.name}: no answer within {TURN_TIMEOUT_S:.0f} s")
        try:
            kind, payload = self._conn.recv()
        except EOFError:
            self._process.join(10)
            raise RuntimeError(
                f"{self.name}: its process ended (exit code {self._process.exitcode})"
            ) from None
        if kind == "error":
            raise RuntimeError(f"{self.name} failed in its process:\n{payload}")
        return str(kind), payload

    def ready(self) -> None:
        if self._conn is None:
            self.start()
        kind, _ = self._receive()
        if kind != "ready":
            raise RuntimeError(f"{self.name}: expected its first tick, got {kind!r}")

    def go(self) -> None:
        assert self._conn is not None
        self._conn.send("go")

    def result(self) -> Sample:
        kind, sample = self._receive()
        if kind != "trial":
            raise RuntimeError(f"{self.name}: ran fewer trials than it was given turns")
        return sample

    def stop(self, abort: bool = False) -> None:
        """End the program at its next tick (or let it end, when it has no trials left)
        and reap its process; with ``abort``, end it now.

        Raises:
            RuntimeError: The program failed.
        """
        if self._conn is None or self._process is None:
            return
        try:
            if not abort:
                with contextlib.suppress(OSError):  # it may have ended already
                    self._conn.send(STOP)
                if self._receive()[0] != "done":
                    raise RuntimeError(f"{self.name}: ran a trial after it was stopped")
            if not abort:
                self._process.join(60)
        finally:
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(30)
            self._conn.close()
            self._conn = None


@dataclass(frozen=True)
class Paired:
    """The trials of two sides, taken in turns; ``first[i]`` and ``second[i]`` form pair
    ``i``."""

    first: list[Sample]
    second: list[Sample]


def _start(sides: tuple[Side, Side]) -> None:
    for side in sides:
        side.start()  # processes start side by side
    for side in sides:
        side.ready()


def _stop(sides: tuple[Side, Side], abort: bool = False) -> None:
    errors = []
    for side in sides:
        try:
            side.stop(abort)
        except RuntimeError as error:
            errors.append(error)
    if errors:
        raise errors[0]


def run_together(
    first: Side,
    second: Side,
    pairs: int,
    warmup: int = 1,
    *,
    enough: Callable[[Paired], bool] | None = None,
    max_pairs: int | None = None,
) -> Paired:
    """``warmup`` untimed trials, then ``pairs`` timed ones, each pair's two trials at the
    same time (a side in this process runs while the other's process runs); both sides are
    started together and stopped at the end.

    Args:
        first: One side.
        second: The other side.
        pairs: Timed pairs (at least).
        warmup: Untimed trials before them.
        enough: Asked after each pair from the ``pairs``-th on: whether the pairs so far
            suffice (e.g. their interval is narrow enough); more pairs are taken until it
            says so, up to ``max_pairs``. ``None``: exactly ``pairs``.
        max_pairs: The most pairs taken when ``enough`` keeps saying no (each side must be
            able to run ``warmup + max_pairs`` trials).

    Raises:
        RuntimeError: A side failed, ended early or stopped answering.
        ValueError: ``max_pairs`` is below ``pairs``.
    """
    _check(pairs, warmup)
    if max_pairs is not None and max_pairs < pairs:
        raise ValueError(f"max_pairs ({max_pairs}) is below pairs ({pairs})")
    limit = pairs if enough is None or max_pairs is None else max_pairs
    sides = (first, second)
    here_first = sorted((0, 1), key=lambda i: not isinstance(sides[i], InProcess))
    samples: dict[int, list[Sample]] = {0: [], 1: []}
    try:
        _start(sides)
        for trial in itertools.count():
            taken = trial - warmup
            if taken >= limit or (
                taken >= pairs and (enough is None or enough(Paired(samples[0], samples[1])))
            ):
                break
            for side in sides:
                side.go()
            got = {i: sides[i].result() for i in here_first}
            if trial >= warmup:
                for i in (0, 1):
                    samples[i].append(got[i])
    except BaseException:
        with contextlib.suppress(RuntimeError, OSError):
            _stop(sides, abort=True)
        raise
    _stop(sides)
    return Paired(samples[0], samples[1])


def take_turns(first: Side, second: Side, pairs: int, warmup: int = 1) -> Paired:
    """``warmup`` untimed trials of each side, then ``pairs`` pairs in the order
    A B, B A, A B, ...; both sides are started together and stopped at the end.

    Raises:
        RuntimeError: A side failed, ended early or stopped answering.
    """
    _check(pairs, warmup)
    sides = (first, second)
    samples: dict[int, list[Sample]] = {0: [], 1: []}
    try:
        _start(sides)
        for _ in range(warmup):
            for side in sides:
                side.turn()
        for pair in range(pairs):
            for index in (0, 1) if pair % 2 == 0 else (1, 0):
                samples[index].append(sides[index].turn())
    except BaseException:
        with contextlib.suppress(RuntimeError, OSError):
            _stop(sides, abort=True)
        raise
    _stop(sides)
    return Paired(samples[0], samples[1])


def _check(pairs: int, warmup: int) -> None:
    if pairs < 1 or warmup < 0:
        raise ValueError(f"need pairs >= 1 and warmup >= 0, got {pairs} and {warmup}")
