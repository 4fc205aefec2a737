"""Side-by-side comparison of several models' results (e.g. LSTM vs Transformer).

Difference columns are ``<model> - <baseline>`` for every model other than the baseline (the
first model unless named), so with two models the one difference is second minus first.
Where two models were scored on the same examples, a paired test says whether their accuracy
difference is more than the luck of which stories the split holds (:class:`PairedTest`).

The *headline* (:meth:`Comparison.headline_frame`) is what to read first: one row per split,
one column per model, the accuracy with its 95% interval (Wilson). The console summary and
the HTML open with it and the paired tests; the breakdowns by category and noun count follow
(in HTML, folded per split) or are printed only when asked (:meth:`Comparison.console_table`).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from metrics.functional import mcnemar_exact_p_value, wilson_interval
from metrics.processor import EVALUATION_FILE, EvaluationResult
from metrics.report import headline_table_html

KEY_COLUMNS = ("split", "breakdown", "group", "metric")
OVERALL = "overall"
#: Dataset splits in the order of ``stories.config.SPLITS``; :func:`load_split_results` lists
#: others after these.
SPLIT_ORDER = ("train", "valid_a", "valid", "valid_comp", "test")
ALL_GROUPS = "all"
#: The p-value below which the console calls a difference significant.
SIGNIFICANCE_LEVEL = 0.05
#: The metric of the headline, and the confidence of its interval.
HEADLINE_METRIC = "accuracy"
HEADLINE_CONFIDENCE = "95%"
#: Human names of the breakdowns, for headings.
BREAKDOWN_TITLES: Mapping[str, str] = {
    OVERALL: "every overall metric",
    "by_category": "by category",
    "by_noun_count": "by noun count",
    "by_category_noun": "by category and noun count",
}


@dataclass(frozen=True)
class PairedTest:
    """A model against the baseline on the same examples of one split (exact McNemar).

    Attributes:
        split: The split both were scored on.
        model: The model compared.
        baseline: The model it is compared against.
        n_samples: Examples in the split.
        difference: ``model`` accuracy minus ``baseline`` accuracy.
        only_model_correct: Examples only ``model`` got right.
        only_baseline_correct: Examples only ``baseline`` got right.
        p_value: Two-sided exact McNemar p-value
            (:func:`metrics.functional.mcnemar_exact_p_value`).
    """

    split: str
    model: str
    baseline: str
    n_samples: int
    difference: float
    only_model_correct: int
    only_baseline_correct: int
    p_value: float

    @property
    def significant(self) -> bool:
        """Whether ``p_value`` is below :data:`SIGNIFICANCE_LEVEL`."""
        return self.p_value < SIGNIFICANCE_LEVEL


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
        paired: One paired test per model other than the baseline and per split both were
            scored on with per-example results (see :func:`paired_tests`).
        sizes: ``{model: {split: examples}}``: each model's own count per split (for its
            interval; default the frame's ``count``).
    """

    frame: pd.DataFrame
    models: tuple[str, ...]
    baseline: str
    warnings: tuple[str, ...]
    paired: tuple[PairedTest, ...] = ()
    sizes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

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

    def paired_frame(self) -> pd.DataFrame:
        """:attr:`paired` as a frame, one row per test (columns as the attributes)."""
        columns = list(PairedTest.__dataclass_fields__)
        return pd.DataFrame([vars(test) for test in self.paired], columns=columns)

    def headline_frame(self) -> pd.DataFrame:
        """The headline: one row per split (``split``, ``examples``), then per model its
        accuracy and the bounds of its 95% Wilson interval (``<model>``, ``<model> low``,
        ``<model> high``); a split a model lacks is NaN.

        Example:
            >>> import pandas as pd
            >>> from metrics import MetricsProcessor
            >>> meta = pd.DataFrame({"category": ["dense"] * 4, "noun_count": [9] * 4})
            >>> a = MetricsProcessor().evaluate([1, 0, 1, 0], [0.9, 0.1, 0.2, 0.8], meta)
            >>> row = compare_results({"a": {"test": a}}).headline_frame().iloc[0]
            >>> row["split"], int(row["examples"]), float(row["a"]), round(float(row["a low"]), 3)
            ('test', 4, 0.5, 0.15)
        """
        overall = self.frame[
            (self.frame["breakdown"] == OVERALL) & (self.frame["metric"] == HEADLINE_METRIC)
        ]
        rows = []
        for _, row in overall.iterrows():
            split = str(row["split"])
            line: dict[str, object] = {"split": split, "examples": int(row["count"])}
            for model in self.models:
                accuracy = float(row[model])
                total = int(self.sizes.get(model, {}).get(split, row["count"]))
                low = high = float("nan")
                if accuracy == accuracy and total > 0:  # not NaN: the model has the split
                    low, high = wilson_interval(round(accuracy * total), total)
                line |= {model: accuracy, f"{model} low": low, f"{model} high": high}
            rows.append(line)
        columns = ["split", "examples"]
        columns += [f"{m}{part}" for m in self.models for part in ("", " low", " high")]
        return pd.DataFrame(rows, columns=columns)

    def headline_table(self) -> str:
        """The headline as text: ``0.583 [0.552, 0.613]`` per split and model."""
        headline = self.headline_frame()
        table = pd.DataFrame(
            {
                "split": headline["split"],
                "examples": headline["examples"].astype(str),
                **{
                    model: [
                        _format_interval(a, lo, hi)
                        for a, lo, hi in zip(
                            headline[model],
                            headline[f"{model} low"],
                            headline[f"{model} high"],
                            strict=True,
                        )
                    ]
                    for model in self.models
                },
            }
        )
        return table.to_string(index=False)

    def _headline_heading(self) -> str:
        return (
            f"Accuracy per split, with its {HEADLINE_CONFIDENCE} interval "
            "(Wilson; overlapping intervals are no verdict: see the paired tests):"
        )

    def console_summary(self) -> str:
        """What to read first, as text: the headline, then the paired tests and the
        warnings (the breakdowns are in :meth:`console_table`, the CSV and the HTML)."""
        lines = [self._headline_heading(), self.headline_table()]
        if self.paired:
            lines += ["", self._paired_heading(), self._paired_display().to_string(index=False)]
        return "\n".join([*lines, *(f"WARNING: {warning}" for warning in self.warnings)])

    def console_table(self) -> str:
        """Fixed-width text table of every row (values to 4 decimals, differences signed),
        then the paired tests and the warnings."""
        lines = [self.rows_table()]
        if self.paired:
            lines += ["", self._paired_heading(), self._paired_display().to_string(index=False)]
        return "\n".join([*lines, *(f"WARNING: {warning}" for warning in self.warnings)])

    def rows_table(self) -> str:
        """Every row as fixed-width text (values to 4 decimals, differences signed)."""
        formatters = {model: _format_value for model in self.models}
        formatters |= {column: _format_difference for column in self.difference_columns}
        return str(self.frame.to_string(index=False, formatters=formatters, na_rep="-"))

    def to_html(self, links: Mapping[str, str] | None = None) -> str:
        """HTML: the warnings, the headline, the paired tests, then the breakdowns of each
        split folded in a ``<details>`` section (see :meth:`breakdowns_html`).

        Args:
            links: ``{model: href}``: the headline's column heads link there (a run's
                ``report.html``).
        """
        parts = [self.warnings_html(), self.headline_html(links)]
        if self.paired:
            parts += [f"<h2>Paired tests against {html.escape(self.baseline)}</h2>"]
            parts += [self.paired_html()]
        parts += ["<h2>Breakdowns</h2>", self.breakdowns_html()]
        return "\n".join(part for part in parts if part)

    def warnings_html(self) -> str:
        """Each warning as a ``<p class="warning">``."""
        return "".join(
            f'<p class="warning"><b>Warning:</b> {html.escape(w)}</p>' for w in self.warnings
        )

    def headline_html(self, links: Mapping[str, str] | None = None) -> str:
        """The headline as an HTML table: the accuracy per split and model with its interval,
        the best of each split in bold.

        Args:
            links: ``{model: href}`` for the column heads.
        """
        caption = self._headline_heading().rstrip(":")
        return headline_table_html(self.headline_frame(), self.models, caption, links)

    def paired_html(self) -> str:
        """The paired tests as an HTML table, with what they test."""
        if not self.paired:
            return ""
        note = html.escape(self._paired_heading().rstrip(":"))
        table = self._paired_display().to_html(index=False, classes="metrics sortable", border=0)
        return f'<p class="note">{note}.</p>{table}'

    def breakdowns_html(self) -> str:
        """Every row of the comparison, one folded ``<details>`` section per split holding
        its overall metrics and each breakdown as a sortable table (values to 4 decimals,
        differences signed)."""
        formatters = {model: _format_value for model in self.models}
        formatters |= {column: _format_difference for column in self.difference_columns}
        value_columns = ["group", "count", *self.models, *self.difference_columns]
        sections = []
        for split, rows in self.frame.groupby("split", sort=False):
            tables = []
            for breakdown, part in rows.groupby("breakdown", sort=False):
                shown = part.drop(columns=["split", "breakdown"])
                shown = shown.drop(columns=["group"] if breakdown == OVERALL else ["metric"])
                columns = ["metric", *value_columns[1:]] if breakdown == OVERALL else value_columns
                table = shown[columns].to_html(
                    index=False,
                    classes="metrics sortable",
                    border=0,
                    na_rep="",
                    formatters=formatters,  # type: ignore[arg-type]
                )
                title = BREAKDOWN_TITLES.get(str(breakdown), str(breakdown))
                tables.append(f"<h3>{html.escape(title)}</h3>{table}")
            count = int(rows["count"].iloc[0])
            sections.append(
                f"<details><summary>{html.escape(str(split))} "
                f'<span class="note">({count} examples; {len(rows)} rows)</span></summary>'
                f"{''.join(tables)}</details>"
            )
        return "\n".join(sections)

    def _paired_heading(self) -> str:
        return (
            f"Paired test against {self.baseline} on the same examples (exact McNemar; "
            f"p < {SIGNIFICANCE_LEVEL}: the accuracy difference is unlikely to be chance):"
        )

    def _paired_display(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "split": [t.split for t in self.paired],
                "model": [t.model for t in self.paired],
                "accuracy difference": [_format_difference(t.difference) for t in self.paired],
                "only model right": [t.only_model_correct for t in self.paired],
                f"only {self.baseline} right": [t.only_baseline_correct for t in self.paired],
                "p-value": [_format_p_value(t.p_value) for t in self.paired],
                "significant": ["yes" if t.significant else "no" for t in self.paired],
            }
        )

    def _repr_html_(self) -> str:
        return self.to_html()


