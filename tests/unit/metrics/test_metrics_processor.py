"""MetricsProcessor / EvaluationResult against scikit-learn and plain-Python references."""

from __future__ import annotations

import math
import re
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from metrics import EvaluationResult, MetricsProcessor
from metrics import namespaces as ns


def naive_breakdown(y_true, y_prob, metadata, keys, threshold=0.5):
    """{values: (accuracy, count)} by a loop over rows."""
    hits: dict[tuple, int] = defaultdict(int)
    counts: dict[tuple, int] = defaultdict(int)
    rows = metadata[list(keys)].itertuples(index=False)
    for label, prob, values in zip(y_true, y_prob, rows, strict=True):
        counts[tuple(values)] += 1
        hits[tuple(values)] += int((prob > threshold) == bool(label))
    return {values: (hits[values] / counts[values], counts[values]) for values in counts}


def assert_matches_naive(p, keys, table) -> None:
    expected = naive_breakdown(p.y_true, p.y_prob, p.metadata, keys)
    got = {
        tuple(row[:-2]): (row[-2], row[-1])
        for row in table[[*keys, "accuracy", "count"]].itertuples(index=False)
    }
    assert got.keys() == expected.keys()
    for values, (accuracy, count) in expected.items():
        assert got[values][0] == pytest.approx(accuracy)
        assert got[values][1] == count


# --- overall metrics ------------------------------------------------------------------------


def test_overall_metrics_match_sklearn(predictions) -> None:
    p = predictions
    result = MetricsProcessor().evaluate(p.y_true, p.y_prob, p.metadata)
    predicted = (p.y_prob > 0.5).astype(int)
    assert result.n_samples == len(p.y_true)
    assert result.accuracy == pytest.approx(sk.accuracy_score(p.y_true, predicted))
    assert result.precision == pytest.approx(sk.precision_score(p.y_true, predicted))
    assert result.recall == pytest.approx(sk.recall_score(p.y_true, predicted))
    assert result.f1 == pytest.approx(sk.f1_score(p.y_true, predicted))
    assert result.roc_auc == pytest.approx(sk.roc_auc_score(p.y_true, p.y_prob))
    assert result.loss == pytest.approx(sk.log_loss(p.y_true, np.clip(p.y_prob, 1e-7, 1 - 1e-7)))
    assert result.confusion.as_lists() == sk.confusion_matrix(p.y_true, predicted).tolist()


def test_roc_auc_with_heavy_ties_matches_sklearn(make) -> None:
    p = make(500, seed=11)
    coarse = (p.y_prob * 4).round() / 4  # five distinct scores only
    result = MetricsProcessor().evaluate(p.y_true, coarse, p.metadata)
    assert result.roc_auc == pytest.approx(sk.roc_auc_score(p.y_true, coarse))
    constant = MetricsProcessor().evaluate(p.y_true, np.full(500, 0.3), p.metadata)
    assert constant.roc_auc == pytest.approx(0.5)


def test_losses_given_are_averaged(predictions) -> None:
    p = predictions
    losses = np.linspace(0.0, 2.0, len(p.y_true))
    result = MetricsProcessor().evaluate(p.y_true, p.y_prob, p.metadata, losses=losses)
    assert result.loss == pytest.approx(1.0)


def test_extreme_probabilities_give_a_finite_clipped_loss() -> None:
    meta = pd.DataFrame({"category": ["a", "a"], "noun_count": [2, 2]})
    result = MetricsProcessor().evaluate([1, 0], [0.0, 1.0], meta)
    assert math.isfinite(result.loss)
    assert result.loss == pytest.approx(-math.log(1e-7), rel=1e-6)


