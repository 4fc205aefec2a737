"""``/jobs/{job_id}``: the state and result of an evaluation or a large prediction."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from services.api.deps import JobId, ServiceDep, require_key
from services.api.errors import ApiError
from services.api.schemas import JobOut
from services.tasks import TASKS

router = APIRouter(prefix="/jobs", tags=["jobs"], dependencies=[Depends(require_key)])


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: JobId, service: ServiceDep) -> JobOut:
    """A task's status (``queued``, ``started``, ``finished``, ``failed``) and result."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        job = Job.fetch(job_id, connection=service.queue.queue.connection)
    except NoSuchJobError:
        raise ApiError(404, "not_found", f"no job {job_id!r}") from None
    kind = str(job.meta.get("kind", ""))
    if kind not in TASKS:
        raise ApiError(404, "not_found", f"no job {job_id!r}")
    status = str(getattr(job.get_status(), "value", job.get_status()))
    error = None
    if status == "failed":
        latest = job.latest_result()
        text = (latest.exc_string if latest is not None else None) or ""
        error = text.strip().splitlines()[-1] if text.strip() else "failed"
    result = job.return_value() if status == "finished" else None
    return JobOut(job_id=job_id, status=status, kind=kind, result=result, error=error)
