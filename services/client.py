"""The service's Python client, for notebooks and the ``storyqa-service`` command line::

    from services.client import ServiceClient
    client = ServiceClient()                       # http://127.0.0.1:8765, key from STORYQA_API_KEY
    run = client.submit(["model=lstm", "trainer.max_minutes=5"])
    final = client.wait(run.run_id, on_log=print)  # prints the run's console as it grows
    final.status, final.evaluation
    for event_id, event in client.events():        # every event of the service, live
        print(event.type)

Every error the service answers becomes a :class:`ServiceError` with its ``code``,
``message`` and ``request_id``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from services.api.schemas import (
    Accepted,
    CompareOut,
    JobOut,
    RunList,
    RunOut,
    SweepAccepted,
    SweepOut,
    WorkersOut,
)
from services.events.schemas import RUN_ENDED, AnyEvent, parse_event
from services.settings import API_KEY_ENV
from services.store import RunStatus

#: The local service's address.
DEFAULT_URL: Final = "http://127.0.0.1:8765"
#: The environment variable that names the service's URL.
URL_ENV: Final = "STORYQA_SERVICE_URL"
#: Reconnections of a dropped event stream in a row before giving up.
RECONNECTS: Final = 5


class ServiceError(RuntimeError):
    """An error the service answered, or no answer at all.

    Attributes:
        status: The HTTP status (0: the service did not answer).
        code: The error's code (``not_found``, ``invalid_config``, ``unreachable``, ...).
        message: What went wrong.
        request_id: The request's id, for the service's log.
    """

    def __init__(self, status: int, code: str, message: str, request_id: str = ""):
        super().__init__(message)
        self.status, self.code, self.message, self.request_id = status, code, message, request_id


class ServiceClient:
    """A client of one storyqa service.

    Args:
        url: The service's base URL; default ``STORYQA_SERVICE_URL`` or the local service.
        api_key: Its API key; default ``STORYQA_API_KEY``.
        timeout_s: Seconds to wait for an answer.
    """

    def __init__(self, url: str | None = None, api_key: str | None = None, timeout_s: float = 30.0):
        import httpx

        self.url = (url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        headers = {"X-API-Key": key} if key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request; the decoded answer (JSON, or the ``httpx.Response`` of a file).

        Raises:
            ServiceError: The service answered an error, or did not answer.
        """
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise ServiceError(
                0,
                "unreachable",
                f"no answer from {self.url}: {error} (is the service running? "
                "storyqa-service start)",
            ) from None
        if response.status_code >= 400:
            raise _error(response)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response

    def submit(self, overrides: Sequence[str]) -> Accepted:
        """Queue a run (``train.py``'s overrides)."""
        return Accepted(**self.request("POST", "/runs", json={"overrides": list(overrides)}))

    def sweep(self, overrides: Sequence[str]) -> SweepAccepted:
        """Queue a sweep (``train.py -m``'s overrides)."""
        body = self.request("POST", "/sweeps", json={"overrides": list(overrides)})
        return SweepAccepted(**body)

    def sweep_status(self, sweep_id: str) -> SweepOut:
        """A sweep's runs and comparison."""
        return SweepOut(**self.request("GET", f"/sweeps/{sweep_id}"))

    def status(self, run_id: str) -> RunOut:
        """A run's state."""
        return RunOut(**self.request("GET", f"/runs/{run_id}"))

    def runs(self, status: str | None = None, model: str | None = None) -> list[RunOut]:
        """Runs, newest first."""
        params = {k: v for k, v in {"status": status, "model": model}.items() if v is not None}
        return RunList(**self.request("GET", "/runs", params=params)).runs

    def cancel(self, run_id: str) -> RunOut:
        """Cancel a run (queued: never starts; running: stops at the end of its step)."""
        return RunOut(**self.request("POST", f"/runs/{run_id}/cancel"))

    def resume(self, run_id: str) -> RunOut:
        """Resume a canceled, interrupted or failed run from its last checkpoint."""
        return RunOut(**self.request("POST", f"/runs/{run_id}/resume"))

    def logs(self, run_id: str, *, tail: int = 200, offset: int | None = None) -> tuple[str, int]:
        """The run's log: its last ``tail`` lines, or what follows byte ``offset``; and the
        offset to read on from."""
        params: dict[str, Any] = {"tail": tail} if offset is None else {"offset": offset}
        response = self.request("GET", f"/runs/{run_id}/logs", params=params)
        return response.text, int(response.headers.get("x-log-offset", 0))

    def metrics(self, run_id: str) -> dict[str, list[tuple[int, float]]]:
        """The run's tracked series by name."""
        series: dict[str, list[tuple[int, float]]] = self.request("GET", f"/runs/{run_id}/metrics")[
            "series"
        ]
        return series

    def compare(self, run_ids: Sequence[str]) -> CompareOut:
        """Compare finished runs (the first is the baseline)."""
        return CompareOut(**self.request("POST", "/compare", json={"run_ids": list(run_ids)}))

    def job(self, job_id: str) -> JobOut:
        """An evaluation's or a large prediction's state and result."""
        return JobOut(**self.request("GET", f"/jobs/{job_id}"))

    def workers(self) -> WorkersOut:
        """Live workers."""
        return WorkersOut(**self.request("GET", "/workers"))

    def _sse(
        self, path: str, last_event_id: str | None = None, params: dict[str, Any] | None = None
    ) -> Iterator[ServerSentMessage]:
        """The messages of a Server-Sent Events stream (keep-alive comments as ``None``-typed
        messages, so that a reader can look at its clock)."""
        import httpx

        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        timeout = httpx.Timeout(self._http.timeout.connect, read=None)
        with self._http.stream(
            "GET", path, headers=headers, params=params, timeout=timeout
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise _error(response)
            message = ServerSentMessage()
            for line in response.iter_lines():
                if line.startswith(":"):
                    yield ServerSentMessage(comment=True)
                    continue
                if line == "":
                    if message.data is not None or message.event is not None:
                        yield message
                    message = ServerSentMessage()
                    continue
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "data":
                    message.data = value if message.data is None else f"{message.data}\n{value}"
                elif name == "event":
                    message.event = value
                elif name == "id":
                    message.id = value

    def _reconnecting(
        self, path: str, start: str | None, params: dict[str, Any] | None = None
    ) -> Iterator[ServerSentMessage]:
        """:meth:`_sse`, reconnecting with the last id after a dropped connection (up to
        :data:`RECONNECTS` times in a row)."""
        import httpx

        last, failures = start, 0
        while True:
            try:
                for message in self._sse(path, last, params):
                    failures = 0
                    if message.id is not None:
                        last = message.id
                    yield message
                return
            except (httpx.TransportError, ServiceError) as error:
                if isinstance(error, ServiceError) and error.status not in (0, 502, 503, 504):
                    raise
                failures += 1
                if failures > RECONNECTS:
                    why = f"the stream {path} dropped: {error}"
                    raise ServiceError(0, "unreachable", why) from None
                time.sleep(min(2.0**failures, 10.0))

    def events(
        self, run_id: str | None = None, *, last_event_id: str | None = None
    ) -> Iterator[tuple[str, AnyEvent]]:
        """The service's events (or one run's, from its first), as ``(id, event)``, forever;
        after a dropped connection it goes on from the last id, missing nothing."""
        path = "/events" if run_id is None else f"/runs/{run_id}/events"
        for message in self._reconnecting(path, last_event_id):
            if message.comment or message.data is None or message.id is None:
                continue
            yield message.id, parse_event(message.data)

    def follow_log(self, run_id: str, offset: int = 0) -> Iterator[str]:
        """The run's log from byte ``offset`` as it grows, until the run has ended."""
        import json

        for message in self._reconnecting(f"/runs/{run_id}/logs/stream", None, {"offset": offset}):
            if message.event == "log" and message.data is not None:
                yield str(json.loads(message.data))
            elif message.event == "end":
                return

    def wait(
        self,
        run_id: str,
        *,
        timeout_s: float | None = None,
        on_log: Callable[[str], object] | None = None,
    ) -> RunOut:
        """Follow a run until it ends (finished, failed, canceled or interrupted), reading
        its event stream (or, with ``on_log``, its log stream).

        Args:
            run_id: The run.
            timeout_s: Give up after this long (``TimeoutError``); default never.
            on_log: Called with each new piece of the run's log (its epoch lines).

        Returns:
            The run's final state.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        run = self.status(run_id)
        if RunStatus.terminal(run.status) and on_log is None:
            return run
        if on_log is not None:
            for text in self.follow_log(run_id):
                on_log(text)
                _check(deadline, run_id)
            return self.status(run_id)
        for _, event in self.events(run_id):
            if event.type in RUN_ENDED:
                run = self.status(run_id)
                if RunStatus.terminal(run.status):
                    return run
            _check(deadline, run_id)
        return self.status(run_id)


def _check(deadline: float | None, run_id: str) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise TimeoutError(f"run {run_id} has not ended in time")


@dataclass
class ServerSentMessage:
    """One message of an SSE stream (``comment``: a keep-alive line)."""

    event: str | None = None
    data: str | None = None
    id: str | None = None
    comment: bool = False


def _error(response: Any) -> ServiceError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    return ServiceError(
        response.status_code,
        str(body.get("code", "error")),
        str(body.get("message", response.text[:300])),
        str(body.get("request_id", response.headers.get("x-request-id", ""))),
    )
