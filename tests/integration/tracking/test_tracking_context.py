"""A run's context, dataset inputs and system metrics reach every sink that has the notion,
and re-evaluating a finished run does not stretch its recorded duration."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from metrics import namespaces as ns
from trainers.tracking import DatasetInput, GitState, RunContext, TrackerConfig, open_tracker

from .simulation import mlflow_run, neptune_containers, read_jsonl, start, train

CONTEXT = RunContext(
    run_id="ctx-run",
    model="transformer",
    framework="lightning",
    dataset="all_4dir-tiny-1234abcd",
    seed=3,
    user="ada",
    command="python scripts/train.py seed=3",
    source="scripts/train.py",
    version="0.1.0",
    git=GitState("0123456789abcdef0123456789abcdef01234567", "main", True),
)
INPUTS = [
    DatasetInput("all_4dir-tiny-1234abcd", "1234abcd-training", "training", "/data/x", 60),
    DatasetInput("all_4dir-tiny-1234abcd", "1234abcd-validation", "validation", "/data/x", 20),
]
ALL_SINKS = ("jsonl", "neptune", "mlflow", "tensorboard")


@pytest.fixture(scope="module")
def context_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A new run with every sink, its context and inputs, system metrics sampled every 0.2 s;
    then the finished run re-evaluated (attached) a second later."""
    root = tmp_path_factory.mktemp("ctx") / "models_out"
    run_dir = root / "runs" / CONTEXT.run_id
    with pytest.MonkeyPatch.context() as patch:
        for name in ("NEPTUNE_API_TOKEN", "NEPTUNE_PROJECT", "NEPTUNE_MODE"):
            patch.delenv(name, raising=False)
        patch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
        patch.chdir(root.parent)
        config = TrackerConfig(sinks=ALL_SINKS)
        with open_tracker(config, root, run_dir, context=CONTEXT) as tracker:
            tracker.log_inputs(INPUTS)
            train(start(tracker, run_dir), range(2))
            time.sleep(2.0)  # a few system metric samples, even on a busy machine
        assert tracker.disabled == {}
        uri = f"sqlite:///{root.resolve().as_posix()}/mlflow.db"
        ended = mlflow_run(uri, CONTEXT.run_id)[1].info.end_time
        time.sleep(1.1)
        with open_tracker(config, root, run_dir, resume_step=2, attach=True) as again:
            again.log_field(ns.eval_metric("test", "accuracy"), 0.75)
        assert again.disabled == {}
    return {"root": root, "run_dir": run_dir, "uri": uri, "ended": ended}


def test_mlflow_gets_its_own_tags_inputs_and_system_metrics(context_run: dict[str, Any]) -> None:
    client, run = mlflow_run(context_run["uri"], CONTEXT.run_id)
    tags = run.data.tags
    assert {
        "mlflow.user": "ada",
        "mlflow.source.name": "scripts/train.py",
        "mlflow.source.type": "LOCAL",
        "mlflow.source.git.commit": CONTEXT.git.commit,  # type: ignore[union-attr]
        "mlflow.source.git.branch": "main",
        "mlflow.source.git.dirty": "true",
        "mlflow.note.content": "transformer on all_4dir-tiny-1234abcd seed 3",
        "model": "transformer",
        "framework": "lightning",
        "dataset": "all_4dir-tiny-1234abcd",
        "seed": "3",
        ns.context_field("command"): "python scripts/train.py seed=3",
    }.items() <= tags.items()
    assert "sweep" not in tags
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    inputs = {
        item.tags[0].value: (item.dataset.name, item.dataset.digest)
        for item in run.inputs.dataset_inputs
    }
    assert inputs == {i.context: (i.name, i.digest) for i in INPUTS}
    system = [name for name in run.data.metrics if name.startswith("system/")]
    assert "system/cpu_utilization_percentage" in system
    assert "system/system_memory_usage_megabytes" in system


def test_reevaluation_keeps_the_recorded_end(context_run: dict[str, Any]) -> None:
    _, run = mlflow_run(context_run["uri"], CONTEXT.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.end_time == context_run["ended"]  # not the re-evaluation's end
    assert run.data.metrics[ns.eval_metric("test", "accuracy")] == 0.75


def test_neptune_gets_fields_description_tags_and_hardware(context_run: dict[str, Any]) -> None:
    first, attached = neptune_containers(context_run["root"] / ".neptune", CONTEXT.run_id)
    assigned = {"/".join(op["path"]): op.get("value") for op in first if "value" in op}
    assert assigned["sys/description"] == CONTEXT.description
    assert assigned[ns.context_field("git/dirty")] is True
    assert assigned[ns.context_field("seed")] == 3
    added = [op["values"] for op in first if op["path"] == ["sys", "tags"]]
    assert set(CONTEXT.labels()) <= {label for values in added for label in values}
    assert any(op["path"][0] == "monitoring" for op in first)  # hardware monitoring on
    assert not any(op["path"][0] == "monitoring" for op in attached)  # not when re-evaluating


def test_jsonl_and_tensorboard_get_the_context(context_run: dict[str, Any]) -> None:
    fields = read_jsonl(context_run["run_dir"]).fields
    assert {name: fields[name] for name in CONTEXT.fields()} == CONTEXT.fields()
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    tags = {
        value.tag
        for path in (context_run["run_dir"] / "tensorboard").glob("events.out.tfevents.*")
        for event in EventFileLoader(str(path)).Load()
        for value in event.summary.value
    }
    assert f"{ns.CONTEXT}/text_summary" in tags


def test_system_metrics_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.1")
    root, run_dir = tmp_path / "out", tmp_path / "out" / "runs" / "quiet"
    config = TrackerConfig(sinks=("jsonl", "neptune", "mlflow"), system_metrics=False)
    with open_tracker(config, root, run_dir, context=CONTEXT) as tracker:
        train(start(tracker, run_dir), range(1))
        time.sleep(0.5)
    _, run = mlflow_run(f"sqlite:///{root.resolve().as_posix()}/mlflow.db", "quiet")
    assert not [name for name in run.data.metrics if name.startswith("system/")]
    [operations] = neptune_containers(root / ".neptune", "quiet")
    assert not any(op["path"][0] == "monitoring" for op in operations)
