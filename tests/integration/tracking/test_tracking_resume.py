"""A run interrupted after epoch 3 and resumed reads like an uninterrupted one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainers.checkpoints import TopKPolicy
from trainers.tracking import TrackerConfig, open_tracker

from .simulation import (
    mlflow_run,
    neptune_containers,
    read_jsonl,
    read_mlflow,
    read_neptune,
    start,
    train,
)

CONFIG = TrackerConfig()  # jsonl + neptune (offline) + mlflow
PARAMETERS = {"model": {"lr": 0.001}, "seed": 0}


def run_uninterrupted(root: Path) -> Path:
    run_dir = root / "runs" / "reference"
    with open_tracker(CONFIG, root, run_dir) as tracker:
        tracker.log_parameters(PARAMETERS)
        train(start(tracker, run_dir, TopKPolicy(k=2)), range(5))
    return run_dir


def run_interrupted_and_resumed(root: Path) -> Path:
    run_dir = root / "runs" / "resumed"
    with pytest.raises(KeyboardInterrupt), open_tracker(CONFIG, root, run_dir) as tracker:
        tracker.log_parameters(PARAMETERS)
        run = start(tracker, run_dir, TopKPolicy(k=2))
        train(run, range(3))  # epochs 0-2 with their checkpoints; last.* is epoch 2
        train(run, [3], save=False)  # epoch 3 recorded, its files never saved
        raise KeyboardInterrupt
    with open_tracker(CONFIG, root, run_dir, resume_step=3) as tracker:
        tracker.log_parameters(PARAMETERS)
        train(start(tracker, run_dir, TopKPolicy(k=2), resume_epoch=3), range(3, 5))
    return run_dir


def test_resumed_run_has_no_duplicates_and_matches_the_uninterrupted_one(shared_root: Path) -> None:
    reference = run_uninterrupted(shared_root)
    resumed = run_interrupted_and_resumed(shared_root)

    # metrics.jsonl: line for line the same (read_jsonl also rejects duplicate steps).
    assert (resumed / "metrics.jsonl").read_text() == (reference / "metrics.jsonl").read_text()
    assert read_jsonl(resumed).series.keys() == read_jsonl(reference).series.keys()

    # Checkpoints and the restored top-k state.
    def listing(run_dir: Path) -> set[str]:
        return {p.name for p in (run_dir / "checkpoints").iterdir()}

    assert listing(resumed) == listing(reference)
    state = json.loads((resumed / "checkpoints" / "topk_state.json").read_text())
    assert sorted(state["epochs"], key=int) == ["0", "1", "2", "3", "4"]

    # MLflow: one run, no duplicate steps (read_mlflow asserts it), same series.
    uri = f"sqlite:///{shared_root.resolve().as_posix()}/mlflow.db"
    names = {name for name, _ in read_jsonl(reference).series}
    assert read_mlflow(uri, "resumed", names).series == read_mlflow(uri, "reference", names).series
    assert mlflow_run(uri, "resumed")[1].info.status == "FINISHED"

    # Neptune (offline): one local run per session; the second starts at the resume epoch.
    first, second = neptune_containers(shared_root / ".neptune", "resumed")
    assert {step for _, step in read_neptune(first).series} == {0, 1, 2, 3}
    assert {step for _, step in read_neptune(second).series} == {3, 4}
