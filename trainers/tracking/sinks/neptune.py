"""The ``neptune`` sink, through the ``neptune`` 1.x client (``neptune.init_run``).

- ``offline`` (the default without ``NEPTUNE_API_TOKEN``): operations are written under
  ``<data_dir>/offline/run__<id>__.../data-*.log`` (one JSON operation per line with its
  attribute ``path``), uploadable later with ``neptune sync --path <data_dir>``.
- ``async`` / ``sync`` with ``NEPTUNE_API_TOKEN`` and a project (self-hosted or
  Neptune-API-compatible servers; the client reads the token and ``NEPTUNE_API_ENDPOINT``-style
  settings from the environment itself, so no token ever passes through this code).

``NEPTUNE_DATA_DIRECTORY`` is set only while the run is created (the client reads it then), so
nothing lands in the current directory. Series: ``run[name].append(value, step=epoch)``;
fields and parameters: ``run[name] = value`` (Neptune fixes an attribute's type at its first
assignment, so callers keep a name's type stable); files: ``run[name].upload(path)`` which,
offline, records the path only: the tracker hands over a kept copy. Neptune skips NaN/inf
values with its own warning. The run is named after the run id and gets it (past 36
characters, a hash of it) as ``custom_run_id``, so an async run resumed with the same id
continues the same Neptune run.

The run's context becomes ``context/...`` fields, the description (``sys/description``) and
``<key>:<value>`` tags (``sys/tags``). Neptune's own hardware monitoring (CPU, memory; GPU
when present) runs unless ``tracker.system_metrics=false``; it writes under
``monitoring/<hash>/``. Neptune's other captures (stdout, stderr, tracebacks, source files,
git) stay off: storyqa records its own context.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from trainers.tracking.types import DatasetInput, RunStatus, Scalar

if TYPE_CHECKING:
    from trainers.tracking.context import RunContext


class NeptuneSink:
    """Logs to one Neptune run.

    Args:
        mode: ``offline``, ``async``, ``sync`` or ``debug``.
        data_dir: Neptune's local data directory (``<output_root>/.neptune``).
        run_name: Run name and ``custom_run_id`` (the storyqa run id).
        project: ``workspace/project`` (needed by ``async``/``sync``).
        tags: Run tags (``sys/tags``).
        hardware_metrics: Neptune's hardware monitoring (``monitoring/<hash>/...``).
    """

    name: str = "neptune"
    DATA_DIRECTORY_ENV: ClassVar[str] = "NEPTUNE_DATA_DIRECTORY"
    #: Extra ``init_run`` arguments: no stdout/stderr/traceback/source/git capture, so the run
    #: holds what storyqa logs (plus Neptune's own ``sys/...`` and, when on, its hardware
    #: monitoring).
    INIT_KWARGS: ClassVar[Mapping[str, Any]] = {
        "capture_stdout": False,
        "capture_stderr": False,
        "capture_traceback": False,
        "source_files": [],
        "git_ref": False,
    }
    FAILED_FIELD: ClassVar[str] = "sys/failed"
    DESCRIPTION_FIELD: ClassVar[str] = "sys/description"
    #: What Neptune's hardware monitoring says on a machine without NVIDIA's library.
    NO_GPU_WARNING: ClassVar[str] = r".*NVML Shared Library Not Found"
    TAGS_FIELD: ClassVar[str] = "sys/tags"
    #: Neptune ignores a longer ``custom_run_id``; longer run ids are replaced by a hash.
    MAX_CUSTOM_RUN_ID: ClassVar[int] = 36

    def __init__(
        self,
        mode: str,
        data_dir: str | Path,
        run_name: str,
        project: str | None = None,
        tags: Sequence[str] = (),
        hardware_metrics: bool = False,
    ):
        import neptune

        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        previous = os.environ.get(self.DATA_DIRECTORY_ENV)
        os.environ[self.DATA_DIRECTORY_ENV] = str(self.data_dir)
        try:
            with warnings.catch_warnings():
                # A machine without NVIDIA's library has no GPU to report: not worth a warning.
                warnings.filterwarnings("ignore", message=self.NO_GPU_WARNING)
                self.run = neptune.init_run(
                    project=project,
                    mode=mode,  # type: ignore[arg-type]
                    name=run_name,
                    custom_run_id=self.custom_run_id(run_name),
                    tags=list(tags) or None,
                    capture_hardware_metrics=hardware_metrics,
                    **self.INIT_KWARGS,
                )
        finally:
            if previous is None:
                os.environ.pop(self.DATA_DIRECTORY_ENV, None)
            else:
                os.environ[self.DATA_DIRECTORY_ENV] = previous
        self._stopped = False

    @classmethod
    def custom_run_id(cls, run_name: str) -> str:
        """``run_name`` if short enough for Neptune, else a stable hash of it.

        Args:
            run_name: The storyqa run id.
        """
        if len(run_name) <= cls.MAX_CUSTOM_RUN_ID:
            return run_name
        return hashlib.sha256(run_name.encode()).hexdigest()[: cls.MAX_CUSTOM_RUN_ID]

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Append one value per series.

        Args:
            metrics: ``{name: value}``.
            step: 0-based epoch.
        """
        for name, value in metrics.items():
            self.run[name].append(value, step=step)

    def log_fields(self, fields: Mapping[str, Scalar]) -> None:
        """Assign single values.

        Args:
            fields: ``{name: value}``.
        """
        for name, value in fields.items():
            self.run[name] = value

    def log_parameters(self, parameters: Mapping[str, Scalar]) -> None:
        """Assign ``parameters/...`` fields.

        Args:
            parameters: ``{name: value}``.
        """
        self.log_fields(parameters)

    def log_artifact(self, name: str, path: Path) -> None:
        """Upload a file (offline: record its path).

        Args:
            name: ``artifacts/<kind>/<file>``.
            path: The kept file.
        """
        self.run[name].upload(str(path))

    def log_context(self, context: RunContext) -> None:
        """``context/...`` fields, the description and the ``<key>:<value>`` tags.

        Args:
            context: The run's context.
        """
        self.log_fields(context.fields())
        self.run[self.DESCRIPTION_FIELD] = context.description
        self.run[self.TAGS_FIELD].add(context.labels())

    def log_inputs(self, inputs: Sequence[DatasetInput]) -> None:
        """Nothing: Neptune has no dataset inputs; the ``data/...`` fields describe them.

        Args:
            inputs: Unused.
        """

    def flush(self) -> None:
        """Write queued operations to the local disk queue (no wait for the server)."""
        self.run.wait(disk_only=True)

    def close(self, status: RunStatus) -> None:
        """Mark a failed run and stop (flushes; async mode waits for the upload).

        Args:
            status: ``finished``, ``failed`` or ``killed``.
        """
        if self._stopped:
            return
        self._stopped = True
        if status != "finished":
            self.run[self.FAILED_FIELD] = True
        self.run.stop()
