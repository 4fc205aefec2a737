"""Small programs for :class:`scripts.bench.trials.OwnProcess` in the tests (a spawned process
imports them by name)."""

from __future__ import annotations

import time

from scripts.bench.trials import Ticker


def spin(seconds: float) -> None:
    """Keep a CPU busy for ``seconds`` of CPU time."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def busy(turns: Ticker, trials: int, seconds: float) -> None:
    """``trials`` trials of ``seconds`` CPU time each."""
    turns.tick()
    for _ in range(trials):
        spin(seconds)
        turns.tick()


def sleepy(turns: Ticker, trials: int, seconds: float) -> None:
    """``trials`` trials of ``seconds`` asleep (wall time, next to no CPU time)."""
    turns.tick()
    for _ in range(trials):
        time.sleep(seconds)
        turns.tick()


def failing(turns: Ticker, trials: int, seconds: float) -> None:
    """One trial, then a failure."""
    turns.tick()
    spin(seconds)
    turns.tick()
    raise ValueError("the program broke")
