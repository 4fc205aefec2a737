"""Comparisons of the service's runs: a sweep's when its last run ends, and ``POST /compare``'s
on demand. Both are the trainers' own comparison (``trainers.runs.comparison``): the headline
(accuracy per split with its 95% interval), the paired tests, the page with its CSVs.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def run_dirs_of(output_dir: Path, run_ids: Sequence[str]) -> list[Path]:
    """The run folders of ``run_ids`` in the output root."""
    return [output_dir.resolve() / "runs" / run_id for run_id in run_ids]


def compare_into(
    output_dir: Path, run_ids: Sequence[str], folder: Path, lead: str = ""
) -> tuple[Path, list[dict[str, Any]]]:
    """Compare finished runs and save the page (``<folder>/comparison.html``) with its CSVs;
    the page and the headline (accuracy per split and run, with its 95% interval).

    Raises:
        ValueError: Fewer than one run, or a run that cannot be compared (it names it).
    """
    from trainers.runs.comparison import compare_runs, save_comparison

    if not run_ids:
        raise ValueError("no finished run to compare")
    run_dirs = run_dirs_of(output_dir, run_ids)
    comparison = compare_runs(run_dirs)
    page = save_comparison(comparison, folder / "comparison.html", run_dirs, lead=lead).html
    return page, _records(comparison.headline_frame())


def compare(output_dir: Path, run_ids: Sequence[str]) -> dict[str, Any]:
    """Compare finished runs: the headline, the paired tests, the warnings and the page
    (saved under ``<output_dir>/service/comparisons/<digest of the ids>/``).

    Raises:
        ValueError: A run that cannot be compared (it names it).
    """
    from trainers.runs.comparison import compare_runs, save_comparison

    run_dirs = run_dirs_of(output_dir, run_ids)
    comparison = compare_runs(run_dirs)
    digest = hashlib.sha256("\n".join(run_ids).encode()).hexdigest()[:12]
    folder = output_dir / "service" / "comparisons" / digest
    page = save_comparison(comparison, folder / "comparison.html", run_dirs).html
    return {
        "models": list(comparison.models),
        "baseline": comparison.baseline,
        "headline": _records(comparison.headline_frame()),
        "paired": _records(comparison.paired_frame()) if comparison.paired else [],
        "warnings": list(comparison.warnings),
        "page": str(page.relative_to(output_dir)),
        "text": comparison.console_summary(),
    }


def _records(frame: Any) -> list[dict[str, Any]]:
    """Rows of a frame as JSON-safe dicts (NaN as ``None``)."""
    rows = frame.to_dict(orient="records")
    return [
        {
            str(k): (None if isinstance(v, float) and math.isnan(v) else _plain(v))
            for k, v in row.items()
        }
        for row in rows
    ]


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else value
