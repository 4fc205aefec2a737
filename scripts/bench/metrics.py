"""Metrics benchmark: ``MetricsProcessor.evaluate`` vs the naive way, in the same run.

Data: 1,000,000 predictions (100,000 with ``quick``) over 5 categories x 29 noun counts
(2..30), about 85% accurate. The naive way computes the same numbers with one scikit-learn
call per overall metric and one boolean mask per group; the vectorised way is the full
:class:`~metrics.EvaluationResult` (no plots). The two take turns (:func:`take_turns`: one
warm-up each, then pairs in the order A B, B A, ...); the figures are medians with 95%
intervals, in CPU time (both run single-threaded in this process). Goals: evaluate in under
1 s, at least 10x faster than naive, each met when the whole interval clears it.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pandas as pd

from metrics import MetricsProcessor, namespaces
from scripts.bench.common import BenchmarkRow, estimate_row, paired_ratio, seconds_estimate
from scripts.bench.stats import Goal
from scripts.bench.trials import InProcess, take_turns

SECTION = "metrics"
CATEGORIES = ("simple", "deeper", "less_dense", "dense", "superdense")
NOUN_COUNTS = range(2, 31)
FULL_SIZE = 1_000_000
QUICK_SIZE = 100_000
EVALUATE_GOAL_S = Goal(1.0, at_least=False)
SPEEDUP_GOAL = Goal(10.0)
PAIRS = 6


def make_predictions(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Synthetic labels, probabilities and metadata (pandas ``str`` categories, int counts)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    probabilities = np.clip(rng.normal(0.25 + 0.5 * labels, 0.25), 0.0, 1.0)
    metadata = pd.DataFrame(
        {
            "category": pd.Series(np.array(CATEGORIES)[rng.integers(0, len(CATEGORIES), n)]),
            "noun_count": rng.integers(NOUN_COUNTS.start, NOUN_COUNTS.stop, n),
        }
    )
    return labels, probabilities, metadata


def naive_evaluate(
    labels: np.ndarray, probabilities: np.ndarray, metadata: pd.DataFrame
) -> dict[str, Any]:
    """The same numbers the straightforward way: sklearn per metric, a mask per group."""
    from sklearn import metrics as sk

    predictions = (probabilities > 0.5).astype(int)
    result: dict[str, Any] = {
        "loss": sk.log_loss(labels, probabilities, labels=[0, 1]),
        "accuracy": sk.accuracy_score(labels, predictions),
        "precision": sk.precision_score(labels, predictions, zero_division=0),
        "recall": sk.recall_score(labels, predictions, zero_division=0),
        "f1": sk.f1_score(labels, predictions, zero_division=0),
        "roc_auc": sk.roc_auc_score(labels, probabilities),
        "confusion": sk.confusion_matrix(labels, predictions, labels=[0, 1]),
    }
    correct = predictions == labels
    for keys in namespaces.DEFAULT_BREAKDOWNS:
        groups = metadata[list(keys)].drop_duplicates().sort_values(list(keys))
        table = {}
        for values in groups.itertuples(index=False):
            mask = np.ones(len(metadata), dtype=bool)
            for key, value in zip(keys, values, strict=True):
                mask &= (metadata[key] == value).to_numpy()
            table[tuple(values)] = (correct[mask].mean(), int(mask.sum()))
        result[namespaces.breakdown_name(keys)] = table
    wrong = np.flatnonzero(~correct)
    order = np.argsort(-np.abs(probabilities[wrong] - 0.5), kind="stable")
    result["misclassified"] = metadata.iloc[wrong[order]]
    return result


def run(quick: bool = False) -> list[BenchmarkRow]:
    """Time the vectorised and the naive evaluation on the same data."""
    n = QUICK_SIZE if quick else FULL_SIZE
    labels, probabilities, metadata = make_predictions(n)
    processor = MetricsProcessor()
    processor.evaluate(labels, probabilities, metadata)  # warm-up: lazy imports
    naive = naive_evaluate(labels, probabilities, metadata)
    result = processor.evaluate(labels, probabilities, metadata)
    if not np.isclose(naive["accuracy"], result.accuracy) or not np.isclose(
        naive["roc_auc"], result.roc_auc or np.nan
    ):
        raise RuntimeError("naive and vectorised evaluation disagree")

    paired = take_turns(
        InProcess("evaluate", lambda: processor.evaluate(labels, probabilities, metadata)),
        InProcess("naive", lambda: naive_evaluate(labels, probabilities, metadata)),
        pairs=PAIRS,
    )
    vectorised_s = seconds_estimate(paired.first)
    naive_s = seconds_estimate(paired.second)
    ratio = paired_ratio(paired.second, paired.first)
    size = f"{n:,} predictions, {len(CATEGORIES)} categories x {len(NOUN_COUNTS)} noun counts"
    print(
        f"metrics: evaluate {vectorised_s.median:.3f} s, naive {naive_s.median:.3f} s, "
        f"ratio {ratio.median:.1f}x",
        file=sys.stderr,
    )
    how = f"{size}; CPU time, {PAIRS} trials each in turns"
    return [
        estimate_row(
            SECTION,
            "MetricsProcessor.evaluate (full result, no plots)",
            vectorised_s,
            "s",
            goal=EVALUATE_GOAL_S if not quick else None,
            note=how,
        ),
        estimate_row(SECTION, "naive (sklearn per metric, mask per group)", naive_s, "s", note=how),
        estimate_row(
            SECTION,
            "speed-up evaluate vs naive",
            ratio,
            "x",
            goal=SPEEDUP_GOAL,
            note="median of the pairs' naive / evaluate",
        ),
    ]
