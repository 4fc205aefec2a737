"""A tracking sink that fails under ``scripts/train.py``: its warning shows on the console
(``warning: ...`` on stderr) and in the run's ``run.log``, the run still finishes, a resume
appends to the same log, and a secret in the failure reason shows in neither."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.test_train_cli import run, train

#: Planted in the environment and in the path the MLflow store cannot be created at.
TOKEN = "PLANTEDrunlogtoken42"
WARNING = "tracking sink 'mlflow' not created, the run goes on: FileExistsError"
#: ``2026-01-31 12:00:00 WARNING trainers.tracking.factory: ...``
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|WARNING|ERROR) [\w.]+: .+$")


def log_lines(run_dir: Path) -> list[str]:
    lines = (run_dir / "run.log").read_text(encoding="utf-8").splitlines()
    assert all(LINE.match(line) for line in lines), lines
    return lines


@pytest.mark.slow
def test_a_failing_sink_is_reported_on_the_console_and_in_run_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", TOKEN)  # the runs below inherit it
    out = tmp_path / "out"
    blocker = tmp_path / TOKEN  # a file where the MLflow store's folder should be
    blocker.write_text("not a folder\n")
    done = train(
        "lstm",
        out,
        "trainer.max_epochs=1",
        "tracker.sinks=[jsonl,mlflow]",
        f"tracker.mlflow_tracking_uri=sqlite:///{blocker.as_posix()}/mlflow.db",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (out / "runs").glob("lstm-*")
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "finished"
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {WARNING}")
    assert "Traceback" not in done.stderr
    lines = log_lines(run_dir)
    assert lines[0].endswith(f"INFO trainers.runs.logs: run {run_dir.name} started")
    (warned,) = [line.split(" ", 2)[2] for line in lines if WARNING in line]
    assert warned.startswith(f"WARNING trainers.tracking.factory: {WARNING}")
    assert lines[-1].endswith(f"run {run_dir.name} ended: finished")

    resumed = run(
        "train.py", f"resume={run_dir}", "trainer.max_epochs=2", "progress=false", cwd=tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stderr.count(f"warning: {WARNING}") == 1
    after = log_lines(run_dir)
    assert after[: len(lines)] == lines  # the first attempt's log is kept
    assert sum(WARNING in line for line in after) == 2
    assert [line.split(": ", 1)[1] for line in after if "trainers.runs.logs" in line] == [
        f"run {run_dir.name} {event}"
        for event in ("started", "ended: finished", "resumed", "ended: finished")
    ]
    for text in (done.stderr, resumed.stderr, (run_dir / "run.log").read_text()):
        assert TOKEN not in text and "***" in text


@pytest.mark.slow
@pytest.mark.parametrize("model", ["transformer", "lstm"])
def test_a_budget_spent_mid_epoch_is_reported_on_the_console_and_in_run_log(
    tmp_path: Path, model: str
) -> None:
    out = tmp_path / "out"
    # Spent long before the first step ends (setting up takes far more than 60 µs).
    done = train(
        model, out, "model.batch_size=32", "trainer.max_minutes=1e-6", "evaluate_splits=[valid_a]"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    note = "trainer.max_minutes=1e-06 spent: training stopped mid-epoch, epoch 000 after 1 of 22"
    assert f"warning: {note}" in done.stderr
    assert "epoch 000 | train loss" in done.stdout  # the partial epoch's line
    (run_dir,) = (out / "runs").glob(f"{model}-*")
    assert sum(f"WARNING trainers.budget: {note}" in line for line in log_lines(run_dir)) == 1
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert (manifest["status"], manifest["epochs_completed"]) == ("finished", 1)
    assert manifest["best"]["epoch"] == 0 and set(manifest["evaluation"]) == {"valid_a"}
