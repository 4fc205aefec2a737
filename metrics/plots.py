"""PNG plots of an evaluation and of a run's learning curves.

Figures are drawn on matplotlib's Agg canvas (no display, no pyplot state) and returned as PNG
bytes, which :meth:`EvaluationResult.save` writes to files and the HTML report embeds.
matplotlib is imported inside the functions, so ``import metrics`` stays cheap.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from metrics import namespaces as ns
from metrics.history import epoch_history

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from metrics.processor import EvaluationResult

#: Actor-count ranges of the splits (docs/data.md), marked on the accuracy-vs-noun-count curve:
#: train and valid_a cover 2-8 actors, valid_comp 9-20, test 21-30.
DEFAULT_SPLIT_RANGES: Mapping[str, tuple[int, int]] = {
    "train/valid_a": (2, 8),
    "valid_comp": (9, 20),
    "test": (21, 30),
}

CATEGORY = "category"
NOUN_COUNT = "noun_count"

ACCURACY_CURVE_FILE = "accuracy_vs_noun_count.png"
HEATMAP_FILE = "accuracy_heatmap.png"
CONFUSION_FILE = "confusion_matrix.png"

_DPI = 110


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def evaluation_plots(
    result: EvaluationResult, split_ranges: Mapping[str, tuple[int, int]] = DEFAULT_SPLIT_RANGES
) -> dict[str, bytes]:
    """All plots of one evaluation as ``{file name: PNG bytes}``.

    The confusion matrix is always drawn; the accuracy curve needs a ``noun_count`` or
    ``(category, noun_count)`` breakdown with numeric noun counts, the heatmap the
    ``(category, noun_count)`` breakdown; a plot whose breakdown is missing is left out.
    """
    plots = {
        ACCURACY_CURVE_FILE: accuracy_curve_png(result, split_ranges),
        HEATMAP_FILE: accuracy_heatmap_png(result),
        CONFUSION_FILE: confusion_matrix_png(result),
    }
    return {name: png for name, png in plots.items() if png is not None}


def accuracy_curve_png(
    result: EvaluationResult, split_ranges: Mapping[str, tuple[int, int]] = DEFAULT_SPLIT_RANGES
) -> bytes | None:
    """Accuracy vs noun count, one line per category plus all categories together, with the
    split ranges shaded (the "progressive difficulty" curve); ``None`` without the data."""
    combined = result.breakdowns.get((CATEGORY, NOUN_COUNT))
    overall = result.breakdowns.get((NOUN_COUNT,))
    tables = [t for t in (combined, overall) if t is not None]
    if not tables or not all(pd.api.types.is_numeric_dtype(t[NOUN_COUNT]) for t in tables):
        return None
    figure = _figure(9, 4.8)
    axes = figure.add_subplot()
    if combined is not None:
        for category, rows in combined.groupby(CATEGORY, sort=False):
            axes.plot(rows[NOUN_COUNT], rows["accuracy"], marker="o", ms=3, label=str(category))
    if overall is not None:
        axes.plot(overall[NOUN_COUNT], overall["accuracy"], "k--", lw=2, label="all categories")
    low = min(float(t[NOUN_COUNT].min()) for t in tables) - 0.5
    high = max(float(t[NOUN_COUNT].max()) for t in tables) + 0.5
    _mark_split_ranges(axes, split_ranges, low, high)
    axes.set(
        xlim=(low, high),
        ylim=(-0.02, 1.02),
        xlabel="noun count (actors in the story)",
        ylabel="accuracy",
        title="Accuracy vs noun count",
    )
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left", fontsize="small")
    return _png(figure)


def _mark_split_ranges(
    axes: Axes, split_ranges: Mapping[str, tuple[int, int]], low: float, high: float
) -> None:
    """Shade each split's noun-count range in view, label it, and draw its right boundary."""
    for index, (split, (first, last)) in enumerate(split_ranges.items()):
        start, end = max(first - 0.5, low), min(last + 0.5, high)
        if start >= end:
            continue
        axes.axvspan(start, end, color=f"C{index}", alpha=0.08, lw=0)
        axes.text((start + end) / 2, 1.0, split, ha="center", va="bottom", fontsize="small")
        if low < last + 0.5 < high:
            axes.axvline(last + 0.5, color="grey", ls=":", lw=1)


