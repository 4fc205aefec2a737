"""``scripts/generate_data.py`` as a user runs it (its bad inputs: ``test_bad_inputs.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "generate_data.py"


def run(*overrides: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *overrides],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_generates_then_hits_the_cache_and_prints_the_summary(tmp_path):
    out = tmp_path / "out"
    first = run(
        "data=all_2dir", "data.size=tiny", "seed=3", f"paths.output_dir={out}", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert "Generated" in first.stdout and "generating" in first.stderr  # tqdm bar on stderr
    for expected in (
        "valid_comp: examples per category x noun_count",
        "yes_share",
        "oov_rate",
        "median",
    ):
        assert expected in first.stdout
    (folder,) = (out / "datasets").glob("all_2dir-tiny-*")
    second = run(
        "data=all_2dir", "data.size=tiny", "seed=3", f"paths.output_dir={out}", cwd=tmp_path
    )
    assert second.returncode == 0 and "Cache hit" in second.stdout and str(folder) in second.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # Hydra wrote nothing in the cwd
