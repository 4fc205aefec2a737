"""A joblib sweep's parallel jobs share one fresh ``mlflow.db``: both runs arrive complete, with
their context, artifacts and dataset inputs; re-evaluating one later keeps its duration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from metrics import namespaces as ns
from tests.e2e.test_sweeps import QUICK, TINY_LSTM, registered, train
from tests.e2e.test_train_cli import run as run_script

#: The run's own files and plots that every run records in MLflow.
RUN_FILES = ("report.html", "manifest.json", "config.yaml", "vocab.json")
RUN_ARTIFACTS = {ns.artifact("run", name) for name in RUN_FILES} | {
    ns.artifact("plots", "learning_curve.png"),
    ns.artifact("model", "model_summary.txt"),
    ns.artifact("eval", "valid_a-evaluation.json"),
    ns.artifact("eval", "valid_a-breakdown.csv"),
}


def artifact_paths(client: Any, run_id: str, path: str | None = None) -> set[str]:
    found: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        found |= artifact_paths(client, run_id, item.path) if item.is_dir else {item.path}
    return found


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two jobs at once (seeds 0 and 1) on a fresh output folder, MLflow on."""
    base = tmp_path_factory.mktemp("sweep_mlflow")
    out = base / "out"
    quick = [arg for arg in QUICK if not arg.startswith("tracker.sinks=")]
    done = train(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "seed=0,1",
        *TINY_LSTM,
        *quick,
        "tracker.sinks=[jsonl,mlflow]",
        f"paths.output_dir={out}",
        cwd=base,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "not created" not in done.stderr and "disabled" not in done.stderr, done.stderr
    return {"out": out, "base": base, "stdout": done.stdout}


def mlflow_runs(out: Path) -> tuple[Any, dict[str, Any]]:
    """The client and the jobs' MLflow runs by storyqa run id (the sweep's own run aside)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{out.resolve()}/mlflow.db")
    experiment = client.get_experiment_by_name("storyqa")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    return client, {
        run.data.tags["storyqa.run_id"]: run for run in runs if "storyqa.run_id" in run.data.tags
    }


def sweep_runs(out: Path) -> list[Any]:
    """The sweeps' own MLflow runs."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{out.resolve()}/mlflow.db")
    experiment = client.get_experiment_by_name("storyqa")
    assert experiment is not None
    return list(client.search_runs([experiment.experiment_id], "tags.`storyqa.kind` = 'sweep'"))


@pytest.mark.slow
def test_the_sweep_is_one_mlflow_run_with_its_jobs_as_children(sweep: dict[str, Any]) -> None:
    out = sweep["out"]
    (multirun,) = (out / "multirun").iterdir()
    (parent,) = sweep_runs(out)
    assert parent.info.status == "FINISHED" and parent.info.run_name == f"sweep-{multirun.name}"
    assert parent.data.tags["sweep"] == multirun.name
    assert "seed=0,1" in parent.data.tags["mlflow.note.content"]
    client, runs = mlflow_runs(out)
    assert len(runs) == 2
    for run in runs.values():
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags["sweep"] == multirun.name
        assert "tracker.mlflow_parent_run_id" not in run.data.tags[ns.context_field("command")]
    files = {
        Path(item.path).name
        for item in client.list_artifacts(parent.info.run_id, "artifacts/sweep")
    }
    assert {"comparison.html", "comparison.csv", "comparison-paired.csv"} <= files
    assert parent.data.metrics[ns.sweep_field("jobs")] == 2
    assert parent.data.metrics[ns.sweep_field("trained")] == 2
    *_, said, last = sweep["stdout"].strip().splitlines()  # where MLflow's UI shows the sweep
    assert said == f"MLflow: sweep run {parent.info.run_id} holds its jobs' runs as children"
    assert last == (
        f"MLflow UI: mlflow ui --backend-store-uri sqlite:///{out.resolve()}/mlflow.db, then "
        f"open http://127.0.0.1:5000/#/experiments/{parent.info.experiment_id}"
        "?workflowType=machine_learning"
    )
    assert sweep["stdout"].count("MLflow UI:") == 1  # once, not once per job
    for run_dir in (out / "runs").iterdir():  # JSONL (and Neptune) carry the sweep id too
        records = [
            json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
        ]
        assert {
            "name": ns.context_field("sweep"),
            "value": multirun.name,
            "kind": "field",
        } in records


@pytest.mark.slow
def test_both_parallel_runs_arrive_complete_in_mlflow_and_the_registry(
    sweep: dict[str, Any],
) -> None:
    out = sweep["out"]
    entries = {entry["run_id"]: entry for entry in registered(out)}
    assert sorted(entry["seed"] for entry in entries.values()) == [0, 1]
    client, runs = mlflow_runs(out)
    assert set(runs) == set(entries)
    for run_id, run in runs.items():
        assert run.info.status == "FINISHED"
        metrics = run.data.metrics
        assert metrics[ns.eval_metric("valid_a", "accuracy")] == pytest.approx(
            entries[run_id]["evaluation"]["valid_a"]["accuracy"]
        )
        for name in (ns.train_stat("learning_rate"), ns.epoch_seconds()):
            assert name in metrics, name
        tags = run.data.tags
        seed = str(entries[run_id]["seed"])
        assert tags["seed"] == seed and tags["model"] == "lstm" and tags["framework"] == "keras"
        assert tags["mlflow.source.name"].endswith("train.py")
        assert f"seed={seed}" in tags[ns.context_field("command")].split()  # the job's own
        assert "-m" not in tags[ns.context_field("command")].split()
        description = f"lstm on {tags['dataset']} seed {seed}, sweep {tags['sweep']}"
        assert tags["mlflow.note.content"] == description
        assert tags["mlflow.user"] != "unknown"
        contexts = {i.tags[0].value: i.dataset.name for i in run.inputs.dataset_inputs}
        assert contexts == {"training": tags["dataset"], "validation": tags["dataset"]}
        assert artifact_paths(client, run.info.run_id) >= RUN_ARTIFACTS


@pytest.mark.slow
def test_the_keras_model_summary_lists_its_layers(sweep: dict[str, Any]) -> None:
    for run_dir in (sweep["out"] / "runs").iterdir():
        summary = (run_dir / "artifacts" / "model" / "model_summary.txt").read_text()
        assert "Layer (type)" in summary and "Total params" in summary
        assert len(summary.splitlines()) > 10
        fields = {
            record["name"]: record.get("value")
            for record in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
        }
        assert fields[ns.model_field("parameters")] > 0
        assert f"{fields[ns.model_field('parameters')]:,}" in summary


@pytest.mark.slow
def test_reevaluating_a_run_keeps_its_duration(sweep: dict[str, Any]) -> None:
    out = sweep["out"]
    _, before = mlflow_runs(out)
    run_id = sorted(before)[0]
    done = run_script(
        "evaluate.py", f"run={run_id}", "splits=[valid_a]", f"paths.output_dir={out}",
        cwd=sweep["base"],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    _, after = mlflow_runs(out)
    assert after[run_id].info.status == "FINISHED"
    assert after[run_id].info.end_time == before[run_id].info.end_time
    assert after[run_id].info.start_time == before[run_id].info.start_time
