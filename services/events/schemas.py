"""Every event the service publishes, one pydantic model each, with its type and version in
its name (``run.epoch.v1``): what the SSE endpoints send, what the notifier delivers and what
a client decodes (:func:`parse_event`). A change to an event's fields is a new version.

Metric names in ``run.epoch.v1`` are the trackers' own (``metrics/namespaces.py``).

Example:
    >>> event = RunEvaluated(run_id="r1", split="test", accuracy=0.75, examples=200)
    >>> event.type, parse_event(event.model_dump_json()).accuracy
    ('run.evaluated.v1', 0.75)
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class Event(BaseModel):
    """What every event carries.

    Attributes:
        type: ``<subject>.<what>.v<version>``.
        at: Wall-clock time it was published (Unix seconds).
    """

    model_config = ConfigDict(frozen=True)

    type: str
    at: float = Field(default_factory=time.time)


class RunEvent(Event):
    """An event of one run."""

    run_id: str
    model: str = ""
    sweep_id: str = ""


class RunQueued(RunEvent):
    """A run (or its next attempt) was put on the queue."""

    type: Literal["run.queued.v1"] = "run.queued.v1"
    attempt: int
    reason: str = Field("", description="Why it was queued again, for a later attempt")


class RunStarted(RunEvent):
    """A worker started an attempt."""

    type: Literal["run.started.v1"] = "run.started.v1"
    attempt: int
    worker: str
    host: str


class RunResumed(RunEvent):
    """An attempt continues the run from its last checkpoint."""

    type: Literal["run.resumed.v1"] = "run.resumed.v1"
    attempt: int
    from_epoch: int = Field(description="Epochs already done")


class RunEpoch(RunEvent):
    """An epoch ended: its values under the trackers' names, and the best so far."""

    type: Literal["run.epoch.v1"] = "run.epoch.v1"
    epoch: int = Field(description="0-based")
    step: int | None = Field(
        default=None,
        description="the training step the validation followed, when the run validates inside "
        "epochs (trainer.val_check_interval; several events per epoch); else null",
    )
    max_epochs: int | None = None
    metrics: dict[str, float] = Field(
        description="metrics/train/loss, metrics/val/accuracy, metrics/epoch/seconds, "
        "metrics/train/examples_per_second, ..."
    )
    best_val_accuracy: float | None = None


class RunCheckpoint(RunEvent):
    """The run's checkpoints changed after an epoch (top-k, best, last)."""

    type: Literal["run.checkpoint.v1"] = "run.checkpoint.v1"
    epoch: int
    best: str | None = None
    last: str | None = None
    top_k: list[str] = Field(default_factory=list)


class RunEvaluated(RunEvent):
    """The best checkpoint was evaluated on one split."""

    type: Literal["run.evaluated.v1"] = "run.evaluated.v1"
    split: str
    accuracy: float
    examples: int | None = None


class SplitAccuracy(BaseModel):
    """A split's accuracy with its 95% Wilson interval."""

    accuracy: float
    low: float | None = None
    high: float | None = None
    examples: int | None = None


class RunFinished(RunEvent):
    """The run finished: its headline per split."""

    type: Literal["run.finished.v1"] = "run.finished.v1"
    attempt: int
    best_epoch: int | None = None
    best_val_accuracy: float | None = None
    headline: dict[str, SplitAccuracy] = Field(default_factory=dict)
    seconds: float | None = Field(None, description="From first start to the end")


class RunFailed(RunEvent):
    """The run failed (``user``: config or data; ``crash``; ``infrastructure``)."""

    type: Literal["run.failed.v1"] = "run.failed.v1"
    attempt: int
    error_class: str
    message: str


class RunCanceled(RunEvent):
    """The run was cancelled (``killed`` after the grace period)."""

    type: Literal["run.canceled.v1"] = "run.canceled.v1"
    attempt: int
    killed: bool = False
    message: str = ""


class SweepFinished(Event):
    """Every run of a sweep has ended: the comparison's headline."""

    type: Literal["sweep.finished.v1"] = "sweep.finished.v1"
    sweep_id: str
    runs: int
    finished: int
    headline: list[dict[str, object]] = Field(default_factory=list)
    comparison: str | None = Field(None, description="The page, relative to the output root")
    message: str = ""


class ServiceHeartbeat(Event):
    """A summary of the service, every 30 s (``services.api.app.HEARTBEAT_EVERY_S``)."""

    type: Literal["service.heartbeat.v1"] = "service.heartbeat.v1"
    workers: int
    queued: int
    running: int


AnyEvent = Annotated[
    RunQueued
    | RunStarted
    | RunResumed
    | RunEpoch
    | RunCheckpoint
    | RunEvaluated
    | RunFinished
    | RunFailed
    | RunCanceled
    | SweepFinished
    | ServiceHeartbeat,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)
#: Every event type.
EVENT_TYPES: tuple[str, ...] = tuple(
    cls.model_fields["type"].default
    for cls in (
        RunQueued, RunStarted, RunResumed, RunEpoch, RunCheckpoint, RunEvaluated,
        RunFinished, RunFailed, RunCanceled, SweepFinished, ServiceHeartbeat,
    )
)  # fmt: skip
#: The events that end a run (until it is resumed).
RUN_ENDED: frozenset[str] = frozenset({"run.finished.v1", "run.failed.v1", "run.canceled.v1"})


def parse_event(text: str | bytes) -> AnyEvent:
    """An event from its JSON.

    Raises:
        pydantic.ValidationError: Not an event of a known type and version.
    """
    return _ADAPTER.validate_json(text)
