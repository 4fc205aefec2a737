"""The service's FastAPI application: routers, the one error shape, a request id on every
response (``X-Request-ID``), a limit on request bodies (413), the API key on every endpoint
but ``/healthz`` (OpenAPI's ``/docs`` and ``/openapi.json`` included), the web page
(``services.web``: ``GET /``, behind the key too, with its login), and :func:`serve`, which
runs it under uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api import errors
from services.api.deps import Service, require_key
from services.api.routers import compare, events, health, jobs, runs, sweeps
from services.compose import Composer
from services.queue import RunQueue
from services.settings import ServiceSettings
from services.store import connect, connect_async
from services.web import routes as web

#: An incoming ``X-Request-ID`` kept as it is (else a new one).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestLimits:
    """ASGI middleware: an ``X-Request-ID`` on every response (``request.state.request_id``
    for the routes and error handlers), and bodies over
    ``max_bytes`` refused with 413 (by their ``Content-Length``, or as they stream in)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.fullmatch(given) else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                message["headers"] = [*raw, (b"x-request-id", request_id.encode())]
            await send(message)

        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            await self._too_large(request_id, scope, receive, send_with_id)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send_with_id)
        except _TooLarge:
            await self._too_large(request_id, scope, receive, send_with_id)

    async def _too_large(self, request_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        body = errors.error_body(
            request_id,
            "request_too_large",
            f"the request body is over {self.max_bytes} bytes (service.max_body_bytes)",
        )
        await JSONResponse(body, status_code=413)(scope, receive, send)


class _TooLarge(Exception):
    pass


def create_app(settings: ServiceSettings, redis_url: str, composer: Composer) -> FastAPI:
    """The application.

    Args:
        settings: The service's settings.
        redis_url: The queue's Redis.
        composer: Composes and validates runs from overrides (the command line's).
    """
    app = FastAPI(
        lifespan=_heartbeats,
        title="storyqa training service",
        description="Submit, watch, cancel and resume storyqa training runs.",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.service = Service(
        settings, RunQueue(connect(redis_url), settings), composer, connect_async(redis_url)
    )
    errors.install(app)
    for module in (events, runs, sweeps, jobs, compare, health):
        app.include_router(module.router)
    app.include_router(web.router)  # the page: GET /, /ui/..., /login, /logout
    _docs(app)

    app.add_middleware(RequestLimits, max_bytes=settings.max_body_bytes)
    return app


#: Seconds between two ``service.heartbeat.v1`` summaries.
HEARTBEAT_EVERY_S = 30.0


@contextlib.asynccontextmanager
async def _heartbeats(app: FastAPI) -> AsyncIterator[None]:
    """While the API serves: a ``service.heartbeat.v1`` summary (live workers, queued and
    running runs) every :data:`HEARTBEAT_EVERY_S` seconds."""
    task = asyncio.create_task(_beat(app))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await app.state.service.aredis.aclose()


async def _beat(app: FastAPI) -> None:
    import redis

    from services.events.schemas import ServiceHeartbeat
    from services.events.stream import publish

    service: Service = app.state.service
    while True:
        await asyncio.sleep(HEARTBEAT_EVERY_S)
        try:
            summary = await asyncio.to_thread(_summary, service)
            await asyncio.to_thread(publish, service.store.redis, ServiceHeartbeat(**summary))
        except redis.RedisError:
            continue


def _summary(service: Service) -> dict[str, int]:
    statuses = [record.status for record in service.store.all()]
    return {
        "workers": len(service.store.workers()),
        "queued": statuses.count("queued"),
        "running": statuses.count("running"),
    }


def _docs(app: FastAPI) -> None:
    """OpenAPI at ``/openapi.json`` and its page at ``/docs``, behind the API key."""

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_key)])
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(require_key)])
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title)


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Serve ``app`` under uvicorn on ``service.host``:``service.port`` until SIGTERM."""
    import uvicorn

    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
