"""The ``mlflow`` sink, through ``mlflow.tracking.MlflowClient`` (no global active run).

Mapping of storyqa values to MLflow (names are kept as they are: MLflow accepts ``/``):

- series -> metrics with ``step`` = epoch;
- ``parameters/...`` -> params (text, cut to :attr:`MlflowSink.MAX_PARAM_LENGTH`);
- other numeric fields (``best/epoch``, ``eval/test/accuracy``, ``data/train/size``...) ->
  metrics at the latest epoch logged so far, so "latest value" in MLflow is the last one set;
- text and boolean fields (``best/checkpoint``, ``data/hash``...) -> tags (mutable, unlike
  params);
- artifacts -> files copied into the run's artifact store under ``artifacts/<kind>/``;
- the run's context -> MLflow's own tags (``mlflow.user``, ``mlflow.source.name``,
  ``mlflow.source.type``, ``mlflow.source.git.commit``/``branch``/``dirty``,
  ``mlflow.note.content`` for the description), the short tags (``model``, ``framework``,
  ``dataset``, ``seed``, ``sweep``) and ``context/...`` tags;
- ``tracker.mlflow_parent_run_id`` (a sweep's run, for its jobs) -> ``mlflow.parentRunId``, so
  MLflow's UI nests the run under it (:mod:`trainers.tracking.sweep`);
- dataset inputs -> the run's inputs (name = dataset version, digest = dataset hash and role,
  context ``training``/``validation``), the UI's Dataset column (MLflow keeps one input per
  name and digest, so the role is part of the digest);
- system metrics (CPU, memory, disk, network; GPU when ``nvidia-ml-py`` finds one) through
  MLflow's own ``SystemMetricsMonitor`` as ``system/...`` while the run is open
  (``tracker.system_metrics=false`` turns it off; ``MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL``
  sets its period, 10 s by default).

The default store is ``sqlite:///<output_root>/mlflow.db`` (browse it with
``mlflow ui --backend-store-uri sqlite:///models_out/mlflow.db``); a new experiment gets its
artifact root from the config, never the current directory, and is tagged as model training
(``mlflow.experimentKind = custom_model_development``); MLflow 3's UI still opens an experiment
on its GenAI page unless its address asks for the "Model training" view, which the line of
:func:`~trainers.tracking.mlflow_ui.mlflow_ui_line` does. Creating a
fresh sqlite store sets up its schema, which MLflow does not guard against a second process
doing the same: parallel jobs (a joblib sweep) take a file lock next to the database
(``.mlflow.db.lock``) for the client's first contact with the store. The run is tagged with the
storyqa run id, and reopening the same run id continues the same MLflow run: steps it already
holds are not logged again (no duplicate points after a resume) and params are not re-set. A
run reopened only to add values (``attach``: re-evaluation) that had already finished keeps its
status and end time, so its duration is that of its training.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar

from trainers.tracking.types import DatasetInput, RunStatus, Scalar

if TYPE_CHECKING:
    from trainers.tracking.context import RunContext

logger = logging.getLogger(__name__)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _sqlite_path(tracking_uri: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(tracking_uri[len(prefix) :]) if tracking_uri.startswith(prefix) else None


@contextlib.contextmanager
def _store_lock(tracking_uri: str, timeout_s: float) -> Iterator[None]:
    """Hold ``.<db>.lock`` beside a sqlite store (nothing for other stores)."""
    database = _sqlite_path(tracking_uri)
    if database is None:
        yield
        return
    from filelock import FileLock

    database.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(database.with_name(f".{database.name}.lock")), timeout=timeout_s):
        yield


class MlflowSink:
    """Logs to one MLflow run.

    Args:
        tracking_uri: e.g. ``sqlite:////abs/models_out/mlflow.db``.
        experiment: Experiment name (created if missing).
        artifact_location: Artifact root URI used when the experiment is created.
        run_name: The storyqa run id (run name and :attr:`RUN_ID_TAG`).
        tags: Extra run tags (set as ``<tag> = "true"``).
        context: The run's context, set as tags when the run is created (MLflow reads the
            run's user from its tags only then).
        system_metrics: Log MLflow's system metrics while the run is open.
        attach: Reopen an existing run only to add values (re-evaluation): a finished run keeps
            its status and end time.
        parent_run_id: MLflow run id of the run's parent (a sweep's run): set as
            ``mlflow.parentRunId`` when the run is created, or reopened without a parent.
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
    #: The experiment tag that tells MLflow's UI what an experiment is for (3.x opens an
    #: unmarked one on its GenAI traces page).
    EXPERIMENT_KIND_TAG: ClassVar[str] = "mlflow.experimentKind"
    EXPERIMENT_KIND: ClassVar[str] = "custom_model_development"
    #: MLflow's own run tags filled from the context (``mlflow.utils.mlflow_tags``).
    USER_TAG: ClassVar[str] = "mlflow.user"
    SOURCE_NAME_TAG: ClassVar[str] = "mlflow.source.name"
    SOURCE_TYPE_TAG: ClassVar[str] = "mlflow.source.type"
    SOURCE_TYPE: ClassVar[str] = "LOCAL"
    GIT_COMMIT_TAG: ClassVar[str] = "mlflow.source.git.commit"
    GIT_BRANCH_TAG: ClassVar[str] = "mlflow.source.git.branch"
    GIT_DIRTY_TAG: ClassVar[str] = "mlflow.source.git.dirty"
    NOTE_TAG: ClassVar[str] = "mlflow.note.content"
    PARENT_RUN_TAG: ClassVar[str] = "mlflow.parentRunId"
    DATASET_CONTEXT_TAG: ClassVar[str] = "mlflow.data.context"
    SYSTEM_METRICS_LOGGER: ClassVar[str] = "mlflow.system_metrics"
    #: Notes a new sqlite store prints as it creates its tables (``Creating initial MLflow
    #: database tables...``): kept off the console, its warnings still shown.
    STORE_LOGGER: ClassVar[str] = "mlflow.store.db.utils"
    #: How long a job waits for another one setting up a fresh sqlite store.
    STORE_LOCK_TIMEOUT_S: ClassVar[float] = 300.0

    def __init__(
        self,
        tracking_uri: str,
        experiment: str,
        artifact_location: str,
        run_name: str,
        tags: Sequence[str] = (),
        context: RunContext | None = None,
        system_metrics: bool = False,
        attach: bool = False,
        parent_run_id: str | None = None,
    ):
        from mlflow.tracking import MlflowClient

        logging.getLogger(self.STORE_LOGGER).setLevel(logging.WARNING)
        with _store_lock(tracking_uri, self.STORE_LOCK_TIMEOUT_S):
            self.client = MlflowClient(tracking_uri=tracking_uri)
            experiment_id = self._experiment_id(experiment, artifact_location)
        self.tracking_uri = tracking_uri
        existing = self.client.search_runs(
            [experiment_id], filter_string=f"tags.`{self.RUN_ID_TAG}` = '{run_name}'"
        )
        self._steps: dict[str, int] = {}  # per metric: the last step the run already holds
        self._params: dict[str, str] = {}
        self._keep_end = False  # an attached run that had finished: leave status and end time
        if existing:
            self._reopen(existing[0], attach)
            if parent_run_id and self.PARENT_RUN_TAG not in existing[0].data.tags:
                self.client.set_tag(existing[0].info.run_id, self.PARENT_RUN_TAG, parent_run_id)
        else:
            run_tags = {self.RUN_ID_TAG: run_name, **{tag: "true" for tag in tags}}
            if context is not None:
                run_tags.update(self.context_tags(context))
            if parent_run_id:
                run_tags[self.PARENT_RUN_TAG] = parent_run_id
            run = self.client.create_run(experiment_id, run_name=run_name, tags=run_tags)
            self.run_id = run.info.run_id
        self._step = 0
        self._terminated = False
        self._monitor: Any = None
        if system_metrics and not self._keep_end:
            self._monitor = self._start_monitor(resume=bool(existing))

    def _reopen(self, run: Any, attach: bool) -> None:
        self.run_id = run.info.run_id
        self._keep_end = attach and run.info.status == "FINISHED"
        if not self._keep_end:
            self.client.update_run(self.run_id, status="RUNNING")
        self._params = dict(run.data.params)
        for key in run.data.metrics:
            history = self.client.get_metric_history(self.run_id, key)
            self._steps[key] = max(metric.step for metric in history)

    def _start_monitor(self, resume: bool) -> Any:
        """MLflow's system metrics monitor on this run, or ``None`` (with a warning: the run
        is logged all the same) when it cannot start, e.g. without ``psutil``."""
        try:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            # Its start and stop notes would print on every run; its warnings still do.
            logging.getLogger(self.SYSTEM_METRICS_LOGGER).setLevel(logging.WARNING)
            monitor = SystemMetricsMonitor(
                self.run_id, resume_logging=resume, tracking_uri=self.tracking_uri
            )
            monitor.start()
        except Exception as error:
            logger.warning("mlflow system metrics off, the run goes on: %s", error)
            return None
        return monitor

    def _experiment_id(self, experiment: str, artifact_location: str) -> str:
        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            try:
                experiment_id = str(
                    self.client.create_experiment(
                        experiment,
                        artifact_location=artifact_location,
                        tags={self.EXPERIMENT_KIND_TAG: self.EXPERIMENT_KIND},
                    )
                )
            except Exception:
                # Another job of a sweep may have created it meanwhile.
                found = self.client.get_experiment_by_name(experiment)
                if found is None:
                    raise
        if found is not None:
            experiment_id = str(found.experiment_id)
            if self.EXPERIMENT_KIND_TAG not in found.tags:  # made before storyqa marked it
                self.client.set_experiment_tag(
                    experiment_id, self.EXPERIMENT_KIND_TAG, self.EXPERIMENT_KIND
                )
        return experiment_id

    @classmethod
    def context_tags(cls, context: RunContext) -> dict[str, str]:
        """The run tags of ``context``: MLflow's own, the short tags and ``context/...``."""
        tags = {
            cls.USER_TAG: context.user,
            cls.SOURCE_TYPE_TAG: cls.SOURCE_TYPE,
            cls.NOTE_TAG: context.description,
            **context.tags(),
            **{name: str(value) for name, value in context.fields().items()},
        }
        if context.source:
            tags[cls.SOURCE_NAME_TAG] = context.source
        if context.git is not None:
            tags[cls.GIT_COMMIT_TAG] = context.git.commit
            tags[cls.GIT_BRANCH_TAG] = context.git.branch
            tags[cls.GIT_DIRTY_TAG] = str(context.git.dirty).lower()
        return {key: value[: cls.MAX_TAG_LENGTH] for key, value in tags.items()}

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

    def log_context(self, context: RunContext) -> None:
        """Set the context's tags (see :meth:`context_tags`).

        Args:
            context: The run's context.
        """
        from mlflow.entities import RunTag

        tags = [RunTag(key, value) for key, value in self.context_tags(context).items()]
        self.client.log_batch(self.run_id, tags=tags)

    def log_inputs(self, inputs: Sequence[DatasetInput]) -> None:
        """Record each dataset as a run input (digest = content hash, context = role).

        Args:
            inputs: The datasets and their roles.
        """
        from mlflow.entities import Dataset, InputTag
        from mlflow.entities import DatasetInput as MlflowDatasetInput

        datasets = [
            MlflowDatasetInput(
                Dataset(
                    name=item.name,
                    digest=item.digest[:36],
                    source_type="local",
                    source=json.dumps({"uri": item.source}),
                    profile=json.dumps({"num_rows": item.rows}),
                ),
                tags=[InputTag(self.DATASET_CONTEXT_TAG, item.context)],
            )
            for item in inputs
        ]
        self.client.log_inputs(self.run_id, datasets=datasets)

    def flush(self) -> None:
        """Nothing to do: every call is committed when it returns."""

    def close(self, status: RunStatus) -> None:
        """Stop the system metrics and set the run's end status (an attached run that had
        finished keeps its own).

        Args:
            status: ``finished``, ``failed`` or ``killed``.
        """
        if self._terminated:
            return
        self._terminated = True
        if self._monitor is not None:
            self._monitor.finish()
        if not self._keep_end:
            self.client.set_terminated(self.run_id, self.STATUSES[status])


