"""Each Keras backend trains, logs and checkpoints the same way (one process per backend)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from metrics.history import read_metrics_jsonl

SCRIPT = Path(__file__).with_name("train_in_subprocess.py")


def train(backend: str, dataset_dir: Path, run_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    # The checkout first, then whatever the caller already had on the path.
    paths = [str(Path(__file__).resolve().parents[3]), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    out = subprocess.run(
        [sys.executable, str(SCRIPT), backend, str(dataset_dir), str(run_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_backend_trains_logs_and_checkpoints(backend: str, tiny_4dir, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / backend
    summary = train(backend, Path(tiny_4dir.path), run_dir)
    assert summary["backend"] == backend and not summary["lightning_imported"]
    assert summary["evaluated_accuracy"] == pytest.approx(summary["best_val_accuracy"])
    steps = {
        r.step
        for r in read_metrics_jsonl(run_dir / "metrics.jsonl")
        if r.name == "metrics/val/accuracy"
    }
    assert steps == {0, 1}
    names = sorted(p.name for p in (run_dir / "checkpoints").glob("*.weights.h5"))
    assert len(names) == 4 and "best.weights.h5" in names and "last.weights.h5" in names
