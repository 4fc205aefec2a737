"""The MLflow run of a whole sweep: the parent of its jobs' runs.

A ``train.py -m`` sweep with the ``mlflow`` sink opens one parent run before its first job
(:meth:`SweepRun.open`); each job's run is created as its child (``mlflow.parentRunId``, set
by :class:`~trainers.tracking.sinks.mlflow.MlflowSink` from
``tracker.mlflow_parent_run_id``, which the sweep passes to its jobs in their config), so
MLflow's UI shows the sweep as one row that unfolds into its jobs. At the end the sweep's
comparison (``comparison.html``, its CSVs and plot) and, for a search, Optuna's
``optimization_results.yaml`` are logged to the parent as ``artifacts/sweep/<file>``, with its
counts as ``sweep/...`` metrics (names in :mod:`metrics.namespaces`).

The same sweep started again reopens its parent (its id is kept in the sweep folder's
``sweep.json``), so the jobs of both starts stay under one parent.

Example::

    parent = SweepRun.open(config.resolve(root, sweep_dir), sweep_id="20260101-120000",
                           sweep_dir=sweep_dir, command=sys.argv)
    ...  # the jobs run with tracker.mlflow_parent_run_id=parent.run_id
    parent.log_files([sweep_dir / "comparison.html"])
    parent.close("finished")
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from metrics import namespaces as ns
from trainers.tracking.config import ResolvedTrackerConfig
from trainers.tracking.context import GitState, current_user
from trainers.tracking.secrets import SecretFilter
from trainers.tracking.sinks.mlflow import MlflowSink, _store_lock
from trainers.tracking.types import RunStatus, Scalar

logger = logging.getLogger(__name__)


class SweepRun:
    """The MLflow parent run of one sweep.

    Args:
        client: An ``MlflowClient`` on the sweep's store.
        run_id: The parent's MLflow run id.
        experiment_id: Its experiment (where MLflow's UI shows the sweep).
    """

    KIND_TAG: ClassVar[str] = "storyqa.kind"
    KIND: ClassVar[str] = "sweep"
    SWEEP_DIR_TAG: ClassVar[str] = "storyqa.sweep_dir"
    ARTIFACT_KIND: ClassVar[str] = "sweep"

    def __init__(self, client: Any, run_id: str, experiment_id: str = ""):
        self.client = client
        self.run_id = run_id
        self.experiment_id = experiment_id
        self._terminated = False

    @classmethod
    def open(
        cls,
        config: ResolvedTrackerConfig,
        *,
        sweep_id: str,
        sweep_dir: Path,
        command: Sequence[str],
        source: str = "",
        known_run_id: str | None = None,
    ) -> SweepRun:
        """Reopen the sweep's parent run (``known_run_id``, or the run tagged with this sweep
        folder) or create it, running.

        Args:
            config: The sweep's tracker config, resolved (store and experiment).
            sweep_id: The sweep id (its folder's name), the run's ``sweep`` tag and name.
            sweep_dir: The sweep folder.
            command: The sweep's command line (redacted here).
            source: Its entry point (``scripts/train.py``; MLflow's Source column).
            known_run_id: The parent of an earlier start of the same sweep.

        Raises:
            Exception: Whatever MLflow raises when the store cannot be reached.
        """
        from mlflow.tracking import MlflowClient

        with _store_lock(config.mlflow_tracking_uri, MlflowSink.STORE_LOCK_TIMEOUT_S):
            client = MlflowClient(tracking_uri=config.mlflow_tracking_uri)
            experiment_id = _experiment_id(
                client, config.mlflow_experiment, config.mlflow_artifact_location
            )
        existing = cls._existing(client, experiment_id, sweep_dir, known_run_id)
        if existing is not None:
            client.update_run(existing, status="RUNNING")
            return cls(client, existing, experiment_id)
        secrets = SecretFilter()
        line = secrets.redact_command(command)
        tags = {
            cls.KIND_TAG: cls.KIND,
            cls.SWEEP_DIR_TAG: str(sweep_dir.resolve()),
            ns.run_tag("sweep"): sweep_id,
            ns.context_field("sweep"): sweep_id,
            ns.context_field("command"): line,
            MlflowSink.NOTE_TAG: f"sweep {sweep_id}: {line}",
            MlflowSink.USER_TAG: current_user(),
            MlflowSink.SOURCE_TYPE_TAG: MlflowSink.SOURCE_TYPE,
        }
        if source:
            tags[MlflowSink.SOURCE_NAME_TAG] = secrets.redact(source)
        git = GitState.of()
        if git is not None:
            tags[MlflowSink.GIT_COMMIT_TAG] = git.commit
            tags[MlflowSink.GIT_BRANCH_TAG] = git.branch
            tags[MlflowSink.GIT_DIRTY_TAG] = str(git.dirty).lower()
        tags = {key: value[: MlflowSink.MAX_TAG_LENGTH] for key, value in tags.items()}
        run = client.create_run(experiment_id, run_name=f"sweep-{sweep_id}", tags=tags)
        return cls(client, str(run.info.run_id), experiment_id)

    @classmethod
    def _existing(
        cls, client: Any, experiment_id: str, sweep_dir: Path, known_run_id: str | None
    ) -> str | None:
        if known_run_id:
            try:
                run = client.get_run(known_run_id)
            except Exception as error:  # deleted, or another store
                logger.warning(
                    "the sweep's MLflow parent run %s is gone (%s); a new one is created",
                    known_run_id,
                    error,
                )
            else:
                if run.info.lifecycle_stage == "active":
                    return str(run.info.run_id)
        found = client.search_runs(
            [experiment_id],
            filter_string=(
                f"tags.`{cls.KIND_TAG}` = '{cls.KIND}' and "
                f"tags.`{cls.SWEEP_DIR_TAG}` = '{sweep_dir.resolve()}'"
            ),
        )
        return str(found[0].info.run_id) if found else None

    def log_files(self, paths: Sequence[Path]) -> None:
        """Copy each existing file to ``artifacts/sweep/<file>``.

        Args:
            paths: The sweep's files (missing ones are passed over).
        """
        folder = str(Path(ns.artifact(self.ARTIFACT_KIND, "x")).parent.as_posix())
        for path in paths:
            if path.is_file():
                self.client.log_artifact(self.run_id, str(path), folder)

    def log_fields(self, fields: Mapping[str, Scalar]) -> None:
        """Numbers as metrics, text and booleans as tags.

        Args:
            fields: ``{name: value}`` (names from :func:`metrics.namespaces.sweep_field`).
        """
        from mlflow.entities import Metric, RunTag

        stamp = int(time.time() * 1000)
        metrics = [
            Metric(name, float(value), stamp, 0)
            for name, value in fields.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        ]
        names = {metric.key for metric in metrics}
        tags = [
            RunTag(name, str(value)[: MlflowSink.MAX_TAG_LENGTH])
            for name, value in fields.items()
            if name not in names
        ]
        self.client.log_batch(self.run_id, metrics=metrics, tags=tags)

    def close(self, status: RunStatus) -> None:
        """Set the parent's end status (once).

        Args:
            status: ``finished``, ``failed`` or ``killed``.
        """
        if self._terminated:
            return
        self._terminated = True
        self.client.set_terminated(self.run_id, MlflowSink.STATUSES[status])


def _experiment_id(client: Any, name: str, artifact_location: str) -> str:
    """The experiment's id, created (marked as model training) when missing, as the jobs'
    :class:`~trainers.tracking.sinks.mlflow.MlflowSink` does."""
    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return str(
                client.create_experiment(
                    name,
                    artifact_location=artifact_location,
                    tags={MlflowSink.EXPERIMENT_KIND_TAG: MlflowSink.EXPERIMENT_KIND},
                )
            )
        except Exception:
            found = client.get_experiment_by_name(name)  # another process made it meanwhile
            if found is None:
                raise
    return str(found.experiment_id)
