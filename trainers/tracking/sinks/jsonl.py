"""The ``jsonl`` sink: ``<run_dir>/metrics.jsonl``, the record that is never lost.

One JSON object per line (read back by :mod:`metrics.history`)::

    {"name": "metrics/train/loss", "value": 0.69, "step": 3, "kind": "series"}
    {"name": "best/epoch", "value": 3, "kind": "field"}
    {"name": "parameters/model/lr", "value": 0.001, "kind": "field"}
    {"name": "artifacts/checkpoints/best.ckpt", "path": "artifacts/checkpoints/best.ckpt",
     "kind": "artifact"}
    {"name": "context/git/commit", "value": "3f2a...", "kind": "field"}

``step`` is the 0-based epoch (with ``trainer.val_check_interval``: the training step a
validation followed). A field is written only when its value changes, so a resumed
run does not repeat its parameters. Artifact paths are relative to the run directory when the
file lies inside it. Non-finite floats are written as ``NaN``/``Infinity`` (Python's ``json``
reads them). :meth:`JsonlSink.flush` flushes and fsyncs.

Resume: opened with ``resume_step=S``, the sink cuts the file before the first series record
with ``step >= S`` (dropping that epoch's fields too, and any line cut short by a crash), so a
resumed run's file reads like an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from trainers.tracking.types import DatasetInput, RunStatus, Scalar

if TYPE_CHECKING:
    from trainers.tracking.context import RunContext

logger = logging.getLogger(__name__)


class JsonlSink:
    """Appends records to ``<run_dir>/metrics.jsonl``.

    Args:
        run_dir: The run directory (created if missing).
        resume_step: First step of a resumed run; records from that step on are dropped.
            ``None``: keep the file as it is and append.
    """

    name: str = "jsonl"
    FILENAME: ClassVar[str] = "metrics.jsonl"
    SERIES: ClassVar[str] = "series"
    FIELD: ClassVar[str] = "field"
    ARTIFACT: ClassVar[str] = "artifact"

    def __init__(self, run_dir: str | Path, resume_step: int | None = None):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / self.FILENAME
        self._fields: dict[str, Any] = {}
        if self.path.exists():
            self._reopen(resume_step)
        self._file = self.path.open("a", encoding="utf-8")

    def _reopen(self, resume_step: int | None) -> None:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        kept: list[str] = []
        for index, line in enumerate(lines):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # blank, or cut short by a crash
            if (
                resume_step is not None
                and record.get("kind") == self.SERIES
                and int(record.get("step", -1)) >= resume_step
            ):
                logger.info(
                    "%s: dropped %d line(s) from step %d on (resume)",
                    self.path,
                    len(lines) - index,
                    resume_step,
                )
                break
            if record.get("kind") == self.FIELD:
                self._fields[record["name"]] = record.get("value")
            kept.append(line)
        if len(kept) != len(lines):
            tmp = self.path.with_name(f".{self.FILENAME}.tmp")
            tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
            os.replace(tmp, self.path)

    def _write(self, record: Mapping[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Write one ``series`` record per name.

        Args:
            metrics: ``{name: value}``.
            step: 0-based epoch.
        """
        for name, value in metrics.items():
            self._write({"name": name, "value": value, "step": step, "kind": self.SERIES})

    def log_fields(self, fields: Mapping[str, Scalar]) -> None:
        """Write one ``field`` record per changed value.

        Args:
            fields: ``{name: value}``.
        """
        for name, value in fields.items():
            if name in self._fields and self._fields[name] == value:
                continue
            self._fields[name] = value
            self._write({"name": name, "value": value, "kind": self.FIELD})

    def log_parameters(self, parameters: Mapping[str, Scalar]) -> None:
        """Parameters are fields named ``parameters/...``.

        Args:
            parameters: ``{name: value}``.
        """
        self.log_fields(parameters)

    def log_artifact(self, name: str, path: Path) -> None:
        """Write an ``artifact`` record with the file's path.

        Args:
            name: ``artifacts/<kind>/<file>``.
            path: The kept file.
        """
        try:
            shown = path.resolve().relative_to(self.run_dir.resolve()).as_posix()
        except ValueError:
            shown = str(path)
        self._write({"name": name, "path": shown, "kind": self.ARTIFACT})

    def log_context(self, context: RunContext) -> None:
        """The context as ``context/...`` fields.

        Args:
            context: The run's context.
        """
        self.log_fields(context.fields())

    def log_inputs(self, inputs: Sequence[DatasetInput]) -> None:
        """Nothing: the ``data/...`` fields already describe the dataset.

        Args:
            inputs: Unused.
        """

    def flush(self) -> None:
        """Flush to the OS and fsync."""
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self, status: RunStatus) -> None:
        """Flush and close the file.

        Args:
            status: Unused: the file records values only.
        """
        if self._file.closed:
            return
        self.flush()
        self._file.close()
