"""Fixtures for the tracking integration tests: Neptune always offline, nothing written to
the current directory, one simulated 5-epoch run with every sink shared by a module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from metrics import namespaces as ns
from trainers.tracking import TrackerConfig, open_tracker

from .simulation import SimulatedRun, start, train

NEPTUNE_ENV = ("NEPTUNE_API_TOKEN", "NEPTUNE_PROJECT", "NEPTUNE_MODE", "NEPTUNE_DATA_DIRECTORY")


@pytest.fixture(autouse=True)
def offline_neptune(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No Neptune credentials; the current directory is an empty folder (checked by tests)."""
    for name in NEPTUNE_ENV:
        monkeypatch.delenv(name, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


@dataclass
class FullRun:
    output_root: Path
    run_dir: Path
    run_name: str
    cwd: Path
    simulated: SimulatedRun

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.output_root.resolve().as_posix()}/mlflow.db"


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FullRun]:
    """5 epochs with jsonl + neptune (offline) + mlflow (sqlite) + tensorboard, checkpoints
    recorded as artifacts, parameters and data fields logged."""
    base = tmp_path_factory.mktemp("full")
    output_root, cwd = base / "models_out", base / "cwd"
    cwd.mkdir()
    run_name = "lstm-sim-20250101-000000-abcd"
    run_dir = output_root / "runs" / run_name
    config = TrackerConfig(sinks=("jsonl", "neptune", "mlflow", "tensorboard"), tags=("sim",))
    with pytest.MonkeyPatch.context() as patch:
        for name in NEPTUNE_ENV:
            patch.delenv(name, raising=False)
        patch.chdir(cwd)
        with open_tracker(config, output_root, run_dir) as tracker:
            assert tracker.disabled == {}
            tracker.log_parameters({"model": {"lr": 0.001, "layers": [8, 8]}, "seed": 0})
            tracker.log_fields(
                {ns.data_field("version"): "all_4dir-1234abcd", ns.data_split_size("train"): 60}
            )
            run = start(tracker, run_dir)
            train(run, range(5))
            run.routine.log_checkpoints()
    yield FullRun(output_root, run_dir, run_name, cwd, run)


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An output root shared by a module's tests (one mlflow.db; runs differ by name)."""
    return tmp_path_factory.mktemp("shared") / "models_out"