#: The tag of an MLflow run whose attempt was abandoned (:func:`abandon_run`): the storyqa
#: run id it belonged to.
ABANDONED_RUN_ID_TAG = "storyqa.abandoned_run_id"


def abandon_run(tracking_uri: str, experiment: str, run_name: str) -> list[str]:
    """Close the MLflow runs of the storyqa run ``run_name`` that will never continue: an
    attempt that finished no epoch, whose run is trained again from the start.

    Each run tagged with :attr:`MlflowSink.RUN_ID_TAG` ``= run_name`` that is still open is set
    ``KILLED``; every one then carries the run id as :data:`ABANDONED_RUN_ID_TAG` instead, so
    the next attempt opens an MLflow run of its own rather than reopening the abandoned one. A
    store or experiment that does not exist is left alone (nothing is created).

    Args:
        tracking_uri: The MLflow store.
        experiment: The experiment of the run.
        run_name: The storyqa run id.

    Returns:
        The MLflow run ids that were closed or detached.
    """
    database = _sqlite_path(tracking_uri)
    if database is not None and not database.is_file():
        return []
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    runs = client.search_runs(
        [found.experiment_id], filter_string=f"tags.`{MlflowSink.RUN_ID_TAG}` = '{run_name}'"
    )
    for run in runs:
        if run.info.status in ("RUNNING", "SCHEDULED"):
            client.set_terminated(run.info.run_id, MlflowSink.STATUSES["killed"])
        client.set_tag(run.info.run_id, ABANDONED_RUN_ID_TAG, run_name)
        client.delete_tag(run.info.run_id, MlflowSink.RUN_ID_TAG)
    return [str(run.info.run_id) for run in runs]
