"""A sweep in the dashboards: its own MLflow run with the jobs' runs as children
(``trainers/tracking/sweep.py``, ``tracker.mlflow_parent_run_id``), and each run's HParams
session in TensorBoard (``trainers/tracking/sinks/tensorboard.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from metrics import namespaces as ns
from trainers.tracking import RunContext, TrackerConfig, open_tracker
from trainers.tracking.sinks.tensorboard import TensorBoardSink
from trainers.tracking.sweep import SweepRun


def _client(root: Path) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{root / 'mlflow.db'}")


def _runs_of(root: Path, filter_string: str = "") -> list[Any]:
    client = _client(root)
    experiment = client.get_experiment_by_name("storyqa")
    return list(client.search_runs([experiment.experiment_id], filter_string))


def test_a_sweeps_jobs_are_children_of_its_own_mlflow_run(tmp_path: Path) -> None:
    root, sweep_dir = tmp_path / "out", tmp_path / "out" / "multirun" / "20260101-120000"
    config = TrackerConfig(sinks=("jsonl", "mlflow"), system_metrics=False)
    command = ["python", "scripts/train.py", "-m", "seed=0,1", "tracker.neptune_project=x"]
    parent = SweepRun.open(
        config.resolve(root, sweep_dir), sweep_id=sweep_dir.name, sweep_dir=sweep_dir,
        command=command, source="scripts/train.py",
    )  # fmt: skip
    child_config = TrackerConfig(
        sinks=("jsonl", "mlflow"), system_metrics=False, mlflow_parent_run_id=parent.run_id
    )
    for seed in (0, 1):
        run_dir = root / "runs" / f"lstm-{seed}"
        context = RunContext(
            run_id=run_dir.name, model="lstm", framework="keras", dataset="d", seed=seed,
            sweep=sweep_dir.name,
        )  # fmt: skip
        with open_tracker(child_config, root, run_dir, context=context) as tracker:
            tracker.log_fields({ns.best("val_accuracy"): 0.5 + seed / 10})
    (sweep_dir / "comparison.html").parent.mkdir(parents=True, exist_ok=True)
    (sweep_dir / "comparison.html").write_text("<html></html>")
    parent.log_files([sweep_dir / "comparison.html", sweep_dir / "missing.csv"])
    parent.log_fields({ns.sweep_field("jobs"): 2, ns.sweep_field("best_trial"): "seed=1"})
    parent.close("finished")

    (found,) = _runs_of(root, "tags.`storyqa.kind` = 'sweep'")
    assert found.info.run_id == parent.run_id and found.info.status == "FINISHED"
    assert found.info.run_name == "sweep-20260101-120000"
    tags = found.data.tags
    assert tags["sweep"] == "20260101-120000" and tags["mlflow.user"]
    assert tags[ns.context_field("command")] == " ".join(command)
    assert tags["mlflow.source.name"] == "scripts/train.py"
    assert found.data.metrics[ns.sweep_field("jobs")] == 2
    assert tags[ns.sweep_field("best_trial")] == "seed=1"
    files = [item.path for item in _client(root).list_artifacts(parent.run_id, "artifacts/sweep")]
    assert files == ["artifacts/sweep/comparison.html"]
    children = _runs_of(root, f"tags.`mlflow.parentRunId` = '{parent.run_id}'")
    assert sorted(run.info.run_name for run in children) == ["lstm-0", "lstm-1"]

    # Started again, the sweep reopens the same run, by its id or by its folder.
    again = SweepRun.open(
        config.resolve(root, sweep_dir), sweep_id=sweep_dir.name, sweep_dir=sweep_dir,
        command=command, known_run_id=parent.run_id,
    )  # fmt: skip
    by_folder = SweepRun.open(
        config.resolve(root, sweep_dir), sweep_id=sweep_dir.name, sweep_dir=sweep_dir,
        command=command, known_run_id="0" * 32,
    )  # fmt: skip
    assert again.run_id == by_folder.run_id == parent.run_id
    assert _client(root).get_run(parent.run_id).info.status == "RUNNING"


def test_a_resumed_run_without_a_parent_gets_one(tmp_path: Path) -> None:
    from trainers.tracking.sinks.mlflow import MlflowSink

    uri, location = f"sqlite:///{tmp_path / 'mlflow.db'}", (tmp_path / "art").as_uri()
    MlflowSink(uri, "storyqa", location, "r1").close("killed")
    MlflowSink(uri, "storyqa", location, "r1", parent_run_id="p" * 32).close("finished")
    MlflowSink(uri, "storyqa", location, "r1", parent_run_id="q" * 32).close("finished")
    (run,) = _runs_of(tmp_path)
    assert run.data.tags["mlflow.parentRunId"] == "p" * 32  # a run never moves to another


def _session(log_dir: Path) -> tuple[dict[str, Any], dict[str, float], bool]:
    """The hparams, final metrics and whether it ended, of a run's HParams session."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.plugins.hparams import metadata

    hparams: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    ended = False
    for path in sorted((log_dir / TensorBoardSink.HPARAMS_DIR).iterdir()):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.tag == metadata.SESSION_START_INFO_TAG:
                    content = value.metadata.plugin_data.content
                    start = metadata.parse_session_start_info_plugin_data(content)
                    hparams |= {
                        k: getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()
                    }
                elif value.tag == metadata.SESSION_END_INFO_TAG:
                    ended = True
                elif value.tag == metadata.EXPERIMENT_TAG:
                    raise AssertionError("an experiment summary hides the other runs' hparams")
                else:
                    metrics[value.tag] = value.simple_value or value.tensor.float_val[0]
    return hparams, metrics, ended


