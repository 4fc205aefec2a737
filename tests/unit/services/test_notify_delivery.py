"""Sending one message as a real receiver (an HTTP server on loopback) allows: a 429's wait
(``retry_after`` or ``Retry-After``) then the same message, bounded retries with back-off on
5xx or no connection, a target refused for good on 401/403/404, and log lines that name a
target by kind and name, never by URL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from services.notify.delivery import Outcome, RetryPolicy, deliver
from services.notify.targets import Request
from services.settings import NotifyTarget
from tests.notify_receiver import Answer, Receiver
from tests.servers import free_port

FAST = RetryPolicy(tries=5, backoff_s=0.02, backoff_max_s=0.1, timeout_s=5)
BODY = Request(b'{"type": "run.finished.v1"}', {"Content-Type": "application/json"})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as http:
        yield http


def send(
    client: httpx.Client, url: str, lines: list[str], stop: threading.Event | None = None
) -> Outcome:
    target = NotifyTarget("webhook", url, name="ci", index=2)
    return deliver(
        client,
        target,
        BODY,
        stop=stop or threading.Event(),
        log=lines.append,
        what="run.finished.v1 1-0",
        policy=FAST,
    )


def test_a_2xx_is_delivered_once(receiver: Receiver, client: httpx.Client) -> None:
    lines: list[str] = []
    assert send(client, receiver.url(), lines) is Outcome.DELIVERED
    [got] = receiver.requests("/hook")
    assert got.body == BODY.body and got.headers["content-type"] == "application/json"
    assert lines == []


@pytest.mark.parametrize("header", [False, True])
def test_a_429_waits_as_asked_then_sends_the_same_message(
    receiver: Receiver, client: httpx.Client, header: bool
) -> None:
    receiver.answer("/hook", Answer(429, retry_after=0.4, header=header))
    started = time.monotonic()
    assert send(client, receiver.url(), []) is Outcome.DELIVERED
    first, second = receiver.requests("/hook")
    assert (first.status, second.status) == (429, 200) and first.body == second.body
    assert second.at - first.at >= 0.35 and time.monotonic() - started < 3


def test_5xx_are_retried_with_backoff(receiver: Receiver, client: httpx.Client) -> None:
    receiver.answer("/hook", Answer(500), Answer(503))
    assert send(client, receiver.url(), []) is Outcome.DELIVERED
    assert [r.status for r in receiver.requests("/hook")] == [500, 503, 200]


def test_a_receiver_that_keeps_failing_is_given_up_on_with_a_warning(
    receiver: Receiver, client: httpx.Client
) -> None:
    receiver.always("/hook", Answer(502))
    lines: list[str] = []
    assert send(client, receiver.url(), lines) is Outcome.GAVE_UP
    assert len(receiver.requests("/hook")) == FAST.tries
    assert lines == [
        "warning: notify webhook 'ci' (service.notify[2]): gave up on run.finished.v1 1-0 "
        "after 5 tries (HTTP 502)"
    ]


def test_no_connection_is_retried_then_given_up_on(client: httpx.Client) -> None:
    lines: list[str] = []
    url = f"http://127.0.0.1:{free_port()}/hook"
    assert send(client, url, lines) is Outcome.GAVE_UP
    assert lines == [
        "warning: notify webhook 'ci' (service.notify[2]): gave up on run.finished.v1 1-0 "
        "after 5 tries (no answer (ConnectError))"
    ]
    assert url not in lines[0]


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_refusal_stops_the_target(receiver: Receiver, client: httpx.Client, status: int) -> None:
    receiver.answer("/hook", Answer(status))
    lines: list[str] = []
    assert send(client, receiver.url(), lines) is Outcome.REFUSED
    assert len(receiver.requests("/hook")) == 1
    [line] = lines
    assert line.startswith(f"warning: notify webhook 'ci' (service.notify[2]): the receiver "
                           f"answered HTTP {status} (")  # fmt: skip
    assert line.endswith("sending it nothing more until the notifier restarts")
    assert receiver.url() not in line and str(receiver.port) not in line


def test_another_4xx_skips_the_message(receiver: Receiver, client: httpx.Client) -> None:
    receiver.answer("/hook", Answer(400))
    lines: list[str] = []
    assert send(client, receiver.url(), lines) is Outcome.GAVE_UP
    assert lines == [
        "warning: notify webhook 'ci' (service.notify[2]): the receiver refused "
        "run.finished.v1 1-0 (HTTP 400); skipping it"
    ]


def test_a_stop_ends_the_waits_at_once(receiver: Receiver, client: httpx.Client) -> None:
    receiver.always("/hook", Answer(429, retry_after=60))
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    assert send(client, receiver.url(), [], stop) is Outcome.STOPPED
    assert time.monotonic() - started < 5
