"""Run storyqa's benchmarks and print one table.

Usage::

    python scripts/benchmark.py {data,metrics,tracking,lightning,keras,predict,all} [--quick]
        [--output FILE]

Ratios are measured side by side in the same run. Results are written to
``benchmarks/results.json`` (or ``--output``); running one section replaces only that
section's rows there.
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

from scripts.bench.common import BenchmarkRow

SECTIONS = ("data", "metrics", "tracking", "lightning", "keras", "predict")
_CHECKOUT = Path(__file__).resolve().parent.parent
#: The checkout's benchmarks/results.json; run from an installed wheel, ./benchmarks/results.json.
DEFAULT_OUTPUT = (
    (_CHECKOUT if (_CHECKOUT / "pyproject.toml").is_file() else Path())
    / "benchmarks"
    / "results.json"
)


def format_table(rows: list[BenchmarkRow]) -> str:
    """Render rows as a fixed-width table."""
    header = ("section", "measure", "value", "unit", "goal", "met", "note")
    body = [
        (
            r.section,
            r.name,
            f"{r.value:,.3f}" if abs(r.value) < 100 else f"{r.value:,.0f}",
            r.unit,
            r.goal,
            "" if r.met is None else ("yes" if r.met else "NO"),
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
    for section in sections:
        module = importlib.import_module(f"scripts.bench.{section}")
        print(f"running {section} benchmark...", file=sys.stderr, flush=True)
        rows.extend(module.run(quick=args.quick))

    print(format_table(rows))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    # Keep the other sections' latest rows: running one section updates only its own.
    kept = []
    if args.output.is_file():
        previous = json.loads(args.output.read_text())
        kept = [r for r in previous.get("rows", []) if r.get("section") not in sections]
    payload = {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        },
        "quick": args.quick,
        "rows": kept + [r.as_dict() for r in rows],
    }
    tmp = args.output.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(args.output)
    print(f"\nresults written to {args.output}", file=sys.stderr)
    return 0 if all(r.met is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
