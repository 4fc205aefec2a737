"""Run report HTML and model comparison."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest

from metrics import MetricsProcessor, compare_results, load_split_results, write_run_report
from metrics.compare import difference_column


@pytest.fixture(scope="module")
def two_models(make):
    """Same data, two models of different quality, on two splits."""
    data = {split: make(600, seed=seed) for split, seed in (("valid_comp", 1), ("test", 2))}
    rng = np.random.default_rng(5)
    results: dict[str, dict] = {"lstm": {}, "transformer": {}}
    for split, p in data.items():
        results["lstm"][split] = MetricsProcessor().evaluate(p.y_true, p.y_prob, p.metadata)
        sharper = np.clip(p.y_prob + rng.normal(0, 0.05, len(p.y_prob)), 0, 1)
        results["transformer"][split] = MetricsProcessor().evaluate(p.y_true, sharper, p.metadata)
    return results


def test_run_report_embeds_summary_tables_and_plots(tmp_path, two_models) -> None:
    metrics_jsonl = tmp_path / "metrics.jsonl"
    metrics_jsonl.write_text(
        "\n".join(
            json.dumps(
                {"name": f"metrics/{stage}/loss", "value": 1 / (e + 1), "step": e, "kind": "series"}
            )
            for e in range(3)
            for stage in ("train", "val")
        )
    )
    results = two_models["lstm"]
    path = write_run_report(
        tmp_path / "report.html",
        results,
        summary={"run_id": "lstm-x-1", "note": "<script>alert(1)</script>"},
        learning_curve=metrics_jsonl,
    )
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<h2>Summary</h2>" in page and "lstm-x-1" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<h2>Split: valid_comp</h2>" in page and "<h2>Split: test</h2>" in page
    assert page.index("Split: valid_comp") < page.index("Split: test")
    # learning curve + 3 plots per split
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 1 + 3 * len(results)
    assert all(base64.b64decode(image)[:8] == b"\x89PNG\r\n\x1a\n" for image in images)
    accuracy = f"{results['test'].accuracy:.4f}"
    assert accuracy in page
    assert page.count("<h4>by_category_noun</h4>") == 2
    assert "most confident misclassified (first 20 of" in page


def test_run_report_accepts_a_ready_png_and_no_curve(tmp_path, two_models) -> None:
    png = tmp_path / "curve.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    with_png = write_run_report(tmp_path / "a.html", two_models["lstm"], {}, learning_curve=png)
    assert base64.b64encode(png.read_bytes()).decode() in with_png.read_text()
    without = write_run_report(tmp_path / "b.html", two_models["lstm"], {})
    assert "Learning curve" not in without.read_text()


def test_comparison_difference_is_second_minus_first(two_models) -> None:
    comparison = compare_results(two_models)
    frame = comparison.to_frame()
    assert comparison.baseline == "lstm"
    assert list(frame.columns) == [
        "split",
        "breakdown",
        "group",
        "metric",
        "count",
        "lstm",
        "transformer",
        "transformer - lstm",
    ]
    assert np.allclose(frame["transformer - lstm"], frame["transformer"] - frame["lstm"])
    test_accuracy = frame.query(
        "split == 'test' and breakdown == 'overall' and metric == 'accuracy'"
    )
    assert test_accuracy["lstm"].item() == two_models["lstm"]["test"].accuracy
    assert test_accuracy["transformer - lstm"].item() == pytest.approx(
        two_models["transformer"]["test"].accuracy - two_models["lstm"]["test"].accuracy
    )
    dense = frame.query("split == 'test' and breakdown == 'by_category' and group == 'dense'")
    expected = two_models["transformer"]["test"].breakdown("category").query("category == 'dense'")
    assert dense["transformer"].item() == pytest.approx(expected["accuracy"].item())
    assert dense["count"].item() == expected["count"].item()
    assert set(frame["breakdown"]) == {
        "overall",
        "by_category",
        "by_noun_count",
        "by_category_noun",
    }
    assert frame["split"].drop_duplicates().tolist() == ["valid_comp", "test"]
    assert comparison.warnings == ()


def test_comparison_against_a_named_baseline_with_three_models(two_models) -> None:
    results = {**two_models, "other": two_models["lstm"]}
    comparison = compare_results(results, baseline="transformer")
    assert comparison.difference_columns == ["lstm - transformer", "other - transformer"]
    frame = comparison.frame
    assert np.allclose(frame["other - transformer"], frame["lstm - transformer"])
    assert difference_column("a", "b") == "a - b"


def test_comparison_flags_missing_splits_and_different_sizes(make, two_models) -> None:
    p = make(100, seed=9)
    small = MetricsProcessor().evaluate(p.y_true, p.y_prob, p.metadata)
    comparison = compare_results({"lstm": two_models["lstm"], "transformer": {"test": small}})
    assert comparison.warnings == (
        "split 'valid_comp' is missing for transformer",
        "split 'test' was evaluated on different sample counts (lstm: 600, transformer: 100)",
    )
    missing = comparison.frame.query("split == 'valid_comp'")
    assert missing["transformer"].isna().all() and missing["transformer - lstm"].isna().all()
    assert "WARNING: split 'valid_comp' is missing for transformer" in comparison.console_table()


def test_comparison_console_and_html(two_models) -> None:
    comparison = compare_results(two_models)
    text = comparison.console_table()
    header = text.splitlines()[0].split()
    assert header[:5] == ["split", "breakdown", "group", "metric", "count"]
    row = next(line for line in text.splitlines() if " overall " in line and " accuracy " in line)
    lstm, transformer = (two_models[m]["valid_comp"].accuracy for m in ("lstm", "transformer"))
    assert f"{lstm:.4f}" in row and f"{transformer - lstm:+.4f}" in row
    html = comparison.to_html()
    assert html.count("<table") == 1 and "<th>transformer - lstm</th>" in html
    assert comparison._repr_html_() == html


def test_comparison_input_errors(two_models) -> None:
    with pytest.raises(ValueError, match="nothing to compare"):
        compare_results({})
    with pytest.raises(ValueError, match="baseline 'gru' is not among the models"):
        compare_results(two_models, baseline="gru")


def test_single_class_roc_auc_compares_as_missing() -> None:
    meta = pd.DataFrame({"category": ["a", "a"], "noun_count": [2, 2]})
    one_class = MetricsProcessor().evaluate([1, 1], [0.9, 0.2], meta)
    two_class = MetricsProcessor().evaluate([1, 0], [0.9, 0.2], meta)
    frame = compare_results({"a": {"test": one_class}, "b": {"test": two_class}}).frame
    roc = frame.query("metric == 'roc_auc'")
    assert roc["a"].isna().item() and roc["b"].item() == 1.0 and roc["b - a"].isna().item()


def test_load_split_results_reads_a_run_eval_folder(tmp_path, two_models) -> None:
    for split, result in two_models["lstm"].items():
        result.save(tmp_path / "eval" / split, plots=False)
    (tmp_path / "eval" / "notes").mkdir()
    loaded = load_split_results(tmp_path / "eval")
    assert list(loaded) == ["valid_comp", "test"]
    assert loaded["test"].accuracy == two_models["lstm"]["test"].accuracy
    with pytest.raises(ValueError, match=r"no split folder with evaluation\.json"):
        load_split_results(tmp_path / "eval" / "notes")
