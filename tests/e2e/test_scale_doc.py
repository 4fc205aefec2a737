"""The commands of the documentation's "Large data" part (``docs/scale.md``), run as written
from a checkout's root in the environment ``make`` builds, at a smaller size: the peak memory
of a generation, then of loading what it built."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.e2e.test_use_model import code_blocks

PAGE = REPO_ROOT / "docs" / "scale.md"
#: The page's sizes and budgets, and what the test runs instead.
SMALLER = {
    "1_000_000": "5_000",
    "train=1000000": "train=5000",
    "val_check_interval=500": "val_check_interval=8",
    "max_minutes=30": "max_minutes=0.1",
}


def large_data_commands() -> list[str]:
    """The ``bash`` commands of the page's "Large data" part, in order."""
    part = PAGE.read_text(encoding="utf-8").split("## Large data", 1)[1].split("\n## ", 1)[0]
    return [code.strip() for lang, code in code_blocks(re.sub(r"\n +", "\n", part))
            if lang == "bash"]  # fmt: skip


def run(command: str, tmp_path: Path) -> str:
    """Run ``command`` at the test's sizes, in the checkout's root; its last line of output."""
    for written, smaller in SMALLER.items():
        command = command.replace(written, smaller)
    command = command.replace("/tmp/storyqa-1m", str(tmp_path / "storyqa"))
    if "scripts/train.py" in command:
        command += f" paths.output_dir={tmp_path / 'out'} progress=false tracker.sinks=[jsonl]"
    done = subprocess.run(
        ["bash", "-c", command.replace("python ", f"{sys.executable} ", 1)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, f"{command}\n{done.stderr[-3000:]}"
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_the_large_data_commands_work_as_written(tmp_path: Path) -> None:
    commands = large_data_commands()
    assert [c.split()[:2] for c in commands] == [
        ["python", "-c"],
        ["python", "scripts/train.py"],
        ["python", "-c"],
    ]
    generated = json.loads(run(commands[0], tmp_path))
    assert generated["rate"] > 0 and generated["peak_mib"] > 0
    (version,) = (tmp_path / "storyqa" / "datasets").glob("all_4dir-*")
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["config"]["split_sizes"]["train"] == 5_000  # the size the command asked
    loaded = json.loads(run(commands[2], tmp_path))
    assert loaded["stage"] == "train" and loaded["peak_mib"] > 0

    run(commands[1], tmp_path)  # validations every 8 steps, a budget of 6 s
    (run_dir,) = (tmp_path / "out" / "runs").iterdir()
    trained = json.loads((run_dir / "manifest.json").read_text())
    assert trained["status"] == "finished" and trained["periods_completed"] >= 1
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    steps = {
        json.loads(line)["step"]
        for line in lines
        if json.loads(line)["name"] == "metrics/val/accuracy"
    }
    # 5,000 stories in batches of 256: 20 steps an epoch, validated after steps 8, 16 and 20
    # of each (the budget may cut the last validation's stretch short)
    *whole, last = sorted(steps)
    assert all(step % 20 in (8, 16, 0) for step in whole) and last > 0
    assert any(json.loads(line)["name"] == "best/step" for line in lines)
