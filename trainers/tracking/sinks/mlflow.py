"""The ``mlflow`` sink, through ``mlflow.tracking.MlflowClient`` (no global active run).

Mapping of storyqa values to MLflow (names are kept as they are: MLflow accepts ``/``):

- series -> metrics with ``step`` = epoch;
- ``parameters/...`` -> params (text, cut to :attr:`MlflowSink.MAX_PARAM_LENGTH`);
- other numeric fields (``best/epoch``, ``eval/test/accuracy``, ``data/train/size``...) ->
  metrics at the latest epoch logged so far, so "latest value" in MLflow is the last one set;
- text and boolean fields (``best/checkpoint``, ``data/hash``...) -> tags (mutable, unlike
  params);
- artifacts -> files copied into the run's artifact store under ``artifacts/<kind>/``.

The default store is ``sqlite:///<output_root>/mlflow.db`` (browse it with
``mlflow ui --backend-store-uri sqlite:///models_out/mlflow.db``); a new experiment gets its
artifact root from the config, never the current directory. The run is tagged with the storyqa
run id, and reopening the same run id continues the same MLflow run: steps it already holds are
not logged again (no duplicate points after a resume) and params are not re-set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from trainers.tracking.types import RunStatus, Scalar

logger = logging.getLogger(__name__)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class MlflowSink:
    """Logs to one MLflow run.

    Args:
        tracking_uri: e.g. ``sqlite:////abs/models_out/mlflow.db``.
        experiment: Experiment name (created if missing).
        artifact_location: Artifact root URI used when the experiment is created.
        run_name: The storyqa run id (run name and :attr:`RUN_ID_TAG`).
        tags: Extra run tags (set as ``<tag> = "true"``).
    """

    name: str = "mlflow"
    RUN_ID_TAG: ClassVar[str] = "storyqa.run_id"
    MAX_PARAM_LENGTH: ClassVar[int] = 6000
    MAX_TAG_LENGTH: ClassVar[int] = 8000
    MAX_METRICS_PER_BATCH: ClassVar[int] = 1000
    MAX_PARAMS_PER_BATCH: ClassVar[int] = 100
    STATUSES: ClassVar[Mapping[str, str]] = {
        "finished": "FINISHED",
        "failed": "FAILED",
        "killed": "KILLED",
    }

    def __init__(
        self,
        tracking_uri: str,
        experiment: str,
        artifact_location: str,
        run_name: str,
        tags: Sequence[str] = (),
    ):
        from mlflow.tracking import MlflowClient

        sqlite_prefix = "sqlite:///"
        if tracking_uri.startswith(sqlite_prefix):
            Path(tracking_uri[len(sqlite_prefix) :]).parent.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=tracking_uri)
        experiment_id = self._experiment_id(experiment, artifact_location)
        existing = self.client.search_runs(
            [experiment_id], filter_string=f"tags.`{self.RUN_ID_TAG}` = '{run_name}'"
        )
        self._steps: dict[str, int] = {}  # per metric: the last step the run already holds
        self._params: dict[str, str] = {}
        if existing:
            run = existing[0]
            self.run_id = run.info.run_id
            self.client.update_run(self.run_id, status="RUNNING")
            self._params = dict(run.data.params)
            for key in run.data.metrics:
                history = self.client.get_metric_history(self.run_id, key)
                self._steps[key] = max(metric.step for metric in history)
        else:
            run_tags = {self.RUN_ID_TAG: run_name, **{tag: "true" for tag in tags}}
            run = self.client.create_run(experiment_id, run_name=run_name, tags=run_tags)
            self.run_id = run.info.run_id
        self._step = 0
        self._terminated = False

    def _experiment_id(self, experiment: str, artifact_location: str) -> str:
        found = self.client.get_experiment_by_name(experiment)
        if found is not None:
            return str(found.experiment_id)
        try:
            created = self.client.create_experiment(experiment, artifact_location=artifact_location)
            return str(created)
        except Exception:
            # Another job of a sweep may have created it meanwhile.
            found = self.client.get_experiment_by_name(experiment)
            if found is None:
                raise
            return str(found.experiment_id)

    def _log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        timestamp = int(time.time() * 1000)
        batch = [
            Metric(name, value, timestamp, step)
            for name, value in metrics.items()
            if step > self._steps.get(name, -1)
        ]
        for chunk in _chunks(batch, self.MAX_METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=list(chunk))

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Log metrics at ``step`` (skipping steps the run already holds).

        Args:
            metrics: ``{name: value}``.
            step: 0-based epoch.
        """
        self._step = max(self._step, step)
        self._log_metrics(metrics, step)

    def log_fields(self, fields: Mapping[str, Scalar]) -> None:
        """Numbers become metrics at the latest epoch; text and booleans become tags.

        Args:
            fields: ``{name: value}``.
        """
        from mlflow.entities import RunTag

        numbers = {
            name: float(value)
            for name, value in fields.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
        tags = [
            RunTag(name, str(value)[: self.MAX_TAG_LENGTH])
            for name, value in fields.items()
            if name not in numbers
        ]
        self._log_metrics(numbers, self._step)
        if tags:
            self.client.log_batch(self.run_id, tags=tags)

    def log_parameters(self, parameters: Mapping[str, Scalar]) -> None:
        """Log params; ones the run already holds are skipped (a changed value with a
        warning, as MLflow params are immutable).

        Args:
            parameters: ``{name: value}``.
        """
        from mlflow.entities import Param

        params = []
        for name, value in parameters.items():
            text = str(value)[: self.MAX_PARAM_LENGTH]
            if name in self._params:
                if self._params[name] != text:
                    logger.warning("mlflow param %r already set to another value; kept", name)
                continue
            self._params[name] = text
            params.append(Param(name, text))
        for chunk in _chunks(params, self.MAX_PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=list(chunk))

    def log_artifact(self, name: str, path: Path) -> None:
        """Copy a file into the run's artifacts, under the directory part of ``name``.

        Args:
            name: ``artifacts/<kind>/<file>``.
            path: The kept file.
        """
        self.client.log_artifact(self.run_id, str(path), str(PurePosixPath(name).parent))

    def flush(self) -> None:
        """Nothing to do: every call is committed when it returns."""

    def close(self, status: RunStatus) -> None:
        """Set the run's end status.

        Args:
            status: ``finished``, ``failed`` or ``killed``.
        """
        if self._terminated:
            return
        self._terminated = True
        self.client.set_terminated(self.run_id, self.STATUSES[status])
