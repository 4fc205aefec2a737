"""What the tracker and its sinks exchange: the :class:`Sink` protocol and its value types
(:class:`DatasetInput`; the run's context is :class:`~trainers.tracking.context.RunContext`).

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from trainers.tracking.context import RunContext

Scalar = bool | int | float | str
RunStatus = Literal["finished", "failed", "killed"]


@dataclass(frozen=True)
class DatasetInput:
    """One dataset a run reads (MLflow's dataset inputs).

    Attributes:
        name: The dataset version (``all_4dir-default-f3154c65``).
        digest: Its content hash.
        context: What the run does with it: ``training`` or ``validation``
            (:data:`metrics.namespaces.DATASET_INPUT_CONTEXTS`).
        source: Where it lives (a folder).
        rows: Examples read.
    """

    name: str
    digest: str
    context: str
    source: str
    rows: int


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

    def log_context(self, context: RunContext) -> None:
        """Record where the run came from (``context/...`` and the backend's own notions)."""

    def log_inputs(self, inputs: Sequence[DatasetInput]) -> None:
        """Record the datasets the run reads (a no-op where the backend has no such notion)."""

    def flush(self) -> None:
        """Make everything logged so far durable."""

    def close(self, status: RunStatus) -> None:
        """Flush and release; ``status`` tells how the run ended."""