def test_each_run_is_a_tensorboard_hparams_session(tmp_path: Path) -> None:
    log_dir = tmp_path / "runs" / "r1" / "tensorboard"
    sink = TensorBoardSink(log_dir)
    sink.log_context(
        RunContext(run_id="r1", model="lstm", framework="keras", dataset="d", seed=3, sweep="s1")
    )
    sink.log_parameters(
        {
            ns.parameter("model") + "/hidden": 8,
            ns.parameter("model") + "/_target_": "models.lstm.build_lstm",
            ns.parameter("seed"): 3,
            ns.parameter("output_dir"): "/tmp/out",
            ns.parameter("trainer") + "/max_epochs": 2,
        }
    )
    sink.log_metrics({ns.epoch_metric("val", "accuracy"): 0.5}, 0)
    sink.log_fields(
        {
            ns.best("val_accuracy"): 0.625,
            ns.eval_metric("valid_a", "accuracy"): 0.5,
            ns.eval_metric("valid_a", "loss"): 0.75,
            ns.eval_breakdown("valid_a", ("category",), ("dense",), "accuracy"): 0.25,
        }
    )
    sink.close("finished")
    hparams, metrics, ended = _session(log_dir)
    assert hparams == {"model/hidden": 8, "seed": 3, "trainer/max_epochs": 2, "sweep": "s1"}
    assert metrics == {
        "best/val_accuracy": 0.625,
        "eval/valid_a/accuracy": 0.5,
        "eval/valid_a/loss": 0.75,
    }
    assert ended

    killed_dir = tmp_path / "runs" / "r2" / "tensorboard"
    killed = TensorBoardSink(killed_dir)
    killed.log_parameters({ns.parameter("seed"): 1})
    killed.log_fields({ns.best("val_accuracy"): 0.5})
    killed.close("killed")
    assert _session(killed_dir)[1:] == ({}, False)  # no final metrics for an unfinished run
    resumed = TensorBoardSink(killed_dir, resume_step=1)  # parameters are not logged again
    resumed.log_fields({ns.eval_metric("valid_a", "accuracy"): 0.75})
    resumed.close("finished")
    assert _session(killed_dir) == ({"seed": 1}, {"eval/valid_a/accuracy": 0.75}, True)
