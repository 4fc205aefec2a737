"""How every benchmark section turns repeated trials into a figure, an interval and a verdict.

A figure is the median of repeated trials (for a ratio: of the paired trials' ratios, each
pair measured back to back), with the distribution-free confidence interval of the median
from order statistics: for ``n`` sorted values the interval ``[x_(k), x_(n+1-k)]`` holds the
population median with probability ``1 - 2 P(B <= k - 1)``, ``B ~ Binomial(n, 1/2)``, whatever
the distribution of the trials. The widest ``k`` whose coverage still reaches the level is
used. Six trials are the fewest that give a 95% interval (their minimum and maximum); twelve
are the fewest whose interval leaves out the two most extreme trials at each end.

A goal is met only when the whole interval clears it; it is missed when the whole interval
falls short; otherwise (the interval straddles the goal, or too few trials for the level) the
run cannot tell, and the goal counts as not met.

Example:
    >>> estimate = ratio_estimate([9.0, 9.2, 8.8, 9.1, 9.0, 8.9], [10.0] * 6)
    >>> round(estimate.median, 3), round(estimate.low, 2), round(estimate.high, 2)
    (0.9, 0.88, 0.92)
    >>> judge(estimate, Goal(0.85)).name, judge(estimate, Goal(0.90)).name
    ('MET', 'UNDECIDED')
"""

from __future__ import annotations

import enum
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: The confidence level of every interval the benchmark reports.
LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """The median of repeated trials and its confidence interval.

    Attributes:
        median: The median of the trials (of the paired ratios, for a ratio).
        low: Lower end of the interval.
        high: Upper end of the interval.
        trials: How many trials (pairs, for a ratio).
        confidence: The interval's coverage (at least :data:`LEVEL` given enough trials;
            less, honestly stated, with fewer).
        values: The trials themselves (the pairs' ratios, for a ratio), in the order taken.
    """

    median: float
    low: float
    high: float
    trials: int
    confidence: float
    values: tuple[float, ...] = ()

    def scaled(self, factor: float) -> Estimate:
        """The same estimate multiplied by ``factor > 0`` (e.g. a fraction as a percentage)."""
        if factor <= 0:
            raise ValueError(f"factor must be positive, got {factor}")
        return Estimate(
            self.median * factor, self.low * factor, self.high * factor, self.trials,
            self.confidence, tuple(v * factor for v in self.values),
        )  # fmt: skip

    @property
    def spread(self) -> float:
        """How far the interval reaches from the median (the larger side): the ``w`` of
        ``median ± w``."""
        return max(self.high - self.median, self.median - self.low)

    def describe(self) -> str:
        """``"0.931-1.004 ±0.045 (95%, 8 trials)"``."""
        return (
            f"{_number(self.low)}-{_number(self.high)} ±{_number(self.spread)} "
            f"({100 * self.confidence:.0f}%, {self.trials} trials)"
        )


def _number(value: float) -> str:
    return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"


def coverage(n: int, k: int) -> float:
    """Probability that ``[x_(k), x_(n+1-k)]`` of ``n`` independent trials holds the median.

    Example:
        >>> round(coverage(6, 1), 4), round(coverage(10, 2), 4)
        (0.9688, 0.9785)
    """
    if not 1 <= k <= (n + 1) // 2:
        raise ValueError(f"k must be in 1..{(n + 1) // 2} for {n} trials, got {k}")
    tail = sum(math.comb(n, i) for i in range(k)) / 2**n
    return 1.0 - 2.0 * tail


def median_estimate(values: Sequence[float], level: float = LEVEL) -> Estimate:
    """The median of ``values`` with its order-statistics interval at ``level``.

    With too few values for ``level`` the interval is their range, with its (lower)
    coverage in :attr:`Estimate.confidence`.

    Raises:
        ValueError: No values, or a value that is not finite.
    """
    taken = tuple(float(v) for v in values)
    ordered = sorted(taken)
    n = len(ordered)
    if n == 0:
        raise ValueError("no trials")
    if not all(math.isfinite(v) for v in ordered):
        raise ValueError(f"trials must be finite numbers, got {ordered}")
    k = 1
    while k + 1 <= (n + 1) // 2 and coverage(n, k + 1) >= level:
        k += 1
    confidence = coverage(n, k) if n > 1 else 0.0
    return Estimate(
        statistics.median(ordered), ordered[k - 1], ordered[n - k], n, confidence, taken
    )


def ratio_estimate(
    numerators: Sequence[float], denominators: Sequence[float], level: float = LEVEL
) -> Estimate:
    """The median of the paired ratios ``numerators[i] / denominators[i]`` with its interval.

    Pair the two sides of each trial (measured back to back), so that what changed between
    trials (the machine's load) cancels within each ratio.

    Raises:
        ValueError: The sequences differ in length, are empty, or a denominator is not
            positive.
    """
    if len(numerators) != len(denominators):
        raise ValueError(f"{len(numerators)} numerators but {len(denominators)} denominators")
    if any(d <= 0 for d in denominators):
        raise ValueError(f"denominators must be positive, got {list(denominators)}")
    return median_estimate([n / d for n, d in zip(numerators, denominators, strict=True)], level)


@dataclass(frozen=True)
class Goal:
    """A bound the figure must clear: ``>= bound`` (``at_least``) or ``< bound``.

    Attributes:
        bound: The bound.
        at_least: ``True`` for "at least ``bound``", ``False`` for "below ``bound``".
    """

    bound: float
    at_least: bool = True

    def __str__(self) -> str:
        """``">= 0.90"``, ``">= 5,000"``, ``"< 5"``."""
        bound = f"{self.bound:,.0f}" if float(self.bound).is_integer() else f"{self.bound:,.2f}"
        return f"{'>=' if self.at_least else '<'} {bound}"


class Verdict(enum.Enum):
    """What an interval says about a goal."""

    MET = "yes"  # the whole interval clears the goal
    MISSED = "NO"  # the whole interval falls short
    UNDECIDED = "unsure"  # it straddles the goal, or too few trials for the level

    @property
    def met(self) -> bool:
        """Whether the goal counts as met (only a clear pass does)."""
        return self is Verdict.MET


def judge(estimate: Estimate, goal: Goal, level: float = LEVEL) -> Verdict:
    """The verdict of ``estimate``'s interval on ``goal``.

    Example:
        >>> judge(Estimate(0.95, 0.92, 0.97, 8, 0.99), Goal(0.90)).name
        'MET'
        >>> judge(Estimate(0.85, 0.80, 0.88, 8, 0.99), Goal(0.90)).name
        'MISSED'
        >>> judge(Estimate(2.0, 1.0, 3.0, 8, 0.99), Goal(5.0, at_least=False)).name
        'MET'
    """
    if estimate.confidence < level:
        return Verdict.UNDECIDED
    if goal.at_least:
        if estimate.low >= goal.bound:
            return Verdict.MET
        return Verdict.MISSED if estimate.high < goal.bound else Verdict.UNDECIDED
    if estimate.high < goal.bound:
        return Verdict.MET
    return Verdict.MISSED if estimate.low >= goal.bound else Verdict.UNDECIDED
