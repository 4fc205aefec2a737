"""The notifier's loop on a real Redis (the embedded server) and a real receiver: every event
to every target that takes it, in stream order; each entry acknowledged once every target has
it; pending entries read again on start and sent only to the targets that had not marked them;
a run's epochs batched; a refused target left alone; one notifier at a time."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from services.events.schemas import (
    Event,
    RunCanceled,
    RunEpoch,
    RunFailed,
    RunFinished,
    RunStarted,
)
from services.events.stream import STREAM, publish
from services.notify.delivery import RetryPolicy
from services.notify.notifier import (
    CONSUMER,
    GROUP,
    LEASE_KEY,
    Notifier,
    Sender,
    ensure_group,
    sent_key,
)
from services.notify.targets import Entry
from services.settings import NotifyTarget, ServiceSettings
from services.store import connect
from tests.notify_receiver import Answer, Receiver, assert_discord_limits, signed_by

FAST = RetryPolicy(tries=3, backoff_s=0.02, backoff_max_s=0.1, timeout_s=5)
SECRET = "sh4red"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def connection(redis_url: str) -> redis.Redis:
    connection = connect(redis_url)
    ensure_group(connection)
    return connection


def settings(output_dir: Path, *targets: dict[str, Any], every_s: float = 60) -> ServiceSettings:
    return ServiceSettings.from_mapping(
        {"notify": list(targets), "notify_epoch_every_s": every_s}, output_dir=output_dir
    )


@contextlib.contextmanager
def running(
    values: ServiceSettings, redis_url: str, lines: list[str], lease_ttl_s: float = 1.0
) -> Iterator[Notifier]:
    notifier = Notifier(
        values, connect(redis_url), log=lines.append, policy=FAST, lease_ttl_s=lease_ttl_s
    )
    thread = threading.Thread(target=notifier.run)
    thread.start()
    try:
        yield notifier
    finally:
        notifier.stop.set()
        thread.join(20)
        assert not thread.is_alive()


def started(run_id: str) -> RunStarted:
    return RunStarted(run_id=run_id, model="lstm", attempt=1, worker="w", host="h")


def finished(run_id: str) -> RunFinished:
    return RunFinished(run_id=run_id, model="lstm", attempt=1)


def epoch(run_id: str, n: int) -> RunEpoch:
    return RunEpoch(run_id=run_id, epoch=n, max_epochs=10, metrics={"metrics/train/loss": 0.5})


def publish_all(connection: redis.Redis, *events: Event) -> list[str]:
    """Publish ``events``; their stream ids."""
    for event in events:
        publish(connection, event)
    entries = connection.xrange(STREAM)
    return [entry_id.decode() for entry_id, _ in entries][-len(events) :]


def webhook_ids(receiver: Receiver, path: str = "/hook") -> list[str]:
    return [i for r in receiver.accepted(path) for i in r.ids]


def settled(connection: redis.Redis) -> bool:
    """Every entry acknowledged and no mark left."""
    pending = connection.xpending(STREAM, GROUP)["pending"]
    return pending == 0 and not connection.keys("storyqa:notify:sent:*")


def delivered(connection: redis.Redis, entry_id: Any) -> bool:
    """The notifier's group has read the stream up to ``entry_id``."""
    (group,) = [g for g in connection.xinfo_groups(STREAM) if g["name"] == GROUP.encode()]
    return bool(group["last-delivered-id"] == entry_id)


