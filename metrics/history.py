"""Read a run's ``metrics.jsonl`` (written by the tracking layer's JSONL sink).

One JSON object per line::

    {"name": "metrics/train/loss", "value": 0.69, "step": 3, "kind": "series"}   # step = epoch
    {"name": "best/epoch", "value": 7, "kind": "field"}                           # single value

Blank lines, lines without a ``name`` and ``value`` and unknown kinds are tolerated: they are
skipped (or kept as records of their kind); a line that is not valid JSON (e.g. a line cut
short by a crash) is skipped with one warning per file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)

SERIES = "series"
FIELD = "field"


@dataclass(frozen=True)
class MetricRecord:
    """One line of ``metrics.jsonl``.

    Attributes:
        name: Namespace, e.g. ``metrics/val/accuracy``.
        value: The logged value (a number for series; any JSON scalar for fields).
        kind: ``series``, ``field`` or whatever the writer used.
        step: Epoch of a series value; ``None`` for fields.
    """

    name: str
    value: object
    kind: str
    step: int | None = None


def read_metrics_jsonl(path: str | Path) -> list[MetricRecord]:
    """Parse ``metrics.jsonl`` into records, in file order.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "metrics.jsonl"
        >>> _ = path.write_text('{"name": "metrics/val/loss", "value": 0.5, "step": 0, '
        ...                     '"kind": "series"}\\n{"event": "start"}\\n')
        >>> read_metrics_jsonl(path)
        [MetricRecord(name='metrics/val/loss', value=0.5, kind='series', step=0)]
    """
    path = Path(path)
    records: list[MetricRecord] = []
    invalid_lines: list[int] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                invalid_lines.append(number)
                continue
            if isinstance(entry, dict) and isinstance(entry.get("name"), str) and "value" in entry:
                step = entry.get("step")
                records.append(
                    MetricRecord(
                        name=entry["name"],
                        value=entry["value"],
                        kind=str(entry.get("kind", FIELD if step is None else SERIES)),
                        step=int(step) if isinstance(step, int | float) else None,
                    )
                )
    if invalid_lines:
        logger.warning(
            "%s: skipped %d line(s) that are not valid JSON (first: line %d)",
            path,
            len(invalid_lines),
            invalid_lines[0],
        )
    return records


def epoch_history(source: str | Path | Iterable[MetricRecord]) -> pd.DataFrame:
    """Per-epoch series as a wide frame: index ``epoch``, one column per metric name.

    Only numeric ``series`` records with a step count; when a (name, epoch) pair was logged
    more than once (e.g. after a resume), the last value wins.

    Args:
        source: A ``metrics.jsonl`` path or records from :func:`read_metrics_jsonl`.

    Example:
        >>> records = [MetricRecord("metrics/train/loss", 0.7, "series", 0),
        ...            MetricRecord("metrics/train/loss", 0.5, "series", 1),
        ...            MetricRecord("best/epoch", 1, "field")]
        >>> epoch_history(records)["metrics/train/loss"].tolist()
        [0.7, 0.5]
    """
    records = read_metrics_jsonl(source) if isinstance(source, str | Path) else list(source)
    rows = [
        (record.step, record.name, float(record.value))
        for record in records
        if record.kind == SERIES
        and record.step is not None
        and isinstance(record.value, int | float)
        and not isinstance(record.value, bool)
    ]
    frame = pd.DataFrame(rows, columns=["epoch", "name", "value"])
    frame = frame.drop_duplicates(["epoch", "name"], keep="last")
    return frame.pivot(index="epoch", columns="name", values="value").sort_index()
