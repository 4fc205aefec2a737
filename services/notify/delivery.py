"""Sending one message to one target, as its receiver allows:

- 2xx: delivered.
- 429: wait what the receiver asks (``retry_after`` in a JSON body, in seconds, else the
  ``Retry-After`` header), then send the same message again: nothing after it goes first.
- 5xx, a timeout or no connection: up to :attr:`RetryPolicy.tries` tries with an exponential
  back-off, then a ``warning:`` line and the next message.
- 401, 403, 404 (or 410): the target is refused for the rest of the process (one ``warning:``
  line saying why); any other answer: a ``warning:`` line and the next message.

Lines name a target by its kind and name or place (``webhook 'ci' (service.notify[0])``),
never by its URL, and an error by its class only (an exception's text may hold the URL).

Example:
    >>> import httpx
    >>> retry_after(httpx.Response(429, json={"retry_after": 1.5}))
    1.5
    >>> retry_after(httpx.Response(429, headers={"Retry-After": "3"}))
    3.0
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from services.notify.targets import Request
from services.settings import NotifyTarget

if TYPE_CHECKING:
    import httpx

#: Answers after which a target gets nothing more from this process.
REFUSING: frozenset[int] = frozenset({401, 403, 404, 410})


class Outcome(enum.Enum):
    """How sending a message ended."""

    DELIVERED = "delivered"
    #: Not delivered, given up on (the receiver failed, or refused this message).
    GAVE_UP = "gave up"
    #: The receiver refuses the target (401, 403, 404, 410): nothing more goes to it.
    REFUSED = "refused"
    #: The notifier is stopping: not sent, to be sent by the next notifier.
    STOPPED = "stopped"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try.

    Attributes:
        tries: Tries of a message that fails with 5xx or no answer.
        backoff_s: The wait after the first failure; it doubles after each.
        backoff_max_s: The longest wait between two tries.
        rate_limited_max: 429 answers to one message before it is given up on.
        retry_after_max_s: The longest wait a 429 may ask for.
        timeout_s: One request's time limit.
    """

    tries: int = 5
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0
    rate_limited_max: int = 20
    retry_after_max_s: float = 300.0
    timeout_s: float = 10.0

    def backoff(self, failures: int) -> float:
        """The wait after ``failures`` failed tries.

        Example:
            >>> [RetryPolicy().backoff(n) for n in (1, 2, 3, 6)]
            [0.5, 1.0, 2.0, 8.0]
        """
        return min(self.backoff_max_s, self.backoff_s * 2 ** (failures - 1))


def deliver(
    client: httpx.Client,
    target: NotifyTarget,
    request: Request,
    *,
    stop: threading.Event,
    log: Callable[[str], None],
    what: str,
    policy: RetryPolicy | None = None,
) -> Outcome:
    """Send ``request`` to ``target`` until it is delivered or given up on.

    Args:
        client: The HTTP client.
        target: The receiver.
        request: The message.
        stop: Set when the notifier stops: waits end at once (:attr:`Outcome.STOPPED`).
        log: Where ``warning:`` lines go.
        what: The message in a log line (``run.failed.v1 1712-0``).
        policy: Tries and waits (default :class:`RetryPolicy`).
    """
    import httpx

    policy = policy or RetryPolicy()
    failures = rate_limited = 0
    while True:
        try:
            response = client.post(
                target.url, content=request.body, headers=request.headers, timeout=policy.timeout_s
            )
        except httpx.InvalidURL:
            log(f"{_warning(target)}its URL cannot be sent to; sending it nothing more")
            return Outcome.REFUSED
        except httpx.HTTPError as error:
            status, reason = None, f"no answer ({type(error).__name__})"
        else:
            status, reason = response.status_code, f"HTTP {response.status_code}"
        if status is not None and 200 <= status < 300:
            return Outcome.DELIVERED
        if status == 429:
            rate_limited += 1
            if rate_limited >= policy.rate_limited_max:
                log(f"{_warning(target)}gave up on {what}: rate limited {rate_limited} times")
                return Outcome.GAVE_UP
            wait = min(policy.retry_after_max_s, retry_after(response) or 1.0)
            if stop.wait(wait):
                return Outcome.STOPPED
            continue
        if status in REFUSING:
            log(
                f"{_warning(target)}the receiver answered {reason} ({_refusal(status)}); "
                "sending it nothing more until the notifier restarts"
            )
            return Outcome.REFUSED
        if status is not None and status < 500:
            log(f"{_warning(target)}the receiver refused {what} ({reason}); skipping it")
            return Outcome.GAVE_UP
        failures += 1
        if failures >= policy.tries:
            log(f"{_warning(target)}gave up on {what} after {failures} tries ({reason})")
            return Outcome.GAVE_UP
        if stop.wait(policy.backoff(failures)):
            return Outcome.STOPPED


def _warning(target: NotifyTarget) -> str:
    return f"warning: notify {target.label}: "


def _refusal(status: int | None) -> str:
    if status in (401, 403):
        return "not allowed: check the target's URL and token"
    return "no such webhook: check the target's URL, or whether its webhook was deleted"


def retry_after(response: httpx.Response) -> float | None:
    """Seconds a 429 asks to wait: ``retry_after`` of its JSON body (Discord, in seconds),
    else its ``Retry-After`` header (seconds or an HTTP date); ``None`` when it says none."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        value = body.get("retry_after")
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
    header = response.headers.get("Retry-After")
    if header is None:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        from datetime import UTC, datetime

        return max(0.0, (parsedate_to_datetime(header) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None
