"""The optional ``tensorboard`` sink, through ``tensorboardX.SummaryWriter``.

Series and numeric fields become scalars (fields at the latest epoch logged so far); text
fields, parameters and artifact paths become text entries; the run's context is one
``context`` text entry, a table of its ``context/...`` fields. A resumed run passes its resume
epoch as ``purge_step`` so TensorBoard hides the interrupted run's events from that epoch on.

For TensorBoard's HParams tab, each run is also one *session* in ``<log dir>/hparams``: its
hyperparameters (the model's settings, the seed, the dataset and the training budget; the
sweep it belongs to) when its parameters are logged, and when it finishes its final metrics
(best validation accuracy and epoch, each evaluated split's accuracy and loss) and an end
marker, written with ``tensorboardX``'s hparams summaries. No experiment summary is written,
so TensorBoard builds the table from every session: runs of different models, each with its
own settings, sit side by side in ``tensorboard --logdir <output>/runs``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from metrics import namespaces as ns
from trainers.tracking.types import DatasetInput, RunStatus, Scalar

if TYPE_CHECKING:
    from trainers.tracking.context import RunContext


class TensorBoardSink:
    """Writes TensorBoard event files.

    Args:
        log_dir: Event file directory (``<run_dir>/tensorboard`` by default).
        resume_step: First step of a resumed run (TensorBoard's ``purge_step``), or ``None``.
    """

    name: str = "tensorboard"
    #: The run's HParams session: a folder of the log directory.
    HPARAMS_DIR: ClassVar[str] = "hparams"
    #: Parameters (``parameters/<name>``) shown as hyperparameters: every ``model/...`` key but
    #: its import path, and these.
    HPARAM_PARAMETERS: ClassVar[tuple[str, ...]] = (
        "seed",
        "data_seed",
        "data/name",
        "data/size",
        "data/directions",
        "trainer/max_epochs",
        "trainer/max_minutes",
        "trainer/early_stopping",
        "trainer/precision",
    )
    HPARAM_SKIPPED: ClassVar[tuple[str, ...]] = ("model/_target_",)
    #: Context fields shown as hyperparameters (``context/<field>``), when known.
    HPARAM_CONTEXT: ClassVar[tuple[str, ...]] = ("sweep",)
    #: Final metrics of the session: evaluation metrics of each split, and these.
    HPARAM_EVAL_METRICS: ClassVar[tuple[str, ...]] = ("accuracy", "loss")
    HPARAM_BEST_FIELDS: ClassVar[tuple[str, ...]] = ("val_accuracy", "epoch")

    def __init__(self, log_dir: str | Path, resume_step: int | None = None):
        from tensorboardX import SummaryWriter

        self.log_dir = Path(log_dir)
        self.writer = SummaryWriter(logdir=str(log_dir), purge_step=resume_step)
        self._step = 0
        self._closed = False
        self._context: dict[str, Scalar] = {}
        self._final: dict[str, float] = {}
        self._hparams_started = False

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
                if self._is_final_metric(name):
                    self._final[name] = float(value)
            else:
                self.writer.add_text(name, str(value), global_step=self._step)

    @classmethod
    def _is_final_metric(cls, name: str) -> bool:
        """Whether ``name`` is one of the session's final metrics (see :attr:`HPARAM_EVAL_METRICS`
        and :attr:`HPARAM_BEST_FIELDS`)."""
        if name in {ns.best(field) for field in cls.HPARAM_BEST_FIELDS}:
            return True
        parts = name.split(ns.SEP)
        return (
            len(parts) == 3
            and parts[2] in cls.HPARAM_EVAL_METRICS
            and name == ns.eval_metric(parts[1], parts[2])
        )

    @classmethod
    def hparams_of(
        cls, parameters: Mapping[str, Scalar], context: Mapping[str, Scalar] | None = None
    ) -> dict[str, Scalar]:
        """The hyperparameters of a run's HParams session, from its logged parameters
        (``parameters/...``) and context (``context/...``), named without their prefix.

        Example:
            >>> TensorBoardSink.hparams_of(
            ...     {"parameters/model/lr": 0.01, "parameters/model/_target_": "m.f",
            ...      "parameters/seed": 1, "parameters/output_dir": "out"},
            ...     {"context/sweep": "20260101-120000"})
            {'model/lr': 0.01, 'seed': 1, 'sweep': '20260101-120000'}
        """
        prefix = ns.PARAMETERS + ns.SEP
        chosen: dict[str, Scalar] = {}
        for name, value in parameters.items():
            key = name.removeprefix(prefix)
            model = key.startswith(ns.MODEL + ns.SEP) and key not in cls.HPARAM_SKIPPED
            if name.startswith(prefix) and (model or key in cls.HPARAM_PARAMETERS):
                chosen[key] = value
        for field in cls.HPARAM_CONTEXT:
            known = (context or {}).get(ns.context_field(field))
            if known is not None:
                chosen[field] = known
        return chosen

    def log_parameters(self, parameters: Mapping[str, Scalar]) -> None:
        """One text entry per parameter.

        Args:
            parameters: ``{name: value}``.
        """
        for name, value in parameters.items():
            self.writer.add_text(name, str(value), global_step=0)
        hparams = self.hparams_of(parameters, self._context)
        if hparams and not self._hparams_started:
            self._hparams_started = True
            from tensorboardX.summary import hparams as hparams_summaries

            _, start, _ = hparams_summaries(hparams, {})
            with self._session_writer("start") as session:
                session.file_writer.add_summary(start)

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
        self._context.update(context.fields())
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
        """Flush and close; a finished run also ends its HParams session with its final
        metrics (a run only re-evaluated updates them).

        Args:
            status: How the run ended.
        """
        if self._closed:
            return
        self._closed = True
        self.writer.close()
        if status == "finished" and self._final:
            self._end_hparams_session()

    def _session_writer(self, part: str) -> Any:
        """A writer of the HParams session, to its own event file (two writers opened in the
        same second would otherwise share a file name, the second emptying the first's)."""
        from tensorboardX import SummaryWriter

        suffix = f".{part}.{os.getpid()}.{time.time_ns()}"
        return SummaryWriter(logdir=str(self.log_dir / self.HPARAMS_DIR), filename_suffix=suffix)

    def _end_hparams_session(self) -> None:
        from tensorboardX.summary import hparams as hparams_summaries

        _, _, end = hparams_summaries({}, self._final)
        with self._session_writer("end") as session:
            for name, value in self._final.items():
                session.add_scalar(name, value, global_step=self._step)
            session.file_writer.add_summary(end)
