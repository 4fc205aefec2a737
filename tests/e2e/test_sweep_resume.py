"""Sweeps that resume, as a user meets them: a ``train.py -m`` sweep killed after its first job
finished, then the same command again. The finished job is skipped, the interrupted one resumes
its run from its last checkpoint, the registry holds each run once; ``retrain=true`` trains
again. A job killed before its run finished an epoch trains that run again from the start. An
Optuna search keeps its study in ``<output>/optuna.db`` and continues it: the trial count adds
up across the two starts."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.e2e.test_sweep_mlflow import mlflow_runs, sweep_runs
from tests.e2e.test_sweeps import QUICK, TINY_LSTM, registered, train
from tests.e2e.test_train_cli import run as run_script

pytestmark = [
    pytest.mark.slow,
    # Optuna 2.10's storage code, read here to check the study, on SQLAlchemy 2.
    pytest.mark.filterwarnings("ignore::sqlalchemy.exc.MovedIn20Warning"),
    pytest.mark.filterwarnings("ignore::sqlalchemy.exc.LegacyAPIWarning"),
]

#: Enough epochs that a job is still training a while after its first epoch ends.
EPOCHS = 4
ARGS = [
    *(a for a in QUICK if not a.startswith("trainer.max_epochs=")),
    f"trainer.max_epochs={EPOCHS}",
]
#: One quick epoch, logged to MLflow too.
QUICK_MLFLOW = [
    *(a for a in QUICK if not a.startswith("tracker.sinks=")),
    "tracker.sinks=[jsonl,mlflow]",
    "tracker.system_metrics=false",
]
#: A small search space for the LSTM search (sweep overrides replace the config's).
TINY_SPACE = ["model.hidden=choice(8,16)", "model.embedding_dim=choice(8)", "model.batch_size=64"]


def manifests(out: Path) -> dict[Path, dict[str, Any]]:
    found = {}
    for path in (out / "runs").glob("*/manifest.json"):
        try:
            found[path.parent] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # being replaced right now
            continue
    return found


def first_job_run(out: Path) -> Path | None:
    records = sorted((out / "multirun").glob("*/0/run_dir.txt"))
    return Path(records[0].read_text().strip()) if records else None


def another_run_trained_an_epoch(out: Path) -> bool:
    """The first job finished, and another run is training after its first epoch."""
    first = first_job_run(out)
    if first is None:
        return False
    return any(
        run != first and m["status"] == "running" and m["epochs_completed"] >= 1
        for run, m in manifests(out).items()
    )


def start_then_signal(
    args: list[str], cwd: Path, ready: Callable[[], bool], signum: int, group: bool = False
) -> subprocess.CompletedProcess[str]:
    """Start ``train.py`` with ``args``; once ``ready()``, send ``signum`` (``group``: to its
    whole process group, the launcher's workers included); wait for the end."""
    log = cwd / f"killed-{signum}.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "scripts" / "train.py"), *args],
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
            start_new_session=group,
        )
        deadline = time.monotonic() + 600
        while not ready():
            assert process.poll() is None, f"ended before the kill:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "the sweep never got to the kill"
            time.sleep(0.05)
        if group:
            os.killpg(process.pid, signum)
        else:
            os.kill(process.pid, signum)
        process.wait(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, "", log.read_text())


