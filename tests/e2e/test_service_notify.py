"""The notifier end to end: the embedded Redis, a notifier process (``python -m scripts.service
notifier``) with three targets — a signed webhook (with ``run.epoch.v1``), Discord and Slack —
and a real HTTP receiver on a free loopback port in this process. No training: the test
publishes the events itself, as workers do.

Every event arrives once per target, in stream order, signed (webhook) and within Discord's
limits, through a 429 (``retry_after``) and a 500; a run's epochs come batched; and across a
``kill -9`` of the notifier in the middle of its retries and a restart nothing is lost and
nothing is sent twice (the targets that had an entry before the kill do not get it again).
No URL or secret is ever in the notifier's log.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import subprocess
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
    SplitAccuracy,
    SweepFinished,
)
from services.events.stream import STREAM, publish
from services.notify.notifier import GROUP, LEASE_KEY, SENT_PREFIX
from services.redis_server import EmbeddedRedis
from services.settings import NOTIFY_ENV
from services.store import connect
from tests.e2e.service_helpers import env, service_command
from tests.notify_receiver import Answer, Received, Receiver, assert_discord_limits, signed_by
from tests.servers import HOST, free_port, serving

pytestmark = pytest.mark.slow

SECRET = "e2e-sh4red-s3cret"
SECRET_ENV = "STORYQA_E2E_HOOK_SECRET"
EVERY_S = 1.5
WEBHOOK_EVENTS = (
    "run.started.v1,run.epoch.v1,run.finished.v1,run.failed.v1,run.canceled.v1,sweep.finished.v1"
)


class Notifier:
    """``storyqa-service notifier`` as a process of its own (a process group of its own)."""

    def __init__(self, folder: Path, redis_url: str, receiver: Receiver):
        self.folder, self.receiver = folder, receiver
        targets = (
            f"[{{kind:webhook,url:'{receiver.url('/hook')}',secret:env:{SECRET_ENV},name:e2e,"
            f"events:[{WEBHOOK_EVENTS}]}},{{kind:discord,url:'{receiver.url('/discord')}',"
            f"name:chat}},{{kind:slack,url:'{receiver.url('/slack')}'}}]"
        )
        self.command = service_command(
            "notifier",
            folder / "out",
            f"service.redis_url={redis_url}",
            f"service.notify={targets}",
            f"service.notify_epoch_every_s={EVERY_S}",
            settings=(),
        )
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.folder / f"notifier-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            self.command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**env(), SECRET_ENV: SECRET},
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes], signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                self.kill(process, signal.SIGTERM)

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.folder.glob("*.log")))


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[redis.Redis, Receiver, Notifier]]:
    server = EmbeddedRedis(tmp_path / "out" / "service").start()
    try:
        with Receiver() as receiver:
            notifier = Notifier(tmp_path, server.url, receiver)
            try:
                yield connect(server.url), receiver, notifier
            finally:
                notifier.stop()
    finally:
        server.stop()


def ready(connection: redis.Redis, notifier: Notifier, receiver: Receiver) -> None:
    """Wait until the notifier has made its group and holds the lease."""
    receiver.wait_for(
        lambda: bool(connection.exists(LEASE_KEY)) or notifier.processes[-1].poll() is not None,
        timeout=60,
    )
    assert notifier.processes[-1].poll() is None, notifier.logs()


def publish_all(connection: redis.Redis, *events: Event) -> list[str]:
    for event in events:
        publish(connection, event)
    return [i.decode() for i, _ in connection.xrange(STREAM)][-len(events) :]


def chat_ids(received: list[Received], kind: str) -> list[str]:
    """The stream ids in Discord's embed footers or Slack's sections (``type · id``)."""
    ids = []
    for message in received:
        body: Any = message.json()
        if kind == "discord":
            footers = [embed["footer"]["text"] for embed in body["embeds"]]
        else:
            footers = [re.findall(r"_(\S+ · \S+)_$", b["text"]["text"])[0] for b in body["blocks"]]
        ids += [footer.split(" · ")[1] for footer in footers]
    return ids


def hook_ids(receiver: Receiver) -> list[str]:
    return [i for r in receiver.accepted("/hook") for i in r.ids]


def test_every_event_arrives_once_in_order_across_a_kill(
    parts: tuple[redis.Redis, Receiver, Notifier],
) -> None:
    connection, receiver, notifier = parts
    first = notifier.start()
    ready(connection, notifier, receiver)

    # 1. A run with epochs, its end, a failure, a sweep: through a 429 and a 500.
    receiver.answer("/hook", Answer(429, retry_after=0.3), Answer(500))
    events: list[Event] = [
        RunStarted(run_id="r1", model="lstm", attempt=1, worker="w1", host="h1"),
        *(RunEpoch(run_id="r1", model="lstm", epoch=n, max_epochs=3, metrics={}) for n in range(3)),
        RunFinished(
            run_id="r1",
            model="lstm",
            attempt=1,
            headline={"test": SplitAccuracy(accuracy=0.75, low=0.7, high=0.8, examples=200)},
        ),
        RunFailed(
            run_id="r2", attempt=1, error_class="crash", message="@everyone " + "boom " * 3000
        ),
        SweepFinished(sweep_id="s1", runs=2, finished=1, headline=[{"run": "r1", "test": 0.75}]),
    ]
    ids = publish_all(connection, *events)
    chat = [ids[0], ids[4], ids[5], ids[6]]  # the defaults: no epochs
    receiver.wait_for(lambda: hook_ids(receiver) == ids)
    receiver.wait_for(lambda: chat_ids(receiver.accepted("/discord"), "discord") == chat)
    receiver.wait_for(lambda: chat_ids(receiver.accepted("/slack"), "slack") == chat)

    # 2. The webhook fails while the others take an event; the notifier is killed mid-retry,
    #    another event is published while it is down, and it starts again.
    receiver.always("/hook", Answer(500))
    [failed] = publish_all(connection, RunFailed(run_id="r3", attempt=2, error_class="user",
                                                 message="bad data"))  # fmt: skip
    receiver.wait_for(lambda: any(failed in r.ids for r in receiver.requests("/hook")))
    receiver.wait_for(lambda: failed in chat_ids(receiver.accepted("/discord"), "discord"))
    receiver.wait_for(lambda: failed in chat_ids(receiver.accepted("/slack"), "slack"))
    # ...and marked by both (a notifier killed in the instant before that sends it again)
    receiver.wait_for(
        lambda: marked_by(connection, failed) >= 2 or acknowledged(connection, failed)
    )
    notifier.kill(first, signal.SIGKILL)
    receiver.always("/hook", None)
    [canceled] = publish_all(connection, RunCanceled(run_id="r4", attempt=1, message="by hand"))
    notifier.start()
    ready(connection, notifier, receiver)
    receiver.wait_for(lambda: hook_ids(receiver) == [*ids, failed, canceled], timeout=30)
    everything = [*chat, failed, canceled]
    receiver.wait_for(lambda: chat_ids(receiver.accepted("/discord"), "discord") == everything)
    receiver.wait_for(lambda: chat_ids(receiver.accepted("/slack"), "slack") == everything)
    receiver.wait_for(
        lambda: (
            connection.xpending(STREAM, GROUP)["pending"] == 0
            and not connection.keys("storyqa:notify:sent:*")
        )
    )

    # Once each, in order (checked above by equality); every webhook request signed, the
    # one after the 429 the same message; Discord's limits; the epochs batched.
    hooks = receiver.requests("/hook")
    assert all(signed_by(r, SECRET) for r in hooks)
    assert [r.status for r in hooks[:3]] == [429, 500, 200] and hooks[0].body == hooks[2].body
    assert hooks[1].at - hooks[0].at >= 0.3
    for message in receiver.accepted("/discord"):
        assert_discord_limits(message.json())
        assert message.json()["allowed_mentions"] == {"parse": []}
    for message in receiver.accepted("/slack"):
        assert all(len(b["text"]["text"]) <= 3000 for b in message.json()["blocks"])
    epoch_only = [
        r for r in receiver.accepted("/hook") if r.headers["x-storyqa-event"] == "run.epoch.v1"
    ]
    assert epoch_only[0].ids == [ids[1]]  # the first epoch at once, the next ones batched
    for earlier, later in itertools.pairwise(epoch_only):
        assert later.at - earlier.at >= EVERY_S * 0.9

    logs = notifier.logs()
    assert logs.count("notifier: sending the service's events to webhook 'e2e'") == 2
    for secret in (SECRET, receiver.url("/hook"), receiver.url("/discord"), f":{receiver.port}"):
        assert secret not in logs


def test_start_runs_a_notifier_and_starts_it_again_when_it_dies(tmp_path: Path) -> None:
    """``storyqa-service start`` with ``service.notify``: a notifier beside the API, its
    targets in its environment and never on a command line or in the service's log, started
    again after a ``kill -9``, and stopped with the service."""
    import psutil

    out = tmp_path / "out"
    port = free_port()
    with Receiver() as receiver:
        hook = receiver.url("/hook/t0p-s3cret-t0ken")
        targets = f"[{{kind:webhook,url:'{hook}',secret:env:{SECRET_ENV},name:svc}}]"
        command = service_command(
            "start",
            out,
            f"service.port={port}",
            "service.workers=0",
            f"service.notify={targets}",
            settings=(),
        )
        log = tmp_path / "service.log"
        with serving(
            command, f"http://{HOST}:{port}/healthz", log, env={**env(), SECRET_ENV: SECRET}
        ) as service:
            children = psutil.Process(service.pid).children(recursive=True)
            [notifier] = [c for c in children if "notifier" in c.cmdline()]
            for child in children:
                assert not any(hook in part or SECRET in part for part in child.cmdline())
            assert NOTIFY_ENV in notifier.environ()
            connection = connect(EmbeddedRedis(out / "service").url)
            [first] = publish_all(
                connection, RunStarted(run_id="r1", attempt=1, worker="w", host="h")
            )
            receiver.wait_for(lambda: hook_ids_at(receiver, "/hook/t0p-s3cret-t0ken") == [first])
            # acknowledged: killed in the instant before that, a notifier sends it again (its
            # X-Storyqa-Event-Id tells the receiver), and the check below wants it once
            receiver.wait_for(lambda: connection.xpending(STREAM, GROUP)["pending"] == 0)

            notifier.kill()
            receiver.wait_for(lambda: "starting another" in log.read_text(), timeout=30)
            [second] = publish_all(connection, RunFinished(run_id="r1", attempt=1))
            receiver.wait_for(
                lambda: hook_ids_at(receiver, "/hook/t0p-s3cret-t0ken") == [first, second],
                timeout=30,
            )
            children = psutil.Process(service.pid).children(recursive=True)
        psutil.wait_procs(children, timeout=30)
        assert not any(child.is_running() for child in children)
    text = log.read_text()
    assert "Notify:  webhook 'svc' (service.notify[0])" in text
    assert "warning: the notifier" in text and hook not in text and SECRET not in text
    assert all(signed_by(r, SECRET) for r in receiver.requests("/hook/t0p-s3cret-t0ken"))


def marked_by(connection: redis.Redis, entry: str) -> int:
    """How many targets have marked the stream entry ``entry`` as theirs."""
    keys = connection.keys(f"{SENT_PREFIX}*")
    return sum(bool(connection.sismember(key, entry)) for key in keys)


def acknowledged(connection: redis.Redis, entry: str) -> bool:
    """Whether the notifier has acknowledged ``entry`` (every target had it)."""
    return not connection.xpending_range(STREAM, GROUP, min=entry, max=entry, count=1)


def hook_ids_at(receiver: Receiver, path: str) -> list[str]:
    return [i for r in receiver.accepted(path) for i in r.ids]
