"""``/sweeps``: queue one run per combination of a sweep's values, grouped; its comparison is
written when the last run ends."""

from __future__ import annotations

import secrets
from datetime import datetime

from fastapi import APIRouter, Depends

from services.api.deps import ServiceDep, SweepId, require_key
from services.api.schemas import Accepted, SweepAccepted, SweepOut, SweepRequest
from services.api.views import run_out
from services.store import RunStatus

router = APIRouter(prefix="/sweeps", tags=["sweeps"], dependencies=[Depends(require_key)])


@router.post("", status_code=202, response_model=SweepAccepted)
def submit_sweep(body: SweepRequest, service: ServiceDep) -> SweepAccepted:
    """Queue a sweep (``["model=lstm,transformer", "seed=0,1,2"]``): every combination is
    composed and validated before any is queued; they land together."""
    runs = []
    taken: set[str] = set()
    for overrides in service.composer.sweep(body.overrides):
        run = service.composer.run(overrides)
        while run.run_id in taken or service.store.exists(run.run_id):
            run = service.composer.run(overrides)
        taken.add(run.run_id)
        runs.append(run)
    sweep_id = f"sweep-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    job_ids = service.queue.submit(runs, sweep=(sweep_id, " ".join(body.overrides)))
    return SweepAccepted(
        sweep_id=sweep_id,
        runs=[
            Accepted(run_id=run.run_id, job_id=job_id, status=RunStatus.QUEUED)
            for run, job_id in zip(runs, job_ids, strict=True)
        ],
    )


@router.get("/{sweep_id}", response_model=SweepOut)
def get_sweep(sweep_id: SweepId, service: ServiceDep) -> SweepOut:
    """A sweep's runs and, once the last has ended, its comparison page."""
    sweep = service.store.sweep(sweep_id)
    return SweepOut(
        sweep_id=sweep_id,
        command=sweep["command"],
        runs=[run_out(service.store.get(run_id)) for run_id in sweep["run_ids"]],
        comparison=sweep["comparison"],
        comparison_error=sweep["comparison_error"],
    )
