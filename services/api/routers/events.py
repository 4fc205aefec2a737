"""Server-Sent Events: ``/events`` (every event of the service), ``/runs/{id}/events`` (one
run's, from its first) and ``/runs/{id}/logs/stream`` (its ``run.log`` as it grows).

Each event's ``id`` is its place in its stream (a Redis stream id; for the log, a byte
offset): a client that reconnects with ``Last-Event-ID`` — as a browser's ``EventSource`` does
by itself — gets exactly what it missed, in order, once. A keep-alive comment every 15 s keeps
proxies from closing a quiet stream.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent

from services.api.deps import RunId, ServiceDep, require_key
from services.api.errors import ApiError
from services.events.stream import STREAM, read_after, run_stream
from services.store import RunStatus, get_async

router = APIRouter(tags=["events"], dependencies=[Depends(require_key)])

#: What a stream id looks like (``<ms>-<n>``), or ``0`` / ``$``.
_STREAM_ID = re.compile(r"^(\d+-\d+|\d+|\$)$")
#: Seconds between two looks at a followed log.
LOG_POLL_S = 0.2


async def _known_run(run_id: RunId, service: ServiceDep) -> str:
    """The path's run, checked before the stream starts (404 then, not a broken stream)."""
    await get_async(service.aredis, run_id)
    return run_id


KnownRun = Annotated[str, Depends(_known_run)]


def _after(default: str) -> Any:
    """A dependency: where a stream starts — after the ``Last-Event-ID`` or ``since`` (422,
    before the stream starts, for one that is not an event id), else ``default``."""

    async def after(
        last_event_id: Annotated[str | None, Header()] = None,
        since: Annotated[
            str | None, Query(description="An event id to start after; 0: every event kept")
        ] = None,
    ) -> str:
        chosen = last_event_id or since or default
        if not _STREAM_ID.fullmatch(chosen):
            raise ApiError(
                422, "invalid_request", f"Last-Event-ID/since: {chosen!r} is not an event id"
            )
        return chosen

    return after


async def _log_start(
    last_event_id: Annotated[str | None, Header()] = None,
    offset: Annotated[int | None, Query(ge=0, description="A byte offset to start at")] = None,
) -> int:
    """Where a followed log starts: the ``Last-Event-ID`` (a byte offset), else ``offset``."""
    if last_event_id is not None and not last_event_id.isdigit():
        raise ApiError(422, "invalid_request", "Last-Event-ID: not a byte offset of the log")
    return int(last_event_id) if last_event_id is not None else (offset or 0)


async def _events(service: ServiceDep, stream: str, after: str) -> AsyncIterator[ServerSentEvent]:
    async for entry_id, payload in read_after(service.aredis, stream, after):
        kind = payload.split('"type":"', 1)[-1].split('"', 1)[0]
        yield ServerSentEvent(raw_data=payload, event=kind, id=entry_id)


@router.get("/events", response_class=EventSourceResponse)
async def events(
    service: ServiceDep, after: Annotated[str, Depends(_after("$"))]
) -> AsyncIterator[ServerSentEvent]:
    """Every event of the service as it is published (``event``: its type, e.g.
    ``run.epoch.v1``; ``data``: its JSON, ``services.events.schemas``), from now, or after
    ``since`` or the ``Last-Event-ID``."""
    async for event in _events(service, STREAM, after):
        yield event


@router.get("/runs/{run_id}/events", response_class=EventSourceResponse)
async def run_events(
    run_id: KnownRun, service: ServiceDep, after: Annotated[str, Depends(_after("0"))]
) -> AsyncIterator[ServerSentEvent]:
    """One run's events, from its first (or after ``since`` / the ``Last-Event-ID``)."""
    async for event in _events(service, run_stream(run_id), after):
        yield event


@router.get("/runs/{run_id}/logs/stream", response_class=EventSourceResponse)
async def follow_log(
    run_id: KnownRun, service: ServiceDep, position: Annotated[int, Depends(_log_start)]
) -> AsyncIterator[ServerSentEvent]:
    """The run's ``run.log`` as it grows: ``log`` events (``data``: the new text, as a JSON
    string; ``id``: the byte offset after it), then one ``end`` event once the run has ended
    and all of its log was sent."""
    path = service.output_dir / "runs" / run_id / "run.log"
    while True:
        ended = RunStatus.terminal((await get_async(service.aredis, run_id)).status)
        chunk = _read_from(path, position)
        if chunk:
            complete = chunk[: chunk.rfind(b"\n") + 1] or (chunk if ended else b"")
            if complete:
                position += len(complete)
                text = complete.decode("utf-8", errors="replace")
                yield ServerSentEvent(data=text, event="log", id=str(position))
                continue
        if ended:
            yield ServerSentEvent(data=str(position), event="end", id=str(position))
            return
        await asyncio.sleep(LOG_POLL_S)


def _read_from(path: Path, position: int, limit: int = 1 << 20) -> bytes:
    try:
        with path.open("rb") as handle:
            handle.seek(position)
            return handle.read(limit)
    except OSError:
        return b""
