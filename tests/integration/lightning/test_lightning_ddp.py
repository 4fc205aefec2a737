"""Two CPU processes (DDP) score every validation example once and write every record once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from trainers.records.manifest import RunManifest

from .conftest import series

SCRIPT = Path(__file__).with_name("ddp_script.py")


def _run(
    output_root: Path, run_dir: Path, strategy: str, devices: int, *extra: str
) -> dict[str, Any]:
    command = [
        sys.executable,
        str(SCRIPT),
        str(output_root),
        str(run_dir),
        strategy,
        str(devices),
        *extra,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((run_dir / "seen-rank0.json").read_text())


@pytest.fixture(scope="module")
def single(tiny_4dir: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = Path(tiny_4dir.path).parent.parent
    return _run(root, tmp_path_factory.mktemp("single") / "run", "auto", 1)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp", "ddp_spawn"])
def test_two_processes_score_each_example_once_and_record_once(
    tiny_4dir: Any, tmp_path: Path, single: dict[str, Any], strategy: str
) -> None:
    run_dir = tmp_path / "run"
    seen = _run(Path(tiny_4dir.path).parent.parent, run_dir, strategy, 2)

    assert len(seen["seen"]) == 2  # the routine ran once per epoch, in one process
    assert seen["seen"] == single["seen"]  # same rows, same groups: no repeat, no loss
    assert seen["epochs_completed"] == 2

    values = series(run_dir)  # fails on any record written twice
    assert {step for (_, step) in values} == {0, 1}
    checkpoints = {p.name for p in (run_dir / "checkpoints").iterdir()}
    assert checkpoints == {*seen["top_k"], "best.ckpt", "last.ckpt", "topk_state.json"}
    manifest = RunManifest.load(run_dir)
    assert manifest.status == "finished" and "x2" in str(manifest.device)
    if strategy == "ddp":  # every process ran the script and got the same result
        worker = json.loads((run_dir / "seen-rank1.json").read_text())
        assert worker["seen"] == [] and worker["top_k"] == seen["top_k"]
        assert worker["best_epoch"] == seen["best_epoch"]


@pytest.mark.slow
def test_a_time_budget_stops_every_process_after_the_same_step(
    tiny_4dir: Any, tmp_path: Path
) -> None:
    import torch

    run_dir = tmp_path / "run"
    # Spent before the first step ends: each process asks it after every step, and any
    # process that finds it spent stops them all (a process that did not ask would hang).
    seen = _run(Path(tiny_4dir.path).parent.parent, run_dir, "ddp", 2, "1e-6")
    worker = json.loads((run_dir / "seen-rank1.json").read_text())
    assert len(seen["seen"]) == 1  # the partial epoch, validated once
    for result in (seen, worker):
        assert (result["epochs_completed"], result["stopped_early"]) == (1, True)
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert (last["epoch"], last["global_step"]) == (0, 1)  # 1 of the 2 steps of each process


@pytest.mark.slow
def test_validations_inside_epochs_run_once_across_processes(
    tiny_4dir: Any, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    # 64 training rows in batches of 16: 4 steps an epoch, 2 per process; a validation after
    # every 2 steps of the epoch order (one step of each process)
    seen = _run(Path(tiny_4dir.path).parent.parent, run_dir, "ddp", 2, "none", "2")
    worker = json.loads((run_dir / "seen-rank1.json").read_text())
    assert len(seen["seen"]) == 4  # two validations in each of the two epochs, scored once
    assert len(seen["steps"]) == 2 and set(seen["steps"]) <= {2, 4, 6, 8}  # top-2 of 4
    values = series(run_dir)
    assert {step for (_, step) in values} == {2, 4, 6, 8}
    for result in (seen, worker):
        assert result["epochs_completed"] == 2 and result["top_k"] == seen["top_k"]
