"""``/runs``: submit a run, list and inspect runs, read their metrics, log, report and files,
cancel and resume them, evaluate and predict with a finished one."""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query
from fastapi.responses import FileResponse, PlainTextResponse, Response

from services.api.deps import RunId, ServiceDep, require_key
from services.api.errors import ApiError
from services.api.schemas import (
    Accepted,
    Answer,
    EvaluateRequest,
    JobAccepted,
    MetricsOut,
    PredictOut,
    PredictRequest,
    RunList,
    RunOut,
    SubmitRequest,
)
from services.api.views import run_out
from services.store import RunStatus, get_async, path_inside

router = APIRouter(prefix="/runs", tags=["runs"], dependencies=[Depends(require_key)])


@router.post("", status_code=202, response_model=Accepted)
def submit(body: SubmitRequest, service: ServiceDep) -> Accepted:
    """Queue one run. The config is composed and validated first, as ``train.py`` would:
    a bad key is refused (422, the command line's ``error:`` line) and nothing is queued."""
    run = service.composer.run(body.overrides)
    while service.store.exists(run.run_id):  # ids carry the second and 4 hex digits
        run = service.composer.run(body.overrides)
    (job_id,) = service.queue.submit([run])
    return Accepted(run_id=run.run_id, job_id=job_id, status=RunStatus.QUEUED)


@router.get("", response_model=RunList)
def list_runs(
    service: ServiceDep,
    status: Annotated[str | None, Query(description="Only runs with this status")] = None,
    model: Annotated[str | None, Query(description="Only runs of this model")] = None,
) -> RunList:
    """Runs, newest first (filtered by status and model)."""
    if status is not None and status not in RunStatus.ALL:
        raise ApiError(422, "invalid_request", f"status: one of {', '.join(RunStatus.ALL)}")
    records = [
        r
        for r in service.store.all()
        if (status is None or r.status == status) and (model is None or r.model == model)
    ]
    return RunList(runs=[run_out(r) for r in reversed(records)])


@router.get("/{run_id}", response_model=RunOut)
async def get_run(run_id: RunId, service: ServiceDep) -> Response:
    """A run's status, attempt, worker, heartbeat, progress and last message."""
    record = await get_async(service.aredis, run_id)
    # Serialised once, by the model itself: the hot path of every follower and dashboard.
    return Response(run_out(record).model_dump_json(), media_type="application/json")


def _run_dir(service: ServiceDep, run_id: str) -> Path:
    service.store.get(run_id)  # 404 for a run the service does not know
    return service.output_dir / "runs" / run_id


def _run_file(service: ServiceDep, run_id: str, name: str, what: str) -> Path:
    path = _run_dir(service, run_id) / name
    if not path.is_file():
        raise ApiError(404, "not_found", f"run {run_id} has no {what} yet ({name})")
    return path


