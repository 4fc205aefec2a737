"""The service's events: how soon an epoch's event reaches a client of the event stream and a
webhook receiver, and how many events a second the stream carries to many clients at once.

One service runs for the whole section (``python -m scripts.service start``, two workers, as
the ``service`` section starts it), with one notification target: a webhook receiver in this
process (a ``ThreadingHTTPServer`` on 127.0.0.1) subscribed to ``run.epoch.v1`` with no
batching (``service.notify_epoch_every_s=0``).

Latency: in each trial two runs train side by side (the tiny LSTM, :data:`EPOCHS` epochs,
both workers busy) while this process watches three things: each run's ``metrics.jsonl``
(every :data:`WATCH_S` s: an epoch ends when its ``metrics/epoch/seconds`` record is written,
after the whole epoch's records are flushed), one client of ``GET /events`` (raw HTTP on
asyncio), and the webhook receiver. An epoch's latency is from its end to the moment its
``run.epoch.v1`` arrived; a trial gives the median and the 95th percentile over both runs'
epochs, and each figure is the median of the trials with its 95% interval. The goal (p95 <
500 ms) is met when the whole interval is below it. The watch itself is coarse by
:data:`WATCH_S`, which makes latencies look up to that much shorter.

Throughput: :data:`SSE_CLIENTS` clients read ``GET /events`` at once; once every one of them
has seen a marker event, this process publishes :data:`BURST` events as fast as Redis takes
them, and the trial lasts until the last client has the last one. Events per second is
``BURST`` over that time, per client; every client must get every event once and in order
(a trial with a loss fails the section).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from scripts.bench.common import BenchmarkRow, estimate_row
from scripts.bench.predict import free_port
from scripts.bench.service import COMMON, HOST, TINY, Service, running_service
from scripts.bench.stats import Goal, median_estimate

SECTION = "events"
LATENCY_GOAL = Goal(500.0, at_least=False)
#: Epochs of each training run of a latency trial.
EPOCHS = 30
#: How often the run folders are watched for an epoch's end.
WATCH_S = 0.005
#: Clients of the throughput trials, and the events of each burst.
SSE_CLIENTS = 50
BURST = 2_000
#: The runs of the latency trials.
EPOCH_EVENT = "run.epoch.v1"
#: Seconds a latency trial may take.
TRIAL_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Settings:
    """Sizes of the section: latency trials, epochs per run, throughput trials."""

    latency_trials: int
    epochs: int
    burst_trials: int
    burst: int


SETTINGS = {  # keyed by --quick
    False: Settings(latency_trials=6, epochs=EPOCHS, burst_trials=6, burst=BURST),
    True: Settings(latency_trials=6, epochs=5, burst_trials=6, burst=300),
}


@dataclass
class Arrivals:
    """When each ``(run_id, epoch)`` ended, and when its event reached each reader."""

    ended: dict[tuple[str, int], float] = field(default_factory=dict)
    sse: dict[tuple[str, int], float] = field(default_factory=dict)
    webhook: dict[tuple[str, int], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, where: dict[tuple[str, int], float], event: dict[str, Any]) -> None:
        if event.get("type") == EPOCH_EVENT:
            with self.lock:
                where.setdefault((event["run_id"], int(event["epoch"])), time.time())

    def latencies(self, where: dict[tuple[str, int], float], runs: set[str]) -> list[float]:
        """Milliseconds from each epoch's end to its event, for ``runs``."""
        with self.lock:
            return [
                (where[key] - ended) * 1000
                for key, ended in self.ended.items()
                if key[0] in runs and key in where
            ]


class Receiver:
    """A webhook receiver on 127.0.0.1 that notes each epoch event's arrival."""

    def __init__(self, arrivals: Arrivals):
        notes = arrivals

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with contextlib.suppress(ValueError):
                    sent = json.loads(body)  # one event, or a batch of a run's epochs
                    for event in sent if isinstance(sent, list) else [sent]:
                        notes.note(notes.webhook, event)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def run(quick: bool = False) -> list[BenchmarkRow]:
    settings = SETTINGS[quick]
    arrivals = Arrivals()
    with (
        tempfile.TemporaryDirectory(prefix="storyqa-bench-events-") as tmp,
        Receiver(arrivals) as receiver,
    ):
        target = f"[{{kind:webhook,url:'{receiver.url}',events:[{EPOCH_EVENT}]}}]"
        extra = (f"service.notify={target}", "service.notify_epoch_every_s=0")
        with running_service(Path(tmp), *extra) as service:
            with _listening(service, arrivals) as listener:
                sse, hook = _latency_trials(service, arrivals, settings, listener)
                listener.stop()
            rates = [_burst(service, settings.burst) for _ in range(settings.burst_trials)]
    return _rows(sse, hook, rates, settings)


