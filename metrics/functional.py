"""Stateless metric functions on numpy arrays and pandas frames.

These are the building blocks of :class:`metrics.MetricsProcessor`, kept apart from the class
API (as ``torchmetrics.functional`` is): each takes arrays, returns numbers or frames, and
validates its input with a :class:`ValueError` that names the problem.

Conventions:
    * A probability strictly above ``threshold`` (default 0.5) is predicted positive
      (``yes``), so ``p == 0.5`` predicts ``no`` -- the same rule as Keras ``BinaryAccuracy``
      and ``torchmetrics``' binary metrics.
    * Precision, recall and F1 are 0.0 when their denominator is 0 (scikit-learn's
      ``zero_division=0``); ROC-AUC is ``None`` when only one class is present.
    * Arrays and frames are aligned by position; a frame's index is ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

#: A probability strictly above this is predicted positive.
DEFAULT_THRESHOLD = 0.5
#: Probabilities are clipped to ``[eps, 1 - eps]`` before the log in the cross-entropy
#: (Keras' ``backend.epsilon()``).
PROBABILITY_EPSILON = 1e-7

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
LabelArray = npt.NDArray[np.int8]


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of a binary confusion matrix (positive class = label 1).

    Example:
        >>> cm = ConfusionMatrix(tn=5, fp=1, fn=2, tp=4)
        >>> cm.as_lists()
        [[5, 1], [2, 4]]
        >>> round(cm.precision(), 4), round(cm.recall(), 4), round(cm.f1(), 4)
        (0.8, 0.6667, 0.7273)
    """

    tn: int
    fp: int
    fn: int
    tp: int

    @property
    def total(self) -> int:
        """Number of examples counted."""
        return self.tn + self.fp + self.fn + self.tp

    def as_lists(self) -> list[list[int]]:
        """``[[tn, fp], [fn, tp]]``: rows are true labels, columns predictions (sklearn's
        layout)."""
        return [[self.tn, self.fp], [self.fn, self.tp]]

    def accuracy(self) -> float:
        """Fraction of correct predictions (0.0 for an empty matrix)."""
        return _ratio(self.tn + self.tp, self.total)

    def precision(self) -> float:
        """``tp / (tp + fp)``, 0.0 when nothing is predicted positive."""
        return _ratio(self.tp, self.tp + self.fp)

    def recall(self) -> float:
        """``tp / (tp + fn)``, 0.0 when there are no positive labels."""
        return _ratio(self.tp, self.tp + self.fn)

    def f1(self) -> float:
        """``2 tp / (2 tp + fp + fn)``, 0.0 when that denominator is 0."""
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


# --- validation ---------------------------------------------------------------------------


def _as_vector(values: object, name: str) -> npt.NDArray[np.generic]:
    """A 1-D array from a list/array/Series; shape ``(n, 1)`` (Keras ``predict``) is flattened."""
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (or shape (n, 1)), got {array.shape}")
    if array.size == 0:
        raise ValueError(f"empty input: {name} has no elements")
    return array


def as_labels(y_true: object) -> LabelArray:
    """Validate binary labels and return them as an ``int8`` array.

    Accepts bools, integers or floats whose values are all exactly 0 or 1.

    Example:
        >>> as_labels([0, 1, True]).tolist()
        [0, 1, 1]
        >>> as_labels([0, 2])
        Traceback (most recent call last):
        ...
        ValueError: y_true must contain only 0/1 labels; found 1 other value(s), e.g. 2
    """
    array = _as_vector(y_true, "y_true")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise ValueError(f"y_true must contain only 0/1 labels, got dtype {array.dtype}")
    valid = (array == 0) | (array == 1)
    if not valid.all():
        bad = array[~valid]
        raise ValueError(
            f"y_true must contain only 0/1 labels; found {bad.size} other value(s), e.g. {bad[0]}"
        )
    return array.astype(np.int8)


def as_probabilities(y_prob: object) -> FloatArray:
    """Validate probabilities (finite, within [0, 1]) and return them as ``float64``.

    Example:
        >>> as_probabilities([0.0, 0.25, 1.0]).tolist()
        [0.0, 0.25, 1.0]
        >>> as_probabilities([0.5, 1.5])
        Traceback (most recent call last):
        ...
        ValueError: y_prob must lie in [0, 1]; found 1 value(s) outside, e.g. 1.5
    """
    array = _as_vector(y_prob, "y_prob")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise ValueError(f"y_prob must be numeric probabilities, got dtype {array.dtype}")
    probabilities = array.astype(np.float64)
    missing = np.isnan(probabilities)
    if missing.any():
        raise ValueError(f"y_prob contains {int(missing.sum())} NaN value(s)")
    outside = (probabilities < 0.0) | (probabilities > 1.0)
    if outside.any():
        bad = probabilities[outside]
        raise ValueError(
            f"y_prob must lie in [0, 1]; found {bad.size} value(s) outside, e.g. {bad[0]}"
        )
    return probabilities