def wait(condition: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_each_target_gets_its_events_in_order_and_every_entry_is_acked(
    redis_url: str, connection: redis.Redis, receiver: Receiver, output_dir: Path
) -> None:
    values = settings(
        output_dir,
        {"kind": "webhook", "url": receiver.url("/hook"), "secret": SECRET},
        {"kind": "discord", "url": receiver.url("/discord"), "events": ["run.failed.v1"]},
    )
    lines: list[str] = []
    with running(values, redis_url, lines):
        events: list[Event] = [started("r1"), epoch("r1", 0), finished("r1")]
        events += [RunFailed(run_id="r2", attempt=1, error_class="crash", message="x" * 9000)]
        events += [RunCanceled(run_id="r3", attempt=1)]
        ids = publish_all(connection, *events)
        receiver.wait_for(lambda: len(webhook_ids(receiver)) == 4 and receiver.accepted("/discord"))
        wait(lambda: settled(connection))
    assert webhook_ids(receiver) == [ids[0], ids[2], ids[3], ids[4]]  # epochs are opt-in
    assert all(signed_by(r, SECRET) for r in receiver.accepted("/hook"))
    assert [json.loads(r.body)["type"] for r in receiver.accepted("/hook")] == [
        "run.started.v1", "run.finished.v1", "run.failed.v1", "run.canceled.v1"
    ]  # fmt: skip
    [failure] = receiver.accepted("/discord")
    assert_discord_limits(failure.json())
    assert lines == [f"notifier: sending the service's events to {values.notify[0].label}, "
                     f"{values.notify[1].label}"]  # fmt: skip


def test_order_is_kept_through_a_429_and_a_500(
    redis_url: str, connection: redis.Redis, receiver: Receiver, output_dir: Path
) -> None:
    receiver.answer("/hook", Answer(429, retry_after=0.3), Answer(500))
    values = settings(output_dir, {"kind": "webhook", "url": receiver.url()})
    with running(values, redis_url, []):
        ids = publish_all(connection, started("r1"), finished("r1"), started("r2"))
        receiver.wait_for(lambda: len(webhook_ids(receiver)) == 3)
        wait(lambda: settled(connection))
    assert webhook_ids(receiver) == ids
    assert [r.status for r in receiver.requests("/hook")] == [429, 500, 200, 200, 200]


def test_pending_entries_go_only_to_the_targets_that_had_not_marked_them(
    redis_url: str, connection: redis.Redis, receiver: Receiver, output_dir: Path
) -> None:
    values = settings(
        output_dir,
        {"kind": "webhook", "url": receiver.url("/a")},
        {"kind": "webhook", "url": receiver.url("/b")},
    )
    first, second = publish_all(connection, started("r1"), finished("r1"))
    # a notifier read both, sent the first to /a and /b and the second to /a only, and died
    connection.xreadgroup(GROUP, CONSUMER, {STREAM: ">"}, count=10)
    connection.sadd(sent_key(values.notify[0]), first, second)
    connection.sadd(sent_key(values.notify[1]), first)
    with running(values, redis_url, []):
        receiver.wait_for(lambda: webhook_ids(receiver, "/b") == [second])
        wait(lambda: settled(connection))
    assert webhook_ids(receiver, "/a") == []


def test_epochs_are_batched_per_run_and_a_runs_end_carries_the_rest(
    redis_url: str, connection: redis.Redis, receiver: Receiver, output_dir: Path
) -> None:
    every = 1.0
    target = {
        "kind": "webhook",
        "url": receiver.url(),
        "events": ["run.epoch.v1", "run.finished.v1"],
    }
    values = settings(output_dir, target, every_s=every)
    with running(values, redis_url, []):
        ids = publish_all(connection, *(epoch("r1", n) for n in range(4)))
        receiver.wait_for(lambda: len(webhook_ids(receiver)) == 4, timeout=5)
        late = publish_all(connection, epoch("r1", 4), epoch("r2", 0), finished("r1"))
        receiver.wait_for(lambda: len(webhook_ids(receiver)) == 7, timeout=5)
        wait(lambda: settled(connection))
    messages = receiver.accepted("/hook")
    assert [m.ids for m in messages] == [ids[:1], ids[1:], [late[1]], [late[0], late[2]]]
    assert messages[1].at - messages[0].at >= every * 0.9  # one message per run per second
    assert [e["epoch"] for e in messages[1].json()] == [1, 2, 3]


def test_a_refused_target_gets_nothing_more_and_its_entries_are_acked(
    redis_url: str, connection: redis.Redis, receiver: Receiver, output_dir: Path
) -> None:
    receiver.answer("/gone", Answer(404))
    values = settings(
        output_dir,
        {"kind": "slack", "url": receiver.url("/gone"), "name": "team"},
        {"kind": "webhook", "url": receiver.url("/hook")},
    )
    lines: list[str] = []
    with running(values, redis_url, lines):
        publish_all(connection, started("r1"), finished("r1"), started("r2"))
        receiver.wait_for(lambda: len(webhook_ids(receiver)) == 3)
        wait(lambda: settled(connection))
    assert len(receiver.requests("/gone")) == 1
    refusals = [line for line in lines if "HTTP 404" in line]
    assert len(refusals) == 1 and refusals[0].startswith("warning: notify slack 'team'")
    assert not any(str(receiver.port) in line for line in lines)


def test_entries_no_target_takes_or_that_are_not_events_are_acked(
    redis_url: str, connection: redis.Redis, receiver: Receiver, output_dir: Path
) -> None:
    values = settings(
        output_dir, {"kind": "webhook", "url": receiver.url(), "events": ["run.failed.v1"]}
    )
    lines: list[str] = []
    with running(values, redis_url, lines):
        publish_all(connection, started("r1"), epoch("r1", 0))
        last = connection.xadd(STREAM, {"event": json.dumps({"type": "run.teleported.v9"})})
        wait(lambda: delivered(connection, last) and settled(connection))
    assert receiver.received == []
    assert (
        "notifier: skipping events of type 'run.teleported.v9' (unknown to this version)" in lines
    )


def test_a_second_notifier_waits_for_the_first(
    redis_url: str, connection: redis.Redis, receiver: Receiver, output_dir: Path
) -> None:
    values = settings(output_dir, {"kind": "webhook", "url": receiver.url()})
    first_lines: list[str] = []
    second_lines: list[str] = []
    with running(values, redis_url, first_lines):
        wait(lambda: connection.exists(LEASE_KEY))
        with running(values, redis_url, second_lines) as second:
            wait(lambda: second_lines)
            assert second_lines == [
                "notifier: another notifier holds the lease (or held it, until it expires); waiting"
            ]
            ids = publish_all(connection, started("r1"))
            receiver.wait_for(lambda: webhook_ids(receiver) == ids)
        assert second.stop.is_set()
    assert not connection.exists(LEASE_KEY)  # released on stopping
    assert len(receiver.accepted("/hook")) == 1


def test_a_sender_that_fails_unexpectedly_stops_the_notifier() -> None:
    def send(target: NotifyTarget, entries: list[Entry]) -> Any:
        raise RuntimeError("a bug")

    stop = threading.Event()
    sender = Sender(NotifyTarget("slack", "https://h/x"), send, lambda *_: None, 60, stop)
    sender.start()
    event = started("r1")
    sender.inbox.put(Entry("1-0", event, event.model_dump_json()))
    sender.join(5)
    assert stop.is_set() and isinstance(sender.error, RuntimeError)