def accuracy_heatmap_png(result: EvaluationResult) -> bytes | None:
    """Category x noun-count accuracy heatmap; empty cells blank; ``None`` without the
    ``(category, noun_count)`` breakdown."""
    combined = result.breakdowns.get((CATEGORY, NOUN_COUNT))
    if combined is None:
        return None
    grid = combined.pivot(index=CATEGORY, columns=NOUN_COUNT, values="accuracy")
    values = np.ma.masked_invalid(grid.to_numpy(dtype=np.float64))
    figure = _figure(max(6.0, 0.38 * grid.shape[1] + 2.5), max(2.5, 0.5 * grid.shape[0] + 1.5))
    axes = figure.add_subplot()
    image = axes.imshow(values, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    axes.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns], fontsize="small")
    axes.set_yticks(range(grid.shape[0]), [str(i) for i in grid.index])
    if values.size <= 400:
        for (row, column), value in np.ndenumerate(grid.to_numpy(dtype=np.float64)):
            if not np.isnan(value):
                colour = "black" if value > 0.6 else "white"
                axes.text(
                    column, row, f"{value:.2f}", ha="center", va="center", fontsize=6, color=colour
                )
    axes.set(xlabel="noun count", ylabel="category", title="Accuracy by category and noun count")
    figure.colorbar(image, ax=axes, label="accuracy")
    return _png(figure)


def confusion_matrix_png(result: EvaluationResult) -> bytes:
    """The 2 x 2 confusion matrix with counts and row percentages."""
    counts = np.array(result.confusion.as_lists(), dtype=np.float64)
    row_totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, row_totals, out=np.zeros_like(counts), where=row_totals > 0)
    figure = _figure(4.2, 3.6)
    axes = figure.add_subplot()
    axes.imshow(shares, vmin=0.0, vmax=1.0, cmap="Blues")
    for (row, column), count in np.ndenumerate(counts):
        colour = "white" if shares[row, column] > 0.5 else "black"
        axes.text(
            column,
            row,
            f"{int(count)}\n{shares[row, column]:.1%}",
            ha="center",
            va="center",
            color=colour,
        )
    axes.set_xticks([0, 1], ["no", "yes"])
    axes.set_yticks([0, 1], ["no", "yes"])
    axes.set(xlabel="predicted", ylabel="true", title="Confusion matrix")
    return _png(figure)


def learning_curve_png(metrics_jsonl: str | Path) -> bytes | None:
    """Loss and accuracy per epoch, train vs val, from a run's ``metrics.jsonl``; ``None`` if
    the file holds none of those series. A run that validated inside epochs
    (``trainer.val_check_interval``) is drawn against the epochs trained at each validation
    (``metrics/epoch/progress``), so its points fall between whole epochs."""
    history = epoch_history(metrics_jsonl)
    progress = history.get(ns.epoch_progress())
    panels = {
        metric: {
            stage: history[name]
            for stage in ns.EPOCH_STAGES
            if (name := ns.epoch_metric(stage, metric)) in history.columns
        }
        for metric in ns.EPOCH_METRICS
    }
    if not any(panels.values()):
        return None
    from matplotlib.ticker import MaxNLocator

    figure = _figure(10, 4)
    for index, (metric, series_by_stage) in enumerate(panels.items(), start=1):
        axes = figure.add_subplot(1, len(panels), index)
        for stage, series in series_by_stage.items():
            points = series.dropna()
            x = points.index if progress is None else progress.loc[points.index]
            axes.plot(x, points.to_numpy(), marker="o", ms=3, label=stage)
        label = "epoch" if progress is None else "epochs trained"
        axes.set(xlabel=label, ylabel=metric, title=metric)
        axes.xaxis.set_major_locator(MaxNLocator(integer=progress is None, min_n_ticks=1))
        axes.grid(alpha=0.3)
        if series_by_stage:
            axes.legend()
    return _png(figure)


