"""metrics.jsonl reading, learning curves and evaluation plots."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from metrics import MetricsProcessor, epoch_history, plot_learning_curve, plots, read_metrics_jsonl
from metrics import namespaces as ns
from metrics.history import MetricRecord

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_metrics(path, epochs: int = 4, extra_lines: tuple[str, ...] = ()) -> None:
    lines = []
    for epoch in range(epochs):
        for stage in ns.EPOCH_STAGES:
            for metric, value in (("loss", 1.0 / (epoch + 1)), ("accuracy", 0.5 + epoch / 10)):
                entry = {
                    "name": ns.epoch_metric(stage, metric),
                    "value": value,
                    "step": epoch,
                    "kind": "series",
                }
                lines.append(json.dumps(entry))
    lines.append(json.dumps({"name": ns.best("epoch"), "value": 3, "kind": "field"}))
    path.write_text("\n".join([*lines, *extra_lines]) + "\n")


def test_reader_tolerates_other_lines_and_kinds(tmp_path, caplog) -> None:
    path = tmp_path / "metrics.jsonl"
    write_metrics(
        path,
        epochs=2,
        extra_lines=(
            "",
            '{"event": "started"}',
            '["not", "an", "object"]',
            '{"name": "artifacts/plots/x.png", "value": "plots/x.png", "kind": "artifact"}',
            '{"name": "metrics/val/loss", "val',  # cut short by a crash
        ),
    )
    with caplog.at_level(logging.WARNING, logger="metrics.history"):
        records = read_metrics_jsonl(path)
    assert len(records) == 2 * 4 + 2
    assert records[0] == MetricRecord("metrics/train/loss", 1.0, "series", 0)
    assert MetricRecord("best/epoch", 3, "field") in records
    assert records[-1].kind == "artifact"
    assert "skipped 1 line(s) that are not valid JSON (first: line 14)" in caplog.text


def test_epoch_history_is_wide_and_last_value_wins(tmp_path) -> None:
    path = tmp_path / "metrics.jsonl"
    resumed = json.dumps({"name": "metrics/val/loss", "value": 9.0, "step": 1, "kind": "series"})
    write_metrics(path, epochs=3, extra_lines=(resumed,))
    history = epoch_history(path)
    assert history.index.tolist() == [0, 1, 2]
    assert set(history.columns) == {
        ns.epoch_metric(stage, metric) for stage in ns.EPOCH_STAGES for metric in ns.EPOCH_METRICS
    }
    assert history.loc[1, "metrics/val/loss"] == 9.0
    assert history.loc[2, "metrics/train/accuracy"] == pytest.approx(0.7)
    assert "best/epoch" not in history.columns


def test_plot_learning_curve_writes_a_png(tmp_path) -> None:
    path = tmp_path / "metrics.jsonl"
    write_metrics(path)
    output = plot_learning_curve(path, tmp_path / "out" / "learning_curve.png")
    data = output.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000


@pytest.mark.parametrize("epochs", [1, 4])
def test_learning_curve_marks_whole_epochs_only(tmp_path, monkeypatch, epochs: int) -> None:
    path = tmp_path / "metrics.jsonl"
    write_metrics(path, epochs=epochs)
    figures = []
    monkeypatch.setattr(plots, "_png", lambda figure: figures.append(figure) or b"")
    plots.learning_curve_png(path)
    (figure,) = figures
    figure.canvas.draw()
    for axes in figure.axes:
        low, high = axes.get_xlim()
        ticks = [tick for tick in axes.get_xticks() if low <= tick <= high]
        assert ticks and all(tick == int(tick) for tick in ticks), ticks
        assert {0, epochs - 1} <= set(ticks)


def test_plot_learning_curve_without_series_raises(tmp_path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"name": "best/epoch", "value": 1, "kind": "field"}\n')
    with pytest.raises(ValueError, match="holds no per-epoch loss or accuracy series"):
        plot_learning_curve(path, tmp_path / "x.png")


def test_evaluation_plots_are_pngs(predictions) -> None:
    p = predictions
    result = MetricsProcessor().evaluate(p.y_true, p.y_prob, p.metadata)
    pngs = plots.evaluation_plots(result, split_ranges={"a": (2, 10), "b": (11, 30)})
    assert set(pngs) == {plots.ACCURACY_CURVE_FILE, plots.HEATMAP_FILE, plots.CONFUSION_FILE}
    assert all(png[:8] == PNG_MAGIC and len(png) > 1000 for png in pngs.values())


def test_plots_needing_absent_breakdowns_are_left_out(predictions) -> None:
    p = predictions
    result = MetricsProcessor(breakdowns=["category"]).evaluate(p.y_true, p.y_prob, p.metadata)
    assert set(plots.evaluation_plots(result)) == {plots.CONFUSION_FILE}
    by_noun_only = MetricsProcessor(breakdowns=["noun_count"]).evaluate(
        p.y_true, p.y_prob, p.metadata
    )
    assert set(plots.evaluation_plots(by_noun_only)) == {
        plots.ACCURACY_CURVE_FILE,
        plots.CONFUSION_FILE,
    }


def test_accuracy_curve_needs_numeric_noun_counts() -> None:
    meta = pd.DataFrame({"category": ["a", "b"], "noun_count": ["few", "many"]})
    result = MetricsProcessor().evaluate([1, 0], [0.9, 0.1], meta)
    assert plots.accuracy_curve_png(result) is None
    assert plots.accuracy_heatmap_png(result) is not None


def test_default_split_ranges_follow_the_design() -> None:
    assert dict(plots.DEFAULT_SPLIT_RANGES) == {
        "train/valid_a": (2, 8),
        "valid_comp": (9, 20),
        "test": (21, 30),
    }


def test_learning_curves_put_each_run_on_epochs_and_on_minutes(tmp_path) -> None:
    fast, slow = tmp_path / "fast.jsonl", tmp_path / "slow.jsonl"
    write_metrics(fast, epochs=4)
    write_metrics(slow, epochs=2)
    seconds = [
        json.dumps({"name": ns.epoch_seconds(), "value": 90.0, "step": e, "kind": "series"})
        for e in range(2)
    ]
    with slow.open("a") as out:
        out.write("\n".join(seconds) + "\n")
    table = plots.learning_curves_table({"a": epoch_history(fast), "b": epoch_history(slow)})
    assert list(table.columns) == list(plots.LEARNING_CURVE_COLUMNS)
    assert table.groupby("run").size().to_dict() == {"a": 4, "b": 2}
    b = table[table["run"] == "b"]
    assert b["minutes"].tolist() == [1.5, 3.0]  # cumulative epoch seconds
    assert b["val_accuracy"].tolist() == pytest.approx([0.5, 0.6])
    assert table[table["run"] == "a"]["minutes"].isna().all()  # no epoch time logged
    png = plots.learning_curves_png(table)
    assert png is not None and png[:8] == PNG_MAGIC and len(png) > 1000


def test_learning_curves_of_runs_without_validation_are_empty(tmp_path) -> None:
    history = pd.DataFrame({ns.epoch_metric("train", "loss"): [0.7]}, index=[0])
    table = plots.learning_curves_table({"a": history})
    assert table.empty and plots.learning_curves_png(table) is None
