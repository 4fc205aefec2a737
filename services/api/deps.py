"""What routes depend on: the app's store, queue, settings and composer, the API key check
(the key, or a page session's cookie with its CSRF token), and a run id that is safe to use
as a folder name. They are coroutines: none blocks, and a coroutine dependency runs on the
event loop, not in the thread pool."""

from __future__ import annotations

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
from services.web import auth

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
    ``Authorization: Bearer <key>``) or the cookie of a page session (``services.web.auth``);
    401 otherwise. A request authenticated by the cookie that changes something must also carry
    the session's CSRF token (403 ``csrf_failed`` otherwise); one that sends the key need not."""
    service = await get_service(request)
    expected = service.settings.api_key
    if not expected:
        return
    given = auth.header_key(x_api_key, authorization)
    if given is not None and auth.same(given, expected):
        return
    session_id = (
        None if given is not None else await auth.session_of(request, service.aredis, expected)
    )
    if session_id is None:
        raise ApiError(
            401,
            "unauthorized",
            "missing or wrong API key: send X-API-Key (or Authorization: "
            "Bearer) with the service's key",
        )
    auth.check_csrf(request, expected, session_id)


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