def difference_column(model: str, baseline: str) -> str:
    """Name of the column holding ``model - baseline``."""
    return f"{model} - {baseline}"


def _format_value(value: float) -> str:
    return f"{value:.4f}"


def _format_difference(value: float) -> str:
    return f"{value:+.4f}"


def _format_interval(value: float, low: float, high: float) -> str:
    if value != value:  # NaN: the model lacks the split
        return "-"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _format_p_value(value: float) -> str:
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


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
    results: Mapping[str, Mapping[str, EvaluationResult]],
    baseline: str | None = None,
    datasets: Mapping[str, str] | None = None,
) -> Comparison:
    """Put several models' per-split results side by side.

    Args:
        results: ``{model: {split: result}}``, e.g.
            ``{"lstm": {"test": r1}, "transformer": {"test": r2}}``.
        baseline: The model differences are taken against (default: the first).
        datasets: The dataset version each model was scored on; paired tests are made only
            between models of the same version (default: every pair whose split has the same
            number of examples is taken to be the same examples).

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
        frame=frame,
        models=models,
        baseline=baseline,
        warnings=_fairness_warnings(results) + _version_warnings(datasets or {}, baseline),
        paired=paired_tests(results, baseline, datasets),
        sizes={m: {s: r.n_samples for s, r in splits.items()} for m, splits in results.items()},
    )


def paired_tests(
    results: Mapping[str, Mapping[str, EvaluationResult]],
    baseline: str,
    datasets: Mapping[str, str] | None = None,
) -> tuple[PairedTest, ...]:
    """Exact McNemar tests of every other model against ``baseline``, per split.

    A split is tested when both results know which examples they got right
    (:meth:`EvaluationResult.correct_mask`), hold the same number of examples and, if
    ``datasets`` is given, come from the same dataset version.

    Example:
        >>> import pandas as pd
        >>> from metrics import MetricsProcessor
        >>> meta = pd.DataFrame({"category": ["dense"] * 4, "noun_count": [9] * 4})
        >>> a = MetricsProcessor().evaluate([1, 0, 1, 0], [0.9, 0.1, 0.2, 0.8], meta)
        >>> b = MetricsProcessor().evaluate([1, 0, 1, 0], [0.9, 0.1, 0.7, 0.3], meta)
        >>> (test,) = paired_tests({"a": {"test": a}, "b": {"test": b}}, baseline="a")
        >>> test.difference, test.only_model_correct, test.only_baseline_correct, test.p_value
        (0.5, 2, 0, 0.5)
    """
    tests = []
    for model, by_split in results.items():
        if model == baseline:
            continue
        if datasets is not None and datasets.get(model) != datasets.get(baseline):
            continue
        for split, result in by_split.items():
            reference = results[baseline].get(split)
            if reference is None or reference.n_samples != result.n_samples:
                continue
            correct, reference_correct = result.correct_mask(), reference.correct_mask()
            if correct is None or reference_correct is None:
                continue
            only_model = int((correct & ~reference_correct).sum())
            only_baseline = int((reference_correct & ~correct).sum())
            tests.append(
                PairedTest(
                    split=split,
                    model=model,
                    baseline=baseline,
                    n_samples=result.n_samples,
                    difference=(only_model - only_baseline) / result.n_samples,
                    only_model_correct=only_model,
                    only_baseline_correct=only_baseline,
                    p_value=mcnemar_exact_p_value(only_model, only_baseline),
                )
            )
    return tuple(tests)


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


def _version_warnings(datasets: Mapping[str, str], baseline: str) -> tuple[str, ...]:
    """Models scored on another dataset version than the baseline's: no paired test for them.

    Example:
        >>> (warning,) = _version_warnings({"a": "v1", "b": "v1", "c": "v2"}, "a")
        >>> warning.split(":")[0]
        'c was scored on dataset version v2, a on v1'
    """
    reference = datasets.get(baseline)
    return tuple(
        f"{model} was scored on dataset version {version}, {baseline} on {reference}: no "
        "paired tests between them (they are only paired on the same examples)"
        for model, version in datasets.items()
        if model != baseline and version != reference
    )


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
    order = ordered_splits(d.name for d in split_dirs)
    return {split: EvaluationResult.load(eval_dir / split) for split in order}


def ordered_splits(splits: Iterable[str]) -> list[str]:
    """Split names in :data:`SPLIT_ORDER`, any others (a user's own splits) after them by
    name.

    Example:
        >>> ordered_splits(["test", "hard", "train", "valid"])
        ['train', 'valid', 'test', 'hard']
    """
    rank = {split: index for index, split in enumerate(SPLIT_ORDER)}
    return sorted(set(splits), key=lambda split: (rank.get(split, len(rank)), split))
