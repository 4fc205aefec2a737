"""Faults a run survives, through the commands a user runs: ``kill -9`` at a random point or
SIGTERM, then ``train.py resume=<run dir>``. The resumed run must end exactly like an
uninterrupted one (CPU, same seed): the same metrics, top-k files and registry entry, and no
epoch recorded twice in ``metrics.jsonl``, Neptune's offline log or MLflow. With
``trainer.val_check_interval`` the kill lands in the middle of an epoch and the run resumes
from the validation before it."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from metrics import namespaces as ns
from tests.conftest import REPO_ROOT
from tests.e2e.test_train_cli import SMALL
from tests.integration.tracking.simulation import (
    Stored,
    neptune_containers,
    read_jsonl,
    read_mlflow,
    read_neptune,
)

pytestmark = pytest.mark.slow

EPOCHS = 6
#: Every sink on (Neptune offline: no token in tests), top-2 checkpoints kept.
ARGS = [
    "data.size=tiny",
    f"trainer.max_epochs={EPOCHS}",
    "trainer.top_k=2",
    "trainer.progress=false",
    "progress=false",
    "tracker.sinks=[jsonl,neptune,mlflow]",
    "tracker.neptune_mode=offline",
]
#: Registry fields that legitimately differ between two runs of the same config.
RUN_SPECIFIC = {"run_id", "run_dir", "registered_at", "evaluation_dirs", "checkpoint"}
RUN_SPECIFIC_CONFIG = {"output_dir", "run_id"}


#: Validations every quarter of an epoch: tiny data's 11 Transformer steps are cut
#: 3 + 3 + 3 + 2, its 3 LSTM steps 1 + 1 + 1 (most checkpoints then lie inside an epoch).
BY_STEP = "trainer.val_check_interval=0.25"
BY_STEP_EPOCHS = 2
PARTS = {"transformer": 4, "lstm": 3}


def command(model: str, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        str(REPO_ROOT / "scripts" / "train.py"),
        f"model={model}",
        *SMALL[model],
        *ARGS,
        f"paths.output_dir={out}",
        *extra,
    ]


def resume(run_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "train.py"), f"resume={run_dir}"],
        cwd=run_dir.parent.parent.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )


def finished_epochs(out: Path) -> int:
    """Epochs (validations) whose validation accuracy is in the (single) run's
    ``metrics.jsonl``."""
    files = list((out / "runs").glob("*/metrics.jsonl"))
    if not files:
        return 0
    lines = files[0].read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.endswith("}")]
    return len({r["step"] for r in records if r["name"] == "metrics/val/accuracy"})


class EpochClock:
    """A ``ready`` condition for :func:`run_until`: true once ``epochs`` epochs are in
    ``metrics.jsonl``; it remembers how long the last of them took, as seen by polling."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.seen_at: dict[int, float] = {}

    def __call__(self, out: Path) -> bool:
        finished = finished_epochs(out)
        self.seen_at.setdefault(finished, time.monotonic())
        return finished >= self.epochs

    @property
    def last_epoch_s(self) -> float:
        """Seconds per epoch between the last two epoch counts seen (0 if fewer were seen;
        count 0 is when polling began, not the end of an epoch)."""
        counts = sorted(count for count in self.seen_at if count > 0)
        if len(counts) < 2:
            return 0.0
        before, last = counts[-2:]
        return (self.seen_at[last] - self.seen_at[before]) / (last - before)


