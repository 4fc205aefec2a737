"""``/healthz`` (the process answers; no key needed), ``/readyz`` (Redis reachable and a
worker alive, else 503 with the reason) and ``/workers``."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from services.api.deps import ServiceDep, require_key
from services.api.errors import ApiError
from services.api.schemas import Health, Ready, WorkerOut, WorkersOut
from services.store import RunStatus, now

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The API process answers."""
    return Health(status="ok")


@router.get("/readyz", response_model=Ready, dependencies=[Depends(require_key)])
def readyz(service: ServiceDep) -> Ready:
    """Ready to train: Redis answers and at least one worker is alive (503 otherwise)."""
    import redis

    try:
        service.store.redis.ping()
        workers = service.store.workers()
        queued = len(service.queue.queue)
    except redis.RedisError:
        raise ApiError(503, "not_ready", "Redis is unreachable") from None
    if not workers:
        raise ApiError(503, "not_ready", "no worker is alive: start one (storyqa-service worker)")
    return Ready(status="ready", workers=len(workers), queued=queued)


@router.get("/workers", response_model=WorkersOut, dependencies=[Depends(require_key)])
def workers(service: ServiceDep) -> WorkersOut:
    """Live workers: host, pid, current run, age of the last heartbeat."""
    running = {
        (r.worker or {}).get("name"): r.run_id
        for r in service.store.all()
        if r.status == RunStatus.RUNNING
    }
    return WorkersOut(
        workers=[
            WorkerOut(
                name=w["name"],
                host=w["host"],
                pid=int(w["pid"]),
                heartbeat_age_s=round(max(0.0, now() - float(w["heartbeat"])), 3),
                current_run=running.get(w["name"]),
                output_dir=w.get("output_dir", ""),
            )
            for w in service.store.workers()
        ]
    )
