"""``Tracker``: one object that fans every value out to its sinks.

A sink is anything with the :class:`~trainers.tracking.types.Sink` methods (see
``trainers/tracking/sinks/``); :func:`~trainers.tracking.factory.open_tracker` opens a tracker
with the sinks a config names. Values
are sent as *series* (one value per epoch, ``step`` = 0-based epoch), *fields* (single values,
last one wins), *parameters* (the flattened run config) and *artifacts* (files). A sink that
raises is disabled after one warning naming the sink and the reason; the others, and the
``jsonl`` record, go on. Closing flushes and closes every sink, also on an exception or a
``KeyboardInterrupt`` when the tracker is used as a context manager; ``close`` is idempotent.

Every name must come from :mod:`metrics.namespaces`; every parameter and string value passes
through :class:`~trainers.tracking.secrets.SecretFilter` first. The run's context
(:meth:`Tracker.log_context`) and its dataset inputs (:meth:`Tracker.log_inputs`) reach the
sinks that have those methods; a sink written before they existed is skipped, not disabled.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

from metrics import namespaces as ns
from trainers.tracking.context import RunContext
from trainers.tracking.secrets import SecretFilter
from trainers.tracking.types import DatasetInput, RunStatus, Scalar, Sink

logger = logging.getLogger(__name__)


class Tracker:
    """Fans values out to sinks; the one object trainers log through.

    Args:
        run_dir: The run directory (artifacts are linked or copied into
            ``<run_dir>/artifacts/<kind>/`` before they are recorded).
        sinks: Open sinks, normally ``jsonl`` first.
        secrets: Secret filter; default reads the secret environment variables now.
        disabled: Sinks that already failed (name -> reason), e.g. at creation.

    Example:
        >>> import tempfile
        >>> from trainers.tracking.sinks.jsonl import JsonlSink
        >>> run_dir = Path(tempfile.mkdtemp())
        >>> with Tracker(run_dir, [JsonlSink(run_dir)]) as tracker:
        ...     tracker.log_metrics({ns.epoch_metric("train", "loss"): 0.69}, step=0)
        >>> (run_dir / "metrics.jsonl").read_text().strip()
        '{"name": "metrics/train/loss", "value": 0.69, "step": 0, "kind": "series"}'
    """

    ARTIFACTS_DIR: ClassVar[str] = "artifacts"

    def __init__(
        self,
        run_dir: str | Path,
        sinks: Sequence[Sink],
        secrets: SecretFilter | None = None,
        disabled: Mapping[str, str] | None = None,
    ):
        self.run_dir = Path(run_dir)
        self._sinks: list[Sink] = list(sinks)
        self._active: list[Sink] = list(sinks)
        self.secrets = SecretFilter() if secrets is None else secrets
        self.disabled: dict[str, str] = dict(disabled or {})
        self._closed = False

    # --- state ---------------------------------------------------------------------------

    @property
    def sinks(self) -> tuple[Sink, ...]:
        """Sinks still enabled."""
        return tuple(self._active)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` ran."""
        return self._closed

    def _disable(self, sink: Sink, exc: BaseException) -> None:
        reason = self.secrets.redact(f"{type(exc).__name__}: {exc}")
        self.disabled[sink.name] = reason
        if sink in self._active:
            self._active.remove(sink)
        logger.warning("tracking sink %r disabled, the run goes on: %s", sink.name, reason)

    def _dispatch(self, method: str, *args: Any, optional: bool = False) -> None:
        if self._closed:
            logger.warning("tracker already closed: %s ignored", method)
            return
        for sink in list(self._active):
            if optional and not hasattr(sink, method):
                logger.debug("sink %r has no %s; skipped", sink.name, method)
                continue
            try:
                getattr(sink, method)(*args)
            except Exception as exc:
                self._disable(sink, exc)

    # --- logging -------------------------------------------------------------------------

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Log one value per name for epoch ``step``.

        Args:
            metrics: ``{name: number}``; names from :mod:`metrics.namespaces`.
            step: 0-based epoch.
        """
        values = {name: float(value) for name, value in metrics.items()}
        self._dispatch("log_metrics", values, int(step))

    def log_metric(self, name: str, value: float, step: int) -> None:
        """Log one per-epoch value (see :meth:`log_metrics`).

        Args:
            name: Metric name.
            value: The value.
            step: 0-based epoch.
        """
        self.log_metrics({name: value}, step)

    def log_fields(self, fields: Mapping[str, object]) -> None:
        """Set single values; text holding a secret is redacted.

        Args:
            fields: ``{name: value}``; numpy scalars are converted, other objects become text.
        """
        values = {name: self._scalar(value) for name, value in fields.items()}
        if values:
            self._dispatch("log_fields", values)

    def log_field(self, name: str, value: object) -> None:
        """Set one single value (see :meth:`log_fields`).

        Args:
            name: Field name.
            value: The value.
        """
        self.log_fields({name: value})

    def log_parameters(self, config: Mapping[str, Any]) -> dict[str, Scalar]:
        """Log a nested run config as ``parameters/...``, without secrets.

        Args:
            config: Nested plain mapping (convert OmegaConf with ``to_container`` first).

        Returns:
            The flattened parameters that were logged.
        """
        flat = ns.flatten_parameters(self.secrets.clean_config(config))
        parameters: dict[str, Scalar] = {
            name: value
            for name, value in flat.items()
            if not self.secrets.is_secret_key(name) and not self.secrets.is_secret_value(value)
        }
        if parameters:
            self._dispatch("log_parameters", parameters)
        return parameters

    def log_artifact(self, kind: str, path: str | Path, filename: str | None = None) -> Path | None:
        """Keep a file under ``<run_dir>/artifacts/<kind>/`` and record it as
        ``artifacts/<kind>/<file>``.

        The file is hard-linked (copied where links are impossible), so it survives the
        top-k rotation and Neptune's offline mode, which records only a path.

        Args:
            kind: An artifact kind of :data:`metrics.namespaces.ARTIFACT_KINDS`.
            path: The file.
            filename: Name to keep it under; default the file's own name.

        Returns:
            The kept path, or ``None`` if it could not be kept (logged as a warning).
        """
        source = Path(path)
        kept_name = filename or source.name
        name = ns.artifact(kind, kept_name)
        target = self.run_dir / self.ARTIFACTS_DIR / kind / kept_name
        try:
            if source.resolve() != target.resolve():
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.tmp")
                tmp.unlink(missing_ok=True)
                try:
                    os.link(source, tmp)
                except OSError:
                    shutil.copyfile(source, tmp)
                os.replace(tmp, target)
        except OSError as exc:
            logger.warning("artifact %s not recorded: %s", source, exc)
            return None
        self._dispatch("log_artifact", name, target)
        return target

    def write_artifact(self, kind: str, filename: str, content: bytes | str) -> Path | None:
        """Write ``content`` to ``<run_dir>/artifacts/<kind>/<filename>`` (atomically) and
        record it as ``artifacts/<kind>/<filename>``.

        Args:
            kind: An artifact kind of :data:`metrics.namespaces.ARTIFACT_KINDS`.
            filename: The file's name.
            content: Text (written as UTF-8) or bytes.

        Returns:
            The file, or ``None`` if it could not be written (logged as a warning).
        """
        name = ns.artifact(kind, filename)
        target = self.run_dir / self.ARTIFACTS_DIR / kind / ns.sanitize(filename)
        data = content.encode("utf-8") if isinstance(content, str) else content
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            logger.warning("artifact %s not written: %s", target, exc)
            return None
        self._dispatch("log_artifact", name, target)
        return target

    def log_context(self, context: RunContext) -> None:
        """Record where the run came from (free text redacted): ``context/...`` everywhere,
        and each backend's own notions (MLflow's ``mlflow.*`` tags, Neptune's description and
        tags).

        Args:
            context: The run's context.
        """
        self._dispatch("log_context", context.redacted(self.secrets.redact), optional=True)

    def log_inputs(self, inputs: Sequence[DatasetInput]) -> None:
        """Record the datasets the run reads (MLflow's dataset inputs).

        Args:
            inputs: One entry per dataset and role (``training``, ``validation``).
        """
        if inputs:
            self._dispatch("log_inputs", list(inputs), optional=True)

    def _scalar(self, value: object) -> Scalar:
        item = getattr(value, "item", None)
        if not isinstance(value, bool | int | float | str) and callable(item):
            value = item()
        if isinstance(value, bool | int | float):
            return value
        text = str(value)
        return self.secrets.redact(text) if self.secrets.is_secret_value(text) else text

    # --- lifecycle -----------------------------------------------------------------------

    def flush(self) -> None:
        """Make everything durable (the per-epoch routine calls this after every epoch)."""
        self._dispatch("flush")

    def close(self, status: RunStatus = "finished") -> None:
        """Flush and close every sink; safe to call more than once.

        Args:
            status: How the run ended: ``finished``, ``failed`` or ``killed``.
        """
        if self._closed:
            return
        self._closed = True
        for sink in self._sinks:
            try:
                sink.close(status)
            except Exception as exc:
                if sink in self._active:
                    self._disable(sink, exc)
                else:
                    logger.debug("closing disabled sink %r failed: %s", sink.name, exc)

    def __enter__(self) -> Tracker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            status: RunStatus = "finished"
        elif issubclass(exc_type, KeyboardInterrupt):
            status = "killed"
        else:
            status = "failed"
        self.close(status)
