"""Metrics benchmark: ``MetricsProcessor.evaluate`` vs the naive way, in the same run.

Data: 1,000,000 predictions (100,000 with ``quick``) over 5 categories x 29 noun counts
(2..30), about 85% accurate. The naive way computes the same numbers with one scikit-learn
call per overall metric and one boolean mask per group; the vectorised way is the full
:class:`~metrics.EvaluationResult` (no plots). Goals: evaluate in under 1 s, at least 10x
faster than naive.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pandas as pd

from metrics import MetricsProcessor, namespaces
from scripts.bench.common import BenchmarkRow, best_time

SECTION = "metrics"
CATEGORIES = ("simple", "deeper", "less_dense", "dense", "superdense")
NOUN_COUNTS = range(2, 31)
FULL_SIZE = 1_000_000
QUICK_SIZE = 100_000
EVALUATE_GOAL_S = 1.0
SPEEDUP_GOAL = 10.0


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

    vectorised_s = best_time(lambda: processor.evaluate(labels, probabilities, metadata))
    naive_s = best_time(lambda: naive_evaluate(labels, probabilities, metadata), repeat=2)
    ratio = naive_s / vectorised_s
    size = f"{n:,} predictions, {len(CATEGORIES)} categories x {len(NOUN_COUNTS)} noun counts"
    print(
        f"metrics: evaluate {vectorised_s:.3f} s, naive {naive_s:.3f} s, ratio {ratio:.1f}x",
        file=sys.stderr,
    )
    return [
        BenchmarkRow(
            SECTION,
            "MetricsProcessor.evaluate (full result, no plots)",
            vectorised_s,
            "s",
            goal=f"< {EVALUATE_GOAL_S:g} s" if not quick else "",
            met=vectorised_s < EVALUATE_GOAL_S if not quick else None,
            note=size,
        ),
        BenchmarkRow(
            SECTION,
            "naive (sklearn per metric, mask per group)",
            naive_s,
            "s",
            note=size,
        ),
        BenchmarkRow(
            SECTION,
            "speed-up evaluate vs naive",
            ratio,
            "x",
            goal=f">= {SPEEDUP_GOAL:g}x",
            met=ratio >= SPEEDUP_GOAL,
            note="best of 3 (evaluate) / best of 2 (naive)",
        ),
    ]