def test_threshold_ties_predict_no_and_threshold_is_a_parameter() -> None:
    meta = pd.DataFrame({"category": ["a"] * 4, "noun_count": [2] * 4})
    y_true, y_prob = [1, 0, 1, 0], [0.5, 0.5, 0.7, 0.7]
    default = MetricsProcessor().evaluate(y_true, y_prob, meta)
    assert default.threshold == 0.5
    assert default.confusion.as_lists() == [[1, 1], [1, 1]]  # 0.5 -> "no"
    strict = MetricsProcessor(threshold=0.8).evaluate(y_true, y_prob, meta)
    assert strict.confusion.as_lists() == [[2, 0], [2, 0]]
    assert strict.precision == 0.0  # nothing predicted positive: zero_division=0
    assert strict.f1 == 0.0


@pytest.mark.parametrize("label", [0, 1])
def test_single_class_input_leaves_roc_auc_absent(label: int) -> None:
    meta = pd.DataFrame({"category": ["a", "b", "b"], "noun_count": [2, 3, 3]})
    result = MetricsProcessor().evaluate([label] * 3, [0.2, 0.6, 0.9], meta)
    assert result.roc_auc is None
    assert "roc_auc" not in result.scores()
    fields = result.as_namespaces(ns.eval_prefix("test"))
    assert ns.eval_metric("test", "roc_auc") not in fields
    assert all(isinstance(v, int | float) and not math.isnan(v) for v in fields.values())
    assert result.recall == (2 / 3 if label == 1 else 0.0)


def test_accepts_keras_shaped_probabilities_and_bool_labels() -> None:
    meta = pd.DataFrame({"category": ["a", "b"], "noun_count": [2, 3]})
    result = MetricsProcessor().evaluate(np.array([True, False]), np.array([[0.9], [0.2]]), meta)
    assert result.accuracy == 1.0


# --- breakdowns -----------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["predictions", "small"])
def test_every_breakdown_matches_a_naive_loop(fixture: str, request) -> None:
    p = request.getfixturevalue(fixture)
    result = MetricsProcessor().evaluate(p.y_true, p.y_prob, p.metadata)
    assert list(result.breakdowns) == list(ns.DEFAULT_BREAKDOWNS)
    for keys, table in result.breakdowns.items():
        assert_matches_naive(p, keys, table)
        assert table["count"].sum() == len(p.y_true)
        assert not table.isna().any().any()


def test_breakdown_rows_are_sorted_by_category_then_noun_count_numerically(predictions) -> None:
    p = predictions
    table = (
        MetricsProcessor()
        .evaluate(p.y_true, p.y_prob, p.metadata)
        .breakdown("category", "noun_count")
    )
    pairs = list(zip(table["category"], table["noun_count"], strict=True))
    assert pairs == sorted(pairs)
    assert table["noun_count"].dtype.kind == "i"


def test_empty_categorical_levels_and_cells_are_absent() -> None:
    meta = pd.DataFrame(
        {
            "category": pd.Categorical(
                ["dense", "dense", "simple"], categories=["simple", "dense", "unused"]
            ),
            "noun_count": [9, 10, 9],
        }
    )
    result = MetricsProcessor().evaluate([1, 0, 1], [0.9, 0.9, 0.1], meta)
    by_category = result.breakdown("category")
    # Categorical order (simple before dense) is kept; the unused level is absent.
    assert by_category["category"].tolist() == ["simple", "dense"]
    combined = result.breakdown("category", "noun_count")
    assert len(combined) == 3  # (simple, 10) has no sample, so no row
    assert not combined["accuracy"].isna().any()


def test_custom_breakdowns_any_metadata_column(predictions) -> None:
    p = predictions
    processor = MetricsProcessor(breakdowns=["directions", ("directions", "category")])
    result = processor.evaluate(p.y_true, p.y_prob, p.metadata)
    assert list(result.breakdowns) == [("directions",), ("directions", "category")]
    assert_matches_naive(p, ("directions", "category"), result.breakdown("directions", "category"))
    assert "by_directions_category/4/category_dense/accuracy" in " ".join(
        result.as_namespaces("eval/x")
    )


def test_no_breakdowns_is_allowed(predictions) -> None:
    p = predictions
    result = MetricsProcessor(breakdowns=()).evaluate(p.y_true, p.y_prob, p.metadata)
    assert result.breakdowns == {}
    assert result.to_frame().empty
    assert "EVALUATION RESULTS BY CATEGORY:" in result.console_report()


