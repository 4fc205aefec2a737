"""Side-by-side comparison of several models' results (e.g. LSTM vs Transformer).

Difference columns are ``<model> - <baseline>`` for every model other than the baseline (the
first model unless named), so with two models the one difference is second minus first.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from metrics.processor import EVALUATION_FILE, EvaluationResult

KEY_COLUMNS = ("split", "breakdown", "group", "metric")
OVERALL = "overall"
#: Dataset splits in DESIGN order; :func:`load_split_results` lists others after these.
SPLIT_ORDER = ("train", "valid_a", "valid_comp", "test")
ALL_GROUPS = "all"


@dataclass(frozen=True, eq=False)
class Comparison:
    """Results of several models side by side.

    Attributes:
        frame: Columns ``split, breakdown, group, metric, count`` (samples behind the value,
            from the first model that has the row), one value column per model, then one
            ``<model> - <baseline>`` column per other model. ``breakdown`` is ``overall``
            (``group`` ``all``, every overall metric) or a breakdown name (metric
            ``accuracy``). A value a model lacks is NaN.
        models: Model names, in the order given.
        baseline: The model the differences are taken against.
        warnings: Ways the comparison may be unfair: missing splits, different sample
            counts per split.
    """

    frame: pd.DataFrame
    models: tuple[str, ...]
    baseline: str
    warnings: tuple[str, ...]

    @property
    def difference_columns(self) -> list[str]:
        """Names of the difference columns."""
        return [
            difference_column(model, self.baseline)
            for model in self.models
            if model != self.baseline
        ]

    def to_frame(self) -> pd.DataFrame:
        """A copy of :attr:`frame`."""
        return self.frame.copy()

    def console_table(self) -> str:
        """Fixed-width text table (values to 4 decimals, differences signed), then warnings."""
        formatters = {model: _format_value for model in self.models}
        formatters |= {column: _format_difference for column in self.difference_columns}
        text = self.frame.to_string(index=False, formatters=formatters, na_rep="-")
        return "\n".join([text, *(f"WARNING: {warning}" for warning in self.warnings)])

    def to_html(self) -> str:
        """HTML table (with warnings above it, if any)."""
        warnings = "".join(f"<p><b>Warning:</b> {html.escape(w)}</p>" for w in self.warnings)
        table = self.frame.to_html(
            index=False, classes="metrics", border=0, na_rep="", float_format=_format_value
        )
        return warnings + table

    def _repr_html_(self) -> str:
        return self.to_html()


def difference_column(model: str, baseline: str) -> str:
    """Name of the column holding ``model - baseline``."""
    return f"{model} - {baseline}"


def _format_value(value: float) -> str:
    return f"{value:.4f}"


def _format_difference(value: float) -> str:
    return f"{value:+.4f}"


def _result_rows(split: str, result: EvaluationResult) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [
        {
            "split": split,
            "breakdown": OVERALL,
            "group": ALL_GROUPS,
            "metric": metric,
            "count": result.n_samples,
            "value": value,
        }
        for metric, value in result.scores().items()
    ]
    long = result.to_frame()
    rows += [
        {
            "split": split,
            "breakdown": breakdown,
            "group": group,
            "metric": "accuracy",
            "count": count,
            "value": accuracy,
        }
        for breakdown, group, count, accuracy in zip(
            long["breakdown"], long["group"], long["count"], long["accuracy"], strict=True
        )
    ]
    return rows


def compare_results(
    results: Mapping[str, Mapping[str, EvaluationResult]], baseline: str | None = None
) -> Comparison:
    """Put several models' per-split results side by side.

    Args:
        results: ``{model: {split: result}}``, e.g.
            ``{"lstm": {"test": r1}, "transformer": {"test": r2}}``.
        baseline: The model differences are taken against (default: the first).

    Example:
        >>> import pandas as pd
        >>> from metrics import MetricsProcessor
        >>> meta = pd.DataFrame({"category": ["dense", "dense"], "noun_count": [9, 9]})
        >>> lstm = MetricsProcessor().evaluate([1, 0], [0.9, 0.7], meta)
        >>> transformer = MetricsProcessor().evaluate([1, 0], [0.9, 0.1], meta)
        >>> table = compare_results({"lstm": {"test": lstm}, "transformer": {"test": transformer}})
        >>> row = table.frame.query("metric == 'accuracy' and breakdown == 'overall'")
        >>> row[["lstm", "transformer", "transformer - lstm"]].to_dict(orient="records")
        [{'lstm': 0.5, 'transformer': 1.0, 'transformer - lstm': 0.5}]
    """
    models = tuple(results)
    if not models:
        raise ValueError("nothing to compare: results is empty")
    baseline = models[0] if baseline is None else baseline
    if baseline not in results:
        raise ValueError(f"baseline {baseline!r} is not among the models {list(models)}")

    long = pd.DataFrame(
        [
            {"model": model, **row}
            for model, splits in results.items()
            for split, result in splits.items()
            for row in _result_rows(split, result)
        ],
        columns=["model", *KEY_COLUMNS, "count", "value"],
    )
    keys = list(KEY_COLUMNS)
    frame = long.drop_duplicates(keys)[[*keys, "count"]].reset_index(drop=True)
    for model in models:
        values = long.loc[long["model"] == model, [*keys, "value"]].rename(columns={"value": model})
        frame = frame.merge(values, on=keys, how="left")
    for model in models:
        if model != baseline:
            frame[difference_column(model, baseline)] = frame[model] - frame[baseline]
    return Comparison(
        frame=frame, models=models, baseline=baseline, warnings=_fairness_warnings(results)
    )


def _fairness_warnings(results: Mapping[str, Mapping[str, EvaluationResult]]) -> tuple[str, ...]:
    splits = list(dict.fromkeys(split for splits in results.values() for split in splits))
    warnings = []
    for split in splits:
        missing = [model for model, by_split in results.items() if split not in by_split]
        if missing:
            warnings.append(f"split {split!r} is missing for {', '.join(missing)}")
        sizes = {
            model: by_split[split].n_samples
            for model, by_split in results.items()
            if split in by_split
        }
        if len(set(sizes.values())) > 1:
            listed = ", ".join(f"{model}: {size}" for model, size in sizes.items())
            warnings.append(f"split {split!r} was evaluated on different sample counts ({listed})")
    return tuple(warnings)


def load_split_results(eval_dir: str | Path) -> dict[str, EvaluationResult]:
    """Load every ``<eval_dir>/<split>/evaluation.json`` (a run's ``eval/`` folder).

    Splits come in :data:`SPLIT_ORDER`, any others after them by name.

    Raises:
        ValueError: If no split folder holds an ``evaluation.json``.
    """
    eval_dir = Path(eval_dir)
    split_dirs = [d for d in eval_dir.iterdir() if (d / EVALUATION_FILE).is_file()]
    if not split_dirs:
        raise ValueError(f"no split folder with {EVALUATION_FILE} under {eval_dir}")
    rank = {split: index for index, split in enumerate(SPLIT_ORDER)}
    split_dirs.sort(key=lambda d: (rank.get(d.name, len(rank)), d.name))
    return {directory.name: EvaluationResult.load(directory) for directory in split_dirs}
