"""Two processes opening MLflow runs at the same instant on one fresh sqlite store (the jobs of a
joblib sweep) both get their run: MLflow's schema set-up is serialised by a file lock."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

#: Each process imports the sink, waits for the common start time, opens a run, logs, closes.
JOB = """
import sys, time
from pathlib import Path
from trainers.tracking.sinks.mlflow import MlflowSink
root, name, start = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
sink = MlflowSink(f"sqlite:///{root}/mlflow.db", "storyqa", (root / "mlartifacts").as_uri(), name)
sink.log_metrics({"metrics/train/loss": 0.5}, 0)
sink.close("finished")
"""


@pytest.mark.slow
def test_two_processes_set_up_one_fresh_store_and_both_runs_arrive(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    root = tmp_path / "models_out"
    root.mkdir()
    start = time.time() + 15  # after both have imported MLflow
    jobs = [
        subprocess.Popen(
            [sys.executable, "-c", JOB, str(root), f"job-{index}", str(start)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in (0, 1)
    ]
    outputs = [job.communicate(timeout=300) for job in jobs]
    for job, (_, err) in zip(jobs, outputs, strict=True):
        assert job.returncode == 0, err[-3000:]
    client = MlflowClient(f"sqlite:///{root}/mlflow.db")
    experiment = client.get_experiment_by_name("storyqa")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(run.info.run_name for run in runs) == ["job-0", "job-1"]
    assert {run.info.status for run in runs} == {"FINISHED"}
    assert (root / ".mlflow.db.lock").exists()
