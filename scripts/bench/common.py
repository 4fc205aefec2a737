"""Shared types and helpers for the benchmark sections."""

from __future__ import annotations

import dataclasses
import itertools
import statistics
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


# --- Trainer against plain loop: shared settings, data and epoch timing ------------------------


@dataclass(frozen=True)
class TrainingSettings:
    """Sizes of a trainer-against-plain-loop comparison.

    Attributes:
        size: ``all_4dir`` dataset size.
        train_rows: Rows of ``train`` used (the first ones).
        val_rows: Rows of ``valid_a`` used (the first ones), one validation pass per epoch.
        epochs: Epochs per run (the first is dropped as warm-up).
        repeats: Runs per side, alternating.
    """

    size: str
    train_rows: int
    val_rows: int
    epochs: int
    repeats: int

    def note(self) -> str:
        return f"all_4dir-{self.size}: {self.train_rows:,} train, {self.val_rows:,} validation rows"


TRAINING_SETTINGS = {  # keyed by --quick
    False: TrainingSettings("default", 4_000, 1_000, 4, 2),
    True: TrainingSettings("tiny", 700, 140, 3, 2),
}


def head(data: Any, n: int) -> Any:
    """The first ``n`` rows of an encoded split (a frozen dataclass of row-aligned arrays)."""
    return dataclasses.replace(
        data, **{f.name: getattr(data, f.name)[:n] for f in dataclasses.fields(data)}
    )


def training_dataset(settings: TrainingSettings) -> Any:
    """The ``all_4dir`` dataset of ``settings.size`` (generated once, then cached under
    ``models_out/datasets``)."""
    from stories import build_dataset

    return build_dataset("all_4dir", size=settings.size, seed=0, progress=False)


def training_splits(
    ds: Any, encoding: str, settings: TrainingSettings
) -> tuple[Any, Any, Any, Any]:
    """``(train, val, metadata_train, metadata_val)``: the head of ``train`` and ``valid_a``,
    encoded with ``ds.encode_<encoding>`` (``transformer`` or ``lstm``)."""
    encode = getattr(ds, f"encode_{encoding}")
    n_train, n_val = settings.train_rows, settings.val_rows
    return (
        head(encode("train"), n_train),
        head(encode("valid_a"), n_val),
        ds.metadata("train").iloc[:n_train],
        ds.metadata("valid_a").iloc[:n_val],
    )


class EpochClock:
    """Epoch boundaries: :meth:`tick` once before training and once at the end of every epoch
    (e.g. as a trainer's ``echo``, which prints each epoch's line)."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def tick(self, *_: object) -> None:
        self.stamps.append(time.perf_counter())

    def epochs(self) -> list[float]:
        """Seconds of each epoch, in order."""
        return [b - a for a, b in itertools.pairwise(self.stamps)]


def side_by_side(
    repeats: int, trainer: Callable[[], list[float]], plain: Callable[[], list[float]]
) -> tuple[float, float, int]:
    """Alternate ``trainer`` and ``plain`` runs (each returns its seconds per epoch) ``repeats``
    times; returns each side's median over its steady-state epochs (the first epoch of every
    run dropped) and how many epochs each median covers."""
    trainer_epochs: list[float] = []
    plain_epochs: list[float] = []
    for _ in range(repeats):
        trainer_epochs += trainer()[1:]
        plain_epochs += plain()[1:]
    return (
        statistics.median(trainer_epochs),
        statistics.median(plain_epochs),
        len(trainer_epochs),
    )
