"""Bad input raises ValueError naming the problem."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metrics import MetricsProcessor

META = pd.DataFrame({"category": ["a", "b", "c"], "noun_count": [2, 3, 4]})
Y_TRUE = [1, 0, 1]
Y_PROB = [0.9, 0.2, 0.6]


@pytest.mark.parametrize(
    ("y_true", "y_prob", "metadata", "message"),
    [
        ([1, 0], Y_PROB, META, r"length mismatch: y_prob has 3 rows but there are 2 predictions"),
        (Y_TRUE, [0.1, 0.2], META, r"length mismatch: y_prob has 2 rows"),
        (Y_TRUE, Y_PROB, META.iloc[:2], r"length mismatch: metadata has 2 rows .* 3 predictions"),
        (Y_TRUE, [0.9, 1.2, 0.1], META, r"y_prob must lie in \[0, 1\].*e\.g\. 1\.2"),
        (Y_TRUE, [0.9, -0.1, 0.1], META, r"y_prob must lie in \[0, 1\].*e\.g\. -0\.1"),
        (Y_TRUE, [0.9, np.nan, 0.1], META, r"y_prob contains 1 NaN value"),
        (Y_TRUE, ["a", "b", "c"], META, r"y_prob must be numeric"),
        ([1, 2, 0], Y_PROB, META, r"y_true must contain only 0/1 labels.*e\.g\. 2"),
        ([1, 0.5, 0], Y_PROB, META, r"y_true must contain only 0/1 labels.*e\.g\. 0\.5"),
        ([1, np.nan, 0], Y_PROB, META, r"y_true must contain only 0/1 labels.*e\.g\. nan"),
        (["yes", "no", "yes"], Y_PROB, META, r"y_true must contain only 0/1 labels, got dtype"),
        ([], [], META.iloc[:0], r"empty input: y_true has no elements"),
        ([[1, 0], [0, 1]], Y_PROB, META, r"y_true must be one-dimensional"),
        (Y_TRUE, Y_PROB, Y_PROB, r"metadata must be a pandas DataFrame, got list"),
    ],
)
def test_bad_predictions_raise(y_true, y_prob, metadata, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MetricsProcessor().evaluate(y_true, y_prob, metadata)


def test_empty_probabilities_raise() -> None:
    with pytest.raises(ValueError, match=r"empty input: y_prob has no elements"):
        MetricsProcessor().evaluate([1], [], META.iloc[:1])


def test_missing_breakdown_column_is_named() -> None:
    meta = META.drop(columns="noun_count")
    with pytest.raises(
        ValueError, match=r"lacks breakdown column\(s\) \['noun_count'\].*available"
    ):
        MetricsProcessor().evaluate(Y_TRUE, Y_PROB, meta)


def test_missing_values_in_a_breakdown_column_are_refused() -> None:
    meta = META.assign(category=["a", None, "c"])
    with pytest.raises(ValueError, match=r"breakdown column 'category' has 1 missing value"):
        MetricsProcessor().evaluate(Y_TRUE, Y_PROB, meta)


def test_bad_losses_and_examples_raise() -> None:
    with pytest.raises(ValueError, match=r"length mismatch: losses has 2 rows"):
        MetricsProcessor().evaluate(Y_TRUE, Y_PROB, META, losses=[0.1, 0.2])
    with pytest.raises(ValueError, match=r"losses contain NaN or infinite"):
        MetricsProcessor().evaluate(Y_TRUE, Y_PROB, META, losses=[0.1, np.inf, 0.2])
    examples = pd.DataFrame({"story": ["s"] * 4})
    with pytest.raises(ValueError, match=r"length mismatch: examples has 4 rows"):
        MetricsProcessor().evaluate(Y_TRUE, Y_PROB, META, examples=examples)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 1.5}, r"threshold must lie in \[0, 1\], got 1\.5"),
        ({"breakdowns": [()]}, r"a breakdown must be one or more column names"),
        ({"breakdowns": [("category", "category")]}, r"repeats a column"),
        ({"breakdowns": ["category", ("category",)]}, r"is given twice"),
        ({"max_misclassified": -1}, r"max_misclassified must be >= 0"),
    ],
)
def test_bad_processor_settings_raise(kwargs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MetricsProcessor(**kwargs)


def test_unknown_breakdown_lookup_lists_the_available_ones() -> None:
    result = MetricsProcessor().evaluate(Y_TRUE, Y_PROB, META)
    with pytest.raises(ValueError, match=r"no breakdown \('directions',\); available"):
        result.breakdown("directions")
