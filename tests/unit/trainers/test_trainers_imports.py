"""Importing the tracking layer loads no ML framework and no tracking client."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("neptune", "mlflow", "tensorboardX", "torch", "tensorflow", "keras", "lightning")


def test_import_is_cheap() -> None:
    code = (
        "import sys, trainers, trainers.tracking, trainers.checkpoints\n"
        "from trainers import Tracker, TopKPolicy, EpochRoutine\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
