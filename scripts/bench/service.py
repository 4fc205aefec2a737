"""The training service against the command line: how long a run takes to start and to end
through ``storyqa-service`` and through ``scripts/train.py``, and how fast the API answers
status requests while its workers train.

One service runs for the whole section, as a user starts it (``python -m scripts.service start
paths.output_dir=<dir> service.port=<free port> service.workers=2``: the embedded Redis, the API
on 127.0.0.1 and two workers), in a scratch folder that is also the command line's
``paths.output_dir``, so that both sides read the same dataset and write to the same registry.
It is ready when ``/healthz`` and then ``/readyz`` (a worker is up) answer 200, and is stopped
with SIGTERM at the end whatever happens (it stops its workers, API and Redis).

The measured run is the ``lstm`` preset on the ``default`` data, 1 epoch, evaluated on every
split (the shortest real run); with ``--quick``, an LSTM of 8 units on the ``tiny`` data. Both
sides run it with the same overrides (``tracker.sinks=[jsonl]``, 1 thread, no progress bars):
the service through ``POST /runs``, the command line as ``python scripts/train.py <overrides>
paths.output_dir=<dir>`` in a fresh process. One untimed run through the service first builds
the dataset and warms the disk cache. Then the two sides take turns
(:func:`~scripts.bench.trials.take_turns`: :data:`PAIRS` pairs A B, B A, ..., one run at a time,
the other worker idle), and each trial gives two figures, in wall time:

* time to the first epoch: from just before ``POST /runs`` (just before the process starts)
  to the first ``metrics/val/accuracy`` record of step 0 in the run's ``metrics.jsonl`` (both
  read every :data:`POLL_S` s; the service is asked for the run's status every
  :data:`STATUS_POLL_S` s). The overhead is the median of the pairs' ``service - command
  line`` seconds with its 95% interval; the goal is met when the whole interval is below it.
* the whole run: to the status ``finished`` (its ``ended_at``, the moment the API starts
  saying so) against the process' exit. The ratio is the median of the pairs' ``command line
  seconds / service seconds`` with its 95% interval, met when the interval's lower end clears
  the goal.

Status requests: two runs train on the two workers (the tiny LSTM, told to train for many
epochs and cancelled afterwards; both past their first epoch), while :data:`CLIENTS` concurrent
clients (asyncio tasks of this process, a keep-alive HTTP/1.1 connection each on loopback,
written on asyncio's streams: httpx's ``AsyncClient`` takes a whole core at this rate, from
the API it measures) send ``GET /runs/{id}`` for the two runs back to back, each
trial a fixed number of requests or a time limit, whichever comes first, after an untimed
warm-up. Each trial gives requests per second (answers 200 over the trial's wall time) and
its 95th-percentile latency as a client sees it (from sending to the whole answer, including
this process' own scheduling: the clients, the API and both trainings share the machine);
each figure is the median of the trials with its 95% interval, and the latency goal is met
when the whole interval is below it. With clients that never pause, latency is about
``CLIENTS / (requests per second)``.

CPU time is not reported: a service run spends it in the service's processes, not this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from scripts.bench.common import BenchmarkRow, estimate_row, paired_ratio, seconds
from scripts.bench.predict import free_port
from scripts.bench.stats import Goal, median_estimate
from scripts.bench.trials import Sample, Side, take_turns

SECTION = "service"
#: Time to the first epoch through the service, less through the command line (seconds).
OVERHEAD_GOAL = Goal(2.0, at_least=False)
#: Command line seconds / service seconds of the whole run.
RATIO_GOAL = Goal(0.97)
#: 95th-percentile latency of ``GET /runs/{id}`` (milliseconds).
LATENCY_GOAL = Goal(50.0, at_least=False)
#: Pairs of runs (6 give a 97% interval between the lowest and the highest pair).
PAIRS = 6
WORKERS = 2
CLIENTS = 100
HOST = "127.0.0.1"
#: How often a trial reads the run's ``metrics.jsonl``, and asks the service for its status
#: (a user's client asks every second).
POLL_S = 0.05
STATUS_POLL_S = 0.5
#: How often each client of the paced status trials asks (as ``submit --wait`` does).
PACE_S = 1.0
#: The record whose step 0 ends the first epoch.
FIRST_EPOCH = "metrics/val/accuracy"
TERMINAL = frozenset({"finished", "failed", "canceled", "interrupted"})
#: Seconds the service may take to answer ``/readyz``, and to stop.
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 180.0
#: Seconds the two training runs may take to pass their first epoch, and to stop once
#: cancelled.
LOAD_RUNS_TIMEOUT_S = 300.0

#: Settings of every run of the section (the same on both sides).
COMMON = ("tracker.sinks=[jsonl]", "trainer.num_threads=1", "trainer.progress=false",
          "progress=false")  # fmt: skip
TINY = ("model=lstm", "model.hidden=8", "model.embedding_dim=8", "data.size=tiny")
#: The runs that keep the workers training during the status requests: many epochs (bounded
#: by ``trainer.max_minutes``), cancelled once the requests are done.
LOAD_RUN = (*TINY, *COMMON, "trainer.max_epochs=100000", "trainer.max_minutes=10")


@dataclass(frozen=True)
class Settings:
    """Sizes of the section.

    Attributes:
        run: Overrides of the measured run.
        what: The measured run, for notes.
        run_timeout_s: Longest a measured run may take.
        load_trials: Timed trials of status requests.
        load_requests: Requests per trial (at most).
        load_seconds: Seconds per trial (at most).
        paced_seconds: Seconds per trial of clients that each ask every :data:`PACE_S` s.
    """

    run: tuple[str, ...]
    what: str
    run_timeout_s: float
    load_trials: int
    load_requests: int
    load_seconds: float
    paced_seconds: float


SETTINGS = {  # keyed by --quick
    False: Settings(("model=lstm", "data.size=default", *COMMON, "trainer.max_epochs=1"),
                    "lstm preset, all_4dir-default, 1 epoch", 900.0, 12, 2_000, 20.0, 10.0),
    True: Settings((*TINY, *COMMON, "trainer.max_epochs=1"),
                   "lstm (8 units), all_4dir-tiny, 1 epoch", 300.0, 6, 500, 10.0, 4.0),
}  # fmt: skip


@dataclass(frozen=True)
class RunTiming:
    """One measured run, in wall seconds from its start.

    Attributes:
        first_epoch: To its first epoch's validation accuracy in ``metrics.jsonl``.
        whole: To its end.
    """

    first_epoch: float
    whole: float


class FirstEpoch:
    """Reads a run's ``metrics.jsonl`` as it grows until the first epoch's record appears.

    Args:
        path: The file (it may not exist yet); ``None`` until the run folder is known.
    """

    def __init__(self, path: Path | None = None):
        self.path = path
        self._offset = 0
        self._partial = b""

    def reached(self) -> bool:
        """Whether the record of step 0 of :data:`FIRST_EPOCH` has been written."""
        if self.path is None or not self.path.is_file():
            return False
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            if FIRST_EPOCH.encode() not in line:
                continue
            record = json.loads(line)
            if record.get("name") == FIRST_EPOCH and record.get("step") == 0:
                return True
        return False


def environment() -> dict[str, str]:
    """The environment of the service and of ``train.py``: this one (the package is installed,
    so ``python -m scripts.service`` runs from any folder; each keeps TensorFlow's start-up log
    off the console itself, see :mod:`trainers.keras.startup_log`)."""
    return dict(os.environ)


class Service:
    """A running service: its HTTP client and output folder.

    Args:
        http: A client of its API.
        out: Its ``paths.output_dir``.
    """

    def __init__(self, http: httpx.Client, out: Path):
        self.http, self.out = http, out

    def submit(self, overrides: Sequence[str]) -> str:
        response = self.http.post("/runs", json={"overrides": list(overrides)})
        if response.status_code != 202:
            raise RuntimeError(f"POST /runs: {response.status_code} {response.text[:500]}")
        return str(response.json()["run_id"])

    def status(self, run_id: str) -> dict[str, Any]:
        response = self.http.get(f"/runs/{run_id}")
        if response.status_code != 200:
            raise RuntimeError(f"GET /runs/{run_id}: {response.status_code} {response.text}")
        return dict(response.json())

    def run_dir(self, run_id: str) -> Path:
        return self.out / "runs" / run_id

    def timed_run(self, overrides: Sequence[str], timeout: float) -> RunTiming:
        """Submit a run and follow it to its end (``finished``, else an error)."""
        deadline = time.monotonic() + timeout
        posted, started = time.time(), time.perf_counter()
        run_id = self.submit(overrides)
        first = FirstEpoch(self.run_dir(run_id) / "metrics.jsonl")
        first_epoch = None
        asked = 0.0
        while True:
            if first_epoch is None and first.reached():
                first_epoch = time.perf_counter() - started
            if time.monotonic() - asked >= STATUS_POLL_S:  # its end is ended_at: no hurry
                asked = time.monotonic()
                status = self.status(run_id)
                if status["status"] in TERMINAL:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {run_id} not done within {timeout:.0f} s: {status}")
            time.sleep(POLL_S)
        if status["status"] != "finished" or first_epoch is None:
            raise RuntimeError(f"run {run_id} ended {status['status']}: {status['message']}")
        return RunTiming(first_epoch, float(status["ended_at"]) - posted)


@contextlib.contextmanager
def running_service(folder: Path, *extra: str) -> Iterator[Service]:
    """``storyqa-service start`` with :data:`WORKERS` workers (and ``extra`` overrides), its
    output in ``folder/out``, on a free port of 127.0.0.1; waited for (``/healthz``, then
    ``/readyz``), stopped at the end (SIGTERM, then SIGKILL to whatever is left of its process
    group)."""
    port = free_port()
    out = folder / "out"
    command = [sys.executable, "-m", "scripts.service", "start", f"paths.output_dir={out}",
               f"service.port={port}", f"service.workers={WORKERS}", *extra]  # fmt: skip
    log = folder / "service.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, cwd=folder, env=environment(),
            start_new_session=True,
        )  # fmt: skip
    http = httpx.Client(base_url=f"http://{HOST}:{port}", timeout=30)
    try:
        _wait_ready(http, process, log)
        yield Service(http, out)
    finally:
        http.close()
        _stop(process)


def _wait_ready(http: httpx.Client, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    for path in ("/healthz", "/readyz"):
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the service exited with {process.returncode}:\n{_tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                if http.get(path, timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the service did not answer {path}:\n{_tail(log)}")
            time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    finally:  # its children end with it (they are told to, by the kernel, when it dies)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.is_file() else ""


def cli_run(out: Path, overrides: Sequence[str], timeout: float) -> RunTiming:
    """``python scripts/train.py <overrides> paths.output_dir=<out>`` in a fresh process,
    followed to its exit (code 0, else an error). Its run folder is the one that appears
    in ``out/runs`` meanwhile."""
    runs = out / "runs"
    before = set(os.listdir(runs)) if runs.is_dir() else set()
    log = out.parent / "train.log"
    script = Path(__file__).resolve().parents[1] / "train.py"
    command = [sys.executable, str(script), *overrides, f"paths.output_dir={out}"]
    first = FirstEpoch()
    first_epoch = None
    ended: list[float] = []
    started = time.perf_counter()
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, cwd=out.parent, env=environment(),
            start_new_session=True,
        )  # fmt: skip
    waiter = threading.Thread(target=lambda: ended.append(_exit_time(process)), daemon=True)
    waiter.start()
    try:
        deadline = time.monotonic() + timeout
        while waiter.is_alive():
            if first.path is None and runs.is_dir():
                new = set(os.listdir(runs)) - before
                if len(new) > 1:
                    raise RuntimeError(f"more than one new run folder in {runs}: {sorted(new)}")
                if new:
                    first.path = runs / new.pop() / "metrics.jsonl"
            if first_epoch is None and first.reached():
                first_epoch = time.perf_counter() - started
            if time.monotonic() > deadline:
                raise RuntimeError(f"train.py not done within {timeout:.0f} s:\n{_tail(log)}")
            waiter.join(POLL_S)
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        waiter.join(30)
    if process.returncode != 0 or first_epoch is None:
        raise RuntimeError(
            f"train.py exited with {process.returncode} (first epoch seen: "
            f"{first_epoch is not None}):\n{_tail(log)}"
        )
    return RunTiming(first_epoch, ended[0] - started)


def _exit_time(process: subprocess.Popen[bytes]) -> float:
    process.wait()
    return time.perf_counter()


class RunSide(Side):
    """One side of the run comparison: each trial is one whole run; the run's timings are
    kept in :attr:`timings` (in the order taken) and its whole seconds are the trial's
    wall time.

    Args:
        name: What the side is, for messages.
        run: Runs the measured run once.
    """

    def __init__(self, name: str, run: Callable[[], RunTiming]):
        self.name = name
        self.run = run
        self.timings: list[RunTiming] = []

    def result(self) -> Sample:
        start = Sample.now()
        timing = self.run()
        self.timings.append(timing)
        return Sample(timing.whole, Sample.now().since(start).cpu)


def run(quick: bool = False) -> list[BenchmarkRow]:
    settings = SETTINGS[quick]
    with tempfile.TemporaryDirectory(prefix="storyqa-bench-service-") as scratch:
        folder = Path(scratch)
        print("service: starting the service...", file=sys.stderr, flush=True)
        with running_service(folder) as service:
            print(f"service: {settings.what}, building its data...", file=sys.stderr, flush=True)
            service.timed_run(settings.run, settings.run_timeout_s)  # untimed: data, caches
            print(f"service: {PAIRS} pairs of runs, in turns...", file=sys.stderr, flush=True)
            rows = _runs(service, settings)
            print(f"service: status requests, {CLIENTS} clients...", file=sys.stderr, flush=True)
            rows += _status_requests(service, settings)
    return rows


def _runs(service: Service, settings: Settings) -> list[BenchmarkRow]:
    cli = RunSide("train.py", lambda: cli_run(service.out, settings.run, settings.run_timeout_s))
    served = RunSide("service", lambda: service.timed_run(settings.run, settings.run_timeout_s))
    paired = take_turns(cli, served, pairs=PAIRS, warmup=0)
    cli_first = [t.first_epoch for t in cli.timings]
    served_first = [t.first_epoch for t in served.timings]
    overhead = median_estimate([s - c for s, c in zip(served_first, cli_first, strict=True)])
    note = f"{settings.what}; wall time, {PAIRS} runs each in turns"
    return [
        estimate_row(SECTION, "first epoch, train.py", median_estimate(cli_first), "s",
                     note=f"{note}; from the process' start"),
        estimate_row(SECTION, "first epoch, service", median_estimate(served_first), "s",
                     note=f"{note}; from POST /runs"),
        estimate_row(SECTION, "first epoch, service - train.py", overhead, "s",
                     goal=OVERHEAD_GOAL, note="median of the pairs' differences"),
        estimate_row(SECTION, "whole run, train.py", median_estimate(seconds(paired.first, "wall")),
                     "s", note=f"{note}; to the process' exit"),
        estimate_row(SECTION, "whole run, service",
                     median_estimate(seconds(paired.second, "wall")), "s",
                     note=f"{note}; to status finished"),
        estimate_row(SECTION, "whole run, train.py / service",
                     paired_ratio(paired.first, paired.second, "wall"), "x", goal=RATIO_GOAL,
                     note="median of the pairs' train.py / service wall seconds"),
    ]  # fmt: skip


def _status_requests(service: Service, settings: Settings) -> list[BenchmarkRow]:
    run_ids: list[str] = []
    try:
        for _ in range(WORKERS):
            run_ids.append(service.submit(LOAD_RUN))
        _wait_training(service, run_ids)
        paths = [f"/runs/{run_id}" for run_id in run_ids]
        port = service.http.base_url.port
        assert port is not None
        trials = asyncio.run(_load(port, paths, settings))
        paced = asyncio.run(_paced_load(port, paths, settings))
        ended = {r: s for r in run_ids if (s := service.status(r)["status"]) != "running"}
        if ended:
            raise RuntimeError(f"a training run stopped during the status requests: {ended}")
    finally:
        _cancel(service, run_ids)
    rates = [ok / wall for ok, _, wall, _ in trials]
    p95 = [float(np.percentile(ms, 95)) for _, _, _, ms in trials]
    median_ms = [float(np.median(ms)) for _, _, _, ms in trials]
    errors = sum(e for _, e, _, _ in trials)
    note = (
        f"GET /runs/{{id}}, {CLIENTS} concurrent clients, {WORKERS} runs training; "
        f"{len(trials)} trials of {settings.load_requests:,} requests (at most "
        f"{settings.load_seconds:.0f} s); {errors} errors"
    )
    return [
        estimate_row(SECTION, f"status requests, {CLIENTS} clients", median_estimate(rates),
                     "requests/s", note=note),
        estimate_row(SECTION, "status latency, median", median_estimate(median_ms), "ms",
                     note=note),
        estimate_row(SECTION, "status latency, p95", median_estimate(p95), "ms",
                     goal=LATENCY_GOAL, note=note),
        estimate_row(SECTION, f"status latency, p95, each polling every {PACE_S:g} s",
                     median_estimate([float(np.percentile(ms, 95)) for *_, ms in paced]), "ms",
                     goal=LATENCY_GOAL, note=(
                         f"GET /runs/{{id}}, {CLIENTS} clients each asking every {PACE_S:g} s "
                         f"(as followers do), {WORKERS} runs training; {len(paced)} trials of "
                         f"{settings.paced_seconds:.0f} s; {sum(e for _, e, _, _ in paced)} "
                         "errors")),
    ]  # fmt: skip


def _wait_training(service: Service, run_ids: list[str]) -> None:
    """Wait until every run has finished its first epoch (so that it is training)."""
    deadline = time.monotonic() + LOAD_RUNS_TIMEOUT_S
    watching = {r: FirstEpoch(service.run_dir(r) / "metrics.jsonl") for r in run_ids}
    while watching:
        for run_id, first in list(watching.items()):
            if first.reached():
                del watching[run_id]
            elif (status := service.status(run_id))["status"] in TERMINAL:
                raise RuntimeError(f"training run {run_id} ended: {status}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"runs {sorted(watching)} did not start training in time")
        time.sleep(0.2)


def _cancel(service: Service, run_ids: list[str]) -> None:
    """Cancel the runs and wait (bounded) until they have stopped."""
    for run_id in run_ids:
        with contextlib.suppress(httpx.HTTPError):
            service.http.post(f"/runs/{run_id}/cancel")
    deadline = time.monotonic() + LOAD_RUNS_TIMEOUT_S
    for run_id in run_ids:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, RuntimeError):
                if service.status(run_id)["status"] in TERMINAL:
                    break
            time.sleep(0.2)


#: One trial of status requests: answers 200, other answers and errors, wall seconds, the
#: latency of each answer 200 in milliseconds.
LoadTrial = tuple[int, int, float, list[float]]
#: Longest a status request may take before it counts as an error.
REQUEST_TIMEOUT_S = 30.0


class Connection:
    """One client's keep-alive HTTP/1.1 connection to the API, sending ``GET`` requests one
    at a time (asyncio streams: a client that costs this process little CPU, so that it
    does not take the machine from the API it measures).

    Args:
        port: The API's port on 127.0.0.1.
        path: What it requests.
    """

    def __init__(self, port: int, path: str):
        self.port = port
        self.request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self) -> int:
        """Send the request and read the whole answer; its status code."""
        if self._streams is None:
            self._streams = await asyncio.open_connection(HOST, self.port)
        reader, writer = self._streams
        try:
            writer.write(self.request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    await reader.readexactly(int(value))
                    return status
            raise OSError(f"an answer without Content-Length: {head[:200]!r}")
        except BaseException:  # the connection is in an unknown state: open a new one
            await self.close()
            raise

    async def close(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _load(port: int, paths: list[str], settings: Settings) -> list[LoadTrial]:
    """An untimed warm-up (it opens the connections), then ``settings.load_trials`` trials,
    on a connection per client (client ``i`` asks for ``paths[i % len(paths)]``)."""
    connections = [Connection(port, paths[i % len(paths)]) for i in range(CLIENTS)]
    try:
        await _trial(connections, 2 * CLIENTS, settings.load_seconds)
        return [
            await _trial(connections, settings.load_requests, settings.load_seconds)
            for _ in range(settings.load_trials)
        ]
    finally:
        for connection in connections:
            await connection.close()


async def _paced_load(port: int, paths: list[str], settings: Settings) -> list[LoadTrial]:
    """``settings.load_trials`` trials of :data:`CLIENTS` clients that each ask once every
    :data:`PACE_S` seconds (each from its own moment in the first second), as followers do
    (``submit --wait``, a page), for ``settings.paced_seconds`` seconds."""
    connections = [Connection(port, paths[i % len(paths)]) for i in range(CLIENTS)]
    try:
        await _trial(connections, 2 * CLIENTS, settings.load_seconds)  # opens the connections
        return [
            await _trial(connections, 10**9, settings.paced_seconds, pace_s=PACE_S)
            for _ in range(settings.load_trials)
        ]
    finally:
        for connection in connections:
            await connection.close()


async def _trial(
    connections: list[Connection], requests: int, limit_s: float, pace_s: float = 0.0
) -> LoadTrial:
    """Every connection sends requests back to back (or, with ``pace_s``, one every
    ``pace_s`` seconds from a phase of its own) until ``requests`` have been sent in all or
    ``limit_s`` seconds have passed."""
    latencies: list[float] = []
    errors: list[str] = []
    sent = 0
    started = time.perf_counter()
    deadline = started + limit_s

    async def one_client(index: int, connection: Connection) -> None:
        nonlocal sent
        next_at = started + pace_s * index / len(connections)
        while sent < requests and time.perf_counter() < deadline:
            if pace_s:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += pace_s
            sent += 1
            begun = time.perf_counter()
            try:
                status = await asyncio.wait_for(connection.get(), REQUEST_TIMEOUT_S)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    TimeoutError, ValueError) as error:  # fmt: skip
                errors.append(f"{type(error).__name__}: {error}")
                continue
            if status == 200:
                latencies.append((time.perf_counter() - begun) * 1000)
            else:
                errors.append(f"HTTP {status}")

    await asyncio.gather(*(one_client(i, c) for i, c in enumerate(connections)))
    wall = time.perf_counter() - started
    if errors:
        print(f"service: {len(errors)} status requests failed, e.g. {errors[0]}",
              file=sys.stderr, flush=True)  # fmt: skip
    if not latencies:
        raise RuntimeError(f"no status request answered 200: {errors[:3]}")
    return len(latencies), len(errors), wall, latencies
