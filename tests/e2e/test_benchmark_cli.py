"""``scripts/benchmark.py all`` as a user runs it: every section in one run, one table, the
results file, exit code 0 only when every goal is met."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.slow
def test_benchmark_all_measures_every_section_side_by_side(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "benchmark.py"),
            "all",
            "--quick",
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    results = json.loads(output.read_text())
    rows = results["rows"]
    assert {r["section"] for r in rows} == {"data", "metrics", "tracking", "lightning", "keras"}
    goals = [r for r in rows if r["goal"]]
    ratios = {r["section"] for r in goals if r["unit"] == "x" and r["goal"] == ">= 0.90"}
    assert ratios == {"lightning", "keras"}  # trainer vs plain loop, measured in this run
    assert done.returncode == (0 if all(r["met"] for r in goals) else 1), done.stderr[-2000:]
    table = done.stdout.splitlines()
    assert table[0].split()[:4] == ["section", "measure", "value", "unit"]
    assert len(table) == len(rows) + 2  # header, rule, one line per measure
    assert results["machine"]["cpu_count"] and results["quick"] is True
