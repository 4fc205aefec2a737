"""Events from a training attempt's own records, as they are written: the run's
``metrics.jsonl`` (the trackers' ``jsonl`` sink, flushed at the end of every epoch) gives
``run.epoch.v1`` (once the epoch's ``metrics/epoch/seconds`` is written: its values are all
there) and ``run.evaluated.v1`` (a split's ``eval/<split>/accuracy``); the manifest gives
``run.checkpoint.v1``. Nothing in the trainers changes: the service reads what every run
writes anyway.

Example:
    >>> import json, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> lines = [{"name": "metrics/val/accuracy", "value": 0.6, "step": 0, "kind": "series"},
    ...          {"name": "metrics/epoch/seconds", "value": 2.5, "step": 0, "kind": "series"}]
    >>> _ = (folder / "metrics.jsonl").write_text("".join(json.dumps(x) + "\\n" for x in lines))
    >>> [e.type for e in RecordTail(folder, run_id="r").poll()]
    ['run.epoch.v1']
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from metrics import namespaces as ns
from services.events.schemas import Event, RunCheckpoint, RunEpoch, RunEvaluated

#: The values a ``run.epoch.v1`` carries (the trackers' names).
EPOCH_VALUES: tuple[str, ...] = (
    ns.epoch_metric("train", "loss"),
    ns.epoch_metric("train", "accuracy"),
    ns.epoch_metric("val", "loss"),
    ns.epoch_metric("val", "accuracy"),
    ns.train_stat("learning_rate"),
    ns.train_stat("examples_per_second"),
    ns.epoch_seconds(),
)
_VAL_ACCURACY = ns.epoch_metric("val", "accuracy")
_BEST = ns.best("val_accuracy")


class RecordTail:
    """Reads a run folder's new records on each :meth:`poll` and turns them into events.

    Args:
        run_dir: The run folder.
        run_id, model, sweep_id: What every event names.
        max_epochs: The run's ``trainer.max_epochs``.
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        run_id: str,
        model: str = "",
        sweep_id: str = "",
        max_epochs: int | None = None,
    ):
        self.run_dir = run_dir
        self.common: dict[str, Any] = {"run_id": run_id, "model": model, "sweep_id": sweep_id}
        self.max_epochs = max_epochs
        self._offset = 0
        self._pending = b""
        self._epoch_values: dict[int, dict[str, float]] = {}
        self._best: float | None = None
        self._checkpoints: Any = None
        self._split_sizes: dict[str, int] = {}

    def skip_existing(self) -> None:
        """Start from the end of what is written (a resumed attempt: its epochs were
        published before), remembering the best so far."""
        for _ in self.poll():
            pass
        self._checkpoints = self._manifest().get("checkpoints")

    def poll(self) -> list[Event]:
        """The events of what was written since the last poll."""
        events: list[Event] = []
        for record in self._new_records():
            events += self._events_of(record)
        return events

    def poll_checkpoints(self) -> list[Event]:
        """``run.checkpoint.v1`` when the manifest's checkpoints changed."""
        manifest = self._manifest()
        self._split_sizes = dict((manifest.get("dataset") or {}).get("split_sizes") or {})
        checkpoints = manifest.get("checkpoints")
        if not checkpoints or checkpoints == self._checkpoints:
            return []
        self._checkpoints = checkpoints
        return [
            RunCheckpoint(
                **self.common,
                epoch=max(0, int(manifest.get("epochs_completed") or 0) - 1),
                best=checkpoints.get("best"),
                last=checkpoints.get("last"),
                top_k=[str(path) for path in checkpoints.get("top_k") or []],
            )
        ]

    def _manifest(self) -> dict[str, Any]:
        try:
            data = json.loads((self.run_dir / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _new_records(self) -> list[dict[str, Any]]:
        path = self.run_dir / "metrics.jsonl"
        try:
            size = path.stat().st_size
        except OSError:
            return []
        if size < self._offset:  # a new attempt started the file again
            self._offset, self._pending = 0, b""
        if size == self._offset:
            return []
        with path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read(size - self._offset)
        self._offset += len(chunk)
        lines = (self._pending + chunk).split(b"\n")
        self._pending = lines.pop()  # a line still being written
        records = []
        for line in lines:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return records

    def _events_of(self, record: dict[str, Any]) -> list[Event]:
        name, value = record.get("name"), record.get("value")
        if not isinstance(name, str) or not isinstance(value, int | float):
            return []
        step = record.get("step")
        if name == _BEST:
            self._best = float(value)
        if isinstance(step, int):
            values = self._epoch_values.setdefault(step, {})
            if name in EPOCH_VALUES or name == ns.epoch_progress():
                values[name] = float(value)
            if name == _VAL_ACCURACY:
                self._best = max(self._best or 0.0, float(value))
            if name == ns.epoch_seconds():
                del self._epoch_values[step]
                progress = values.get(ns.epoch_progress())
                return [
                    RunEpoch(
                        **self.common,
                        epoch=step if progress is None else math.ceil(progress) - 1,
                        step=None if progress is None else step,
                        max_epochs=self.max_epochs,
                        metrics=values,
                        best_val_accuracy=self._best,
                    )
                ]
            return []
        parts = name.split("/")
        if len(parts) == 3 and parts[0] == ns.EVAL and parts[2] == "accuracy":
            return [
                RunEvaluated(
                    **self.common,
                    split=parts[1],
                    accuracy=float(value),
                    examples=self._split_sizes.get(parts[1]),
                )
            ]
        return []
