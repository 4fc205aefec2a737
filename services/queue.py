"""Putting runs on the queue and taking them off: submit (one run or a sweep, landing
atomically with their RQ jobs), cancel, resume, and re-queueing a run whose worker was lost as
a resume from its last checkpoint.

Each attempt of a run is one RQ job (``<run_id>--<attempt>``) running
:func:`services.jobs.run_attempt`; its time limit follows the run's ``trainer.max_minutes``
(:func:`job_timeout`).

Example:
    >>> job_timeout({"trainer": {"max_minutes": 5}}, margin_s=1800)
    2100
    >>> job_timeout({"trainer": {"max_minutes": None}}, margin_s=1800)
    -1
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypedDict

from services.events.schemas import RunCanceled, RunFailed, RunQueued
from services.events.stream import publish, publish_in
from services.store import QUEUE_NAME, RunRecord, RunStatus, RunStore, new_token, now

if TYPE_CHECKING:
    import redis
    import rq

    from services.settings import ServiceSettings

logger = logging.getLogger(__name__)

#: What every attempt runs.
JOB_FUNCTION: Final = "services.jobs.run_attempt"
#: Seconds RQ keeps a finished or failed job's own record (the run's state is the store's).
JOB_RECORD_TTL_S: Final = 24 * 3600
#: RQ statuses of a job that will still start.
PENDING_JOB_STATUSES: Final = frozenset({"queued", "scheduled", "deferred"})


class QueueConflict(ValueError):
    """The run is not in a state that allows the request (HTTP 409)."""


def job_timeout(config: Mapping[str, Any], margin_s: int) -> int:
    """RQ's time limit for a run's job: ``trainer.max_minutes`` plus ``margin_s`` (data
    generation and evaluation), or ``-1`` (none) when the run has no time budget."""
    minutes = (config.get("trainer") or {}).get("max_minutes")
    if minutes is None:
        return -1
    return int(float(minutes) * 60) + int(margin_s)


@dataclass(frozen=True)
class NewRun:
    """A composed, validated run to submit.

    Attributes:
        run_id: Its id (and folder name).
        config: The validated run config.
        overrides: The overrides it came from.
        model: The model's name.
        dataset: The dataset's name.
    """

    run_id: str
    config: dict[str, Any]
    overrides: list[str]
    model: str
    dataset: str


class RunQueue:
    """The service's queue of runs.

    Args:
        connection: A Redis client.
        settings: The service's settings (job time limits, retries).
    """

    def __init__(self, connection: redis.Redis, settings: ServiceSettings):
        import rq

        self.store = RunStore(connection)
        self.settings = settings
        self.queue = rq.Queue(QUEUE_NAME, connection=connection)

    def submit(self, runs: Sequence[NewRun], sweep: tuple[str, str] | None = None) -> list[str]:
        """Queue ``runs`` (and, for a sweep, its ``(id, command)``) in one transaction: their
        records and their jobs land together or not at all.

        Returns:
            The runs' job ids.
        """
        created = now()
        job_ids = []
        with self.store.redis.pipeline() as pipe:
            pipe.multi()
            for run in runs:
                token = new_token()
                record = RunRecord(
                    run_id=run.run_id,
                    status=RunStatus.QUEUED,
                    model=run.model,
                    dataset=run.dataset,
                    overrides=list(run.overrides),
                    config=run.config,
                    attempt=1,
                    token=token,
                    job_id=attempt_job_id(run.run_id, 1),
                    max_epochs=(run.config.get("trainer") or {}).get("max_epochs"),
                    sweep_id=sweep[0] if sweep else "",
                    created_at=created,
                    job_timeout=job_timeout(run.config, self.settings.job_timeout_margin_s),
                )
                self.store.create(record, pipeline=pipe)
                job_ids.append(self._enqueue(record, token, pipeline=pipe).id)
                publish_in(pipe, RunQueued(**event_fields(record), attempt=1))
            if sweep is not None:
                self.store.create_sweep(sweep[0], [r.run_id for r in runs], sweep[1], pipe)
            pipe.execute()
        return job_ids

    def _enqueue(self, record: RunRecord, token: str, *, pipeline: Any = None) -> rq.job.Job:
        """The RQ job of the record's current attempt (a back-off is the attempt's own
        ``not_before``: RQ's scheduler runs in one worker at a time, and a killed worker holds
        its lock for minutes)."""
        options: dict[str, Any] = {
            "kwargs": {"run_id": record.run_id, "token": token},
            "timeout": record.job_timeout,
            "result_ttl": JOB_RECORD_TTL_S,
            "failure_ttl": JOB_RECORD_TTL_S,
            "job_id": record.job_id,
            "description": f"storyqa run {record.run_id} (attempt {record.attempt})",
        }
        return self.queue.enqueue_call(JOB_FUNCTION, pipeline=pipeline, **options)

    def cancel(self, run_id: str) -> RunRecord:
        """Cancel a run: a queued one never starts; a running one is asked to stop at the end
        of its current step (its worker sends it SIGTERM; killed after
        ``service.cancel_grace_s``).

        Raises:
            UnknownRun: No such run.
            QueueConflict: The run has ended.
        """
        record = self.store.get(run_id)
        if record.status == RunStatus.QUEUED:
            moved = self.store.new_attempt(
                run_id,
                record.token,
                RunStatus.QUEUED,
                count=False,  # it never started: no attempt was made
                status=RunStatus.CANCELED,
                message="canceled before it started",
                ended_at=now(),
            )
            if moved is not None:
                self._drop_job(record.job_id)
                publish(
                    self.store.redis,
                    RunCanceled(
                        **event_fields(record), attempt=0, message="canceled before it started"
                    ),
                )
                return self.store.get(run_id)
            record = self.store.get(run_id)  # it started meanwhile
        if record.status == RunStatus.RUNNING:
            self.store.update(run_id, cancel_requested=True)
            return self.store.get(run_id)
        raise QueueConflict(f"run {run_id} is {record.status}: there is nothing to cancel")

    def resume(self, run_id: str) -> RunRecord:
        """Queue a canceled, interrupted or failed run again: it continues from its last
        checkpoint (``resume=``) and ends with exactly the metrics of an uninterrupted run.

        Raises:
            UnknownRun: No such run.
            QueueConflict: The run is queued, running or finished.
        """
        record = self.store.get(run_id)
        if record.status not in RunStatus.RESUMABLE:
            raise QueueConflict(
                f"run {run_id} is {record.status}: only a canceled, interrupted or failed run "
                "can be resumed"
            )
        token = self._next_attempt(
            record,
            record.status,
            message=f"resume requested (attempt {record.attempt + 1})",
            losses=0,
        )
        if token is None:
            raise QueueConflict(f"run {run_id} changed meanwhile; try again")
        return self.store.get(run_id)

    def requeue_lost(self, record: RunRecord, reason: str) -> str | None:
        """A running attempt whose worker was lost (``reason``): queue the run again as a
        resume from its last checkpoint, after a back-off, unless it has been lost
        ``service.max_retries`` times (then it fails).

        Returns:
            The new attempt's token, or ``None`` when the run failed or moved on meanwhile.
        """
        losses = record.losses + 1
        if losses > self.settings.max_retries:
            message = (
                f"{reason}; lost {losses} times (service.max_retries="
                f"{self.settings.max_retries}): resume it by hand once the cause is fixed"
            )
            failed = self.store.new_attempt(
                record.run_id,
                record.token,
                RunStatus.RUNNING,
                status=RunStatus.FAILED,
                error_class="infrastructure",
                losses=losses,
                ended_at=now(),
                message=message,
            )
            if failed is not None:
                event = RunFailed(
                    **event_fields(record),
                    attempt=record.attempt,
                    error_class="infrastructure",
                    message=message,
                )
                publish(self.store.redis, event)
                finish_sweep_if_done(self.store, record.sweep_id, self.settings.output_dir)
            return None
        delay = min(2.0 ** (losses - 1), 30.0)
        return self._next_attempt(
            record,
            RunStatus.RUNNING,
            message=f"{reason}; resuming from its last checkpoint on any worker (retry "
            f"{losses} of {self.settings.max_retries}, in {delay:g} s)",
            losses=losses,
            delay_s=delay,
        )

    def requeue_orphan(self, record: RunRecord) -> str | None:
        """A queued run whose job is gone (a worker died between taking it and starting it, or
        Redis lost it): queue its attempt again."""
        return self._next_attempt(
            record, RunStatus.QUEUED, message="its job was lost before it started; queued again"
        )

    def requeue_after_shutdown(self, record: RunRecord) -> str | None:
        """A run stopped because its worker shut down: queue it to resume on any worker."""
        return self._next_attempt(
            record,
            RunStatus.RUNNING,
            message="its worker shut down; resuming from its last checkpoint on any worker",
        )

    def _next_attempt(
        self, record: RunRecord, expected_status: str, *, delay_s: float = 0, **values: Any
    ) -> str | None:
        attempt = record.attempt + 1
        job_id = attempt_job_id(record.run_id, attempt)
        token = self.store.new_attempt(
            record.run_id,
            record.token,
            expected_status,
            status=RunStatus.QUEUED,
            job_id=job_id,
            worker=None,
            heartbeat=None,
            cancel_requested=False,
            killed=False,
            ended_at=None,
            error_class="",
            not_before=now() + delay_s if delay_s > 0 else None,
            **values,
        )
        if token is None:
            return None
        fresh = self.store.get(record.run_id)
        self._enqueue(fresh, token)
        publish(
            self.store.redis,
            RunQueued(**event_fields(fresh), attempt=fresh.attempt, reason=fresh.message),
        )
        return token

    def job_pending(self, job_id: str) -> bool:
        """Whether the job will still start (queued, scheduled or deferred)."""
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        try:
            status = Job.fetch(job_id, connection=self.queue.connection).get_status()
        except NoSuchJobError:
            return False
        return status is not None and str(getattr(status, "value", status)) in (
            PENDING_JOB_STATUSES
        )

    def _drop_job(self, job_id: str) -> None:
        from rq.exceptions import InvalidJobOperation, NoSuchJobError
        from rq.job import Job

        with contextlib.suppress(NoSuchJobError, InvalidJobOperation):
            Job.fetch(job_id, connection=self.queue.connection).cancel()


class EventFields(TypedDict):
    """What every event of a run names."""

    run_id: str
    model: str
    sweep_id: str


def event_fields(record: RunRecord) -> EventFields:
    """What every event of the run names: the run, its model and its sweep."""
    return {"run_id": record.run_id, "model": record.model, "sweep_id": record.sweep_id}


def finish_sweep_if_done(store: RunStore, sweep_id: str, output_dir: Path) -> None:
    """When every run of the sweep has ended, write its comparison (once, by whoever sees the
    last run end): ``<output_dir>/service/sweeps/<id>/comparison.html``, and publish
    ``sweep.finished.v1`` with its headline."""
    if not sweep_id:
        return
    sweep = store.sweep(sweep_id)
    records = [store.get(run_id) for run_id in sweep["run_ids"]]
    if not all(r.terminal for r in records) or not store.claim_sweep_comparison(sweep_id):
        return
    from services.comparisons import compare_into
    from services.events.schemas import SweepFinished

    finished = [r.run_id for r in records if r.status == RunStatus.FINISHED]
    folder = output_dir / "service" / "sweeps" / sweep_id
    event = SweepFinished(sweep_id=sweep_id, runs=len(records), finished=len(finished))
    try:
        page, headline = compare_into(output_dir, finished, folder, sweep["command"])
    except (ValueError, OSError) as error:
        store.set_sweep(sweep_id, comparison_error=str(error))
        logger.warning("sweep %s: no comparison: %s", sweep_id, error)
        publish(store.redis, event.model_copy(update={"message": f"no comparison: {error}"}))
        return
    store.set_sweep(sweep_id, comparison=str(page))
    relative = str(page.resolve().relative_to(output_dir.resolve()))
    publish(store.redis, event.model_copy(update={"headline": headline, "comparison": relative}))


def attempt_job_id(run_id: str, attempt: int) -> str:
    """The RQ job id of a run's attempt.

    Example:
        >>> attempt_job_id("lstm-all_4dir-20261207-0412-ab12", 2)
        'lstm-all_4dir-20261207-0412-ab12--2'
    """
    return f"{run_id}--{attempt}"
