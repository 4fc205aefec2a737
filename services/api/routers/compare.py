"""``/compare``: finished runs side by side (the headline, the paired tests, the page)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from services.api.deps import ServiceDep, require_key, safe_id
from services.api.errors import ApiError
from services.api.schemas import CompareOut, CompareRequest
from services.comparisons import compare
from services.store import RunStatus

router = APIRouter(tags=["compare"], dependencies=[Depends(require_key)])


@router.post("/compare", response_model=CompareOut)
def compare_runs(body: CompareRequest, service: ServiceDep) -> CompareOut:
    """Compare finished runs; the first is the baseline. Paired tests only between runs on
    the same examples."""
    for run_id in body.run_ids:
        record = service.store.get(safe_id(run_id, "run"))
        if record.status != RunStatus.FINISHED:
            raise ApiError(409, "conflict", f"run {run_id} is {record.status}, not finished")
    try:
        return CompareOut(**compare(service.output_dir, body.run_ids))
    except ValueError as error:
        raise ApiError(422, "invalid_request", str(error)) from None
