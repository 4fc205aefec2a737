"""A deterministic clock for the time budget (``trainer.max_minutes``) in tests."""

from __future__ import annotations


class TickingClock:
    """Reads 0, 1, 2... seconds, one second more at each reading: a budget of ``n / 60``
    minutes started on it is spent at its ``n``-th check (the trainers check it once after
    every training step), with no sleeping and no dependence on the machine's speed."""

    def __init__(self) -> None:
        self.now = -1.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now