def test_to_frame_is_one_long_tidy_frame(predictions) -> None:
    p = predictions
    result = MetricsProcessor().evaluate(p.y_true, p.y_prob, p.metadata)
    frame = result.to_frame()
    assert list(frame.columns) == [
        "breakdown",
        "group",
        "category",
        "noun_count",
        "accuracy",
        "count",
    ]
    assert frame.groupby("breakdown")["count"].sum().to_dict() == {
        "by_category": 3000,
        "by_noun_count": 3000,
        "by_category_noun": 3000,
    }
    row = frame[(frame["breakdown"] == "by_category_noun") & (frame["group"] == "dense/noun_15")]
    assert row["category"].item() == "dense" and row["noun_count"].item() == 15
    assert frame.loc[frame["breakdown"] == "by_category", "noun_count"].isna().all()


# --- misclassified --------------------------------------------------------------------------


def test_misclassified_most_confident_first_with_examples(predictions) -> None:
    p = predictions
    result = MetricsProcessor().evaluate(p.y_true, p.y_prob, p.metadata, examples=p.examples)
    wrong = result.misclassified
    assert len(wrong) == result.confusion.fp + result.confusion.fn
    assert list(wrong.columns) == [
        "position",
        "story",
        "question",
        "label",
        "prediction",
        "probability",
    ]
    assert (wrong["label"] != wrong["prediction"]).all()
    margins = (wrong["probability"] - 0.5).abs().round(9).to_numpy()
    assert (np.diff(margins) <= 0).all()
    # Ties keep input order.
    for _, tied in wrong.groupby(margins):
        assert tied["position"].is_monotonic_increasing
    first = wrong.iloc[0]
    assert first["story"] == f"story {first['position']}"
    assert first["label"] == p.y_true[first["position"]]
    assert first["probability"] == p.y_prob[first["position"]]


def test_misclassified_falls_back_to_metadata_rows_and_can_be_capped(predictions) -> None:
    p = predictions
    result = MetricsProcessor(max_misclassified=5).evaluate(p.y_true, p.y_prob, p.metadata)
    assert len(result.misclassified) == 5
    assert {"category", "noun_count", "directions"} <= set(result.misclassified.columns)


def test_misclassified_ignores_a_non_default_metadata_index() -> None:
    meta = pd.DataFrame({"category": ["a", "b"], "noun_count": [2, 3]}, index=[10, 5])
    result = MetricsProcessor().evaluate([1, 0], [0.9, 0.8], meta)
    assert result.misclassified[["position", "category"]].to_dict(orient="list") == {
        "position": [1],
        "category": ["b"],
    }


# --- console, html, namespaces -------------------------------------------------------------

REPORT_PATTERN = re.compile(
    r"={48}\n"
    r"EVALUATION RESULTS BY CATEGORY:\n"
    r"(?P<rows>(?:  - [a-z_]+/noun_\d+: Accuracy=\d\.\d{4} \(from \d+ samples\)\n)+)"
    r"={48}\n"
    r"\n"
    r"Overall accuracy: (?P<accuracy>\d\.\d{4})\n"
    r"Loss: (?P<loss>\d+\.\d{4})\Z"
)


def test_console_report_has_the_exact_shape(predictions) -> None:
    p = predictions
    result = MetricsProcessor().evaluate(p.y_true, p.y_prob, p.metadata)
    text = result.console_report()
    match = REPORT_PATTERN.match(text)
    assert match, text
    rows = match["rows"].splitlines()
    combined = result.breakdown("category", "noun_count")
    assert len(rows) == len(combined)
    first = combined.iloc[0]
    assert rows[0] == (
        f"  - {first['category']}/noun_{first['noun_count']}: "
        f"Accuracy={first['accuracy']:.4f} (from {first['count']} samples)"
    )
    labels = [row.split(":")[0][4:] for row in rows]
    keys = [(label.split("/")[0], int(label.split("_")[-1])) for label in labels]
    assert keys == sorted(keys)  # noun_9 before noun_10
    assert match["accuracy"] == f"{result.accuracy:.4f}"
    assert match["loss"] == f"{result.loss:.4f}"


