"""The interval and verdict every benchmark ratio goes through (``scripts/bench/stats.py``),
on synthetic trials: what a 95% interval of the median is, and when a goal counts as met."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from scripts.bench import stats
from scripts.bench.common import BenchmarkRow, TrainingSettings, estimate_row, paired_ratio
from scripts.bench.stats import (
    Estimate,
    Goal,
    Verdict,
    coverage,
    judge,
    median_estimate,
    ratio_estimate,
)
from scripts.bench.trials import Paired, Sample
from scripts.benchmark import format_table

GOAL = Goal(0.90)


def test_the_module_examples_hold() -> None:
    failed, tried = doctest.testmod(stats)
    assert tried > 0 and failed == 0


def test_coverage_is_the_binomial_probability_of_straddling_the_median() -> None:
    # [min, max] of n trials misses the median only when all fall on one side: 2 / 2**n.
    assert coverage(6, 1) == pytest.approx(1 - 2 / 64)
    assert coverage(10, 2) == pytest.approx(1 - 2 * (1 + 10) / 1024)
    with pytest.raises(ValueError):
        coverage(6, 4)


@pytest.mark.parametrize(
    "n, k",
    [(6, 1), (8, 1), (10, 2), (16, 4), (30, 10)],
)
def test_the_interval_is_the_widest_symmetric_pair_of_order_statistics_at_95(
    n: int, k: int
) -> None:
    values = list(range(n, 0, -1))  # unsorted on purpose: n, n-1, ..., 1
    estimate = median_estimate(values)
    assert (estimate.low, estimate.high) == (k, n + 1 - k)
    assert estimate.confidence >= 0.95 and estimate.trials == n
    assert estimate.median == pytest.approx((n + 1) / 2)
    # one step narrower would fall short of 95%
    assert coverage(n, k + 1) < 0.95


def test_too_few_trials_give_their_range_with_its_lower_confidence() -> None:
    estimate = median_estimate([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (estimate.low, estimate.high) == (1.0, 5.0)
    assert estimate.confidence == pytest.approx(1 - 2 / 32)  # 93.75%, below the level
    assert median_estimate([2.0]).confidence == 0.0


def test_the_interval_holds_the_true_median_about_95_percent_of_the_time() -> None:
    # Skewed trials (lognormal): the order-statistics interval needs no normality.
    rng = np.random.default_rng(0)
    true_median = math.exp(0.0)
    for n in (6, 10, 16):
        hits = 0
        runs = 4000
        for _ in range(runs):
            estimate = median_estimate(rng.lognormal(0.0, 0.5, n).tolist())
            hits += estimate.low <= true_median <= estimate.high
        expected = median_estimate(list(range(n))).confidence
        assert hits / runs == pytest.approx(expected, abs=0.015)
        assert hits / runs > 0.95


def test_ratios_are_taken_pair_by_pair() -> None:
    # The load doubles both sides of pair 2: paired ratios ignore it, pooled medians would not.
    trainer = [10.0, 20.0, 10.0, 10.0, 10.0, 10.0]
    plain = [9.5, 19.0, 9.5, 9.5, 9.5, 9.5]
    estimate = ratio_estimate(plain, trainer)
    assert (estimate.low, estimate.median, estimate.high) == pytest.approx((0.95, 0.95, 0.95))


def test_twelve_pairs_leave_out_two_disturbed_pairs_at_each_end() -> None:
    ratios = [0.97, 0.60, 0.98, 0.96, 0.99, 0.97, 0.70, 0.98, 1.30, 0.96, 0.97, 1.25]
    estimate = _pairs(ratios)
    assert (estimate.low, estimate.high) == (0.96, 0.99)
    assert judge(estimate, GOAL) is Verdict.MET
    assert estimate.values == pytest.approx(tuple(ratios))  # kept in the order taken


def test_bad_trials_are_refused() -> None:
    with pytest.raises(ValueError, match="no trials"):
        median_estimate([])
    with pytest.raises(ValueError, match="finite"):
        median_estimate([1.0, math.nan])
    with pytest.raises(ValueError, match="denominators"):
        ratio_estimate([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="positive"):
        ratio_estimate([1.0], [0.0])


def _pairs(ratios: list[float]) -> Estimate:
    return ratio_estimate(ratios, [1.0] * len(ratios))


def test_a_clear_pass_is_met() -> None:
    estimate = _pairs([0.93, 0.95, 0.96, 0.94, 0.97, 0.95, 0.92, 0.96])
    assert judge(estimate, GOAL) is Verdict.MET and judge(estimate, GOAL).met


def test_a_clear_failure_is_missed() -> None:
    estimate = _pairs([0.80, 0.84, 0.82, 0.86, 0.81, 0.83, 0.85, 0.80])
    assert judge(estimate, GOAL) is Verdict.MISSED and not judge(estimate, GOAL).met


def test_an_interval_straddling_the_goal_is_not_met() -> None:
    # The median clears the goal, but the interval's lower end does not: the run cannot tell.
    estimate = _pairs([0.88, 0.93, 0.95, 0.94, 0.96, 0.92, 0.97, 0.95])
    assert estimate.median > GOAL.bound > estimate.low
    assert judge(estimate, GOAL) is Verdict.UNDECIDED and not judge(estimate, GOAL).met


def test_too_few_trials_decide_nothing() -> None:
    estimate = _pairs([0.99, 0.98, 0.99])  # all well above, but only 75% confidence
    assert judge(estimate, GOAL) is Verdict.UNDECIDED


@pytest.mark.parametrize(
    "values, verdict",
    [
        ([1.0, 1.2, 1.1, 0.9, 1.3, 1.0], Verdict.MET),
        ([5.2, 6.0, 5.5, 5.1, 7.0, 5.3], Verdict.MISSED),
        ([4.0, 5.5, 4.5, 4.8, 4.2, 4.9], Verdict.UNDECIDED),
    ],
)
def test_an_upper_goal_is_met_when_the_whole_interval_is_below(
    values: list[float], verdict: Verdict
) -> None:
    assert judge(median_estimate(values), Goal(5.0, at_least=False)) is verdict


def test_goals_read_as_the_table_shows_them() -> None:
    assert [str(Goal(0.9)), str(Goal(5_000)), str(Goal(5, at_least=False))] == [
        ">= 0.90",
        ">= 5,000",
        "< 5",
    ]


def test_a_row_carries_its_interval_and_verdict_to_the_table_and_the_json() -> None:
    straddling = _pairs([0.88, 0.93, 0.95, 0.94, 0.96, 0.92])
    row = estimate_row("keras", "throughput ratio", straddling, "x", goal=GOAL)
    assert (row.value, row.goal, row.met, row.verdict) == (straddling.median, ">= 0.90", False,
                                                            "unsure")  # fmt: skip
    saved = row.as_dict()
    assert saved["interval"]["low"] == pytest.approx(0.88)
    assert saved["interval"]["trials"] == 6 and saved["interval"]["confidence"] > 0.95
    assert saved["interval"]["values"] == pytest.approx([0.88, 0.93, 0.95, 0.94, 0.96, 0.92])
    shown = estimate_row("data", "scaling", straddling, "x", goal="near 1")
    assert (shown.goal, shown.met, shown.verdict) == ("near 1", None, "")

    table = format_table([row, BenchmarkRow("metrics", "plain", 1.0, "s", "< 2", True)])
    header, _, first, second = table.splitlines()
    assert "95% interval" in header
    assert "0.880-0.960 ±0.055 (97%, 6 trials)" in first  # the median 0.935 is 0.055 off 0.88
    assert " unsure " in first and " yes " in second


def test_scaling_keeps_the_interval_in_order() -> None:
    estimate = _pairs([0.01, 0.02, 0.03, 0.02, 0.02, 0.01]).scaled(100)
    assert estimate.low <= estimate.median <= estimate.high
    assert estimate.high == pytest.approx(3.0) and estimate.values[0] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        estimate.scaled(-1)


def test_trainer_pairs_are_enough_once_the_ratios_interval_is_within_the_spread() -> None:
    settings = TrainingSettings("tiny", 10, 10, pairs=6, spread=0.04, max_pairs=20)
    trainer = [Sample(1.0, 1.0)] * 6

    def plain(*ratios: float) -> list[Sample]:
        return [Sample(r, r) for r in ratios]

    tight = Paired(trainer, plain(0.97, 0.98, 0.99, 1.0, 1.01, 1.02))
    loose = Paired(trainer, plain(0.8, 0.98, 0.99, 1.0, 1.01, 1.2))
    assert settings.enough(tight) and not settings.enough(loose)
    ratio = paired_ratio(loose.second, loose.first)
    assert "still wider than ±0.04 at the limit" in settings.pairs_note(20, ratio)
    assert settings.epochs == 1 + 20  # a side can run every pair it may be asked for
    fixed = TrainingSettings("tiny", 10, 10, pairs=6)
    assert fixed.enough(loose) and fixed.epochs == 7
