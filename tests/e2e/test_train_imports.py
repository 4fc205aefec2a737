"""``train.py`` imports only the framework its model needs, and none for ``--help``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import atexit, sys
atexit.register(lambda: print("IMPORTED", sorted(
    m for m in ("tensorflow", "keras", "lightning", "torch") if m in sys.modules)))
sys.argv = ["storyqa-train", *sys.argv[1:]]
from scripts.train import main
main()
"""

SMALL = {
    "transformer": ["model.d_model=16", "model.nhead=2", "model.d_hid=32", "model.nlayers=1"],
    "lstm": ["model.hidden=8", "model.embedding_dim=8"],
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "forbidden"), [("transformer", {"tensorflow", "keras"}), ("lstm", {"lightning"})]
)
def test_a_run_imports_only_its_framework(tmp_path: Path, model: str, forbidden: set[str]) -> None:
    code = PROBE
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            f"model={model}",
            *SMALL[model],
            "data.size=tiny",
            "trainer.max_epochs=1",
            "trainer.progress=false",
            "tracker.sinks=[jsonl]",
            "evaluate_splits=[valid_a]",
            "progress=false",
            f"paths.output_dir={tmp_path / 'out'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    imported = imported_frameworks(done.stdout)
    assert imported & forbidden == set(), imported
    assert ("lightning" if model == "transformer" else "keras") in imported


def test_help_imports_no_framework(tmp_path: Path) -> None:
    """``--help`` (and config validation) must not pay for importing a framework."""
    code = PROBE
    done = subprocess.run(
        [sys.executable, "-c", code, "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "model: " in done.stdout, done.stderr[-2000:]
    assert imported_frameworks(done.stdout) == set()


def imported_frameworks(stdout: str) -> set[str]:
    (line,) = [line for line in stdout.splitlines() if line.startswith("IMPORTED")]
    return set(ast.literal_eval(line.removeprefix("IMPORTED ")))
