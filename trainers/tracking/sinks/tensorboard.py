"""The optional ``tensorboard`` sink, through ``tensorboardX.SummaryWriter``.

Series and numeric fields become scalars (fields at the latest epoch logged so far); text
fields, parameters and artifact paths become text entries; the run's context is one
``context`` text entry, a table of its ``context/...`` fields. A resumed run passes its resume
epoch as ``purge_step`` so TensorBoard hides the interrupted run's events from that epoch on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from metrics import namespaces as ns
from trainers.tracking.types import DatasetInput, RunStatus, Scalar

if TYPE_CHECKING:
    from trainers.tracking.context import RunContext


class TensorBoardSink:
    """Writes TensorBoard event files.

    Args:
        log_dir: Event file directory (``<run_dir>/tensorboard`` by default).
        resume_epoch: First epoch of a resumed run (TensorBoard's ``purge_step``), or ``None``.
    """

    name: str = "tensorboard"

    def __init__(self, log_dir: str | Path, resume_epoch: int | None = None):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(logdir=str(log_dir), purge_step=resume_epoch)
        self._step = 0
        self._closed = False

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """One scalar per name at ``step``.

        Args:
            metrics: ``{name: value}``.
            step: 0-based epoch.
        """
        self._step = max(self._step, step)
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, global_step=step)

    def log_fields(self, fields: Mapping[str, Scalar]) -> None:
        """Numbers as scalars, the rest as text, at the latest epoch.

        Args:
            fields: ``{name: value}``.
        """
        for name, value in fields.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                self.writer.add_scalar(name, value, global_step=self._step)
            else:
                self.writer.add_text(name, str(value), global_step=self._step)

    def log_parameters(self, parameters: Mapping[str, Scalar]) -> None:
        """One text entry per parameter.

        Args:
            parameters: ``{name: value}``.
        """
        for name, value in parameters.items():
            self.writer.add_text(name, str(value), global_step=0)

    def log_artifact(self, name: str, path: Path) -> None:
        """The file's path as text (TensorBoard stores no files).

        Args:
            name: ``artifacts/<kind>/<file>``.
            path: The kept file.
        """
        self.writer.add_text(name, str(path), global_step=self._step)

    def log_context(self, context: RunContext) -> None:
        """One ``context`` text entry: a Markdown table of the ``context/...`` fields.

        Args:
            context: The run's context.
        """
        rows = [f"| {name} | {value} |" for name, value in context.fields().items()]
        table = "\n".join(["| field | value |", "|---|---|", *rows])
        self.writer.add_text(ns.CONTEXT, table, global_step=0)

    def log_inputs(self, inputs: Sequence[DatasetInput]) -> None:
        """Nothing: TensorBoard has no dataset inputs.

        Args:
            inputs: Unused.
        """

    def flush(self) -> None:
        """Flush event files."""
        self.writer.flush()

    def close(self, status: RunStatus) -> None:
        """Flush and close.

        Args:
            status: Unused.
        """
        if not self._closed:
            self._closed = True
            self.writer.close()
