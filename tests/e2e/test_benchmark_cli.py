"""``scripts/benchmark.py all`` as a user runs it: every section in one run, one table, the
results file, exit code 0 only when every goal is met; figures from repeated trials carry a
sane interval, and the run says how long each section took."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

TABLE_HEADER = ["section", "measure", "value", "unit"]


@pytest.mark.slow
@pytest.mark.timeout(2400)  # every section, the served model and the service included
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
        timeout=2300,
        cwd=tmp_path,
    )
    assert output.is_file(), f"exit code {done.returncode}:\n{done.stderr[-3000:]}"
    results = json.loads(output.read_text())
    rows = results["rows"]
    sections = {
        "data", "metrics", "tracking", "lightning", "keras", "predict", "service", "events",
    }  # fmt: skip
    assert {r["section"] for r in rows} == sections
    goals = [r for r in rows if r["goal"]]
    ratios = {r["section"] for r in goals if r["unit"] == "x" and r["goal"] == ">= 0.90"}
    # trainer vs plain loop, Predictor vs bare forward, trainer on 10 N stories vs the
    # default size: measured in this run
    assert ratios == {"data", "lightning", "keras", "predict"}
    served = {r["name"] for r in rows if r["section"] == "predict" and r["unit"] == "ms"}
    assert {"served, 1 story, median", "in-process, batch of 16, p95"} <= served
    # the training service against train.py, and its status requests while two runs train
    service_goals = {r["name"]: r["goal"] for r in goals if r["section"] == "service"}
    assert service_goals == {
        "first epoch, service - train.py": "< 2",
        "whole run, train.py / service": ">= 0.97",
        "status latency, p95": "< 50",
        "status latency, p95, each polling every 1 s": "< 50",
    }
    # the events: an epoch's event to an SSE client and a webhook, and many clients at once
    event_goals = {r["name"]: r["goal"] for r in goals if r["section"] == "events"}
    assert event_goals == {
        "epoch event to SSE client, p95": "< 500",
        "epoch event to webhook receiver, p95": "< 500",
    }
    # generation of N and 10 N stories, each in a fresh process, and their peak memory
    data_goals = {r["name"]: r["goal"] for r in goals if r["section"] == "data"}
    assert data_goals["generation peak memory, 10x the stories"] == "< 1.2"
    # each trainer on the 10 N version against the default (here tiny) size, side by side
    for framework in ("lightning", "keras"):
        name = f"{framework} trainer throughput, 100,000 / default train stories"
        assert data_goals[name] == ">= 0.90"
    scale = [r for r in rows if r["section"] == "data" and r["name"].startswith("generation of ")]
    assert [r["name"] for r in scale] == [
        "generation of 10,000 train stories",
        "generation of 100,000 train stories",
    ]
    assert all(r["value"] > 0 and "peak RSS" in r["note"] for r in scale)
    rates = [r for r in rows if r["section"] == "events" and r["unit"] == "events/s"]
    assert len(rates) == 1 and rates[0]["value"] > 0
    assert done.returncode == (0 if all(r["met"] is not False for r in goals) else 1), done.stderr[
        -2000:
    ]
    lines = done.stdout.splitlines()  # libraries may print before the table
    (start,) = [i for i, line in enumerate(lines) if line.split()[:4] == TABLE_HEADER]
    table = lines[start + 2 : start + 2 + len(rows)]  # after the header and the rule
    assert [line.split()[0] for line in table] == [r["section"] for r in rows]
    assert results["machine"]["cpu_count"] and results["quick"] is True

    # Repeated trials: the median inside its interval, enough trials for 95%, the verdict
    # read off the interval (met only on a clear pass).
    repeated = [r for r in rows if r.get("interval")]
    assert {r["section"] for r in repeated} == sections
    trainer_ratios = [
        r for r in goals if r["section"] in ("lightning", "keras") and r["unit"] == "x"
    ]
    assert len(trainer_ratios) == 2 and all(r["interval"] for r in trainer_ratios)
    for row in repeated:
        interval = row["interval"]
        assert interval["low"] <= row["value"] == interval["median"] <= interval["high"], row
        assert interval["trials"] >= 6 and interval["confidence"] >= 0.95, row
        if row["verdict"]:
            assert row["met"] is (row["verdict"] == "yes"), row
            assert row["verdict"] != "yes" or _clears(interval, row["goal"]), row
    shown = [line for line in table if re.search(r"\(\d+%, \d+ trials\)", line)]
    assert len(shown) == len(repeated)

    # How long it took: every section timed, with the load around it, and a total.
    assert set(results["sections"]) == sections
    assert all(
        t["seconds"] > 0 and len(t["load_before"]) == 3 for t in results["sections"].values()
    )
    assert results["seconds"] >= sum(t["seconds"] for t in results["sections"].values()) * 0.99
    assert any(line.startswith("took ") and "total" in line for line in lines[start:])


def _clears(interval: dict[str, float], goal: str) -> bool:
    """Whether the whole interval clears a goal written ``>= 0.90`` or ``< 5``."""
    sign, bound = goal.split()
    value = float(bound.replace(",", ""))
    return interval["low"] >= value if sign == ">=" else interval["high"] < value
