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


CHECK = """
import json, sys
from models.settings import SettingsError
from trainers.runs.pipeline import PipelineConfig
def frameworks():
    names = ("tensorflow", "keras", "lightning", "torch", "jax")
    return sorted(m for m in names if m in sys.modules)
config = PipelineConfig.from_mapping(
    {"model": sys.argv[1], "data": "all_4dir", "trainer": json.loads(sys.argv[2])})
print("VALIDATED", frameworks())
try:
    config.check_trainer()
    print("ACCEPTED")
except SettingsError as error:
    print("REFUSED", error)
print("IMPORTED", frameworks())
"""


def check_trainer_keys(tmp_path: Path, model: str, trainer: str) -> tuple[set[str], str, set[str]]:
    """Validate a config, then check its ``trainer.*`` keys against this machine, in a fresh
    process: the frameworks imported by the validation, the verdict, and those imported in
    all."""
    done = subprocess.run(
        [sys.executable, "-c", CHECK, model, trainer],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    validated = imported_frameworks(done.stdout, "VALIDATED")
    first_words = [line.split(" ", 1)[0] for line in done.stdout.splitlines()]
    (verdict,) = [word for word in first_words if word in ("ACCEPTED", "REFUSED")]
    return validated, verdict, imported_frameworks(done.stdout)


@pytest.mark.parametrize(
    ("model", "trainer", "verdict", "imported"),
    [
        ("transformer", '{"max_epochs": 2, "num_threads": 1}', "ACCEPTED", set()),
        ("lstm", '{"accelerator": "cpu", "precision": "32"}', "ACCEPTED", set()),
        ("lstm", '{"strategy": "ddp", "devices": 2}', "REFUSED", set()),
        ("transformer", '{"strategy": "ddp_spawn"}', "ACCEPTED", {"lightning", "torch"}),
    ],
)
def test_trainer_keys_import_a_framework_only_to_check_a_placement(
    tmp_path: Path, model: str, trainer: str, verdict: str, imported: set[str]
) -> None:
    """Checking ``trainer.*`` for a run imports nothing more than the validation did, unless a
    placement key that needs the framework is set (then only that framework)."""
    validated, given, after = check_trainer_keys(tmp_path, model, trainer)
    assert given == verdict
    assert after == validated | imported


@pytest.mark.parametrize("model", ["transformer", "lstm"])
def test_validating_a_config_imports_no_framework(tmp_path: Path, model: str) -> None:
    """``docs/architecture.md``: validating a config never loads PyTorch or TensorFlow."""
    validated, _, _ = check_trainer_keys(tmp_path, model, "{}")
    assert validated == set()


def imported_frameworks(stdout: str, label: str = "IMPORTED") -> set[str]:
    (line,) = [line for line in stdout.splitlines() if line.startswith(label)]
    return set(ast.literal_eval(line.removeprefix(f"{label} ")))
