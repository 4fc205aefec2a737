"""What routes depend on: the app's store, queue, settings and composer, the API key check,
and a run id that is safe to use as a folder name. They are coroutines: none blocks, and a
coroutine dependency runs on the event loop, not in the thread pool."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi import Path as PathParam

from services.api.errors import ApiError
from services.compose import Composer
from services.queue import RunQueue
from services.settings import ServiceSettings
from services.store import RunStore

#: What a run id may look like (a run folder's name): no ``/``, no ``..``.
RUN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")


@dataclass
class Service:
    """What the application holds (``app.state.service``).

    Attributes:
        settings: The service's settings.
        queue: The run queue (its store inside).
        composer: Composes runs from overrides.
        aredis: An asyncio Redis client, for the routes that are coroutines.
    """

    settings: ServiceSettings
    queue: RunQueue
    composer: Composer
    aredis: Any = None

    @property
    def store(self) -> RunStore:
        return self.queue.store

    @property
    def output_dir(self) -> Path:
        return self.settings.output_dir.resolve()


async def get_service(request: Request) -> Service:
    """The application's :class:`Service`."""
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


async def require_key(
    request: Request,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """When the service has an API key, the request must carry it (``X-API-Key: <key>`` or
    ``Authorization: Bearer <key>``); 401 otherwise."""
    expected = (await get_service(request)).settings.api_key
    if not expected:
        return
    given = x_api_key
    if given is None and authorization and authorization.lower().startswith("bearer "):
        given = authorization[7:].strip()
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(
            401,
            "unauthorized",
            "missing or wrong API key: send X-API-Key (or Authorization: "
            "Bearer) with the service's key",
        )


def safe_id(value: str, what: str) -> str:
    """``value`` when it can name a folder or a job (404 otherwise: never a path)."""
    if not RUN_ID.fullmatch(value) or ".." in value:
        raise ApiError(404, "not_found", f"no {what} {value!r}: not a {what} id")
    return value


async def run_id_param(run_id: Annotated[str, PathParam()]) -> str:
    """The path's run id."""
    return safe_id(run_id, "run")


async def sweep_id_param(sweep_id: Annotated[str, PathParam()]) -> str:
    """The path's sweep id."""
    return safe_id(sweep_id, "sweep")


async def job_id_param(job_id: Annotated[str, PathParam()]) -> str:
    """The path's job id."""
    return safe_id(job_id, "job")


RunId = Annotated[str, Depends(run_id_param)]
SweepId = Annotated[str, Depends(sweep_id_param)]
JobId = Annotated[str, Depends(job_id_param)]
