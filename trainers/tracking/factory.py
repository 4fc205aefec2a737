"""Create the sinks a :class:`~trainers.tracking.config.ResolvedTrackerConfig` names.

Each backend client is imported here, when its sink is created, never at package import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from trainers.tracking.config import ResolvedTrackerConfig
from trainers.tracking.secrets import SecretFilter
from trainers.tracking.sinks.jsonl import JsonlSink
from trainers.tracking.tracker import Sink

logger = logging.getLogger(__name__)

SinkBuilder = Callable[[ResolvedTrackerConfig, str, "int | None"], Sink]


def _neptune(config: ResolvedTrackerConfig, run_name: str, resume_epoch: int | None) -> Sink:
    from trainers.tracking.sinks.neptune import NeptuneSink

    return NeptuneSink(
        mode=config.neptune_mode,
        data_dir=config.neptune_data_dir,
        run_name=run_name,
        project=config.neptune_project,
        tags=config.tags,
    )


def _mlflow(config: ResolvedTrackerConfig, run_name: str, resume_epoch: int | None) -> Sink:
    from trainers.tracking.sinks.mlflow import MlflowSink

    return MlflowSink(
        tracking_uri=config.mlflow_tracking_uri,
        experiment=config.mlflow_experiment,
        artifact_location=config.mlflow_artifact_location,
        run_name=run_name,
        tags=config.tags,
    )


def _tensorboard(config: ResolvedTrackerConfig, run_name: str, resume_epoch: int | None) -> Sink:
    from trainers.tracking.sinks.tensorboard import TensorBoardSink

    return TensorBoardSink(config.tensorboard_dir, resume_epoch=resume_epoch)


#: Optional sinks by config name (``jsonl`` is always created first).
BUILDERS: Mapping[str, SinkBuilder] = {
    "neptune": _neptune,
    "mlflow": _mlflow,
    "tensorboard": _tensorboard,
}


def build_sinks(
    config: ResolvedTrackerConfig,
    run_name: str,
    resume_epoch: int | None,
    secrets: SecretFilter,
) -> tuple[list[Sink], dict[str, str]]:
    """Create every configured sink.

    Args:
        config: Resolved tracker config.
        run_name: Run name for Neptune and MLflow.
        resume_epoch: First epoch of a resumed run, or ``None``.
        secrets: Used to redact failure reasons.

    Returns:
        The sinks (``jsonl`` first) and ``{sink: reason}`` for those that could not be created
        (each reported by one warning).

    Raises:
        OSError: If ``metrics.jsonl`` cannot be opened: without it there is no record.
    """
    sinks: list[Sink] = [JsonlSink(config.run_dir, resume_epoch=resume_epoch)]
    failures: dict[str, str] = {}
    for name in config.sinks:
        if name == JsonlSink.name:
            continue
        try:
            sinks.append(BUILDERS[name](config, run_name, resume_epoch))
        except Exception as exc:
            reason = secrets.redact(f"{type(exc).__name__}: {exc}")
            failures[name] = reason
            logger.warning("tracking sink %r not created, the run goes on: %s", name, reason)
    return sinks, failures
