"""Open a :class:`~trainers.tracking.tracker.Tracker` with the sinks a
:class:`~trainers.tracking.config.TrackerConfig` names.

Each backend client is imported here, when its sink is created, never at package import.

Example:
    >>> import tempfile
    >>> from trainers.tracking.config import TrackerConfig
    >>> root = Path(tempfile.mkdtemp())
    >>> with open_tracker(TrackerConfig(sinks=()), root, root / "runs" / "demo") as tracker:
    ...     [sink.name for sink in tracker.sinks]
    ['jsonl']
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from trainers.tracking.config import ResolvedTrackerConfig, TrackerConfig
from trainers.tracking.context import RunContext
from trainers.tracking.secrets import SecretFilter
from trainers.tracking.sinks.jsonl import JsonlSink
from trainers.tracking.tracker import Tracker
from trainers.tracking.types import Sink

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Opening:
    """How a tracker is opened for one run.

    Attributes:
        run_name: Name of the run in Neptune and MLflow.
        resume_step: First tracker step of a resumed run (its epoch, or with
            ``trainer.val_check_interval`` its step), or ``None``.
        context: The context of a new run (MLflow sets it as tags when it creates the run).
        attach: Reopen the run only to add values (re-evaluation): its recorded end is kept.
    """

    run_name: str
    resume_step: int | None = None
    context: RunContext | None = None
    attach: bool = False


SinkBuilder = Callable[[ResolvedTrackerConfig, Opening], Sink]


def _neptune(config: ResolvedTrackerConfig, opening: Opening) -> Sink:
    from trainers.tracking.sinks.neptune import NeptuneSink

    return NeptuneSink(
        mode=config.neptune_mode,
        data_dir=config.neptune_data_dir,
        run_name=opening.run_name,
        project=config.neptune_project,
        tags=config.tags,
        hardware_metrics=config.system_metrics and not opening.attach,
    )


def _mlflow(config: ResolvedTrackerConfig, opening: Opening) -> Sink:
    from trainers.tracking.sinks.mlflow import MlflowSink

    return MlflowSink(
        tracking_uri=config.mlflow_tracking_uri,
        experiment=config.mlflow_experiment,
        artifact_location=config.mlflow_artifact_location,
        run_name=opening.run_name,
        tags=config.tags,
        context=opening.context,
        system_metrics=config.system_metrics and not opening.attach,
        attach=opening.attach,
        parent_run_id=config.mlflow_parent_run_id,
    )


def _tensorboard(config: ResolvedTrackerConfig, opening: Opening) -> Sink:
    from trainers.tracking.sinks.tensorboard import TensorBoardSink

    return TensorBoardSink(config.tensorboard_dir, resume_step=opening.resume_step)


#: Optional sinks by config name (``jsonl`` is always created first).
BUILDERS: Mapping[str, SinkBuilder] = {
    "neptune": _neptune,
    "mlflow": _mlflow,
    "tensorboard": _tensorboard,
}


def build_sinks(
    config: ResolvedTrackerConfig,
    opening: Opening,
    secrets: SecretFilter,
) -> tuple[list[Sink], dict[str, str]]:
    """Create every configured sink.

    Args:
        config: Resolved tracker config.
        opening: Run name, resume epoch, context, attach.
        secrets: Used to redact failure reasons.

    Returns:
        The sinks (``jsonl`` first) and ``{sink: reason}`` for those that could not be created
        (each reported by one warning).

    Raises:
        OSError: If ``metrics.jsonl`` cannot be opened: without it there is no record.
    """
    sinks: list[Sink] = [JsonlSink(config.run_dir, resume_step=opening.resume_step)]
    failures: dict[str, str] = {}
    for name in config.sinks:
        if name == JsonlSink.name:
            continue
        try:
            sinks.append(BUILDERS[name](config, opening))
        except Exception as exc:
            reason = secrets.redact(f"{type(exc).__name__}: {exc}")
            failures[name] = reason
            logger.warning("tracking sink %r not created, the run goes on: %s", name, reason)
    return sinks, failures


def open_tracker(
    config: TrackerConfig,
    output_root: str | Path,
    run_dir: str | Path,
    run_name: str | None = None,
    resume_step: int | None = None,
    *,
    context: RunContext | None = None,
    attach: bool = False,
) -> Tracker:
    """Open the sinks ``config`` names for one run, in a tracker.

    A sink that cannot be created is skipped with one warning (``jsonl`` cannot: its
    failure raises). With a ``context`` (a new run) the context is logged to every sink
    at once.

    Args:
        config: Which sinks and how.
        output_root: The output root (``models_out``): default home of ``mlflow.db``
            and ``.neptune``.
        run_dir: The run directory (``metrics.jsonl`` lives there).
        run_name: Name of the run in Neptune and MLflow; default the run directory name.
        resume_step: First tracker step a resumed run logs (its first epoch, or with
            ``trainer.val_check_interval`` its first step); records from there on left by
            the interrupted run are dropped so nothing is logged twice. ``None`` for a new
            run.
        context: Where a new run came from (:class:`~trainers.tracking.context.RunContext`).
        attach: Reopen a run only to add values (re-evaluating it): MLflow keeps a finished
            run's status and end time, and no system metrics are recorded.
    """
    secrets = SecretFilter()
    resolved = config.resolve(output_root, run_dir)
    if context is not None:
        context = context.redacted(secrets.redact)
    opening = Opening(run_name or resolved.run_dir.name, resume_step, context, attach)
    sinks, failures = build_sinks(resolved, opening, secrets)
    tracker = Tracker(resolved.run_dir, sinks, secrets, failures)
    if context is not None:
        tracker.log_context(context)
    return tracker


def abandon_tracked_run(
    config: TrackerConfig, output_root: str | Path, run_dir: str | Path, run_name: str | None = None
) -> None:
    """Close what the sinks keep outside the run folder of an attempt that will never continue
    (it finished no epoch; the run is trained again from the start): its MLflow run is set
    ``KILLED`` and detached from the run id
    (:func:`~trainers.tracking.sinks.mlflow.abandon_run`), so the next attempt logs to a run of
    its own. A store that cannot be reached costs one warning.

    Args:
        config: The run's tracker settings (its saved config).
        output_root: The output root (default home of ``mlflow.db``).
        run_dir: The run directory.
        run_name: Name of the run in MLflow; default the run directory name.
    """
    resolved = config.resolve(output_root, run_dir)
    if "mlflow" not in resolved.sinks:
        return
    from trainers.tracking.sinks.mlflow import abandon_run

    name = run_name or resolved.run_dir.name
    try:
        abandon_run(resolved.mlflow_tracking_uri, resolved.mlflow_experiment, name)
    except Exception as error:
        reason = SecretFilter().redact(f"{type(error).__name__}: {error}")
        logger.warning("the MLflow run of %s's earlier attempt not closed: %s", name, reason)