def test_a_killed_sweep_started_again_skips_what_finished_and_resumes_the_rest(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    command = ["-m", "seed=0,1", *TINY_LSTM, *ARGS, f"paths.output_dir={out}"]
    killed = start_then_signal(
        command, tmp_path, lambda: another_run_trained_an_epoch(out), signal.SIGKILL
    )
    assert killed.returncode == -signal.SIGKILL
    first = first_job_run(out)
    assert first is not None
    (interrupted,) = [run for run in manifests(out) if run != first]
    epochs_before = manifests(out)[interrupted]["epochs_completed"]
    assert manifests(out)[interrupted]["status"] == "running" and epochs_before < EPOCHS

    again = train(*command, cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"skipped: this job finished before as run {first}" in again.stdout
    assert f"resumed: this job's run {interrupted} was interrupted" in again.stdout
    assert "Continuing sweep" in again.stdout
    assert "Jobs of this start: 0 trained, 1 resumed (interrupted before), 1 skipped" in (
        again.stdout
    )
    entries = registered(out)
    assert sorted(e["run_id"] for e in entries) == sorted([first.name, interrupted.name])
    assert sorted(e["seed"] for e in entries) == [0, 1]
    resumed = manifests(out)[interrupted]
    assert resumed["status"] == "finished" and resumed["epochs_completed"] == EPOCHS
    assert len(resumed["resumed_at"]) == 1  # continued from its checkpoint, not retrained
    (sweep,) = (out / "multirun").iterdir()  # the same sweep folder
    assert len(json.loads((sweep / "sweep.json").read_text())["starts"]) == 2
    page = (sweep / "comparison.html").read_text()
    assert f'href="../../runs/{first.name}/report.html"' in page  # relative links to the runs
    assert str(out / "runs") not in page  # runs by id and relative link, not absolute paths
    # The comparison ends the output: the headline and the paired tests, then where the rest is.
    tail = again.stdout[again.stdout.index("Accuracy per split") :]
    assert "Paired test against lstm-s0" in tail and "comparison.html" in tail
    assert " by_category " not in again.stdout  # the breakdown rows are in the page and CSV

    # compare.py says the same, and prints every row only when asked.
    for full in (False, True):
        compared = run_script(
            "compare.py", f"sweep={sweep}", f"full={str(full).lower()}", cwd=tmp_path
        )
        assert compared.returncode == 0, compared.stderr[-3000:]
        assert (" by_category " in compared.stdout) is full
        ending = compared.stdout[compared.stdout.rindex("Accuracy per split") :]
        assert "Paired test against lstm-s0" in ending and "Comparison page:" in ending

    retrained = train(*command, "retrain=true", cwd=tmp_path, timeout=600)
    assert retrained.returncode == 0, retrained.stderr[-3000:]
    assert "Jobs of this start: 2 trained, 0 resumed" in retrained.stdout
    assert sorted(e["seed"] for e in registered(out)) == [0, 0, 1, 1]
    assert len(list((out / "multirun").iterdir())) == 2  # retrain=true: a sweep of its own


def tracked_run_ids(out: Path) -> set[str]:
    """The storyqa run ids that have an MLflow run (read straight from the store: it is being
    written)."""
    import sqlite3

    if not (out / "mlflow.db").is_file():
        return set()
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{out / 'mlflow.db'}?mode=ro", uri=True)
        ) as db:
            rows = db.execute("SELECT value FROM tags WHERE key = 'storyqa.run_id'").fetchall()
    except sqlite3.Error:  # not created yet, or locked right now
        return set()
    return {value for (value,) in rows}


def two_runs_in_their_first_epoch(out: Path) -> bool:
    """Two runs are training their first epoch, each with its MLflow run open."""
    first_epoch = {
        run.name
        for run, m in manifests(out).items()
        if m["status"] == "running" and m["epochs_completed"] == 0
    }
    return len(first_epoch & tracked_run_ids(out)) == 2


def test_a_sweep_killed_in_its_jobs_first_epoch_trains_them_again_from_the_start(
    tmp_path: Path,
) -> None:
    """Nothing to resume: each job trains its run again, in its folder, saying so; the MLflow
    runs of the killed attempts are closed as KILLED, the new attempts log runs of their own."""
    out = tmp_path / "out"
    command = [
        "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1", *TINY_LSTM,
        "model.batch_size=8", *QUICK_MLFLOW, f"paths.output_dir={out}",
    ]  # fmt: skip
    killed = start_then_signal(
        command, tmp_path, lambda: two_runs_in_their_first_epoch(out), signal.SIGKILL, group=True
    )
    assert killed.returncode == -signal.SIGKILL
    killed_runs = sorted(manifests(out))
    assert len(killed_runs) == 2

    again = train(*command, cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    for run in killed_runs:
        assert f"restarted: this job's run {run} was interrupted before it finished an epoch" in (
            again.stdout
        )
        assert manifests(out)[run]["status"] == "finished"
        assert manifests(out)[run]["resumed_at"] == []  # trained from the start
    assert sorted(manifests(out)) == killed_runs  # in the same folders
    assert sorted(e["run_id"] for e in registered(out)) == [run.name for run in killed_runs]
    client, _ = mlflow_runs(out)
    experiment = client.get_experiment_by_name("storyqa")
    statuses = {
        (r.data.tags.get("storyqa.run_id"), r.data.tags.get("storyqa.abandoned_run_id")): (
            r.info.status
        )
        for r in client.search_runs([experiment.experiment_id])
        if r.data.tags.get("storyqa.kind") != "sweep"
    }
    for run in killed_runs:
        assert statuses[(None, run.name)] == "KILLED"  # the killed attempt, closed
        assert statuses[(run.name, None)] == "FINISHED"  # the new attempt's own run
    assert len(statuses) == 4


def optuna_trials(out: Path) -> list[Any]:
    import optuna

    (summary,) = optuna.study.get_all_study_summaries(f"sqlite:///{out / 'optuna.db'}")
    study = optuna.load_study(
        study_name=summary.study_name, storage=f"sqlite:///{out / 'optuna.db'}"
    )
    return list(study.trials)


def test_a_killed_search_started_again_continues_its_study(tmp_path: Path) -> None:
    """With MLflow on: both starts' jobs are children of the one run of the sweep."""
    out = tmp_path / "out"
    args = [a for a in ARGS if not a.startswith("tracker.sinks=")]
    command = [
        "-m", "hparams_search=lstm_optuna", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=1",
        *TINY_SPACE, *args, "tracker.sinks=[jsonl,mlflow]", "tracker.system_metrics=false",
        f"paths.output_dir={out}",
    ]  # fmt: skip
    killed = start_then_signal(
        command, tmp_path, lambda: another_run_trained_an_epoch(out), signal.SIGTERM
    )
    assert killed.returncode == 143, killed.stderr[-3000:]
    first = first_job_run(out)
    assert first is not None
    (interrupted,) = [run for run in manifests(out) if run != first]
    assert manifests(out)[interrupted]["status"] == "interrupted"
    states = [t.state.name for t in optuna_trials(out)]
    assert states == ["COMPLETE", "RUNNING"]  # what the kill leaves in the study

    again = train(*command, cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Continuing Optuna study lstm_optuna-" in again.stdout
    assert "1 interrupted trial(s) run again first" in again.stdout
    assert f"resumed: this job's run {interrupted} was interrupted" in again.stdout
    trials = optuna_trials(out)
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert trials[2].params == trials[1].params  # the interrupted trial, asked again first
    assert sum(t.state.name == "COMPLETE" for t in trials) == 1 + 2  # the counts add up
    entries = registered(out)
    assert len(entries) == 3 and len({e["run_id"] for e in entries}) == 3
    assert {first.name, interrupted.name} <= {e["run_id"] for e in entries}
    assert manifests(out)[interrupted]["status"] == "finished"
    assert len(manifests(out)[interrupted]["resumed_at"]) == 1
    (sweep,) = (out / "multirun").iterdir()
    jobs = sorted(int(p.parent.name) for p in sweep.glob("*/run_dir.txt"))
    assert jobs == [0, 2, 3]  # job folders are numbered by trial
    assert "Best trial: valid_a accuracy" in again.stdout
    (parent,) = sweep_runs(out)  # the second start reopened the first start's run
    assert parent.info.status == "FINISHED"
    client, runs = mlflow_runs(out)
    assert set(runs) == {e["run_id"] for e in entries}
    assert {r.data.tags["mlflow.parentRunId"] for r in runs.values()} == {parent.info.run_id}
    files = {
        Path(a.path).name for a in client.list_artifacts(parent.info.run_id, "artifacts/sweep")
    }
    assert {"optimization_results.yaml", "comparison.html"} <= files
    assert parent.data.metrics["sweep/best_value"] == max(t.value for t in trials if t.value)
