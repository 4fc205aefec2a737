"""Mean ± std over the runs of each model and dataset (a sweep's seeds)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from trainers.records.manifest import RunManifest
from trainers.runs.comparison import format_seed_summary, seed_summary


def make_run(root: Path, name: str, model: str, version: str, accuracies: dict[str, float]) -> Path:
    run_dir = root / name
    manifest = RunManifest.start(
        run_dir,
        framework="keras",
        model=model,
        seed=0,
        dataset={"name": version.split("-")[0], "version": version},
        hyperparams={},
        trainer={},
        config={},
        libraries={},
    )
    manifest.update(evaluation={s: {"accuracy": a, "loss": 0.7} for s, a in accuracies.items()})
    manifest.finish("finished")
    return run_dir


def test_runs_of_a_model_and_dataset_are_pooled(tmp_path: Path) -> None:
    runs = [
        make_run(tmp_path, "a", "lstm", "all_4dir-paper-1", {"valid_a": 0.6, "test": 0.5}),
        make_run(tmp_path, "b", "lstm", "all_4dir-paper-1", {"valid_a": 0.7, "test": 0.52}),
        make_run(tmp_path, "c", "lstm", "all_2dir-paper-2", {"valid_a": 0.9, "test": 0.6}),
    ]
    summary = seed_summary(runs)
    assert summary["dataset"].tolist() == ["all_4dir-paper-1", "all_2dir-paper-2"]
    assert summary["runs"].tolist() == [2, 1]
    assert summary["valid_a mean"].tolist() == pytest.approx([0.65, 0.9])
    assert summary["valid_a std"][0] == pytest.approx(0.0707107, rel=1e-5)
    assert math.isnan(summary["valid_a std"][1])
    assert "train mean" not in summary  # no run was evaluated on train
    text = format_seed_summary(summary).splitlines()
    assert text[0].split() == ["model", "dataset", "runs", "valid_a", "test"]
    assert "0.650 ± 0.071" in text[1] and text[2].rstrip().endswith("0.600")