def _rows(
    sse: list[list[float]], hook: list[list[float]], rates: list[float], settings: Settings
) -> list[BenchmarkRow]:
    note = (
        f"epoch end -> event, 2 runs training (tiny LSTM, {settings.epochs} epochs each); "
        f"{len(sse)} trials, {sum(map(len, sse))} epochs"
    )
    rows = []
    for reader, trials in (("SSE client", sse), ("webhook receiver", hook)):
        rows += [
            estimate_row(SECTION, f"epoch event to {reader}, median",
                         median_estimate([float(np.median(t)) for t in trials]), "ms", note=note),
            estimate_row(SECTION, f"epoch event to {reader}, p95",
                         median_estimate([float(np.percentile(t, 95)) for t in trials]), "ms",
                         goal=LATENCY_GOAL, note=note),
        ]  # fmt: skip
    rows.append(
        estimate_row(SECTION, f"events to {SSE_CLIENTS} SSE clients", median_estimate(rates),
                     "events/s", note=f"{settings.burst:,} events a burst, to each client; "
                     f"{len(rates)} trials; every event arrived once and in order")
    )  # fmt: skip
    return rows


def _latency_trials(
    service: Service, arrivals: Arrivals, settings: Settings, listener: _Listener
) -> tuple[list[list[float]], list[list[float]]]:
    sse, hook = [], []
    overrides = (*TINY, *COMMON, f"trainer.max_epochs={settings.epochs}")
    for _ in range(settings.latency_trials):
        runs = [service.submit(overrides) for _ in range(2)]
        _watch_until_done(service, runs, arrivals)
        time.sleep(1.0)  # the last events on their way
        expected = {(run_id, e) for run_id in runs for e in range(settings.epochs)}
        if listener.error is not None:
            raise RuntimeError(f"the SSE client failed: {listener.error!r}")
        for reader, arrived in (("SSE client", arrivals.sse), ("webhook", arrivals.webhook)):
            missing = sorted(expected - set(arrived))
            if missing:
                raise RuntimeError(f"epoch events that never reached the {reader}: {missing[:5]}")
        sse.append(arrivals.latencies(arrivals.sse, set(runs)))
        hook.append(arrivals.latencies(arrivals.webhook, set(runs)))
    return sse, hook


def _watch_until_done(service: Service, runs: list[str], arrivals: Arrivals) -> None:
    """Note each epoch's end (its ``metrics/epoch/seconds`` record) until both runs end."""
    offsets = dict.fromkeys(runs, 0)
    deadline = time.monotonic() + TRIAL_TIMEOUT_S
    asked = 0.0
    while True:
        for run_id in runs:
            path = service.run_dir(run_id) / "metrics.jsonl"
            with contextlib.suppress(OSError), path.open("rb") as handle:
                handle.seek(offsets[run_id])
                chunk = handle.read()
                complete = chunk[: chunk.rfind(b"\n") + 1]
                offsets[run_id] += len(complete)
                now = time.time()
                for line in complete.splitlines():
                    record = json.loads(line)
                    if record.get("name") == "metrics/epoch/seconds":
                        with arrivals.lock:
                            arrivals.ended.setdefault((run_id, int(record["step"])), now)
        if time.monotonic() - asked > 0.5:
            asked = time.monotonic()
            statuses = [service.status(run_id)["status"] for run_id in runs]
            if all(s in ("finished", "failed", "canceled") for s in statuses):
                if set(statuses) != {"finished"}:
                    raise RuntimeError(f"a latency run did not finish: {statuses}")
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"latency runs not done within {TRIAL_TIMEOUT_S:.0f} s")
        time.sleep(WATCH_S)


