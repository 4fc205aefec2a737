"""What the tracker and its sinks exchange: the :class:`Sink` protocol and its value types.

A sink is anything with the :class:`Sink` methods (see ``trainers/tracking/sinks/``); the
:class:`~trainers.tracking.tracker.Tracker` fans values out to them, and
:func:`~trainers.tracking.factory.open_tracker` creates them from a config.

Example:
    >>> import tempfile
    >>> from trainers.tracking.sinks.jsonl import JsonlSink
    >>> isinstance(JsonlSink(tempfile.mkdtemp()), Sink)
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

Scalar = bool | int | float | str
RunStatus = Literal["finished", "failed", "killed"]


@runtime_checkable
class Sink(Protocol):
    """What a tracking backend implements. Methods may raise; the tracker then disables it.

    Attributes:
        name: Short sink name (``jsonl``, ``neptune``...), used in warnings.
    """

    name: str

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Log one value per name at ``step`` (the 0-based epoch)."""

    def log_fields(self, fields: Mapping[str, Scalar]) -> None:
        """Set single values (the last one wins)."""

    def log_parameters(self, parameters: Mapping[str, Scalar]) -> None:
        """Record the flattened ``parameters/...`` config (already free of secrets)."""

    def log_artifact(self, name: str, path: Path) -> None:
        """Record the file at ``path`` (which stays in place) under ``name``."""

    def flush(self) -> None:
        """Make everything logged so far durable."""

    def close(self, status: RunStatus) -> None:
        """Flush and release; ``status`` tells how the run ended."""
