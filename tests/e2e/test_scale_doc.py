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
#: The page's sizes, and what the test runs instead.
SMALLER = {"1_000_000": "5_000"}


def large_data_commands() -> list[str]:
    """The ``bash`` commands of the page's "Large data" part, in order."""
    part = PAGE.read_text(encoding="utf-8").split("## Large data", 1)[1].split("\n## ", 1)[0]
    return [code.strip() for lang, code in code_blocks(re.sub(r"\n +", "\n", part))
            if lang == "bash"]  # fmt: skip


@pytest.mark.slow
def test_the_large_data_commands_work_as_written(tmp_path: Path) -> None:
    commands = large_data_commands()
    assert len(commands) == 2 and all(c.startswith("python -c ") for c in commands)
    outputs = []
    for command in commands:
        for written, smaller in SMALLER.items():
            command = command.replace(written, smaller)
        command = command.replace("/tmp/storyqa-1m", str(tmp_path / "storyqa"))
        done = subprocess.run(
            ["bash", "-c", command.replace("python ", f"{sys.executable} ", 1)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, f"{command}\n{done.stderr[-3000:]}"
        outputs.append(done.stdout.strip().splitlines()[-1])
    generated = json.loads(outputs[0])
    assert generated["rate"] > 0 and generated["peak_mib"] > 0
    assert re.fullmatch(r"\d+ MiB", outputs[1])
    (version,) = (tmp_path / "storyqa" / "datasets").glob("all_4dir-*")
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["config"]["split_sizes"]["train"] == 5_000  # the size the command asked