class _Listener:
    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.error: BaseException | None = None

    def stop(self) -> None:
        self.stopped.set()


@contextlib.contextmanager
def _listening(service: Service, arrivals: Arrivals) -> Iterator[_Listener]:
    """One client of ``GET /events`` on a thread, noting each epoch event's arrival."""
    listener = _Listener()
    port = service.http.base_url.port
    assert port is not None

    async def listen() -> None:
        async for payload in _sse_payloads(port, "/events", listener.stopped):
            arrivals.note(arrivals.sse, json.loads(payload))

    def listen_here() -> None:
        try:
            asyncio.run(listen())
        except BaseException as error:  # a dead listener would look like lost events
            listener.error = error
            raise

    thread = threading.Thread(target=listen_here, daemon=True)
    thread.start()
    time.sleep(0.5)  # connected before the first run starts
    try:
        yield listener
    finally:
        listener.stop()
        thread.join(timeout=30)


async def _sse_payloads(port: int, path: str, stopped: threading.Event | None = None) -> Any:
    """The ``data`` of each event of an SSE stream (HTTP/1.0: no chunked framing), until the
    stream ends or ``stopped`` is set (then the connection is closed: a read is never
    cancelled halfway, which would lose what it had read)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    request = f"GET {path} HTTP/1.0\r\nHost: {HOST}\r\nAccept: text/event-stream\r\n\r\n"
    writer.write(request.encode())

    async def close_when_stopped() -> None:
        while stopped is not None and not stopped.is_set():
            await asyncio.sleep(0.2)
        writer.close()

    watcher = asyncio.create_task(close_when_stopped()) if stopped is not None else None
    try:
        await reader.readuntil(b"\r\n\r\n")
        while line := await reader.readline():
            if line.startswith(b"data: "):
                yield line[6:].rstrip(b"\r\n")
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        if watcher is not None:
            watcher.cancel()
        writer.close()


def _burst(service: Service, count: int) -> float:
    """Events per second of one burst of ``count`` events to :data:`SSE_CLIENTS` clients."""
    from services.events.schemas import ServiceHeartbeat
    from services.events.stream import publish
    from services.store import connect

    port = service.http.base_url.port
    assert port is not None
    redis_url = f"unix://{service.out.resolve() / 'service' / 'redis.sock'}"
    connection = connect(redis_url)

    async def client(ready: asyncio.Event, got_marker: list[int]) -> list[int]:
        """Wait for a marker (a heartbeat with ``workers=-1``), then collect the burst's
        events (heartbeats with ``workers=0``, numbered by ``running``)."""
        seen: list[int] = []
        marked = False
        async for payload in _sse_payloads(port, "/events"):
            event = json.loads(payload)
            if event.get("type") != "service.heartbeat.v1":
                continue
            if event["workers"] == -1:
                if not marked:
                    marked = True
                    got_marker.append(1)
                    if len(got_marker) == SSE_CLIENTS:
                        ready.set()
                continue
            if marked and event["workers"] == 0:
                seen.append(int(event["running"]))
                if len(seen) == count:
                    return seen
        return seen

    async def trial() -> float:
        ready, got_marker = asyncio.Event(), list[int]()
        tasks = [asyncio.create_task(client(ready, got_marker)) for _ in range(SSE_CLIENTS)]
        await asyncio.sleep(1.0)
        while not ready.is_set():
            await asyncio.to_thread(
                publish, connection, ServiceHeartbeat(workers=-1, queued=-1, running=-1)
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), 1.0)
        started = time.perf_counter()
        await asyncio.to_thread(_publish_many, connection, count)
        results = await asyncio.wait_for(asyncio.gather(*tasks), 300)
        elapsed = time.perf_counter() - started
        for seen in results:
            if seen != list(range(count)):
                raise RuntimeError(f"a client lost or reordered events: got {len(seen)}")
        return count / elapsed

    try:
        return asyncio.run(trial())
    finally:
        connection.close()


def _publish_many(connection: Any, count: int) -> None:
    from services.events.schemas import ServiceHeartbeat
    from services.events.stream import publish

    for index in range(count):
        publish(connection, ServiceHeartbeat(workers=0, queued=0, running=index))
