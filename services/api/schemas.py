"""Request and response models of the service's API (pydantic): what ``/docs`` shows, what
the Python client decodes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    """Requests refuse keys they do not know (422 naming the field)."""

    model_config = ConfigDict(extra="forbid")


class SubmitRequest(_Strict):
    """A run, as ``train.py``'s overrides (``["model=lstm", "trainer.max_minutes=5"]``)."""

    overrides: list[str] = Field(
        default_factory=list,
        description="Hydra overrides, exactly as train.py takes them",
        examples=[["model=lstm", "trainer.max_minutes=5"]],
    )


class SweepRequest(_Strict):
    """A sweep, as ``train.py -m``'s overrides (``["model=lstm,transformer", "seed=0,1"]``)."""

    overrides: list[str] = Field(
        ..., min_length=1, examples=[["model=lstm,transformer", "seed=0,1,2"]]
    )


class Accepted(BaseModel):
    """A queued run."""

    run_id: str
    job_id: str
    status: str


class SweepAccepted(BaseModel):
    """A queued sweep: one run per combination."""

    sweep_id: str
    runs: list[Accepted]


class SweepOut(BaseModel):
    """A sweep: its runs, their statuses, its comparison once the last has ended."""

    sweep_id: str
    command: str
    runs: list[RunOut]
    comparison: str | None = Field(None, description="The comparison page, in the output root")
    comparison_error: str | None = None


class WorkerRef(BaseModel):
    """The worker running an attempt."""

    name: str = ""
    host: str = ""
    pid: int = Field(0, description="The worker process")
    job_pid: int = Field(0, description="The job process (RQ's work horse) running the attempt")


class RunOut(BaseModel):
    """A run's state."""

    run_id: str
    status: str = Field(description="queued, running, finished, failed, canceled or interrupted")
    model: str
    dataset: str
    attempt: int
    losses: int = Field(0, description="Attempts that lost their worker (then resumed)")
    worker: WorkerRef | None = None
    heartbeat_at: float | None = Field(None, description="Unix time of the last heartbeat")
    heartbeat_age_s: float | None = None
    epoch: int = Field(0, description="Epochs finished")
    max_epochs: int | None = None
    best_val_accuracy: float | None = None
    message: str = Field("", description="What happened last: a failure, a retry, a kill")
    error_class: str = Field("", description="user, infrastructure or crash, for a failure")
    cancel_requested: bool = False
    killed: bool = Field(False, description="Killed after the cancel grace period")
    sweep_id: str = ""
    overrides: list[str] = Field(default_factory=list)
    evaluation: dict[str, float] = Field(
        default_factory=dict, description="Split -> accuracy of the best checkpoint"
    )
    job_timeout_s: int = Field(-1, description="RQ's time limit of the job (-1: none)")
    created_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None


class RunList(BaseModel):
    """Runs, newest first."""

    runs: list[RunOut]


class ErrorOut(BaseModel):
    """Every error the API answers."""

    code: str
    message: str
    request_id: str


class MetricsOut(BaseModel):
    """A run's tracked series (``metrics.jsonl``): name -> ``[step, value]`` pairs."""

    run_id: str
    series: dict[str, list[tuple[int, float]]]


class Row(_Strict):
    """A story and its question (and, for evaluation, the expected answer)."""

    story: str
    question: str
    answer: str | None = None
    category: str | None = None
    noun_count: int | None = None


class EvaluateRequest(_Strict):
    """Evaluate a finished run's best checkpoint on some of its splits, or on rows."""

    splits: list[str] | None = Field(None, examples=[["test"]])
    rows: list[Row] | None = Field(None, description="Rows to score (each with its answer)")
    allow_unknown_words: bool = False


class PredictRequest(_Strict):
    """Rows to answer with a finished run's best checkpoint."""

    rows: list[Row] = Field(..., min_length=1)
    allow_unknown_words: bool = False


class Answer(BaseModel):
    """One row's answer."""

    probability: float
    answer: str


class PredictOut(BaseModel):
    """The answers, in row order."""

    run_id: str
    predictions: list[Answer]


class JobAccepted(BaseModel):
    """Work that runs on a worker (an evaluation, a large prediction)."""

    job_id: str
    status: str
    kind: str


class JobOut(BaseModel):
    """A job's state and, once finished, its result."""

    job_id: str
    status: str
    kind: str = ""
    result: dict[str, Any] | None = None
    error: str | None = None


class CompareRequest(_Strict):
    """Finished runs to compare; the first is the baseline."""

    run_ids: list[str] = Field(..., min_length=1)


class CompareOut(BaseModel):
    """The comparison: headline (accuracy per split and run, 95% interval), paired tests."""

    models: list[str]
    baseline: str
    headline: list[dict[str, Any]]
    paired: list[dict[str, Any]]
    warnings: list[str]
    page: str = Field(description="The comparison page, relative to the output root")
    text: str = Field(description="The headline and paired tests as the console prints them")


class WorkerOut(BaseModel):
    """A live worker."""

    name: str
    host: str
    pid: int
    heartbeat_age_s: float
    current_run: str | None = None
    output_dir: str = ""


class WorkersOut(BaseModel):
    """Live workers."""

    workers: list[WorkerOut]


class Health(BaseModel):
    """The API process answers."""

    status: str


class Ready(BaseModel):
    """Redis reachable and workers alive."""

    status: str
    workers: int
    queued: int


SweepOut.model_rebuild()
