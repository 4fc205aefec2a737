"""Console and HTML renderings of evaluation results.

The console report is the one both frameworks print; the HTML pieces serve notebooks
(``EvaluationResult._repr_html_``), the run report (``report.html``, :func:`write_run_report`)
and the comparison page of several runs (``comparison.html``, :func:`write_comparison_page`).
The two pages share one style sheet (:data:`STYLE`), one page frame and one headline table
(:func:`headline_table_html`: accuracy per split with its 95% interval), which both open with.
"""

from __future__ import annotations

import base64
import html
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from metrics import namespaces as ns
from metrics.functional import wilson_interval

if TYPE_CHECKING:
    from metrics.compare import Comparison
    from metrics.processor import EvaluationResult

RULE = "=" * 48
MISCLASSIFIED_ROWS_SHOWN = 20
#: Characters beyond which a column of words is wrapped text (a story, a question).
_LONG_TEXT = 40

#: The style sheet of both pages, ``report.html`` and ``comparison.html``.
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 80em; }
img { max-width: 100%; height: auto; margin: 0.5em 0; }
h3 { font-size: 1.05em; margin: 1em 0 0.3em; }
h4 { margin: 0.8em 0 0.3em; }
p.lead, p.note, span.note { color: #555; }
p.warning { color: #8a4b00; }
table.metrics { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
table.metrics th, table.metrics td {
  border: 1px solid #ccc; padding: 2px 8px; text-align: right; white-space: nowrap;
}
table.metrics th { background: #f3f3f3; }
table.metrics th.split, table.metrics tbody th { text-align: left; }
table.metrics .label, table.metrics .text { text-align: left; }
table.metrics td.text { white-space: normal; min-width: 20em; max-width: 50em; }
table.metrics td.best { font-weight: bold; }
table.headline td, table.headline th { padding: 4px 10px; }
table.headline caption { caption-side: top; text-align: left; color: #555; padding: 0 0 4px; }
span.ci { color: #666; font-size: 0.9em; }
div.side { display: flex; flex-wrap: wrap; gap: 0 2.5em; align-items: flex-start; }
details { margin: 0.3em 0; }
details > summary { cursor: pointer; font-weight: bold; padding: 2px 0; }
table.sortable th { cursor: pointer; }
table.sortable th:hover { background: #e6e6e6; }
a { color: #1a5fb4; }
"""
#: Sorts a ``table.sortable`` by the clicked column (numbers as numbers), again: descending.
_SORT_SCRIPT = r"""
document.querySelectorAll("table.sortable th").forEach((th) => {
  th.title = "sort";
  th.addEventListener("click", () => {
    const table = th.closest("table"), body = table.tBodies[0];
    const column = Array.from(th.parentNode.children).indexOf(th);
    const down = th.dataset.order !== "asc";
    th.dataset.order = down ? "asc" : "desc";
    const key = (row) => {
      const text = row.children[column] ? row.children[column].textContent.trim() : "";
      const number = parseFloat(text.replace(/^[<+]\s*/, ""));
      return Number.isNaN(number) ? text : number;
    };
    Array.from(body.rows)
      .sort((a, b) => {
        const x = key(a), y = key(b);
        const order = typeof x === typeof y
          ? (x < y ? -1 : x > y ? 1 : 0)
          : (typeof x === "number" ? -1 : 1);
        return down ? order : -order;
      })
      .forEach((row) => body.appendChild(row));
  });
});
"""


def console_report(result: EvaluationResult) -> str:
    """The evaluation report printed by both frameworks.

    Lists each group of the ``(category, noun_count)`` breakdown (or, without it, of the
    finest configured breakdown) in key order, then the overall accuracy and loss.

    Example:
        >>> import pandas as pd
        >>> from metrics import MetricsProcessor
        >>> meta = pd.DataFrame({"category": ["dense"] * 3, "noun_count": [15, 15, 8]})
        >>> result = MetricsProcessor().evaluate([1, 0, 1], [0.9, 0.8, 0.7], meta)
        >>> print(result.console_report())
        ================================================
        EVALUATION RESULTS BY CATEGORY:
          - dense/noun_8: Accuracy=1.0000 (from 1 samples)
          - dense/noun_15: Accuracy=0.5000 (from 2 samples)
        ================================================
        <BLANKLINE>
        Overall accuracy: 0.6667
        Loss: 0.6905
    """
    lines = [RULE, "EVALUATION RESULTS BY CATEGORY:"]
    keys = result.report_breakdown()
    if keys is not None:
        table = result.breakdowns[keys]
        columns = [table[key].tolist() for key in keys]
        for *values, accuracy, count in zip(
            *columns, table["accuracy"].tolist(), table["count"].tolist(), strict=True
        ):
            label = ns.group_label(keys, values)
            lines.append(f"  - {label}: Accuracy={accuracy:.4f} (from {count} samples)")
    lines += [RULE, "", f"Overall accuracy: {result.accuracy:.4f}", f"Loss: {result.loss:.4f}"]
    return "\n".join(lines)


#: Cell classes: ``label`` left-aligned (words), ``text`` left-aligned and wrapped (a story).
_LABEL, _TEXT = "label", "text"


def _cell_html(value: object, kind: str = "") -> str:
    """One ``<td>`` of class ``kind`` (none: a number, right-aligned): a float to 4 decimals,
    an integer as is, NaN or ``None`` empty, anything else escaped."""
    if value is None or (isinstance(value, numbers.Real) and value != value):
        shown = ""
    elif isinstance(value, numbers.Integral):
        shown = str(value)
    elif isinstance(value, numbers.Real):
        shown = f"{float(value):.4f}"
    else:
        shown = html.escape(str(value))
    return f'<td class="{kind}">{shown}</td>' if kind else f"<td>{shown}</td>"


def _column_kinds(frame: pd.DataFrame, text: Sequence[str]) -> list[str]:
    """Per column its cell class: ``text`` for the columns ``text``, ``label`` for any other
    that is not numeric, none for numbers."""

    def kind(column: object) -> str:
        if str(column) in text:
            return _TEXT
        return "" if pd.api.types.is_numeric_dtype(frame[column]) else _LABEL

    return [kind(column) for column in frame.columns]


def _head_html(text: str, kind: str) -> str:
    return (
        f'<th class="{kind}">{html.escape(text)}</th>' if kind else f"<th>{html.escape(text)}</th>"
    )


def _table_html(
    frame: pd.DataFrame,
    index: bool = False,
    *,
    sortable: bool = False,
    text: Sequence[str] = (),
) -> str:
    """``frame`` as a ``table.metrics``: one header row, the index (when ``index``) as row
    heads under a corner naming it (``rows \\ columns`` when both are named), numbers
    right-aligned, words left-aligned, the columns ``text`` left-aligned and wrapped, every
    value escaped."""
    kinds = _column_kinds(frame, text)
    heads = [_head_html(str(c), kind) for c, kind in zip(frame.columns, kinds, strict=True)]
    if index:
        names = [str(name) for name in (frame.index.name, frame.columns.name) if name]
        heads.insert(0, _head_html(" \\ ".join(names), _LABEL))
    rows = []
    for label, values in zip(frame.index, frame.itertuples(index=False), strict=True):
        cells = "".join(_cell_html(v, kind) for v, kind in zip(values, kinds, strict=True))
        head = f"<th>{html.escape(str(label))}</th>" if index else ""
        rows.append(f"<tr>{head}{cells}</tr>")
    classes = "metrics sortable" if sortable else "metrics"
    header = "".join(heads)
    return (
        f'<table class="{classes}"><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _fields_html(fields: Mapping[str, object]) -> str:
    """Key/value rows (a run's summary): each key a row head, no header row."""
    rows = "".join(
        f"<tr><th>{html.escape(str(key))}</th>{_cell_html(str(value), _LABEL)}</tr>"
        for key, value in fields.items()
    )
    return f'<table class="metrics fields"><tbody>{rows}</tbody></table>'


def overall_frame(result: EvaluationResult) -> pd.DataFrame:
    """One-row frame: ``n_samples`` and the overall metrics (``roc_auc`` only if defined)."""
    return pd.DataFrame([{"n_samples": result.n_samples, **result.scores()}])


def confusion_frame(result: EvaluationResult) -> pd.DataFrame:
    """The confusion matrix with ``true no/yes`` rows and ``predicted no/yes`` columns."""
    return pd.DataFrame(
        result.confusion.as_lists(),
        index=pd.Index(["true no", "true yes"]),
        columns=["predicted no", "predicted yes"],
    )


def _breakdown_table(keys: tuple[str, ...], table: pd.DataFrame) -> str:
    if len(keys) == 2:
        grid = table.pivot(index=keys[0], columns=keys[1], values="accuracy")
        return _table_html(grid, index=True)
    return _table_html(table, sortable=True)


def breakdown_html(keys: tuple[str, ...], table: pd.DataFrame) -> str:
    """One breakdown as HTML: a two-key breakdown as an accuracy grid (first key as rows),
    any other as a sortable list of groups with accuracy and count."""
    return f"<h4>{html.escape(ns.breakdown_name(keys))}</h4>" + _breakdown_table(keys, table)


def evaluation_html(result: EvaluationResult, misclassified_rows: int = 5) -> str:
    """An HTML fragment: overall metrics, confusion matrix, every breakdown and the first
    ``misclassified_rows`` misclassified examples (used for notebooks' rich display)."""
    parts = [
        "<h4>overall</h4>",
        _table_html(overall_frame(result)),
        "<h4>confusion matrix</h4>",
        _table_html(confusion_frame(result), index=True),
    ]
    parts += [breakdown_html(keys, table) for keys, table in result.breakdowns.items()]
    if misclassified_rows and len(result.misclassified):
        parts.append(f"<h4>most confident misclassified ({len(result.misclassified)} in all)</h4>")
        parts.append(_misclassified_html(result.misclassified.head(misclassified_rows)))
    return "<div>\n" + "\n".join(parts) + "\n</div>"


def _misclassified_html(rows: pd.DataFrame) -> str:
    """The misclassified examples, their long texts (story, question) wrapped."""
    words = [c for c in rows.columns if not pd.api.types.is_numeric_dtype(rows[c])]
    text = [c for c in words if rows[c].astype(str).str.len().max() > _LONG_TEXT]
    return _table_html(rows, sortable=True, text=text)


def headline_table_html(
    headline: pd.DataFrame,
    columns: Sequence[str],
    caption: str,
    links: Mapping[str, str] | None = None,
) -> str:
    """The headline both pages open with: one row per split, its examples and, per column,
    the accuracy with its interval (``0.583 [0.552, 0.613]``); with several columns the best
    of each split in bold.

    Args:
        headline: ``split``, ``examples`` and per column ``<column>``, ``<column> low``,
            ``<column> high`` (NaN where a column lacks the split):
            :meth:`metrics.compare.Comparison.headline_frame`, :func:`run_headline_frame`.
        columns: The value columns, in order (models, or one run's ``accuracy``).
        caption: What the table shows.
        links: ``{column: href}`` for the column heads (a run's ``report.html``).
    """
    heads = "".join(f"<th>{_link(column, (links or {}).get(column))}</th>" for column in columns)
    body = []
    for _, row in headline.iterrows():
        values = [row[column] for column in columns]
        known = [value for value in values if value == value]
        best = max(known) if len(known) > 1 else None
        cells = "".join(
            _interval_cell(row[c], row[f"{c} low"], row[f"{c} high"], row[c] == best)
            for c in columns
        )
        body.append(
            f'<tr><th class="split">{html.escape(str(row["split"]))}</th>'
            f"<td>{row['examples']}</td>{cells}</tr>"
        )
    return (
        f'<table class="metrics headline"><caption>{html.escape(caption)}</caption>'
        f'<thead><tr><th class="split">split</th><th>examples</th>{heads}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def run_headline_frame(
    results: Mapping[str, EvaluationResult], column: str = "accuracy"
) -> pd.DataFrame:
    """One run's headline, shaped as :meth:`metrics.compare.Comparison.headline_frame`: per
    split its ``examples`` and ``<column>`` (accuracy), ``<column> low`` and ``<column> high``
    (95% Wilson interval of its correct answers)."""
    rows = []
    for split, result in results.items():
        confusion = result.confusion
        low, high = wilson_interval(confusion.tn + confusion.tp, confusion.total)
        rows.append(
            {
                "split": split,
                "examples": result.n_samples,
                column: result.accuracy,
                f"{column} low": low,
                f"{column} high": high,
            }
        )
    return pd.DataFrame(
        rows, columns=["split", "examples", column, f"{column} low", f"{column} high"]
    )


def _interval_cell(value: float, low: float, high: float, best: bool) -> str:
    if value != value:  # NaN: the column lacks the split
        return "<td></td>"
    text = f'{value:.3f} <span class="ci">[{low:.3f}, {high:.3f}]</span>'
    return f'<td class="best">{text}</td>' if best else f"<td>{text}</td>"


def _link(text: str, href: str | None) -> str:
    shown = html.escape(text)
    return f'<a href="{html.escape(href, quote=True)}">{shown}</a>' if href else shown


def _image_html(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _write_page(path: str | Path, title: str, body: Sequence[str]) -> Path:
    """Write one page in the frame both pages share: :data:`STYLE`, then ``body`` (empty
    parts left out), then the script that sorts ``table.sortable``."""
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + f"\n<script>{_SORT_SCRIPT}</script>\n</body>\n</html>\n"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _split_html(result: EvaluationResult, plots: Mapping[str, bytes]) -> list[str]:
    """One split's details: overall metrics and confusion matrix side by side, the plots, then
    the breakdowns and the most confident misclassified examples, folded."""
    parts = [
        '<div class="side"><div><h3>overall</h3>',
        _table_html(overall_frame(result)),
        "</div><div><h3>confusion matrix</h3>",
        _table_html(confusion_frame(result), index=True),
        "</div></div>",
    ]
    parts += [_image_html(png, name) for name, png in plots.items()]
    if result.breakdowns:
        tables = "".join(breakdown_html(keys, table) for keys, table in result.breakdowns.items())
        names = ", ".join(ns.breakdown_name(keys) for keys in result.breakdowns)
        parts.append(
            f'<details><summary>breakdowns <span class="note">({html.escape(names)}; click a '
            f"column to sort)</span></summary>{tables}</details>"
        )
    if len(result.misclassified):
        shown = min(MISCLASSIFIED_ROWS_SHOWN, len(result.misclassified))
        parts.append(
            "<details><summary>most confident misclassified "
            f'<span class="note">(first {shown} of {len(result.misclassified)})</span>'
            f"</summary>{_misclassified_html(result.misclassified.head(shown))}</details>"
        )
    return parts


def write_run_report(
    path: str | Path,
    results: Mapping[str, EvaluationResult],
    summary: Mapping[str, object],
    learning_curve: str | Path | None = None,
    split_ranges: Mapping[str, tuple[int, int]] | None = None,
    title: str = "storyqa run report",
) -> Path:
    """Write a self-contained ``report.html`` for a run, in the comparison page's style.

    It opens, as ``comparison.html`` does, with the headline: the accuracy per split with its
    95% interval. Then the ``summary`` (run info, one row per key), the learning curve, and
    per split its overall metrics, confusion matrix and plots (base64 PNG), with its
    breakdown tables and most confident misclassified examples folded.

    Args:
        path: The HTML file to write.
        results: ``{split: result}``, in the order to show.
        summary: Run information (run id, framework, dataset, ...).
        learning_curve: The run's ``metrics.jsonl`` (plotted here) or a ready ``.png``.
        split_ranges: Noun-count ranges of the splits for the accuracy curve
            (default :data:`metrics.plots.DEFAULT_SPLIT_RANGES`).
        title: Page title.

    Returns:
        ``path``.
    """
    from metrics.plots import DEFAULT_SPLIT_RANGES, evaluation_plots, learning_curve_png

    ranges = DEFAULT_SPLIT_RANGES if split_ranges is None else split_ranges
    body = [f"<h1>{html.escape(title)}</h1>"]
    if results:
        caption = "Accuracy per split, with its 95% interval (Wilson)"
        body.append(headline_table_html(run_headline_frame(results), ["accuracy"], caption))
    if summary:
        body += ["<h2>Summary</h2>", _fields_html(summary)]
    if learning_curve is not None:
        learning_curve = Path(learning_curve)
        png = (
            learning_curve.read_bytes()
            if learning_curve.suffix == ".png"
            else learning_curve_png(learning_curve)
        )
        if png is not None:
            body += ["<h2>Learning curve</h2>", _image_html(png, "learning curve")]
    for split, result in results.items():
        body.append(f"<h2>Split: {html.escape(split)}</h2>")
        body += _split_html(result, evaluation_plots(result, ranges))
    return _write_page(path, title, body)


@dataclass(frozen=True)
class ComparedRun:
    """One run of a comparison page, as its runs table lists it.

    Attributes:
        label: Its column in the comparison (``lstm-s0``).
        run_id: The run id.
        model: Model name.
        seed: Training seed.
        dataset: Dataset version.
        report: Link to its ``report.html`` (relative to the page), or ``None``.
        best_epoch: Its best epoch, if known.
        best_val_accuracy: Its best validation accuracy, if known.
    """

    label: str
    run_id: str
    model: str
    seed: int
    dataset: str
    report: str | None = None
    best_epoch: int | None = None
    best_val_accuracy: float | None = None


def _runs_html(runs: Sequence[ComparedRun]) -> str:
    rows = []
    for run in runs:
        label = html.escape(run.label)
        if run.report:
            label = f'<a href="{html.escape(run.report, quote=True)}">{label}</a>'
        accuracy = "" if run.best_val_accuracy is None else f"{run.best_val_accuracy:.4f}"
        epoch = "" if run.best_epoch is None else str(run.best_epoch)
        rows.append(
            f'<tr><th class="split">{label}</th><td>{html.escape(run.model)}</td>'
            f"<td>{run.seed}</td><td>{html.escape(run.dataset)}</td><td>{epoch}</td>"
            f"<td>{accuracy}</td><td>{html.escape(run.run_id)}</td></tr>"
        )
    return (
        '<table class="metrics sortable"><thead><tr><th>run (report)</th><th>model</th>'
        "<th>seed</th><th>dataset</th><th>best epoch</th><th>best val accuracy</th>"
        f"<th>run id</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def write_comparison_page(
    path: str | Path,
    comparison: Comparison,
    runs: Sequence[ComparedRun],
    *,
    plot: str | None = None,
    curves: str | None = None,
    seeds: pd.DataFrame | None = None,
    files: Mapping[str, str] | None = None,
    lead: str = "",
    title: str = "storyqa comparison",
) -> Path:
    """Write ``comparison.html``: the headline (accuracy per split and run with its 95%
    interval), the paired tests and the plot first; then the runs, each linking to its
    ``report.html``, the mean ± std over seeds and every breakdown folded per split in
    sortable tables, in the style ``report.html`` shares. Links are as given (relative to the
    page).

    Args:
        path: The HTML file to write.
        comparison: The comparison of ``runs``.
        runs: The runs, in the comparison's order.
        plot: Link to the accuracy-by-noun-count plot (a PNG beside the page), if any.
        curves: Link to the runs' learning curves (a PNG beside the page), if any.
        seeds: Mean and standard deviation over seeds, already formatted, if any.
        files: ``{what: link}`` of the files beside the page (CSVs).
        lead: One line under the title (what was compared).
        title: Page title.

    Returns:
        ``path``.
    """
    links = {run.label: run.report for run in runs if run.report}
    body = [f"<h1>{html.escape(title)}</h1>"]
    if lead:
        body.append(f'<p class="lead">{html.escape(lead)}</p>')
    body += [comparison.warnings_html(), comparison.headline_html(links)]
    if comparison.paired:
        body += [f"<h2>Paired tests against {html.escape(comparison.baseline)}</h2>"]
        body += [comparison.paired_html()]
    if plot:
        body += [
            "<h2>Accuracy by noun count</h2>",
            f'<img src="{html.escape(plot, quote=True)}" alt="accuracy vs noun count by '
            'category, pooled over the runs of each model">',
        ]
    if curves:
        body += [
            "<h2>Learning curves</h2>",
            f'<img src="{html.escape(curves, quote=True)}" alt="validation accuracy of each '
            'run by epoch and by minutes of training">',
        ]
    body += ["<h2>Runs</h2>", _runs_html(runs)]
    if seeds is not None and len(seeds):
        body += ["<h2>Mean ± standard deviation over seeds</h2>", _table_html(seeds)]
    body += [
        "<h2>Breakdowns</h2>",
        '<p class="note">Every metric, by category, by noun count and by both, per split; '
        "click a column to sort.</p>",
        comparison.breakdowns_html(),
    ]
    if files:
        items = "".join(
            f'<li><a href="{html.escape(href, quote=True)}">{html.escape(name)}</a></li>'
            for name, href in files.items()
        )
        body += ["<h2>Files</h2>", f"<ul>{items}</ul>"]
    return _write_page(path, title, body)
