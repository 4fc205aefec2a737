"""Shared types and helpers for the benchmark sections."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class BenchmarkRow:
    """One measured figure.

    Attributes:
        section: Benchmark section (``data``, ``metrics``, ...).
        name: What was measured, e.g. ``"generation, 1 process"``.
        value: The measured number.
        unit: Unit of ``value`` (``"examples/s"``, ``"s"``, ``"x"`` for ratios, ...).
        goal: Human-readable goal, e.g. ``">= 5000"``; empty when there is none.
        met: Whether the goal is met; ``None`` when there is no goal.
        note: Free text (sizes, settings).
    """

    section: str
    name: str
    value: float
    unit: str
    goal: str = ""
    met: bool | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def best_time(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls of ``fn``, in seconds (best-of reduces noise)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