def run_until(
    model: str,
    out: Path,
    ready: Any,
    signum: int,
    jitter_s: Callable[[], float],
    *extra: str,
) -> tuple[Path, subprocess.Popen[str], str]:
    """Start a run (with ``extra`` arguments), wait until ``ready(out)``, then ``jitter_s()``
    more, and send ``signum``; returns the run folder, the ended process and its stderr."""
    out.mkdir(parents=True)
    process = subprocess.Popen(
        command(model, out, *extra),
        cwd=out.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 300
    while not ready(out):
        assert process.poll() is None, f"the run ended before the fault: {process.stderr}"
        assert time.time() < deadline, "the run made no progress"
        time.sleep(0.05)
    time.sleep(jitter_s())
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0, "the run finished before the fault"
    (run_dir,) = (out / "runs").iterdir()
    return run_dir, process, stderr


def merged_neptune(data_dir: Path, run_name: str) -> Stored:
    """The series of a run's offline Neptune containers (each process that trained it writes
    one; ``neptune sync`` merges them into one run through its ``custom_run_id``). A point
    that two containers both hold must have the same value: the resumed process repeats at
    most the epoch that was cut short, and repeats it exactly."""
    merged = Stored()
    for operations in neptune_containers(data_dir, run_name):
        for key, value in timeless(read_neptune(operations)).series.items():
            assert merged.series.setdefault(key, value) == value, key
    return merged


def timeless(stored: Stored) -> Stored:
    """``stored`` without the series that measure time (an epoch repeated after a kill takes
    its own time)."""
    clock = ns.wall_clock_series()
    kept = {key: value for key, value in stored.series.items() if key[0] not in clock}
    return Stored(kept, stored.fields, stored.artifacts)


def tracked(run_dir: Path) -> dict[str, Stored]:
    """What each sink holds for the run (each reader fails on a duplicate point)."""
    root = run_dir.parent.parent
    jsonl = read_jsonl(run_dir)
    series = {name for name, _ in jsonl.series}
    return {
        "jsonl": jsonl,
        "neptune": merged_neptune(root / ".neptune", run_dir.name),
        "mlflow": read_mlflow(f"sqlite:///{root.as_posix()}/mlflow.db", run_dir.name, series),
    }


def registry_entry(run_dir: Path) -> dict[str, Any]:
    registry = json.loads((run_dir.parent.parent / "registry.json").read_text())
    (entry,) = registry["models"]
    assert entry["run_id"] == run_dir.name
    entry["config"] = {k: v for k, v in entry["config"].items() if k not in RUN_SPECIFIC_CONFIG}
    return {k: v for k, v in entry.items() if k not in RUN_SPECIFIC}


def checkpoint_names(run_dir: Path) -> list[str]:
    return sorted(p.name for p in (run_dir / "checkpoints").iterdir() if p.is_file())


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    runs = {}
    for model in ("transformer", "lstm"):
        out = tmp_path_factory.mktemp(f"whole-{model}") / "out"
        done = subprocess.run(
            command(model, out), cwd=out.parent, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]
        (runs[model],) = (out / "runs").iterdir()
    return runs


def kill_9_after(model: str, out: Path, validations: int, fraction: float, *extra: str) -> Path:
    """Start a run, ``kill -9`` it ``fraction`` of a validation's time after its
    ``validations``-th validation is in ``metrics.jsonl``; returns its folder."""
    clock = EpochClock(validations)
    run_dir, _, _ = run_until(
        model, out, clock, signal.SIGKILL, lambda: fraction * clock.last_epoch_s, *extra
    )
    return run_dir


def validation_steps(stored: Stored) -> list[int]:
    """The steps at which a sink holds a validation accuracy."""
    return sorted({step for name, step in stored.series if name == "metrics/val/accuracy"})


def assert_same_as_uninterrupted(run_dir: Path, whole: Path) -> None:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["resumed_at"]
    assert registry_entry(run_dir) == registry_entry(whole)
    assert checkpoint_names(run_dir) == checkpoint_names(whole)
    resumed, reference = tracked(run_dir), tracked(whole)
    for sink in ("jsonl", "neptune", "mlflow"):
        # every validation once (duplicates fail above), at the same steps
        assert validation_steps(resumed[sink]) == validation_steps(reference[sink]), sink
        assert timeless(resumed[sink]).series == timeless(reference[sink]).series, sink


def test_the_uninterrupted_runs_validate_once_per_epoch(uninterrupted: dict[str, Path]) -> None:
    for whole in uninterrupted.values():
        assert validation_steps(read_jsonl(whole)) == list(range(EPOCHS))


@pytest.fixture(scope="module")
def uninterrupted_by_step(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    runs = {}
    for model in ("transformer", "lstm"):
        out = tmp_path_factory.mktemp(f"whole-by-step-{model}") / "out"
        extra = (BY_STEP, f"trainer.max_epochs={BY_STEP_EPOCHS}")
        done = subprocess.run(
            command(model, out, *extra), cwd=out.parent, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]
        (runs[model],) = (out / "runs").iterdir()
    return runs


@pytest.mark.parametrize("model", ["transformer", "lstm"])
def test_kill_9_mid_epoch_with_val_check_interval_then_resume(
    model: str, uninterrupted_by_step: dict[str, Path], tmp_path: Path
) -> None:
    whole = uninterrupted_by_step[model]
    periods = PARTS[model] * BY_STEP_EPOCHS
    assert len(validation_steps(read_jsonl(whole))) == periods
    manifest = json.loads((whole / "manifest.json").read_text())
    assert (manifest["epochs_completed"], manifest["periods_completed"]) == (
        BY_STEP_EPOCHS,
        periods,
    )
    # Kill at a random point after the second validation (inside epoch 0), leaving at least
    # three validations of margin for the polling's lag.
    fraction = random.Random().uniform(0.0, 0.5)
    print(f"kill -9 after 2 validations + {fraction:.2f} of one")  # to reproduce
    extra = (BY_STEP, f"trainer.max_epochs={BY_STEP_EPOCHS}")
    run_dir = kill_9_after(model, tmp_path / "out", 2, fraction, *extra)
    killed = json.loads((run_dir / "manifest.json").read_text())
    assert killed["status"] == "running" and (killed["periods_completed"] or 0) >= 1
    print(f"killed after {killed['periods_completed']} saved validation(s)")

    done = resume(run_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_as_uninterrupted(run_dir, whole)


@pytest.mark.parametrize("model", ["transformer", "lstm"])
def test_kill_9_during_training_then_resume(
    model: str, uninterrupted: dict[str, Path], tmp_path: Path
) -> None:
    chooser = random.Random()
    # The fault must land in training (a kill while evaluating is the next test), yet a tiny
    # model's epoch takes about 0.1 s: kill at a random point of the first half of the epoch
    # after `after_epochs`, scaled by how long the epoch before it took, which leaves at
    # least two more epochs of margin for the polling's lag.
    after_epochs = chooser.randint(2, EPOCHS - 3)
    fraction = chooser.uniform(0.0, 0.5)
    print(f"kill -9 after {after_epochs} epoch(s) + {fraction:.2f} epoch")  # to reproduce
    run_dir = kill_9_after(model, tmp_path / "out", after_epochs, fraction)
    killed = json.loads((run_dir / "manifest.json").read_text())
    assert killed["status"] == "running"
    # Nothing runs at a SIGKILL, yet the manifest says how far the run got: it is written as
    # each epoch's checkpoint lands (the kill may come between an epoch's metrics and files).
    assert killed["epochs_completed"] >= after_epochs - 1 >= 1
    assert not (run_dir.parent.parent / "registry.json").exists()

    done = resume(run_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_as_uninterrupted(run_dir, uninterrupted[model])


def test_kill_9_while_evaluating_then_resume(
    uninterrupted: dict[str, Path], tmp_path: Path
) -> None:
    run_dir, _, _ = run_until(
        "lstm",
        tmp_path / "out",
        lambda out: any((out / "runs").glob("*/eval/*/evaluation.json")),
        signal.SIGKILL,
        lambda: 0.0,
    )
    done = resume(run_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "epoch 0" not in done.stdout  # nothing trained again: only evaluated and registered
    assert_same_as_uninterrupted(run_dir, uninterrupted["lstm"])


@pytest.mark.parametrize("model", ["transformer", "lstm"])
def test_sigterm_stops_cleanly_then_resume(
    model: str, uninterrupted: dict[str, Path], tmp_path: Path
) -> None:
    run_dir, process, stderr = run_until(
        model, tmp_path / "out", lambda out: finished_epochs(out) >= 1, signal.SIGTERM, lambda: 0.0
    )
    assert process.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted", stderr[-2000:]
    assert "Traceback" not in stderr
    assert f"python scripts/train.py resume={run_dir}" in stderr
    assert list((run_dir / "checkpoints").glob("last.*"))
    assert (run_dir / "metrics.jsonl").read_text().endswith("\n")  # flushed whole lines
    # The manifest says how far the run got: the saved epochs, the best and the files kept.
    assert manifest["epochs_completed"] >= 1 and manifest["device"] == "cpu"
    assert manifest["best"]["epoch"] < manifest["epochs_completed"]
    kept = [manifest["checkpoints"]["last"], *manifest["checkpoints"]["top_k"]]
    assert all((run_dir / path).is_file() for path in kept)

    done = resume(run_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_as_uninterrupted(run_dir, uninterrupted[model])
