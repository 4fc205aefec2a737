"""``scripts/benchmark.py all`` as a user runs it: every section in one run, one table, the
results file, exit code 0 only when every goal is met."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

TABLE_HEADER = ["section", "measure", "value", "unit"]


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
    sections = {"data", "metrics", "tracking", "lightning", "keras", "predict"}
    assert {r["section"] for r in rows} == sections
    goals = [r for r in rows if r["goal"]]
    ratios = {r["section"] for r in goals if r["unit"] == "x" and r["goal"] == ">= 0.90"}
    # trainer vs plain loop, Predictor vs bare forward: measured in this run
    assert ratios == {"lightning", "keras", "predict"}
    served = {r["name"] for r in rows if r["section"] == "predict" and r["unit"] == "ms"}
    assert {"served, 1 story, median", "in-process, batch of 256, p95"} <= served
    assert done.returncode == (0 if all(r["met"] is not False for r in goals) else 1), done.stderr[
        -2000:
    ]
    lines = done.stdout.splitlines()  # libraries may print before the table
    (start,) = [i for i, line in enumerate(lines) if line.split()[:4] == TABLE_HEADER]
    table = lines[start + 2 : start + 2 + len(rows)]  # after the header and the rule
    assert [line.split()[0] for line in table] == [r["section"] for r in rows]
    assert results["machine"]["cpu_count"] and results["quick"] is True
