"""One error shape for every failure: ``{"code", "message", "request_id"}`` with a fitting
status, for HTTP errors, invalid requests, unknown runs, conflicts, a refused config, Redis
being down (503, never a hang) and anything unexpected (500, no traceback in the answer)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.compose import ComposeError
from services.queue import QueueConflict
from services.store import UnknownRun
from services.web.auth import CsrfRefused
from stories.errors import StoriesError

logger = logging.getLogger(__name__)

#: Status -> code of an error raised as a plain HTTP exception.
CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request_too_large",
    422: "invalid_request",
    503: "unavailable",
}


class ApiError(Exception):
    """An error to answer with ``status``, ``code`` and ``message``."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_body(request_id: str, code: str, message: str) -> dict[str, str]:
    """The JSON of an error."""
    return {"code": code, "message": message, "request_id": request_id}


def respond(request: Request, status: int, code: str, message: str) -> JSONResponse:
    """An error response carrying the request's id."""
    request_id = getattr(request.state, "request_id", "")
    return JSONResponse(
        error_body(request_id, code, message),
        status_code=status,
        headers={"X-Request-ID": request_id},
    )


def _location(error: dict[str, Any]) -> str:
    return ".".join(str(part) for part in error.get("loc", ()))


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    import redis

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return respond(request, error.status, error.code, error.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = CODES.get(error.status_code, "error")
        return respond(request, error.status_code, code, str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        message = f"{_location(first)}: {first.get('msg', 'invalid')}"
        return respond(request, 422, "invalid_request", message)

    @app.exception_handler(UnknownRun)
    async def unknown(request: Request, error: UnknownRun) -> JSONResponse:
        return respond(request, 404, "not_found", f"no run or sweep {error.args[0]!r}")

    @app.exception_handler(QueueConflict)
    async def conflict(request: Request, error: QueueConflict) -> JSONResponse:
        return respond(request, 409, "conflict", str(error))

    @app.exception_handler(CsrfRefused)
    async def csrf(request: Request, error: CsrfRefused) -> JSONResponse:
        return respond(request, 403, "csrf_failed", str(error))

    @app.exception_handler(ComposeError)
    async def refused(request: Request, error: ComposeError) -> JSONResponse:
        return respond(request, 422, "invalid_config", str(error))

    @app.exception_handler(StoriesError)
    async def bad_rows(request: Request, error: StoriesError) -> JSONResponse:
        return respond(request, 422, "invalid_rows", str(error))

    @app.exception_handler(redis.ConnectionError)
    @app.exception_handler(redis.TimeoutError)
    async def redis_down(request: Request, error: Exception) -> JSONResponse:
        return respond(
            request, 503, "redis_unavailable", "the queue's Redis server is unreachable; retry"
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.error(
            "unexpected error on %s: %s: %s", request.url.path, type(error).__name__, error
        )
        return respond(request, 500, "internal_error", f"{type(error).__name__}: see the API's log")
