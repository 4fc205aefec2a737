"""``TrackerConfig``: which sinks to use and how, validated with errors that name the bad key.

Build it in Python (``TrackerConfig(sinks=("jsonl", "mlflow"))``) or from a plain mapping such
as Hydra's ``tracker`` group (``TrackerConfig.from_mapping(cfg)``). Paths left as ``None`` are
resolved against the output root and the run directory by :meth:`TrackerConfig.resolve`.
No token is part of the config: Neptune reads ``NEPTUNE_API_TOKEN`` from the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit


class TrackerConfigError(ValueError):
    """A tracker config key is unknown or has a bad value; the message names the key."""


def masked_password_uri(uri: str | None) -> str | None:
    """``uri`` with its embedded password replaced by ``***``, or ``None`` when it has none.

    Args:
        uri: A URI such as ``https://user:password@host/`` or ``sqlite:///path``.

    Example:
        >>> masked_password_uri("postgresql://alice:s3cret@db:5432/mlflow")
        'postgresql://alice:***@db:5432/mlflow'
        >>> masked_password_uri("sqlite:///models_out/mlflow.db") is None
        True
    """
    if not uri:
        return None
    try:
        parts = urlsplit(uri)
        password = parts.password
    except ValueError:  # not a URI (e.g. a bracketed path): nothing embedded
        return None
    if not password:
        return None
    user_info, _, host = parts.netloc.rpartition("@")
    user = user_info.split(":", 1)[0]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


@dataclass(frozen=True)
class TrackerConfig:
    """Tracking settings.

    Attributes:
        sinks: Sinks to write to, any of :attr:`SINKS`; ``jsonl`` is always added.
        neptune_project: ``workspace/project`` for async mode; default ``NEPTUNE_PROJECT``.
        neptune_mode: ``auto`` (async when ``NEPTUNE_API_TOKEN`` and a project are set, else
            offline), ``offline``, ``async``, ``sync`` or ``debug``.
        neptune_data_dir: Neptune's local data directory; default ``<output_root>/.neptune``.
        mlflow_experiment: MLflow experiment name.
        mlflow_tracking_uri: Default ``sqlite:///<abs output_root>/mlflow.db``.
        mlflow_artifact_location: Artifact root of a newly created experiment; default
            ``<output_root>/mlartifacts`` (never the current directory).
        tensorboard_dir: Default ``<run_dir>/tensorboard``.
        tags: Tags for the run (Neptune ``sys/tags``, MLflow tags ``tag.<t>``).
        system_metrics: Record CPU, memory (and GPU) use while a run trains, through MLflow's
            system metrics and Neptune's hardware monitoring; ``false`` turns both off.
        mlflow_parent_run_id: MLflow run id of a parent run: the run is created as its child
            (``mlflow.parentRunId``). A ``train.py -m`` sweep sets it for its jobs (its own
            run, see :mod:`trainers.tracking.sweep`).
    """

    SINKS: ClassVar[tuple[str, ...]] = ("jsonl", "neptune", "mlflow", "tensorboard")
    ALWAYS_ON: ClassVar[str] = "jsonl"
    DEFAULT_SINKS: ClassVar[tuple[str, ...]] = ("jsonl", "neptune", "mlflow")
    NEPTUNE_MODES: ClassVar[tuple[str, ...]] = ("auto", "offline", "async", "sync", "debug")
    NEPTUNE_DIR_NAME: ClassVar[str] = ".neptune"
    MLFLOW_DB_NAME: ClassVar[str] = "mlflow.db"
    MLFLOW_ARTIFACTS_NAME: ClassVar[str] = "mlartifacts"
    TENSORBOARD_DIR_NAME: ClassVar[str] = "tensorboard"
    KEY_PREFIX: ClassVar[str] = "tracker"
    #: Keys that may hold a server or database URI, which must not embed a password.
    URI_KEYS: ClassVar[tuple[str, ...]] = ("mlflow_tracking_uri", "mlflow_artifact_location")

    sinks: tuple[str, ...] = DEFAULT_SINKS
    neptune_project: str | None = None
    neptune_mode: str = "auto"
    neptune_data_dir: str | None = None
    mlflow_experiment: str = "storyqa"
    mlflow_tracking_uri: str | None = None
    mlflow_artifact_location: str | None = None
    tensorboard_dir: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    system_metrics: bool = True
    mlflow_parent_run_id: str | None = None

    def __post_init__(self) -> None:
        sinks = self._strings("sinks", self.sinks)
        for sink in sinks:
            if sink not in self.SINKS:
                self._fail("sinks", f"unknown sink {sink!r}; expected any of {list(self.SINKS)}")
        ordered = tuple(dict.fromkeys((self.ALWAYS_ON, *sinks)))
        object.__setattr__(self, "sinks", ordered)
        object.__setattr__(self, "tags", self._strings("tags", self.tags))
        if self.neptune_mode not in self.NEPTUNE_MODES:
            self._fail(
                "neptune_mode",
                f"{self.neptune_mode!r} is not one of {list(self.NEPTUNE_MODES)}",
            )
        if not isinstance(self.system_metrics, bool):
            self._fail("system_metrics", f"must be true or false, got {self.system_metrics!r}")
        if not isinstance(self.mlflow_experiment, str) or not self.mlflow_experiment.strip():
            self._fail("mlflow_experiment", f"must be non-empty, got {self.mlflow_experiment!r}")
        for name in (
            "neptune_project",
            "neptune_data_dir",
            "mlflow_tracking_uri",
            "mlflow_artifact_location",
            "tensorboard_dir",
            "mlflow_parent_run_id",
        ):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                self._fail(name, f"must be a non-empty string or None, got {value!r}")
        for name in self.URI_KEYS:
            masked = masked_password_uri(getattr(self, name))
            if masked is not None:
                self._fail(
                    name,
                    f"holds a password ({masked}); the config is saved with every run, so give "
                    "the URI without it and the credentials through the environment "
                    "(MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD for an MLflow "
                    "server, or the database's own variables such as PGPASSWORD)",
                )

    @classmethod
    def _fail(cls, key: str, message: str) -> None:
        raise TrackerConfigError(f"{cls.KEY_PREFIX}.{key}: {message}")

    @classmethod
    def _strings(cls, key: str, value: object) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, Sequence):
            cls._fail(key, f"must be a list of strings, got {value!r}")
        items: tuple[object, ...] = tuple(value)  # type: ignore[arg-type]
        for item in items:
            if not isinstance(item, str) or not item:
                cls._fail(key, f"must be a list of non-empty strings, got item {item!r}")
        return tuple(str(item) for item in items)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> TrackerConfig:
        """Build from a plain mapping (e.g. ``OmegaConf.to_container(cfg.tracker)``).

        Args:
            mapping: Keys are the attribute names; lists are accepted for sequences.

        Raises:
            TrackerConfigError: On an unknown key or a bad value, naming the key.
        """
        known = {f.name for f in fields(cls)}
        for key in mapping:
            if key not in known:
                cls._fail(str(key), f"unknown key; expected one of {sorted(known)}")
        values = dict(mapping)
        for key in ("sinks", "tags"):
            if key in values and isinstance(values[key], list):
                values[key] = tuple(values[key])
        return cls(**values)

    def resolve(self, output_root: str | Path, run_dir: str | Path) -> ResolvedTrackerConfig:
        """Fill in default paths and pick the Neptune mode from the environment.

        Args:
            output_root: The output root (``models_out`` by default).
            run_dir: The run directory (``<output_root>/runs/<run_id>``).
        """
        root = Path(output_root).resolve()
        run = Path(run_dir).resolve()
        project = self.neptune_project or os.environ.get("NEPTUNE_PROJECT") or None
        mode = self.neptune_mode
        if mode == "auto":
            mode = "async" if os.environ.get("NEPTUNE_API_TOKEN") and project else "offline"
        return ResolvedTrackerConfig(
            sinks=self.sinks,
            run_dir=run,
            neptune_project=project,
            neptune_mode=mode,
            neptune_data_dir=_path(self.neptune_data_dir, root / self.NEPTUNE_DIR_NAME),
            mlflow_experiment=self.mlflow_experiment,
            mlflow_tracking_uri=self.mlflow_tracking_uri
            or f"sqlite:///{(root / self.MLFLOW_DB_NAME).as_posix()}",
            mlflow_artifact_location=self.mlflow_artifact_location
            or (root / self.MLFLOW_ARTIFACTS_NAME).as_uri(),
            tensorboard_dir=_path(self.tensorboard_dir, run / self.TENSORBOARD_DIR_NAME),
            tags=self.tags,
            system_metrics=self.system_metrics,
            mlflow_parent_run_id=self.mlflow_parent_run_id,
        )


def _path(value: str | None, default: Path) -> Path:
    return default if value is None else Path(value).expanduser().resolve()


@dataclass(frozen=True)
class ResolvedTrackerConfig:
    """A :class:`TrackerConfig` with every path and the Neptune mode decided.

    Attributes:
        sinks: Sinks to open, ``jsonl`` first.
        run_dir: Absolute run directory.
        neptune_project: Project for async/sync mode, or ``None``.
        neptune_mode: ``offline``, ``async``, ``sync`` or ``debug``.
        neptune_data_dir: Absolute Neptune data directory.
        mlflow_experiment: Experiment name.
        mlflow_tracking_uri: Tracking URI.
        mlflow_artifact_location: Artifact root URI for a new experiment.
        tensorboard_dir: Absolute TensorBoard log directory.
        tags: Run tags.
        system_metrics: Whether MLflow and Neptune record system metrics.
        mlflow_parent_run_id: The MLflow parent run of the run, or ``None``.
    """

    sinks: tuple[str, ...]
    run_dir: Path
    neptune_project: str | None
    neptune_mode: str
    neptune_data_dir: Path
    mlflow_experiment: str
    mlflow_tracking_uri: str
    mlflow_artifact_location: str
    tensorboard_dir: Path
    tags: tuple[str, ...]
    system_metrics: bool = True
    mlflow_parent_run_id: str | None = None