def plot_learning_curve(metrics_jsonl: str | Path, output: str | Path) -> Path:
    """Write the learning curve of ``metrics_jsonl`` to the PNG file ``output``.

    Raises:
        ValueError: If the file holds no per-epoch loss or accuracy series.
    """
    png = learning_curve_png(metrics_jsonl)
    if png is None:
        raise ValueError(f"{metrics_jsonl} holds no per-epoch loss or accuracy series")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(png)
    return output


#: Splits left out of the progressive-difficulty plot: ``train`` repeats valid_a's actor counts
#: with stories the model has seen.
DIFFICULTY_SKIPPED_SPLITS: tuple[str, ...] = ("train",)
LEARNING_CURVES_FILE = "learning_curves.png"
#: Columns of :func:`learning_curves_table`.
LEARNING_CURVE_COLUMNS: tuple[str, ...] = (
    "run", "epoch", "minutes", "val_accuracy", "examples_per_second"
)  # fmt: skip


def learning_curves_table(histories: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The validation accuracy of each run per epoch, with the training time it took: the
    data of :func:`learning_curves_png`.

    Args:
        histories: ``{run label: epoch_history(metrics.jsonl)}``.

    Returns:
        One row per run and epoch with a validation accuracy (:data:`LEARNING_CURVE_COLUMNS`):
        ``minutes`` is the wall-clock time of the epochs so far (training and validation),
        ``examples_per_second`` the epoch's training throughput (NaN where not logged).

    Example:
        >>> history = pd.DataFrame({"metrics/val/accuracy": [0.6, 0.7],
        ...                         "metrics/epoch/seconds": [30.0, 30.0]}, index=[0, 1])
        >>> learning_curves_table({"lstm": history})[["epoch", "minutes", "val_accuracy"]]
           epoch  minutes  val_accuracy
        0      0      0.5           0.6
        1      1      1.0           0.7
    """
    accuracy = ns.epoch_metric("val", "accuracy")
    parts = []
    for label, history in histories.items():
        if accuracy not in history.columns:
            continue
        seconds = history.get(ns.epoch_seconds(), pd.Series(np.nan, index=history.index))
        throughput = history.get(
            ns.train_stat("examples_per_second"), pd.Series(np.nan, index=history.index)
        )
        part = pd.DataFrame(
            {
                "run": label,
                "epoch": history.index.astype(int),
                "minutes": seconds.cumsum().to_numpy() / 60.0,
                "val_accuracy": history[accuracy].to_numpy(),
                "examples_per_second": throughput.to_numpy(),
            }
        )
        parts.append(part.dropna(subset=["val_accuracy"]))
    if not parts:
        return pd.DataFrame(columns=list(LEARNING_CURVE_COLUMNS))
    return pd.concat(parts, ignore_index=True)


def learning_curves_png(table: pd.DataFrame) -> bytes | None:
    """Validation accuracy of each run against epochs and against training minutes, one line
    per run; ``None`` for an empty table.

    Args:
        table: From :func:`learning_curves_table`.
    """
    if table.empty:
        return None
    figure = _figure(11, 4)
    for index, (x, label) in enumerate((("epoch", "epoch"), ("minutes", "minutes of training"))):
        axes = figure.add_subplot(1, 2, index + 1)
        for run, points in table.groupby("run", sort=False):
            axes.plot(points[x], points["val_accuracy"], marker="o", ms=3, label=str(run))
        axes.axhline(0.5, color="grey", lw=0.8, ls="--")
        axes.set(xlabel=label, ylabel="validation accuracy", title=f"val accuracy by {x}")
        axes.grid(alpha=0.3)
        if index == 0:
            axes.legend(fontsize="small")
    return _png(figure)


DIFFICULTY_FILE = "progressive_difficulty.png"


def difficulty_table(
    runs: Mapping[str, Sequence[Mapping[str, EvaluationResult]]],
    skipped_splits: Sequence[str] = DIFFICULTY_SKIPPED_SPLITS,
) -> pd.DataFrame:
    """Accuracy by model, category and noun count, pooled over a model's runs (e.g. seeds) and
    its evaluated splits: each cell is correct answers / examples.

    Args:
        runs: Model -> its runs -> split -> evaluation (with the ``(category, noun_count)``
            breakdown).
        skipped_splits: Splits left out (their noun counts repeat another split's).

    Returns:
        Columns ``model, category, noun_count, count, accuracy``; categories include
        ``all`` (every category together).

    Example:
        >>> from metrics import MetricsProcessor
        >>> meta = pd.DataFrame({"category": ["simple", "simple", "dense", "dense"],
        ...                      "noun_count": [2, 2, 9, 9]})
        >>> result = MetricsProcessor().evaluate([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.2], meta)
        >>> table = difficulty_table({"m": [{"valid_a": result}, {"valid_a": result}]})
        >>> table[["category", "noun_count", "count", "accuracy"]].values.tolist()
        [['all', 2, 4, 0.5], ['all', 9, 4, 1.0], ['dense', 9, 4, 1.0], ['simple', 2, 4, 0.5]]
    """
    frames = []
    for model, model_runs in runs.items():
        for by_split in model_runs:
            for split, result in by_split.items():
                table = result.breakdowns.get((CATEGORY, NOUN_COUNT))
                if split in skipped_splits or table is None:
                    continue
                cells = table[[CATEGORY, NOUN_COUNT, "count", "accuracy"]].copy()
                cells["model"] = model
                frames.append(cells)
    columns = ["model", CATEGORY, NOUN_COUNT, "count", "accuracy"]
    if not frames:
        return pd.DataFrame(columns=columns)
    cells = pd.concat(frames, ignore_index=True)
    cells["correct"] = cells["accuracy"] * cells["count"]
    every = cells.assign(**{CATEGORY: "all"})
    pooled = (
        pd.concat([cells, every], ignore_index=True)
        .groupby(["model", CATEGORY, NOUN_COUNT], sort=True)[["count", "correct"]]
        .sum()
        .reset_index()
    )
    pooled["count"] = pooled["count"].astype(int)
    pooled["accuracy"] = pooled["correct"] / pooled["count"]
    return pooled[columns]


def progressive_difficulty_png(
    table: pd.DataFrame, split_ranges: Mapping[str, tuple[int, int]] = DEFAULT_SPLIT_RANGES
) -> bytes | None:
    """The progressive-difficulty plot: accuracy vs noun count, one panel per category (and
    all together), one line per model, the split ranges shaded; ``None`` for an empty table.

    Args:
        table: From :func:`difficulty_table`.
        split_ranges: Noun-count range of each split, shaded and labelled.
    """
    if table.empty or not pd.api.types.is_numeric_dtype(table[NOUN_COUNT]):
        return None
    categories = ["all", *sorted(set(table[CATEGORY]) - {"all"})]
    columns = 3
    rows = -(-len(categories) // columns)
    figure = _figure(5.0 * columns, 3.4 * rows)
    low = float(table[NOUN_COUNT].min()) - 0.5
    high = float(table[NOUN_COUNT].max()) + 0.5
    for index, category in enumerate(categories):
        axes = figure.add_subplot(rows, columns, index + 1)
        for model, cells in table[table[CATEGORY] == category].groupby("model", sort=False):
            axes.plot(cells[NOUN_COUNT], cells["accuracy"], marker="o", ms=2.5, label=str(model))
        axes.axhline(0.5, color="grey", lw=0.8, ls="--")
        _mark_split_ranges(axes, split_ranges, low, high)
        axes.set(xlim=(low, high), ylim=(-0.02, 1.08), title=f"{category}", xlabel="noun count")
        axes.grid(alpha=0.3)
        if index % columns == 0:
            axes.set_ylabel("accuracy")
        if index == 0:
            axes.legend(loc="lower left", fontsize="small")
    figure.suptitle("Accuracy vs noun count by category (chance = 0.5)")
    return _png(figure)
