"""Security, through what a user runs: a token planted in the environment and on the command
line reaches no file a run writes and no console line; a password typed into a URI is refused
and written nowhere; nothing in the data or the checkpoints
needs pickle to load; the package never evaluates text it is given."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO_ROOT
from tests.e2e.test_train_cli import SMALL, run

TOKEN = "eyJhcGlfYWRkcmVzcyI6Imh0dHBzOi8vcGxhbnRlZC5leGFtcGxlIn0CLIPLANTED77"
PACKAGES = ("stories", "metrics", "trainers", "models", "scripts")


@pytest.fixture(scope="module")
def planted_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Both models trained with the token in the environment variables the tracking clients
    read (``NEPTUNE_API_TOKEN``, ``MLFLOW_TRACKING_TOKEN``: storyqa takes tokens from nowhere
    else), every sink on (Neptune offline, so nothing is sent); returns the output root and
    the console output."""
    out = tmp_path_factory.mktemp("planted") / "out"
    console = ""
    env = {
        **os.environ,
        "NEPTUNE_API_TOKEN": TOKEN,
        "MLFLOW_TRACKING_TOKEN": TOKEN,
        "NEPTUNE_PROJECT": "planted/project",
    }
    for model in ("transformer", "lstm"):
        done = subprocess.run(
            [
                sys.executable,
                str(REPO_ROOT / "scripts" / "train.py"),
                f"model={model}",
                *SMALL[model],
                "data.size=tiny",
                "trainer.max_epochs=1",
                "trainer.progress=false",
                "tracker.sinks=[jsonl,neptune,mlflow,tensorboard]",
                "tracker.neptune_mode=offline",
                f"paths.output_dir={out}",
            ],
            cwd=out.parent,
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        console += done.stdout + done.stderr
        assert done.returncode == 0, done.stderr[-3000:]
    return out, console


@pytest.mark.slow
def test_planted_token_is_in_no_file_and_no_console_line(planted_runs: tuple[Path, str]) -> None:
    out, console = planted_runs
    written = [p for p in out.rglob("*") if p.is_file()]
    kinds = {p.suffix for p in written}
    assert {".json", ".jsonl", ".ckpt", ".h5", ".html", ".db", ".log", ".npy"} <= kinds
    assert any("tfevents" in p.name for p in written)
    leaks = [p for p in written if TOKEN.encode() in p.read_bytes()]
    assert leaks == []
    assert TOKEN not in console


@pytest.mark.slow
def test_nothing_written_needs_pickle(planted_runs: tuple[Path, str]) -> None:
    import torch

    out, _ = planted_runs
    arrays = list(out.glob("datasets/*/encoded/**/*.npy"))
    assert arrays
    for path in arrays:
        np.load(path, allow_pickle=False)  # raises on an object array
    checkpoints = list(out.glob("runs/transformer-*/checkpoints/*.ckpt"))
    assert checkpoints
    for path in checkpoints:
        torch.load(path, weights_only=True, map_location="cpu")  # refuses arbitrary objects
    weights = list(out.glob("runs/lstm-*/checkpoints/*.weights.h5"))
    assert weights and all(p.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n" for p in weights)


@pytest.mark.parametrize("sweep", [False, True], ids=["run", "sweep"])
def test_a_password_typed_into_a_uri_is_refused_and_written_nowhere(
    tmp_path: Path, sweep: bool
) -> None:
    password = "PLANTEDpassw0rd"
    out = tmp_path / "out"
    done = run(
        "train.py",
        *(["-m"] if sweep else []),
        f"tracker.mlflow_tracking_uri=https://alice:{password}@mlflow.example.com",
        f"paths.output_dir={out}",
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    assert "https://alice:***@mlflow.example.com" in done.stderr
    assert password not in done.stderr
    if not sweep:  # a sweep's launcher echoes each job's overrides, as typed, on stdout
        assert password not in done.stdout
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p for p in written if password.encode() in p.read_bytes()] == []


def calls_in_package() -> dict[str, set[str]]:
    """Every called name (``eval``, ``pickle.load``...) in the package's source, by file."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    found.setdefault(str(path.relative_to(REPO_ROOT)), set()).add(
                        ast.unparse(node.func)
                    )
    return found


def test_no_code_is_run_from_text_or_pickle() -> None:
    forbidden = {
        "eval",
        "exec",
        "compile",
        "pickle.load",
        "pickle.loads",
        "yaml.load",
        "np.load",
        "numpy.load",
        "torch.load",
        "marshal.loads",
    }
    allowed = {  # each with its safety in the same call
        ("np.load", "stories/encoding.py"),  # allow_pickle=False (tested above)
        ("torch.load", "trainers/lightning/trainer.py"),  # weights_only=True
    }
    hits = {
        (name, path) for path, names in calls_in_package().items() for name in names & forbidden
    }
    assert hits <= allowed, hits - allowed
    for name, path in hits:
        source = (REPO_ROOT / path).read_text(encoding="utf-8")
        guard = "allow_pickle=False" if name == "np.load" else "weights_only=True"
        assert guard in source, (path, guard)
