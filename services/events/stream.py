"""The events in Redis: every event goes to the service's stream (``storyqa:events``, capped
at about :data:`STREAM_MAX` entries) and a run's also to its own (``storyqa:events:<run_id>``,
capped at :data:`RUN_STREAM_MAX`), in one transaction. A stream entry's id (``<ms>-<n>``) is
the event's SSE ``id``: a reader that comes back with it gets exactly what followed, in order,
once (:func:`read_after`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Final

from services.events.schemas import Event, RunEvent

if TYPE_CHECKING:
    import redis
    import redis.asyncio

logger = logging.getLogger(__name__)

#: The service's stream.
STREAM: Final = "storyqa:events"
#: Entries a run's own stream keeps (a run's whole life, many times over).
RUN_STREAM_MAX: Final = 10_000
#: Entries the service's stream keeps (about: Redis trims whole nodes).
STREAM_MAX: Final = 100_000
#: The field of an entry that holds the event's JSON.
FIELD: Final = "event"


def run_stream(run_id: str) -> str:
    """A run's own stream."""
    return f"{STREAM}:{run_id}"


def publish(connection: redis.Redis, event: Event, *, max_len: int = STREAM_MAX) -> None:
    """Add ``event`` to the service's stream (and a run's event to the run's stream).

    Never raises for Redis being away: an event is information, and training goes on
    without it (a warning says it was lost).
    """
    import redis as redis_module

    payload = event.model_dump_json()
    try:
        pipe = connection.pipeline()
        pipe.xadd(STREAM, {FIELD: payload}, maxlen=max_len, approximate=True)
        if isinstance(event, RunEvent):
            pipe.xadd(
                run_stream(event.run_id), {FIELD: payload}, maxlen=RUN_STREAM_MAX, approximate=True
            )
        pipe.execute()
    except redis_module.RedisError as error:
        logger.warning("event %s not published (Redis: %s)", event.type, error)


def publish_in(pipeline: Any, event: Event, *, max_len: int = STREAM_MAX) -> None:
    """Add ``event`` within a caller's transaction (it lands with the caller's writes)."""
    payload = event.model_dump_json()
    pipeline.xadd(STREAM, {FIELD: payload}, maxlen=max_len, approximate=True)
    if isinstance(event, RunEvent):
        pipeline.xadd(
            run_stream(event.run_id), {FIELD: payload}, maxlen=RUN_STREAM_MAX, approximate=True
        )


def _decode(entries: Any) -> list[tuple[str, str]]:
    out = []
    for entry_id, fields in entries:
        key = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        raw = fields.get(FIELD.encode(), fields.get(FIELD))
        out.append((key, raw.decode() if isinstance(raw, bytes) else str(raw)))
    return out


async def read_after(
    connection: redis.asyncio.Redis,
    stream: str,
    after: str,
    *,
    block_ms: int = 2_000,
    count: int = 500,
) -> AsyncIterator[tuple[str, str]]:
    """``(id, event JSON)`` of every entry after ``after`` (``0``: from the oldest kept;
    ``$``: only new ones), in order, then each new one as it is added; forever.

    Args:
        connection: An asyncio Redis client.
        stream: The stream.
        after: The last id the reader has.
        block_ms: How long one read waits for new entries (then it reads again); well under
            the client's socket timeout, or a quiet stream would time out.
        count: Entries per read.
    """
    last: str = after
    if last == "$":
        newest = await connection.xrevrange(stream, count=1)
        last = _decode(newest)[0][0] if newest else "0"
    while True:
        found: Any = await connection.xread({stream: last}, count=count, block=block_ms)
        for item in found or []:
            for entry_id, payload in _decode(item[1]):
                last = entry_id
                yield entry_id, payload
