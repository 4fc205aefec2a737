"""Run storyqa's benchmarks and print one table.

Usage::

    python scripts/benchmark.py {data,metrics,tracking,lightning,keras,predict,service,events,all}
        [--quick] [--output FILE]

Ratios are measured side by side in the same run, from repeated trials taken in turns: each
is the median of the paired trials with its 95% interval, and a goal is met only when the whole
interval clears it (``scripts/bench/stats.py``). Results are written to
``benchmarks/results.json`` (or ``--output``), with how long each section took and the load
average around it; running one section replaces only that section's rows there.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from scripts.bench.common import BenchmarkRow

SECTIONS = ("data", "metrics", "tracking", "lightning", "keras", "predict", "service", "events")
_CHECKOUT = Path(__file__).resolve().parent.parent
#: The checkout's benchmarks/results.json; run from an installed wheel, ./benchmarks/results.json.
DEFAULT_OUTPUT = (
    (_CHECKOUT if (_CHECKOUT / "pyproject.toml").is_file() else Path())
    / "benchmarks"
    / "results.json"
)


def _number(value: float) -> str:
    return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"


def format_table(rows: list[BenchmarkRow]) -> str:
    """Render rows as a fixed-width table (the interval column: ``low-high`` at the stated
    confidence, over the stated number of trials)."""
    header = ("section", "measure", "value", "unit", "95% interval", "goal", "met", "note")
    body = [
        (
            r.section,
            r.name,
            _number(r.value),
            r.unit,
            "" if r.interval is None else r.interval.describe(),
            r.goal,
            r.verdict or ("" if r.met is None else ("yes" if r.met else "NO")),
            r.note,
        )
        for r in rows
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body, strict=True)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
        for row in (header, *body)
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("section", choices=(*SECTIONS, "all"))
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results file")
    args = parser.parse_args(argv)

    sections = SECTIONS if args.section == "all" else (args.section,)
    rows: list[BenchmarkRow] = []
    timing: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    for section in sections:
        module = importlib.import_module(f"scripts.bench.{section}")
        print(f"running {section} benchmark...", file=sys.stderr, flush=True)
        load_before, section_started = _load(), time.perf_counter()
        rows.extend(module.run(quick=args.quick))
        seconds = time.perf_counter() - section_started
        timing[section] = {
            "seconds": seconds,
            "load_before": load_before,
            "load_after": _load(),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        print(
            f"{section} took {seconds:.0f} s (load average {load_before} -> {_load()})",
            file=sys.stderr,
            flush=True,
        )
    total = time.perf_counter() - started

    print(format_table(rows))
    print(
        "\ntook "
        + ", ".join(f"{name} {t['seconds']:.0f} s" for name, t in timing.items())
        + f"; total {total:.0f} s"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    # Keep the other sections' latest rows and timing: running one section updates only its own.
    kept = []
    kept_timing: dict[str, Any] = {}
    if args.output.is_file():
        previous = json.loads(args.output.read_text())
        kept = [r for r in previous.get("rows", []) if r.get("section") not in sections]
        kept_timing = {
            name: t
            for name, t in previous.get("sections", {}).items()
            if name not in sections and any(r.get("section") == name for r in kept)
        }
    payload = {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        },
        "quick": args.quick,
        # Per section: seconds, load average (1, 5, 15 min) before and after, when it ended.
        "sections": {**kept_timing, **timing},
        "seconds": total,  # this invocation's sections, in all
        "rows": kept + [r.as_dict() for r in rows],
    }
    tmp = args.output.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(args.output)
    print(f"\nresults written to {args.output}", file=sys.stderr)
    return 0 if all(r.met is not False for r in rows) else 1


def _load() -> list[float]:
    """The 1-minute load average and, for the run's context, the 5- and 15-minute ones."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


if __name__ == "__main__":
    raise SystemExit(main())
