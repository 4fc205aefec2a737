"""A failing sink never stops the run; closing flushes everything, also on an exception."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import pytest

from metrics import namespaces as ns
from trainers.tracking import Tracker, TrackerConfig, open_tracker
from trainers.tracking.sinks.mlflow import MlflowSink

from .simulation import (
    BrokenSink,
    mlflow_run,
    neptune_containers,
    read_jsonl,
    read_neptune,
    start,
    train,
)

DEFAULT = TrackerConfig()  # jsonl + neptune (offline) + mlflow (sqlite)


def series_steps(run_dir: Path) -> dict[str, list[int]]:
    steps: dict[str, list[int]] = {}
    for name, step in read_jsonl(run_dir).series:
        steps.setdefault(name, []).append(step)
    return steps


def test_failing_sinks_do_not_stop_the_run(
    shared_root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    run_dir = shared_root / "runs" / "failing"
    calls = {"n": 0}
    original = MlflowSink.log_metrics

    def flaky(self: MlflowSink, metrics: Mapping[str, float], step: int) -> None:
        calls["n"] += 1
        if step >= 2:
            raise OSError("database disk image is malformed")
        original(self, metrics, step)

    monkeypatch.setattr(MlflowSink, "log_metrics", flaky)
    opened = open_tracker(DEFAULT, shared_root, run_dir)
    with (
        caplog.at_level(logging.WARNING),
        Tracker(run_dir, [*opened.sinks, BrokenSink()]) as tracker,
    ):
        train(start(tracker, run_dir), range(5))
    assert tracker.disabled.keys() == {"mlflow", "broken"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert any("'mlflow'" in w and "malformed" in w for w in warnings)
    assert any("'broken'" in w and "unreachable" in w for w in warnings)
    assert calls["n"] == 3  # disabled after its first failure

    steps = series_steps(run_dir)
    assert len(steps) == 15 and all(s == [0, 1, 2, 3, 4] for s in steps.values())
    [operations] = neptune_containers(shared_root / ".neptune", "failing")
    assert read_neptune(operations).series.keys() == read_jsonl(run_dir).series.keys()
    client, run = mlflow_run(f"sqlite:///{shared_root.resolve().as_posix()}/mlflow.db", "failing")
    history = client.get_metric_history(run.info.run_id, ns.epoch_metric("val", "loss"))
    assert sorted(m.step for m in history) == [0, 1]


@pytest.mark.parametrize(
    ("error", "status"), [(RuntimeError, "FAILED"), (KeyboardInterrupt, "KILLED")]
)
def test_close_flushes_every_sink_on_an_exception(
    shared_root: Path, error: type[BaseException], status: str
) -> None:
    name = f"interrupted-{status.lower()}"
    run_dir = shared_root / "runs" / name
    with pytest.raises(error), open_tracker(DEFAULT, shared_root, run_dir) as tracker:
        run = start(tracker, run_dir)
        train(run, range(2))
        tracker.log_metrics({ns.epoch_metric("train", "loss"): 0.1}, step=2)  # not flushed yet
        raise error("stop")
    assert tracker.closed
    jsonl = read_jsonl(run_dir)
    assert (ns.epoch_metric("train", "loss"), 2) in jsonl.series
    assert len(jsonl.series) == 2 * 15 + 1
    [operations] = neptune_containers(shared_root / ".neptune", name)
    assert read_neptune(operations).series.keys() == jsonl.series.keys()
    assert {"type": "AssignBool", "path": ["sys", "failed"], "value": True} in operations
    client, mlflow = mlflow_run(f"sqlite:///{shared_root.resolve().as_posix()}/mlflow.db", name)
    assert mlflow.info.status == status
    assert len(client.get_metric_history(mlflow.info.run_id, ns.epoch_metric("train", "loss"))) == 3
