"""metrics.namespaces: every tracker name is built here."""

from __future__ import annotations

import pytest

from metrics import namespaces as ns


def test_breakdown_names() -> None:
    assert ns.breakdown_name(("category",)) == "by_category"
    assert ns.breakdown_name(("noun_count",)) == "by_noun_count"
    assert ns.breakdown_name(("category", "noun_count")) == "by_category_noun"
    with pytest.raises(ValueError, match="at least one key"):
        ns.breakdown_name(())


def test_group_label_and_path() -> None:
    assert ns.group_label(("category",), ("dense",)) == "dense"
    assert ns.group_label(("noun_count",), (24,)) == "24"
    assert ns.group_label(("category", "noun_count"), ("simple", 8)) == "simple/noun_8"
    assert ns.breakdown_path(("noun_count",), (24,)) == "by_noun_count/24"
    with pytest.raises(ValueError, match="2 keys but 1 values"):
        ns.group_label(("category", "noun_count"), ("simple",))


def test_sanitize_keeps_one_segment() -> None:
    assert ns.sanitize(" a/b ") == "a_b"
    assert ns.sanitize("") == "_"
    assert ns.group_label(("category",), ("x/y",)) == "x_y"


def test_epoch_names() -> None:
    assert ns.epoch_metric("train", "loss") == "metrics/train/loss"
    assert ns.epoch_metric("val", "accuracy") == "metrics/val/accuracy"
    assert ns.epoch_breakdown(("category",), ("dense",)) == "metrics/val/by_category/dense/accuracy"
    assert (
        ns.epoch_breakdown(("category", "noun_count"), ("dense", 5))
        == "metrics/val/by_category_noun/dense/noun_5/accuracy"
    )
    with pytest.raises(ValueError, match="unknown stage 'test'"):
        ns.epoch_metric("test", "loss")


def test_eval_names() -> None:
    assert ns.eval_metric("test", "roc_auc") == "eval/test/roc_auc"
    assert (
        ns.eval_breakdown("valid_comp", ("category", "noun_count"), ("dense", 15), "count")
        == "eval/valid_comp/by_category_noun/dense/noun_15/count"
    )


def test_prefix_helpers_agree_with_the_fixed_names() -> None:
    assert ns.eval_prefix("test") == "eval/test"
    assert ns.epoch_prefix("val") == "metrics/val"
    for metric in ns.EVAL_METRICS:
        assert ns.prefixed_metric(ns.eval_prefix("test"), metric) == ns.eval_metric("test", metric)
    for metric in ns.EPOCH_METRICS:
        assert ns.prefixed_metric(ns.epoch_prefix("train"), metric) == ns.epoch_metric(
            "train", metric
        )
    keys, values = ("category", "noun_count"), ("dense", 15)
    assert ns.prefixed_breakdown(
        ns.eval_prefix("test"), keys, values, "accuracy"
    ) == ns.eval_breakdown("test", keys, values, "accuracy")
    assert ns.prefixed_breakdown(
        ns.epoch_prefix("val"), keys, values, "accuracy"
    ) == ns.epoch_breakdown(keys, values)
    with pytest.raises(ValueError, match="unknown stage"):
        ns.epoch_prefix("eval")


def test_best_top_epoch_and_artifacts() -> None:
    assert ns.best("val_accuracy") == "best/val_accuracy"
    assert ns.top_epoch(2, "checkpoint") == "top_epochs/2/checkpoint"
    assert ns.artifact("plots", "a/b.png") == "artifacts/plots/a_b.png"
    with pytest.raises(ValueError, match="unknown best field"):
        ns.best("accuracy")
    with pytest.raises(ValueError, match="ranks start at 1"):
        ns.top_epoch(0, "epoch")
    with pytest.raises(ValueError, match="unknown top-epoch field"):
        ns.top_epoch(1, "val_loss")
    with pytest.raises(ValueError, match="unknown artifact kind"):
        ns.artifact("logs", "x")


def test_parameters_and_data() -> None:
    assert ns.parameter("model.lr") == "parameters/model/lr"
    assert ns.flatten_parameters({"model": {"lr": 0.1, "sizes": (1, 2), "opt": None}}) == {
        "parameters/model/lr": 0.1,
        "parameters/model/sizes": "[1, 2]",
        "parameters/model/opt": "None",
    }
    assert ns.data_field("hash") == "data/hash"
    assert ns.data_split_size("test") == "data/test/size"


def test_epoch_statistics_context_and_model_names() -> None:
    assert ns.train_stat("learning_rate") == "metrics/train/learning_rate"
    assert ns.train_stat("examples_per_second") == "metrics/train/examples_per_second"
    assert ns.epoch_seconds() == "metrics/epoch/seconds"
    assert ns.context_field("git/dirty") == "context/git/dirty"
    assert ns.model_field("trainable_parameters") == "model/trainable_parameters"
    assert ns.run_label("model", "lstm") == "model:lstm"
    assert ns.artifact("run", "report.html") == "artifacts/run/report.html"
    assert ns.artifact("eval", "test-breakdown.csv") == "artifacts/eval/test-breakdown.csv"
    assert ns.artifact("model", "model_summary.txt") == "artifacts/model/model_summary.txt"
    for bad in (
        lambda: ns.train_stat("loss"),
        lambda: ns.context_field("hostname"),
        lambda: ns.model_field("layers"),
        lambda: ns.run_tag("user"),
    ):
        with pytest.raises(ValueError, match="unknown"):
            bad()