def as_losses(losses: object, n_samples: int) -> FloatArray:
    """Validate per-example losses: ``n_samples`` finite numbers."""
    array = _as_vector(losses, "losses")
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"losses must be numeric, got dtype {array.dtype}")
    check_length("losses", array.size, n_samples)
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError("losses contain NaN or infinite values")
    return values


def check_length(name: str, length: int, n_samples: int) -> None:
    """Raise if ``length`` differs from the number of predictions."""
    if length != n_samples:
        raise ValueError(
            f"length mismatch: {name} has {length} rows but there are {n_samples} predictions"
        )


def check_threshold(threshold: float) -> float:
    """Raise unless ``0 <= threshold <= 1``."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    return float(threshold)


# --- overall metrics ----------------------------------------------------------------------


def predict(y_prob: FloatArray, threshold: float = DEFAULT_THRESHOLD) -> BoolArray:
    """Predicted labels: ``y_prob > threshold``.

    Example:
        >>> predict(np.array([0.2, 0.5, 0.51])).tolist()
        [False, False, True]
    """
    return np.asarray(y_prob > threshold, dtype=np.bool_)


def binary_cross_entropy(
    y_true: LabelArray, y_prob: FloatArray, epsilon: float = PROBABILITY_EPSILON
) -> float:
    """Mean binary cross-entropy with probabilities clipped to ``[epsilon, 1 - epsilon]``.

    Example:
        >>> round(binary_cross_entropy(np.array([1, 0]), np.array([0.8, 0.4])), 4)
        0.367
    """
    clipped = np.clip(y_prob, epsilon, 1.0 - epsilon)
    log_likelihood = np.where(y_true == 1, np.log(clipped), np.log1p(-clipped))
    return float(-log_likelihood.mean())


def confusion_matrix(y_true: LabelArray, y_pred: BoolArray) -> ConfusionMatrix:
    """Binary confusion matrix by one ``bincount`` over ``2 * label + prediction``.

    Example:
        >>> confusion_matrix(np.array([0, 0, 1, 1]), np.array([False, True, True, True]))
        ConfusionMatrix(tn=1, fp=1, fn=0, tp=2)
    """
    cells = np.bincount(2 * y_true.astype(np.intp) + y_pred, minlength=4)
    tn, fp, fn, tp = (int(count) for count in cells)
    return ConfusionMatrix(tn=tn, fp=fp, fn=fn, tp=tp)


def roc_auc(y_true: LabelArray, y_prob: FloatArray) -> float | None:
    """Area under the ROC curve, ``None`` when undefined (only one class present).

    Computed as the Mann-Whitney statistic: the share of (positive, negative) pairs where the
    positive scores higher, ties counting one half. This equals scikit-learn's
    ``roc_auc_score`` but needs two sorts and two binary searches instead of the curve.

    Example:
        >>> roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
        0.75
        >>> roc_auc(np.array([1, 1]), np.array([0.2, 0.9])) is None
        True
    """
    is_positive = y_true == 1
    positive_scores = np.sort(y_prob[is_positive])
    negative_scores = np.sort(y_prob[~is_positive])
    if positive_scores.size == 0 or negative_scores.size == 0:
        return None
    below = np.searchsorted(negative_scores, positive_scores, side="left")
    below_or_tied = np.searchsorted(negative_scores, positive_scores, side="right")
    wins = float(below.sum()) + 0.5 * float((below_or_tied - below).sum())
    return wins / (positive_scores.size * negative_scores.size)


# --- breakdowns ---------------------------------------------------------------------------


def check_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise if any of ``columns`` is missing from ``frame`` or has missing values."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} lacks breakdown column(s) {missing}; available: {list(frame.columns)}"
        )
    for column in columns:
        n_missing = int(frame[column].isna().sum())
        if n_missing:
            raise ValueError(f"breakdown column {column!r} has {n_missing} missing value(s)")


def breakdown_tables(
    correct: BoolArray,
    metadata: pd.DataFrame,
    breakdowns: Sequence[Sequence[str]],
    unknown: Mapping[str, object] | None = None,
) -> dict[tuple[str, ...], pd.DataFrame]:
    """Accuracy and sample count per group, for each breakdown.

    Each key column is factorised once (sorted); a breakdown's groups are the distinct
    combinations of the codes, counted with ``np.bincount``. Only groups with samples appear
    (unused categorical levels give no row). Rows are sorted by the keys, in order, each in
    its column's natural order (numbers numerically). Rows whose value of a key column is that
    column's ``unknown`` value are left out of the breakdowns over that column.

    Returns:
        ``{keys: frame}`` where each frame has columns ``*keys, "accuracy", "count"``.

    Example:
        >>> meta = pd.DataFrame({"category": ["b", "a", "b"], "noun_count": [10, 9, 9]})
        >>> tables = breakdown_tables(np.array([True, False, True]), meta, [("category",)])
        >>> tables[("category",)].to_dict(orient="list")
        {'category': ['a', 'b'], 'accuracy': [0.0, 1.0], 'count': [1, 2]}
        >>> unknown = breakdown_tables(
        ...     np.array([True, False, True]), meta, [("noun_count",)], {"noun_count": 10}
        ... )
        >>> unknown[("noun_count",)].to_dict(orient="list")
        {'noun_count': [9], 'accuracy': [0.5], 'count': [2]}
    """
    check_length("metadata", len(metadata), correct.size)
    columns = list(dict.fromkeys(column for keys in breakdowns for column in keys))
    check_columns(metadata, columns, "metadata")
    factorised = {column: pd.factorize(metadata[column], sort=True) for column in columns}
    known = {
        column: (metadata[column] != value).to_numpy()
        for column, value in (unknown or {}).items()
        if column in factorised and bool((metadata[column] == value).any())
    }
    tables = {}
    for keys in breakdowns:
        keep = np.ones(correct.size, dtype=bool)
        for column in keys:
            if column in known:
                keep &= known[column]
        codes = [(factorised[column][0][keep], factorised[column][1]) for column in keys]
        tables[tuple(keys)] = _breakdown_table(correct[keep], codes, keys)
    return tables


def _breakdown_table(
    correct: BoolArray,
    factorised: Sequence[tuple[npt.NDArray[np.intp], pd.Index]],
    keys: Sequence[str],
) -> pd.DataFrame:
    """Count one breakdown: its key codes are combined into one mixed-radix group code."""
    sizes = [len(uniques) for _, uniques in factorised]
    n_combinations = float(np.prod(sizes, dtype=np.float64))
    if n_combinations >= 2.0**62:
        raise ValueError(f"breakdown {tuple(keys)} has too many key combinations to count")
    combined = np.zeros(correct.size, dtype=np.int64)
    for (codes, _), size in zip(factorised, sizes, strict=True):
        combined = combined * size + codes
    if n_combinations <= correct.size:
        # Few combinations: count every one, keep those with samples.
        counts = np.bincount(combined, minlength=int(n_combinations))
        hits = np.bincount(combined, weights=correct, minlength=int(n_combinations))
        group_codes = np.flatnonzero(counts)
        counts, hits = counts[group_codes], hits[group_codes]
    else:
        # Sparse combinations: number the ones that occur (sorted, so key order holds).
        group_ids, group_codes = pd.factorize(combined, sort=True)
        counts = np.bincount(group_ids, minlength=len(group_codes))
        hits = np.bincount(group_ids, weights=correct, minlength=len(group_codes))
    key_codes = np.unravel_index(np.asarray(group_codes), sizes)
    table = pd.DataFrame(
        {
            key: uniques.take(codes)
            for key, (_, uniques), codes in zip(keys, factorised, key_codes, strict=True)
        }
    )
    table["accuracy"] = hits / counts
    table["count"] = counts.astype(np.int64)
    return table


# --- misclassified ------------------------------------------------------------------------

#: Columns the misclassified table adds to the example rows.
MISCLASSIFIED_COLUMNS = ("position", "label", "prediction", "probability")


def misclassified_examples(
    y_true: LabelArray,
    y_prob: FloatArray,
    rows: pd.DataFrame,
    threshold: float = DEFAULT_THRESHOLD,
    limit: int | None = None,
) -> pd.DataFrame:
    """The wrongly predicted rows, most confident first.

    Confidence is the distance of the probability from ``threshold`` (to 12 decimals); ties
    keep input order.

    Args:
        y_true: 0/1 labels.
        y_prob: Probabilities of label 1.
        rows: One row per prediction (e.g. ``story``/``question``), aligned by position.
        threshold: Decision threshold.
        limit: Keep at most this many rows (``None``: all).

    Returns:
        ``position`` (index into the inputs), the columns of ``rows`` (any named ``label``,
        ``prediction``, ``probability`` or ``position`` is replaced), then ``label``,
        ``prediction`` and ``probability``.

    Example:
        >>> rows = pd.DataFrame({"story": ["s0", "s1", "s2"]})
        >>> wrong = misclassified_examples(np.array([1, 0, 1]), np.array([0.4, 0.9, 0.8]), rows)
        >>> wrong[["position", "story", "probability"]].to_dict(orient="list")
        {'position': [1, 0], 'story': ['s1', 's0'], 'probability': [0.9, 0.4]}
    """
    check_length("examples", len(rows), y_true.size)
    predictions = predict(y_prob, threshold)
    wrong = np.flatnonzero(predictions != y_true.astype(np.bool_))
    # Rounding makes 0.3 and 0.7 equally confident despite float error, so ties are real ties.
    margins = np.round(np.abs(y_prob[wrong] - threshold), 12)
    order = np.argsort(-margins, kind="stable")
    positions = wrong[order][:limit]
    example_columns = [c for c in rows.columns if c not in MISCLASSIFIED_COLUMNS]
    table = rows[example_columns].iloc[positions].reset_index(drop=True)
    table.insert(0, "position", positions.astype(np.int64))
    table["label"] = y_true[positions].astype(np.int64)
    table["prediction"] = predictions[positions].astype(np.int64)
    table["probability"] = y_prob[positions]
    return table


def mcnemar_exact_p_value(only_first_correct: int, only_second_correct: int) -> float:
    """Two-sided exact McNemar test of two classifiers scored on the same examples.

    Only the discordant examples count: those exactly one of the two got right. Under the
    null hypothesis (both are equally accurate) each discordant example is a fair coin, so the
    p-value is the two-sided binomial tail of ``min(b, c)`` out of ``b + c`` at 1/2. A small
    p-value means the difference in accuracy is unlikely to come from which examples happened
    to be in the split.

    Args:
        only_first_correct: Examples the first classifier got right and the second wrong.
        only_second_correct: Examples the second classifier got right and the first wrong.

    Returns:
        The p-value in ``(0, 1]``; 1.0 when no example is discordant.

    Raises:
        ValueError: A negative count.

    Example:
        >>> mcnemar_exact_p_value(10, 10)
        1.0
        >>> round(mcnemar_exact_p_value(0, 10), 6)
        0.001953
        >>> mcnemar_exact_p_value(30, 70) < 0.001
        True
    """
    if only_first_correct < 0 or only_second_correct < 0:
        raise ValueError(
            f"discordant counts must be >= 0, got {only_first_correct} and {only_second_correct}"
        )
    discordant = only_first_correct + only_second_correct
    smaller = min(only_first_correct, only_second_correct)
    tail = sum(math.comb(discordant, k) for k in range(smaller + 1))
    return min(1.0, 2 * tail / 2**discordant)


#: Two-sided 95% normal quantile (``scipy.stats.norm.ppf(0.975)``).
Z_95 = 1.959963984540054


def wilson_interval(correct: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of an accuracy of ``correct`` out of ``total`` (95% by default).

    Unlike the normal approximation it stays inside ``[0, 1]`` and keeps its coverage near an
    accuracy of 0 or 1 and on small splits: the honest error bar of one split's accuracy.

    Args:
        correct: Examples right.
        total: Examples scored.
        z: Normal quantile of the confidence (1.96 for 95%).

    Returns:
        ``(low, high)``; ``(0.0, 1.0)`` when ``total`` is 0.

    Raises:
        ValueError: ``correct`` outside ``[0, total]``.

    Example:
        >>> low, high = wilson_interval(583, 980)
        >>> round(low, 3), round(high, 3)
        (0.564, 0.625)
        >>> wilson_interval(0, 0)
        (0.0, 1.0)
    """
    if total < 0 or not 0 <= correct <= total:
        raise ValueError(f"need 0 <= correct <= total, got {correct} of {total}")
    if total == 0:
        return 0.0, 1.0
    share = correct / total
    denominator = 1 + z**2 / total
    centre = (share + z**2 / (2 * total)) / denominator
    half = z * math.sqrt(share * (1 - share) / total + z**2 / (4 * total**2)) / denominator
    low = 0.0 if correct == 0 else max(0.0, centre - half)
    high = 1.0 if correct == total else min(1.0, centre + half)
    return low, high
