"""Run report HTML and model comparison."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest

from metrics import MetricsProcessor, compare_results, load_split_results, write_run_report
from metrics.compare import SIGNIFICANCE_LEVEL, difference_column, paired_tests
from metrics.functional import mcnemar_exact_p_value, wilson_interval
from metrics.processor import MISCLASSIFIED_FILE


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
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page
    assert "<h2>Split: valid_comp</h2>" in page and "<h2>Split: test</h2>" in page
    assert page.index("Split: valid_comp") < page.index("Split: test")
    # learning curve + 3 plots per split
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 1 + 3 * len(results)
    assert all(base64.b64decode(image)[:8] == b"\x89PNG\r\n\x1a\n" for image in images)
    accuracy = f"{results['test'].accuracy:.4f}"
    assert accuracy in page
    assert page.count("<h4>by_category_noun</h4>") == 2
    assert re.search(r"most confident misclassified <span[^>]*>\(first 20 of", page)
    assert 'class="dataframe"' not in page  # no pandas default tables


def _tables(page: str) -> list[str]:
    return re.findall(r"<table.*?</table>", page, flags=re.DOTALL)


def _style(page: str) -> str:
    found = re.search(r"<style>(.*?)</style>", page, flags=re.DOTALL)
    assert found is not None
    return found.group(1)


def test_run_report_opens_with_the_headline_accuracy_per_split_with_its_interval(
    tmp_path, two_models
) -> None:
    results = two_models["lstm"]
    page = write_run_report(tmp_path / "report.html", results, {"run id": "lstm-x-1"}).read_text()
    first = _tables(page)[0]
    assert first.startswith('<table class="metrics headline">')
    assert page.index(first) < page.index("<h2>Summary</h2>") < page.index("<h2>Split:")
    rows = re.findall(r"<tr>(.*?)</tr>", first.split("<tbody>")[1])
    assert [re.search(r">([^<]+)</th>", row).group(1) for row in rows] == list(results)
    for row, result in zip(rows, results.values(), strict=True):
        correct = result.confusion.tn + result.confusion.tp
        low, high = wilson_interval(correct, result.n_samples)
        assert f"<td>{result.n_samples}</td>" in row
        assert f'{result.accuracy:.3f} <span class="ci">[{low:.3f}, {high:.3f}]</span>' in row
    assert "best" not in first  # one column: nothing to single out


def test_run_report_summary_has_no_header_row_and_shares_the_comparison_style(
    tmp_path, two_models
) -> None:
    from metrics.report import ComparedRun, write_comparison_page

    summary = {"run id": "lstm-x-1", "seed": 3, "best val accuracy": "0.8125"}
    page = write_run_report(tmp_path / "report.html", two_models["lstm"], summary).read_text()
    table = _tables(page.split("<h2>Summary</h2>")[1])[0]
    assert "<thead>" not in table and ">field<" not in table and ">value<" not in table
    rows = re.findall(r"<tr><th>(.*?)</th><td[^>]*>(.*?)</td></tr>", table)
    assert rows == [(key, str(value)) for key, value in summary.items()]
    run = ComparedRun("lstm", "lstm-x-1", "lstm", 0, "all_4dir-x")
    comparison = write_comparison_page(tmp_path / "c.html", compare_results(two_models), [run])
    assert _style(page) == _style(comparison.read_text())


def test_run_report_accepts_a_ready_png_and_no_curve(tmp_path, two_models) -> None:
    png = tmp_path / "curve.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    with_png = write_run_report(tmp_path / "a.html", two_models["lstm"], {}, learning_curve=png)
    assert base64.b64encode(png.read_bytes()).decode() in with_png.read_text()
    without = write_run_report(tmp_path / "b.html", two_models["lstm"], {})
    assert "Learning curve" not in without.read_text()


def test_run_report_wraps_stories_and_aligns_words_left_and_numbers_right(tmp_path, make) -> None:
    p = make(60, seed=4)
    examples = p.examples.assign(
        story=[f"Ann walks north. Bo follows Ann. {i}" * 3 for i in range(60)]
    )
    result = MetricsProcessor().evaluate(p.y_true, p.y_prob, p.metadata, examples=examples)
    page = write_run_report(tmp_path / "r.html", {"test": result}, {}).read_text()
    table = _tables(page.split("most confident misclassified")[1])[0]
    heads = re.findall(r"<th(?: class=\"(\w+)\")?>([^<]*)</th>", table.split("</thead>")[0])
    kinds = {name: kind for kind, name in heads}
    assert kinds["story"] == "text" and kinds["question"] == "label"
    assert kinds["probability"] == kinds["label"] == kinds["position"] == ""
    first = result.misclassified.iloc[0]
    assert f'<td class="text">{first["story"]}</td>' in table
    assert f'<td class="label">{first["question"]}</td><td>{first["label"]}</td>' in table


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
    # The headline, the paired tests, then one folded section per split (overall metrics and
    # the three breakdowns).
    assert html.count("<table") == 2 + 2 * 4 and "<th>transformer - lstm</th>" in html
    assert html.index("headline") < html.index("Paired test against lstm") < html.index("<details")
    assert "<th>only lstm right</th>" in html and html.count("<details>") == 2
    assert comparison._repr_html_() == html
    paired = text[text.index("Paired test against lstm") :].splitlines()
    assert paired[1].split()[:2] == ["split", "model"]
    assert [line.split()[:2] for line in paired[2:]] == [
        ["valid_comp", "transformer"],
        ["test", "transformer"],
    ]


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


@pytest.mark.parametrize("b, c", [(0, 0), (0, 1), (3, 9), (40, 25), (120, 150), (0, 300)])
def test_mcnemar_exact_p_value_is_the_two_sided_binomial_test(b: int, c: int) -> None:
    from scipy.stats import binomtest

    expected = 1.0 if b + c == 0 else binomtest(min(b, c), b + c, 0.5).pvalue
    assert mcnemar_exact_p_value(b, c) == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert mcnemar_exact_p_value(c, b) == mcnemar_exact_p_value(b, c)
    with pytest.raises(ValueError, match="discordant counts must be >= 0"):
        mcnemar_exact_p_value(-1, c)


def test_correct_mask_survives_save_and_load_and_is_none_without_the_file(
    tmp_path, two_models
) -> None:
    result = two_models["lstm"]["test"]
    mask = result.correct_mask()
    assert mask is not None and mask.mean() == pytest.approx(result.accuracy)
    result.save(tmp_path / "test", plots=False)
    loaded = load_split_results(tmp_path)["test"]
    assert np.array_equal(loaded.correct_mask(), mask)
    (tmp_path / "test" / MISCLASSIFIED_FILE).unlink()
    assert load_split_results(tmp_path)["test"].correct_mask() is None


def test_paired_tests_count_the_discordant_examples(make) -> None:
    p = make(400, seed=3)
    truth = p.y_true.astype(bool)
    rng = np.random.default_rng(0)
    right_a, right_b = rng.random(400) < 0.55, rng.random(400) < 0.75

    def scored(right: np.ndarray):
        return MetricsProcessor().evaluate(p.y_true, np.where(right == truth, 0.9, 0.1), p.metadata)

    a, b = scored(right_a), scored(right_b)
    (test,) = paired_tests({"a": {"test": a}, "b": {"test": b}}, baseline="a")
    assert test.only_model_correct == int((right_b & ~right_a).sum())
    assert test.only_baseline_correct == int((right_a & ~right_b).sum())
    assert test.difference == pytest.approx(b.accuracy - a.accuracy)
    assert test.significant == (test.p_value < SIGNIFICANCE_LEVEL) and test.p_value < 1e-6
    # Different dataset versions, or another number of examples: not the same examples.
    assert paired_tests({"a": {"test": a}, "b": {"test": b}}, "a", {"a": "v1", "b": "v2"}) == ()
    fewer = make(399, seed=3)
    other = MetricsProcessor().evaluate(fewer.y_true, fewer.y_prob, fewer.metadata)
    assert paired_tests({"a": {"test": a}, "b": {"test": other}}, "a") == ()


def test_wilson_interval_matches_scipy_and_stays_in_bounds() -> None:
    from scipy.stats import binomtest

    for correct, total in ((583, 980), (1, 20), (0, 20), (20, 20), (140, 140)):
        expected = binomtest(correct, total).proportion_ci(method="wilson")
        low, high = wilson_interval(correct, total)
        assert low == pytest.approx(expected.low, abs=1e-9)
        assert high == pytest.approx(expected.high, abs=1e-9)
        assert 0.0 <= low <= correct / total <= high <= 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="0 <= correct <= total"):
        wilson_interval(5, 4)


def test_the_headline_is_accuracy_per_split_and_model_with_its_interval(two_models) -> None:
    comparison = compare_results(two_models)
    headline = comparison.headline_frame().set_index("split")
    assert headline.index.tolist() == ["valid_comp", "test"]
    assert headline["examples"].tolist() == [600, 600]
    for model in ("lstm", "transformer"):
        for split in ("valid_comp", "test"):
            result = two_models[model][split]
            assert headline.loc[split, model] == pytest.approx(result.accuracy)
            correct = round(result.accuracy * result.n_samples)
            interval = (headline.loc[split, f"{model} low"], headline.loc[split, f"{model} high"])
            assert interval == pytest.approx(wilson_interval(correct, result.n_samples))
    text = comparison.console_summary()
    lines = text.splitlines()
    assert lines[0].startswith("Accuracy per split, with its 95% interval")
    test_row = next(line for line in lines if line.split()[0] == "test")
    low, high = headline.loc["test", "lstm low"], headline.loc["test", "lstm high"]
    accuracy = two_models["lstm"]["test"].accuracy
    assert f"{accuracy:.3f} [{low:.3f}, {high:.3f}]" in test_row
    # Then the paired tests; none of the breakdown rows.
    assert text.index("Accuracy per split") < text.index("Paired test against lstm")
    assert "by_category" not in text and "noun_" not in text
    assert len(lines) < 15


def test_a_model_without_a_split_has_no_interval(two_models) -> None:
    only_test = {"test": two_models["lstm"]["test"]}
    comparison = compare_results({"lstm": two_models["lstm"], "other": only_test})
    headline = comparison.headline_frame().set_index("split")
    assert np.isnan(headline.loc["valid_comp", "other"])
    assert np.isnan(headline.loc["valid_comp", "other low"])
    valid_comp = comparison.headline_table().splitlines()[1].split()
    assert valid_comp[0] == "valid_comp" and valid_comp[-1] == "-"


def test_the_comparison_page_opens_with_the_headline_and_links_each_run(
    tmp_path, two_models
) -> None:
    from metrics.report import ComparedRun, write_comparison_page

    comparison = compare_results(two_models)
    runs = [
        ComparedRun("lstm", "lstm-x-1", "lstm", 0, "all_4dir-x", "../runs/lstm-x-1/report.html"),
        ComparedRun("transformer", "tr-x-2", "transformer", 0, "all_4dir-x", None),
    ]
    page = write_comparison_page(
        tmp_path / "c.html",
        comparison,
        runs,
        plot="c-plot.png",
        files={"every row (CSV)": "c.csv"},
        lead="2 runs <b>",
    ).read_text()
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page and "font-family" in page
    order = [
        page.index("Accuracy per split"),
        page.index("Paired tests against lstm"),
        page.index('<img src="c-plot.png"'),
        page.index("<h2>Runs</h2>"),
        page.index("<h2>Breakdowns</h2>"),
    ]
    assert order == sorted(order)
    assert page.count("<details>") == 2 and "sortable" in page and "<script>" in page
    assert page.count('href="../runs/lstm-x-1/report.html"') == 2  # headline head and runs table
    assert str(tmp_path) not in page and "2 runs &lt;b&gt;" in page
    assert "max-width: 100%" in page  # the plot fits the window
