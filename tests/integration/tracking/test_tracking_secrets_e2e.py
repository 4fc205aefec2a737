"""A token planted in the environment and the config reaches no file under the output root."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from metrics import namespaces as ns
from trainers.tracking import Tracker, TrackerConfig, open_tracker

from .simulation import BrokenSink, neptune_containers, start, train

TOKEN = "eyJhcGlfYWRkcmVzcyI6Imh0dHBzOi8vcGxhbnRlZC5leGFtcGxlIn0PLANTED42"


class LeakySink(BrokenSink):
    """Fails with the token in its error message."""

    name = "leaky"

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:  # type: ignore[override]
        raise PermissionError(f"401 Unauthorized: invalid api token {TOKEN}")


def test_planted_token_is_written_nowhere(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("NEPTUNE_API_TOKEN", TOKEN)
    monkeypatch.setenv("NEPTUNE_PROJECT", "planted/project")
    output_root = tmp_path / "models_out"
    run_dir = output_root / "runs" / "planted"
    log_file = output_root / "train.log"
    output_root.mkdir()
    handler = logging.FileHandler(log_file)
    logging.getLogger().addHandler(handler)
    config = TrackerConfig(
        sinks=("jsonl", "neptune", "mlflow", "tensorboard"), neptune_mode="offline"
    )
    run_config = {
        "model": {"lr": 0.01},
        "tracker": {"neptune": {"api_token": TOKEN, "project": "planted/project"}},
        "auth": {"password": "pw-123456789", "endpoint": TOKEN, "headers": [f"Bearer {TOKEN}"]},
        "note": f"token={TOKEN}",
    }
    try:
        with caplog.at_level(logging.DEBUG):
            opened = open_tracker(config, output_root, run_dir)
            with Tracker(run_dir, [*opened.sinks, LeakySink()], opened.secrets) as tracker:
                logged = tracker.log_parameters(run_config)
                tracker.log_field(ns.data_field("path"), f"/data/{TOKEN}/train.jsonl")
                run = start(tracker, run_dir)
                train(run, range(3))
                run.routine.log_checkpoints()
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()

    assert logged == {
        "parameters/model/lr": 0.01,
        "parameters/tracker/neptune/project": "planted/project",
    }
    assert tracker.disabled.keys() == {"leaky"}
    assert "invalid api token ***" in log_file.read_text()
    assert neptune_containers(output_root / ".neptune", "planted")  # offline despite the token

    written = [p for p in output_root.rglob("*") if p.is_file()]
    assert any(p.name == "mlflow.db" for p in written)
    assert any(p.name.startswith("data-") and p.suffix == ".log" for p in written)
    assert any("tfevents" in p.name for p in written)
    leaks = [p for p in written if TOKEN.encode() in p.read_bytes()]
    assert leaks == []
    out, err = capfd.readouterr()
    assert TOKEN not in caplog.text and TOKEN not in out and TOKEN not in err