@router.get("/{run_id}/metrics", response_model=MetricsOut)
def metrics(run_id: RunId, service: ServiceDep) -> MetricsOut:
    """The run's tracked series (``metrics.jsonl``), by name."""
    path = _run_dir(service, run_id) / "metrics.jsonl"
    series: dict[str, list[tuple[int, float]]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the line being written
            if "step" in record and isinstance(record.get("value"), int | float):
                series.setdefault(record["name"], []).append(
                    (int(record["step"]), float(record["value"]))
                )
    return MetricsOut(run_id=run_id, series=series)


@router.get("/{run_id}/logs", response_class=PlainTextResponse)
def logs(
    run_id: RunId,
    service: ServiceDep,
    tail: Annotated[int, Query(ge=0, le=100_000, description="Last lines")] = 200,
    offset: Annotated[
        int | None, Query(ge=0, description="Bytes from this offset on (to follow)")
    ] = None,
) -> PlainTextResponse:
    """The run's console and log (``run.log``): its last ``tail`` lines, or everything after
    byte ``offset``. ``X-Log-Offset`` is where the next read starts."""
    path = _run_dir(service, run_id) / "run.log"
    data = path.read_bytes() if path.is_file() else b""
    if offset is not None:
        text = data[offset:].decode("utf-8", errors="replace")
    else:
        text = "\n".join(
            data.decode("utf-8", errors="replace").splitlines()[-tail:] if tail else []
        )
        text += "\n" if text else ""
    return PlainTextResponse(text, headers={"X-Log-Offset": str(len(data))})


@router.get("/{run_id}/report")
def report(run_id: RunId, service: ServiceDep) -> FileResponse:
    """The run's ``report.html`` (once it has finished)."""
    return FileResponse(_run_file(service, run_id, "report.html", "report"), media_type="text/html")


@router.get("/{run_id}/files/{path:path}")
def file(run_id: RunId, path: str, service: ServiceDep) -> FileResponse:
    """Any file of the run folder; a path outside it is 404, never the file."""
    run_dir = _run_dir(service, run_id)
    target = path_inside(run_dir, path)
    if target is None or not target.is_file():
        raise ApiError(404, "not_found", f"run {run_id} has no file {path!r}")
    return FileResponse(target)


@router.get("/{run_id}/archive")
def archive(run_id: RunId, service: ServiceDep, background: BackgroundTasks) -> FileResponse:
    """The run folder as ``<run_id>.tar.gz``."""
    run_dir = _run_dir(service, run_id)
    if not run_dir.is_dir():
        raise ApiError(404, "not_found", f"run {run_id} has no folder yet")
    handle, name = tempfile.mkstemp(suffix=".tar.gz")
    os.close(handle)
    with tarfile.open(name, "w:gz") as tar:
        tar.add(run_dir, arcname=run_id)
    background.add_task(os.unlink, name)
    return FileResponse(name, media_type="application/gzip", filename=f"{run_id}.tar.gz")


@router.post("/{run_id}/cancel", response_model=RunOut)
def cancel(run_id: RunId, service: ServiceDep) -> RunOut:
    """A queued run never starts; a running one stops at the end of its current step (its
    checkpoints, manifest and sinks written), then is ``canceled``; it is killed if it has
    not stopped within ``service.cancel_grace_s`` (its status says so). 409 once ended."""
    record = service.queue.cancel(run_id)
    if record.terminal and record.sweep_id:
        from services.queue import finish_sweep_if_done

        finish_sweep_if_done(service.store, record.sweep_id, service.output_dir)
    return run_out(record)


@router.post("/{run_id}/resume", response_model=RunOut)
def resume(run_id: RunId, service: ServiceDep) -> RunOut:
    """Queue a canceled, interrupted or failed run again: it continues from its last
    checkpoint and ends with exactly the metrics of an uninterrupted run. 409 otherwise."""
    return run_out(service.queue.resume(run_id))


def _finished(service: ServiceDep, run_id: str) -> Path:
    record = service.store.get(run_id)
    if record.status != RunStatus.FINISHED:
        raise ApiError(409, "conflict", f"run {run_id} is {record.status}, not finished")
    return service.output_dir / "runs" / run_id


@router.post("/{run_id}/evaluate", status_code=202, response_model=JobAccepted)
def evaluate(run_id: RunId, body: EvaluateRequest, service: ServiceDep) -> JobAccepted:
    """Evaluate the run's best checkpoint on ``splits`` of its data, or on uploaded ``rows``,
    as a job on a worker (``GET /jobs/{job_id}`` gives the accuracies)."""
    from services.tasks import enqueue_task

    _finished(service, run_id)
    if body.splits is not None and body.rows is not None:
        raise ApiError(422, "invalid_request", "give splits or rows, not both")
    rows = None if body.rows is None else [r.model_dump(exclude_none=True) for r in body.rows]
    job_id = enqueue_task(
        service.queue,
        "evaluate",
        run_id=run_id,
        splits=body.splits,
        rows=rows,
        allow_unknown_words=body.allow_unknown_words,
    )
    return JobAccepted(job_id=job_id, status="queued", kind="evaluate")


@router.post(
    "/{run_id}/predict",
    response_model=PredictOut | JobAccepted,
    responses={202: {"model": JobAccepted, "description": "A large request, run as a job"}},
)
def predict(run_id: RunId, body: PredictRequest, service: ServiceDep) -> PredictOut | JobAccepted:
    """Answer rows with the run's best checkpoint: up to ``service.predict_inline_rows`` at
    once, a larger request as a job (202; the answers land in the run's
    ``predictions/<job_id>.jsonl``)."""
    from fastapi.responses import JSONResponse

    from services.tasks import enqueue_task, predict_rows

    run_dir = _finished(service, run_id)
    rows = [r.model_dump(exclude_none=True) for r in body.rows]
    if len(rows) <= service.settings.predict_inline_rows:
        answers = predict_rows(run_dir, rows, body.allow_unknown_words)
        return PredictOut(run_id=run_id, predictions=[Answer(**a) for a in answers])
    job_id = enqueue_task(
        service.queue,
        "predict",
        run_id=run_id,
        rows=rows,
        allow_unknown_words=body.allow_unknown_words,
    )
    accepted = JobAccepted(job_id=job_id, status="queued", kind="predict")
    return JSONResponse(accepted.model_dump(), status_code=202)  # type: ignore[return-value]
