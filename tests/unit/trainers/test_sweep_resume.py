"""What identifies a sweep and its jobs across two starts (``trainers/runs/sweeps.py``), and
the Optuna study a search continues (``trainers/runs/search.py``): Optuna 2.10's database
storage under SQLAlchemy 2, and the trials a kill leaves open."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trainers.records.manifest import RunManifest
from trainers.records.registry import Registry
from trainers.runs.search import (
    SearchStorageError,
    absolute_url,
    continue_study,
    prepare_storage,
)
from trainers.runs.sweeps import (
    SweepRecord,
    earlier_run,
    find_sweep,
    job_signature,
    sweep_key,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore::sqlalchemy.exc.MovedIn20Warning"),
    pytest.mark.filterwarnings("ignore::sqlalchemy.exc.LegacyAPIWarning"),
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
]

VERSION = "all_4dir-tiny-12345678"


# --- the sweep ------------------------------------------------------------------------------


def test_the_sweep_key_is_the_command_not_its_order_display_or_budget() -> None:
    key = sweep_key(["model=lstm,transformer", "seed=0,1"], ["hydra.sweeper.n_trials=2"])
    assert key == sweep_key(
        ["seed=0,1", "progress=false", "retrain=true", "model=lstm,transformer"],
        ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_trials=9"],
    )
    assert key != sweep_key(["model=lstm,transformer", "seed=0,1,2"], [])
    assert key != sweep_key(
        ["model=lstm,transformer", "seed=0,1"], ["hydra.sweeper.sampler.seed=3"]
    )


def test_the_latest_sweep_folder_of_the_same_command_is_found(tmp_path: Path) -> None:
    for name, key, start in (
        ("20260101-000000", "a", "2026-01-01T00:00:00"),
        ("20260102-000000", "a", "2026-01-02T00:00:00"),
        ("20260103-000000", "b", "2026-01-03T00:00:00"),
    ):
        SweepRecord(key=key, starts=[start]).save(tmp_path / name)
    (tmp_path / "20260104-000000").mkdir()  # a sweep from before sweep.json
    (tmp_path / "20260105-000000").mkdir()
    (tmp_path / "20260105-000000" / SweepRecord.FILENAME).write_text("{not json")
    assert find_sweep(tmp_path, "a") == tmp_path / "20260102-000000"
    assert find_sweep(tmp_path, "b") == tmp_path / "20260103-000000"
    assert find_sweep(tmp_path, "c") is None
    assert find_sweep(tmp_path / "none", "a") is None


CONFIG: dict[str, Any] = {
    "model": {"name": "lstm", "hidden": 8, "lr": 0.003},
    "data": {"name": "all_4dir", "size": "tiny", "workers": 0},
    "trainer": {"max_epochs": 2, "progress": True},
    "tracker": {"sinks": ["jsonl"]},
    "output_dir": "models_out",
    "seed": 0,
    "data_seed": 0,
    "evaluate_splits": ["valid_a"],
}


def test_a_job_signature_leaves_out_what_changes_no_number() -> None:
    other = json.loads(json.dumps(CONFIG))
    other["tracker"] = {"sinks": ["jsonl", "mlflow"], "mlflow_parent_run_id": "abc"}
    other["output_dir"] = "/elsewhere"
    other["trainer"]["progress"] = False
    other["data"]["workers"] = 8
    assert job_signature(other) == job_signature(CONFIG)
    for key, value in (("seed", 1), ("evaluate_splits", ["test"])):
        assert job_signature({**CONFIG, key: value}) != job_signature(CONFIG)
    changed = {**CONFIG, "model": {**CONFIG["model"], "hidden": 16}}
    assert job_signature(changed) != job_signature(CONFIG)


def make_run(
    root: Path,
    name: str,
    status: str,
    config: dict[str, Any] = CONFIG,
    version: str = VERSION,
    epochs: int = 1,
    register: bool = False,
    started: str = "2026-01-01T00:00:00+00:00",
) -> Path:
    run_dir = root / "runs" / name
    manifest = RunManifest.start(
        run_dir,
        framework="keras",
        model="lstm",
        seed=config["seed"],
        dataset={"name": "all_4dir", "version": version},
        config=config,
        hardware={},
        git_commit=None,
    )
    best = {"epoch": 0, "val_accuracy": 0.61}
    manifest.update(status=status, epochs_completed=epochs, best=best, started_at=started)
    if register:
        Registry(root).register_run(run_dir)
    return run_dir


def test_a_finished_registered_run_of_the_same_job_is_found(tmp_path: Path) -> None:
    assert earlier_run(CONFIG, VERSION, tmp_path) is None
    run = make_run(tmp_path, "lstm-a", "finished", register=True)
    make_run(tmp_path, "lstm-b", "interrupted")
    found = earlier_run({**CONFIG, "output_dir": str(tmp_path)}, VERSION, tmp_path)
    assert found is not None
    assert (found.run_dir, found.state, found.best_val_accuracy) == (run, "finished", 0.61)
    assert earlier_run({**CONFIG, "seed": 1}, VERSION, tmp_path) is None
    assert earlier_run(CONFIG, "all_4dir-tiny-87654321", tmp_path) is None


def test_an_interrupted_run_is_found_when_none_finished(tmp_path: Path) -> None:
    make_run(tmp_path, "lstm-old", "interrupted", epochs=1)
    killed = make_run(  # a SIGKILL leaves `running`
        tmp_path, "lstm-new", "running", epochs=2, started="2026-01-02T00:00:00+00:00"
    )
    make_run(tmp_path, "lstm-failed", "failed")
    make_run(tmp_path, "lstm-other", "interrupted", config={**CONFIG, "seed": 3})
    (tmp_path / "runs" / "broken").mkdir()
    (tmp_path / "runs" / "broken" / "manifest.json").write_text("{")
    found = earlier_run(CONFIG, VERSION, tmp_path)
    assert found is not None
    assert (found.run_dir, found.state, found.epochs_completed) == (killed, "interrupted", 2)


def test_a_registered_run_whose_folder_no_longer_says_finished_is_not_skipped(
    tmp_path: Path,
) -> None:
    run = make_run(tmp_path, "lstm-a", "finished", register=True)
    RunManifest.load(run).update(status="interrupted")  # e.g. resumed to train longer, then killed
    found = earlier_run(CONFIG, VERSION, tmp_path)
    assert found is not None and found.state == "interrupted"


def test_only_a_run_that_finished_no_epoch_is_emptied_to_train_again(tmp_path: Path) -> None:
    from trainers.runs.pipeline import restart_unstarted_run

    started = make_run(tmp_path, "lstm-started", "running", epochs=1)
    (started / "checkpoints").mkdir()
    assert not restart_unstarted_run(started)  # it resumes instead
    assert (started / "checkpoints").is_dir() and RunManifest.path_for(started).is_file()
    assert not restart_unstarted_run(tmp_path / "runs" / "none")  # nothing ran

    unstarted = make_run(tmp_path, "lstm-unstarted", "running", epochs=0)
    for name in ("run.log", "fence", "vocab.json"):
        (unstarted / name).write_text(name)
    (unstarted / "artifacts").mkdir()
    assert restart_unstarted_run(unstarted, keep=("fence",))
    assert sorted(p.name for p in unstarted.iterdir()) == ["fence", "run.log"]
    assert (unstarted / "run.log").read_text() == "run.log"  # the next attempt appends to it


def test_the_mlflow_run_of_an_abandoned_attempt_is_killed_and_detached(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from trainers.tracking.sinks.mlflow import ABANDONED_RUN_ID_TAG, MlflowSink, abandon_run

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert abandon_run(uri, "storyqa", "lstm-a") == []  # no store: nothing created
    assert not (tmp_path / "mlflow.db").exists()
    client = MlflowClient(uri)
    experiment = client.create_experiment("storyqa")
    ours = client.create_run(experiment, tags={MlflowSink.RUN_ID_TAG: "lstm-a"}).info.run_id
    other = client.create_run(experiment, tags={MlflowSink.RUN_ID_TAG: "lstm-b"}).info.run_id
    assert abandon_run(uri, "storyqa", "lstm-a") == [ours]
    closed = client.get_run(ours)
    assert closed.info.status == "KILLED"
    assert closed.data.tags[ABANDONED_RUN_ID_TAG] == "lstm-a"
    assert MlflowSink.RUN_ID_TAG not in closed.data.tags  # the next attempt opens its own
    assert client.get_run(other).info.status == "RUNNING"
    assert abandon_run(uri, "storyqa", "lstm-a") == []


# --- the search's study -------------------------------------------------------------------


def test_optuna_2_10_alone_cannot_open_a_fresh_sqlite_database_under_sqlalchemy_2(
    tmp_path: Path,
) -> None:
    """Why :func:`prepare_storage` exists: should this start failing, Optuna or SQLAlchemy
    fixed it and the preparation may go."""
    import optuna
    import sqlalchemy

    if not (optuna.__version__.startswith("2.") and sqlalchemy.__version__.startswith("2.")):
        pytest.skip("the problem is Optuna 2.x's on SQLAlchemy 2.x")
    with pytest.raises(AssertionError):
        optuna.create_study(storage=f"sqlite:///{tmp_path / 'bare.db'}")


def test_a_prepared_database_keeps_a_study_across_openings(tmp_path: Path) -> None:
    import optuna

    url = f"sqlite:///{tmp_path / 'deep' / 'optuna.db'}"
    prepare_storage(url)
    prepare_storage(url)  # again, on a database that exists: nothing changes
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    for value in (0.2, 0.7):
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        study.tell(trial, value)
    again = optuna.load_study(study_name="s", storage=url)
    assert [t.value for t in again.trials] == [0.2, 0.7] and again.best_value == 0.7


def job_folder(sweep: Path, number: int, run_dir: Path) -> None:
    (sweep / str(number)).mkdir(parents=True)
    (sweep / str(number) / "run_dir.txt").write_text(f"{run_dir}\n")


def test_trials_a_kill_left_open_are_settled(tmp_path: Path) -> None:
    import optuna
    from optuna.trial import TrialState

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    sweep = tmp_path / "multirun" / "x"
    prepare_storage(url)
    assert not continue_study(url, "s", sweep).continued
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    done = study.ask()
    done.suggest_float("x", 0.0, 1.0)
    study.tell(done, 0.5)
    finished, interrupted = study.ask(), study.ask()  # a batch the kill left RUNNING
    finished.suggest_float("x", 0.0, 1.0)
    interrupted.suggest_float("x", 0.0, 1.0)
    job_folder(sweep, 1, make_run(tmp_path, "lstm-1", "finished"))  # its job ended
    job_folder(sweep, 2, make_run(tmp_path, "lstm-2", "running"))  # its job was killed

    progress = continue_study(url, "s", sweep)
    assert (progress.trials, progress.complete, progress.recovered, progress.requeued) == (
        3,
        2,
        1,
        1,
    )
    assert progress.continued and progress.first_trial == 3 and progress.best_value == 0.61
    trials = optuna.load_study(study_name="s", storage=url).trials
    assert [t.state for t in trials] == [
        TrialState.COMPLETE,
        TrialState.COMPLETE,
        TrialState.FAIL,
        TrialState.WAITING,
    ]
    assert trials[1].value == 0.61  # the value its run reached
    next_trial = optuna.load_study(study_name="s", storage=url).ask()
    assert next_trial.number == 3
    assert next_trial.suggest_float("x", 0.0, 1.0) == trials[2].params["x"]  # asked again first


def test_a_storage_that_cannot_be_opened_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SearchStorageError, match=r"hydra\.sweeper\.storage: cannot open sqlite"):
        prepare_storage(f"sqlite:///{blocker}/optuna.db")
    with pytest.raises(SearchStorageError, match=r"postgresql://alice:\*\*\*@db/x"):
        prepare_storage("postgresql://alice:s3cret@db/x")


def test_a_relative_sqlite_url_is_made_absolute(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    assert absolute_url("sqlite:///out/optuna.db") == f"sqlite:///{tmp_path}/out/optuna.db"
    assert absolute_url(f"sqlite:///{tmp_path}/a.db") == f"sqlite:///{tmp_path}/a.db"
