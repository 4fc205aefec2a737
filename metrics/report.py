"""Console and HTML renderings of evaluation results.

The console report is the one both frameworks print; the HTML pieces serve notebooks
(``EvaluationResult._repr_html_``), the run report (``report.html``) and the comparison page
of several runs (``comparison.html``, :func:`write_comparison_page`), styled alike.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from metrics import namespaces as ns

if TYPE_CHECKING:
    from metrics.compare import Comparison
    from metrics.processor import EvaluationResult

RULE = "=" * 48
MISCLASSIFIED_ROWS_SHOWN = 20

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table.metrics { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
table.metrics th, table.metrics td { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
table.metrics th { background: #f3f3f3; }
img { max-width: 100%; margin: 0.5em 0; }
"""
#: The comparison page: the run report's style, plus its headline, notes, folded sections and
#: sortable tables.
_COMPARISON_STYLE = (
    _STYLE
    + """
body { max-width: 80em; }
img { height: auto; }
p.lead, p.note, span.note { color: #555; }
p.warning { color: #8a4b00; }
table.headline td, table.headline th { padding: 4px 10px; }
table.headline caption { caption-side: top; text-align: left; color: #555; padding: 0 0 4px; }
table.metrics th, table.metrics td { white-space: nowrap; }
table.metrics th.split { text-align: left; }
table.metrics td.best { font-weight: bold; }
span.ci { color: #666; font-size: 0.9em; }
details { margin: 0.3em 0; }
details > summary { cursor: pointer; font-weight: bold; padding: 2px 0; }
table.sortable th { cursor: pointer; }
table.sortable th:hover { background: #e6e6e6; }
a { color: #1a5fb4; }
"""
)
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


def _table_html(frame: pd.DataFrame, index: bool = False) -> str:
    return frame.to_html(
        index=index, classes="metrics", border=0, float_format=lambda x: f"{x:.4f}", na_rep=""
    )


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


def breakdown_html(keys: tuple[str, ...], table: pd.DataFrame) -> str:
    """One breakdown as HTML: a two-key breakdown as an accuracy grid (first key as rows),
    any other as a list of groups with accuracy and count."""
    title = f"<h4>{html.escape(ns.breakdown_name(keys))}</h4>"
    if len(keys) == 2:
        grid = table.pivot(index=keys[0], columns=keys[1], values="accuracy")
        return title + _table_html(grid, index=True)
    return title + _table_html(table)


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
        parts.append(_table_html(result.misclassified.head(misclassified_rows)))
    return "<div>\n" + "\n".join(parts) + "\n</div>"


def _image_html(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def write_run_report(
    path: str | Path,
    results: Mapping[str, EvaluationResult],
    summary: Mapping[str, object],
    learning_curve: str | Path | None = None,
    split_ranges: Mapping[str, tuple[int, int]] | None = None,
    title: str = "storyqa run report",
) -> Path:
    """Write a self-contained ``report.html`` for a run.

    Sections: the ``summary`` (run info as key/value rows), the learning curve, then per
    split its overall metrics, confusion matrix, plots (base64 PNG), breakdown tables and the
    most confident misclassified examples.

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
    body = [f"<h1>{html.escape(title)}</h1>", "<h2>Summary</h2>"]
    summary_frame = pd.DataFrame(
        {"value": [str(value) for value in summary.values()]},
        index=pd.Index([str(key) for key in summary], name="field"),
    )
    body.append(_table_html(summary_frame, index=True))
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
        body.append(evaluation_html(result, misclassified_rows=0))
        body += [_image_html(png, name) for name, png in evaluation_plots(result, ranges).items()]
        if len(result.misclassified):
            body.append(
                f"<h4>most confident misclassified (first {MISCLASSIFIED_ROWS_SHOWN} of "
                f"{len(result.misclassified)})</h4>"
            )
            body.append(_table_html(result.misclassified.head(MISCLASSIFIED_ROWS_SHOWN)))
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


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
    sortable tables, styled like ``report.html``. Links are as given (relative to the page).

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
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_COMPARISON_STYLE}</style>\n</head>\n"
        "<body>\n"
        + "\n".join(part for part in body if part)
        + f"\n<script>{_SORT_SCRIPT}</script>\n</body>\n</html>\n"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
