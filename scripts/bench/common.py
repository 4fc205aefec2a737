"""Shared types and helpers for the benchmark sections."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from scripts.bench.stats import Estimate, Goal, judge, median_estimate, ratio_estimate
from scripts.bench.trials import Paired, Sample


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
        interval: The median of repeated trials (``value``) with its 95% interval, when
            ``value`` comes from repeated trials (see :mod:`scripts.bench.stats`).
        verdict: ``yes``, ``NO`` or ``unsure`` (the interval straddles the goal) when the
            goal was judged on ``interval``; ``met`` is then true only for ``yes``.
    """

    section: str
    name: str
    value: float
    unit: str
    goal: str = ""
    met: bool | None = None
    note: str = ""
    interval: Estimate | None = None
    verdict: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate_row(
    section: str,
    name: str,
    estimate: Estimate,
    unit: str,
    goal: Goal | str | None = None,
    note: str = "",
) -> BenchmarkRow:
    """The row of a figure from repeated trials: its median, its interval and, with a
    :class:`~scripts.bench.stats.Goal`, the verdict of the interval (met only when the whole
    interval clears it); a goal given as text (``"near 1"``) is shown, not judged.

    Every section reports ratios (and other repeated figures) through this function, so
    they read the same way in the table and in ``benchmarks/results.json``.
    """
    if not isinstance(goal, Goal):
        return BenchmarkRow(
            section, name, estimate.median, unit, goal=goal or "", note=note, interval=estimate
        )
    verdict = judge(estimate, goal)
    return BenchmarkRow(
        section,
        name,
        estimate.median,
        unit,
        goal=str(goal),
        met=verdict.met,
        note=note,
        interval=estimate,
        verdict=verdict.value,
    )


#: Which clock of a :class:`~scripts.bench.trials.Sample` a figure reads.
Clock = Literal["cpu", "wall"]


def seconds(samples: Sequence[Sample], clock: Clock) -> list[float]:
    """Each trial's seconds on ``clock``."""
    return [getattr(s, clock) for s in samples]


def paired_ratio(
    numerators: Sequence[Sample], denominators: Sequence[Sample], clock: Clock = "cpu"
) -> Estimate:
    """Median and interval of the pairs' ``numerator / denominator`` seconds on ``clock``
    (e.g. the plain side's seconds over the trainer's: the trainer's throughput relative to
    the plain side's)."""
    return ratio_estimate(seconds(numerators, clock), seconds(denominators, clock))


def seconds_estimate(samples: Sequence[Sample], clock: Clock = "cpu") -> Estimate:
    """Median and interval of the trials' seconds on ``clock``."""
    return median_estimate(seconds(samples, clock))


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
        pairs: Timed epochs per side, taken in turns with the other side (pairs of epochs).
        warmup: Untimed first epochs per side (tracing, first allocations, the run's set-up).
        spread: The trainer/plain ratio's interval is wanted within ``median ± spread``:
            more pairs are taken until it is (``None``: exactly ``pairs``).
        max_pairs: The most pairs taken while the interval is wider than ``spread``.
    """

    size: str
    train_rows: int
    val_rows: int
    pairs: int
    warmup: int = 1
    spread: float | None = None
    max_pairs: int | None = None

    @property
    def epochs(self) -> int:
        """Epochs each side can train: the warm-up and the most timed ones (a side is
        stopped once the benchmark has its pairs)."""
        return self.warmup + max(self.pairs, self.max_pairs or 0)

    def enough(self, paired: Paired) -> bool:
        """Whether ``paired`` (trainer first, plain second) pins the ratio down to
        :attr:`spread`."""
        return self.spread is None or paired_ratio(paired.second, paired.first).spread <= (
            self.spread
        )

    def pairs_note(self, taken: int, ratio: Estimate) -> str:
        """How many pairs were taken, and why."""
        if self.spread is None:
            return f"{taken} epochs per side run in pairs after {self.warmup} warm-up"
        wanted = f"±{self.spread:g}"
        reached = (
            f"within {wanted}"
            if ratio.spread <= self.spread
            else f"still wider than {wanted} at the limit"
        )
        return (
            f"{taken} epochs per side run in pairs after {self.warmup} warm-up (at least "
            f"{self.pairs}, more until the ratio's interval is within {wanted}, at most "
            f"{self.max_pairs}: {reached})"
        )

    def note(self) -> str:
        return f"all_4dir-{self.size}: {self.train_rows:,} train, {self.val_rows:,} validation rows"


TRAINING_SETTINGS = {  # keyed by --quick
    # At least twelve pairs: the 95% interval is then [3rd, 10th] of the sorted pair ratios, so
    # one or two disturbed pairs at either end do not move it; more while it is wider than
    # ±0.04 (a 10% goal needs that much). Two warm-up epochs: a trainer saves an epoch's
    # checkpoints after reporting it, so its first saves fall in its second epoch.
    False: TrainingSettings("default", 4_000, 1_000, pairs=12, warmup=2, spread=0.04, max_pairs=40),
    True: TrainingSettings("tiny", 700, 140, pairs=6),
}


def head(data: Any, n: int) -> Any:
    """The first ``n`` rows of an encoded split (a frozen dataclass of row-aligned arrays)."""
    return dataclasses.replace(
        data, **{f.name: getattr(data, f.name)[:n] for f in dataclasses.fields(data)}
    )


def training_dataset(settings: TrainingSettings, path: str | None = None) -> Any:
    """The ``all_4dir`` dataset of ``settings.size`` (generated once, then cached under
    ``models_out/datasets``), or the one already built at ``path`` (a side's own process
    loads the version its benchmark built)."""
    from stories import build_dataset, load_dataset

    if path is not None:
        return load_dataset(path)
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