def test_console_report_uses_the_finest_breakdown_without_the_combined_one(predictions) -> None:
    p = predictions
    result = MetricsProcessor(breakdowns=["category", ("directions", "noun_count")]).evaluate(
        p.y_true, p.y_prob, p.metadata
    )
    lines = result.console_report().splitlines()
    assert lines[2].startswith("  - 2/noun_2: Accuracy=")
    assert sum(line.startswith("  - ") for line in lines) == len(
        result.breakdown("directions", "noun_count")
    )


def test_repr_html_contains_tables(predictions) -> None:
    p = predictions
    html = MetricsProcessor().evaluate(p.y_true, p.y_prob, p.metadata)._repr_html_()
    assert html.count("<table") >= 5  # overall, confusion, three breakdowns
    for title in (
        "overall",
        "confusion matrix",
        "by_category",
        "by_noun_count",
        "by_category_noun",
    ):
        assert f"<h4>{title}</h4>" in html
    assert "superdense" in html


def test_as_namespaces_names_and_values(predictions) -> None:
    p = predictions
    result = MetricsProcessor().evaluate(p.y_true, p.y_prob, p.metadata)
    fields = result.as_namespaces("eval/test")
    assert fields["eval/test/accuracy"] == result.accuracy
    assert fields["eval/test/roc_auc"] == result.roc_auc
    dense15 = result.breakdown("category", "noun_count").query(
        "category == 'dense' and noun_count == 15"
    )
    assert fields["eval/test/by_category_noun/dense/noun_15/count"] == dense15["count"].item()
    assert fields["eval/test/by_category_noun/dense/noun_15/accuracy"] == pytest.approx(
        dense15["accuracy"].item()
    )
    assert "eval/test/by_noun_count/24/accuracy" in fields
    assert "eval/test/by_category/superdense/count" in fields

    # Every name is one the namespaces functions build, and there is nothing else.
    expected = {ns.eval_metric("test", m) for m in ns.EVAL_METRICS}
    for keys, table in result.breakdowns.items():
        for values in table[list(keys)].itertuples(index=False):
            expected |= {
                ns.eval_breakdown("test", keys, tuple(values), m) for m in ns.BREAKDOWN_METRICS
            }
    assert set(fields) == expected
    assert all(type(v) in (int, float) for v in fields.values())


def test_epoch_namespaces_are_per_epoch_names_without_counts(predictions) -> None:
    p = predictions
    result = MetricsProcessor().evaluate(p.y_true, p.y_prob, p.metadata)
    fields = result.epoch_namespaces("val")
    assert fields["metrics/val/loss"] == result.loss
    assert fields["metrics/val/accuracy"] == result.accuracy
    assert "metrics/val/by_category/dense/accuracy" in fields
    assert "metrics/val/by_noun_count/9/accuracy" in fields
    assert "metrics/val/by_category_noun/simple/noun_30/accuracy" in fields
    assert not any(name.endswith("/count") for name in fields)
    n_groups = sum(len(t) for t in result.breakdowns.values())
    assert len(fields) == 2 + n_groups
    assert "metrics/train/loss" in result.epoch_namespaces("train")


# --- persistence ----------------------------------------------------------------------------


