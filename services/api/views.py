"""Store records as API responses."""

from __future__ import annotations

from services.api.schemas import RunOut, WorkerRef
from services.store import RunRecord, now


def run_out(record: RunRecord) -> RunOut:
    """A run's state as the API answers it (the heartbeat's age counted now)."""
    worker = WorkerRef(**record.worker) if record.worker else None
    age = None if record.heartbeat is None else round(max(0.0, now() - record.heartbeat), 3)
    return RunOut(
        run_id=record.run_id,
        status=record.status,
        model=record.model,
        dataset=record.dataset,
        attempt=record.attempt,
        losses=record.losses,
        worker=worker,
        heartbeat_at=record.heartbeat,
        heartbeat_age_s=age if record.status == "running" else None,
        epoch=record.epoch,
        max_epochs=record.max_epochs,
        best_val_accuracy=record.best_val_accuracy,
        message=record.message,
        error_class=record.error_class,
        cancel_requested=record.cancel_requested,
        killed=record.killed,
        sweep_id=record.sweep_id,
        overrides=record.overrides,
        evaluation=record.evaluation,
        job_timeout_s=record.job_timeout,
        created_at=record.created_at,
        started_at=record.started_at,
        ended_at=record.ended_at,
    )