def test_save_writes_readable_files_and_load_round_trips(tmp_path, predictions) -> None:
    p = predictions
    result = MetricsProcessor().evaluate(p.y_true, p.y_prob, p.metadata, examples=p.examples)
    written = result.save(tmp_path / "test")
    names = {path.relative_to(tmp_path / "test").as_posix() for path in written}
    assert names == {
        "evaluation.json",
        "breakdown.csv",
        "misclassified.jsonl",
        "plots/accuracy_vs_noun_count.png",
        "plots/accuracy_heatmap.png",
        "plots/confusion_matrix.png",
    }
    for path in written:
        assert path.stat().st_size > 0
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    csv = pd.read_csv(tmp_path / "test" / "breakdown.csv")
    assert len(csv) == len(result.to_frame())
    lines = (tmp_path / "test" / "misclassified.jsonl").read_text().splitlines()
    assert len(lines) == len(result.misclassified)

    loaded = EvaluationResult.load(tmp_path / "test")
    assert loaded.scores() == result.scores()
    assert loaded.confusion == result.confusion
    assert loaded.n_samples == result.n_samples and loaded.threshold == result.threshold
    for keys, table in result.breakdowns.items():
        pd.testing.assert_frame_equal(loaded.breakdown(*keys), table)
    pd.testing.assert_frame_equal(loaded.misclassified, result.misclassified)
    assert loaded.console_report() == result.console_report()
    assert loaded.as_namespaces("eval/test") == result.as_namespaces("eval/test")


def test_save_without_plots_and_load_with_no_misclassified(tmp_path) -> None:
    meta = pd.DataFrame({"category": ["a", "b"], "noun_count": [2, 3]})
    result = MetricsProcessor().evaluate([1, 0], [0.9, 0.1], meta)
    written = result.save(tmp_path, plots=False)
    assert not (tmp_path / "plots").exists() and len(written) == 3
    loaded = EvaluationResult.load(tmp_path)
    assert loaded.misclassified.empty and loaded.roc_auc == 1.0


def test_from_dict_rejects_an_unknown_schema(predictions) -> None:
    p = predictions
    data = MetricsProcessor().evaluate(p.y_true, p.y_prob, p.metadata).to_dict()
    data["schema_version"] = 99
    with pytest.raises(ValueError, match="schema_version 99"):
        EvaluationResult.from_dict(data)


def test_single_class_roc_auc_round_trips_as_null(tmp_path) -> None:
    meta = pd.DataFrame({"category": ["a", "b"], "noun_count": [2, 3]})
    MetricsProcessor().evaluate([1, 1], [0.9, 0.1], meta).save(tmp_path, plots=False)
    assert '"roc_auc": null' in (tmp_path / "evaluation.json").read_text()
    assert EvaluationResult.load(tmp_path).roc_auc is None


def test_examples_may_be_a_list_of_dicts() -> None:
    meta = pd.DataFrame({"category": ["a", "b"], "noun_count": [2, 3]})
    examples = [{"story": "s0", "question": "q0"}, {"story": "s1", "question": "q1"}]
    result = MetricsProcessor().evaluate([1, 0], [0.2, 0.3], meta, examples=examples)
    assert result.misclassified[["position", "story"]].to_dict(orient="list") == {
        "position": [0],
        "story": ["s0"],
    }


def test_unknown_noun_counts_are_left_out_of_their_breakdowns_only(make) -> None:
    p = make(400, seed=5, noun_counts=range(0, 4))  # noun_count 0: unknown (a user's rows)
    unknown = (p.metadata["noun_count"] == ns.UNKNOWN_VALUES["noun_count"]).to_numpy()
    assert unknown.any()
    result = MetricsProcessor(
        breakdowns=["category", "noun_count", ("category", "noun_count")]
    ).evaluate(p.y_true, p.y_prob, p.metadata)
    assert result.n_samples == 400  # overall metrics keep every row
    assert result.breakdown("category")["count"].sum() == 400
    by_count = result.breakdown("noun_count")
    assert 0 not in by_count["noun_count"].tolist()
    assert by_count["count"].sum() == 400 - unknown.sum()
    known = p.metadata[~unknown]
    expected = naive_breakdown(p.y_true[~unknown], p.y_prob[~unknown], known, ["noun_count"])
    for row in by_count.itertuples(index=False):
        assert (row.accuracy, row.count) == pytest.approx(expected[(row.noun_count,)])
    assert result.breakdown("category", "noun_count")["count"].sum() == 400 - unknown.sum()
