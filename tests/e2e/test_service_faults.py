"""Faults the training service survives, against the real parts started one by one as on
several machines: the Redis server (the embedded one, restarted by the test), the API
(``storyqa-service api``) and workers (``storyqa-service worker``), each a process of its own.

- A worker killed with SIGKILL (its whole process group) mid-epoch: its job process, which
  lives in a group of its own, stops itself at once; the run is re-queued after its heartbeat
  expires and resumed from its last checkpoint on another worker, and ends exactly as an
  uninterrupted run.
- Redis restarted with runs queued and running: the API answers 503 while it is down (never
  hangs), nothing queued is lost and the running run carries on.
- The whole service stopped with SIGTERM mid-run and started again: no process is left
  behind, and the run resumes on the next start and finishes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.redis_server import EmbeddedRedis
from tests.e2e.service_helpers import (
    RUN,
    Service,
    assert_same_run,
    env,
    running_service,
    service_command,
)
from tests.servers import HOST, free_port, serving

pytestmark = pytest.mark.slow

LONG = [*RUN, "trainer.max_epochs=60"]
#: A heartbeat timeout long enough for a Redis restart (an attempt stops itself after a third
#: of it without Redis), short enough for a test.
FAULT_SETTINGS = [
    "service.heartbeat_s=0.5",
    "service.heartbeat_timeout_s=12",
    "service.cancel_grace_s=30",
]


class Parts:
    """Redis, the API and workers, started separately."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.out = folder / "out"
        self.redis = EmbeddedRedis(self.out / "service")
        self.workers: list[subprocess.Popen[bytes]] = []

    @property
    def url_override(self) -> str:
        return f"service.redis_url={self.redis.url}"

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = (self.folder / f"worker-{len(self.workers)}.log").open("wb")
        worker = subprocess.Popen(
            service_command("worker", self.out, self.url_override, settings=FAULT_SETTINGS),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env(),
            start_new_session=True,
        )
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        for worker in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        self.redis.stop()


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Parts, Service]]:
    folder = tmp_path_factory.mktemp("service-parts")
    started = Parts(folder)
    started.redis.start()
    port = free_port()
    command = service_command(
        "api", started.out, f"service.port={port}", started.url_override, settings=FAULT_SETTINGS
    )
    try:
        with serving(command, f"http://{HOST}:{port}/healthz", folder / "api.log", env=env()):
            service = Service(f"http://{HOST}:{port}", started.out, folder / "api.log")
            for _ in range(2):
                started.start_worker()
            deadline = time.monotonic() + 120
            while service.http.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, service.http.get("/readyz").text
                time.sleep(0.3)
            yield started, service
    finally:
        started.stop()


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def test_a_worker_killed_mid_epoch_is_resumed_elsewhere_and_ends_as_if_uninterrupted(
    parts: tuple[Parts, Service],
) -> None:
    started, service = parts
    lost, whole = service.submit(*LONG), service.submit(*LONG)
    status = service.wait(lost, lambda s: s["status"] == "running" and s["epoch"] >= 3)
    worker_pid, job_pid = status["worker"]["pid"], status["worker"]["job_pid"]
    assert worker_pid != job_pid and alive(job_pid)
    os.killpg(worker_pid, signal.SIGKILL)  # the worker and its group; the job has its own
    deadline = time.monotonic() + 5
    while alive(job_pid):  # fenced: the orphaned job process stops itself
        assert time.monotonic() < deadline, "the orphaned job process is still running"
        time.sleep(0.1)
    started.start_worker()  # any worker takes the resumed run
    requeued = service.wait(lost, lambda s: s["attempt"] == 2, timeout=60)
    assert requeued["losses"] == 1
    final = service.wait(lost)
    assert final["status"] == "finished" and final["attempt"] == 2, final
    assert final["worker"]["pid"] != worker_pid
    assert service.wait(whole)["status"] == "finished"
    run_dir = service.out / "runs" / lost
    assert_same_run(run_dir, service.out / "runs" / whole)
    log = (run_dir / "run.log").read_text(encoding="utf-8")
    assert "attempt 2: continuing from the last checkpoint" in log
    assert (run_dir / ".service-attempt").read_text() != ""


def test_redis_restarted_loses_no_run_and_the_api_says_503_meanwhile(
    parts: tuple[Parts, Service],
) -> None:
    started, service = parts
    running = [service.submit(*LONG) for _ in range(2)]
    for run_id in running:
        service.wait(run_id, lambda s: s["status"] == "running" and s["epoch"] >= 1)
    queued = service.submit(*RUN, "trainer.max_epochs=2")
    assert service.status(queued)["status"] == "queued"
    started.redis.stop()
    began = time.monotonic()
    down = service.http.get("/runs")
    assert down.status_code == 503 and down.json()["code"] == "redis_unavailable"
    assert time.monotonic() - began < 15  # an answer, not a hang
    assert service.http.post("/runs", json={"overrides": RUN}).status_code == 503
    assert service.http.get("/healthz").status_code == 200
    started.redis.start()
    for run_id in [*running, queued]:
        final = service.wait(run_id)
        assert final["status"] == "finished" and final["attempt"] == 1, final


def test_the_service_stopped_mid_run_leaves_nothing_behind_and_resumes_on_restart(
    tmp_path: Path,
) -> None:
    with running_service(tmp_path) as service:
        run_id = service.submit(*LONG)
        status = service.wait(run_id, lambda s: s["status"] == "running" and s["epoch"] >= 2)
        pids = [status["worker"]["pid"], status["worker"]["job_pid"]]
        pids.append(int((service.out / "service" / "redis.pid").read_text()))
        supervisor = _supervisor_pid(service)
    # serving() sent SIGTERM: the service stopped everything it started, then itself
    assert service.exit_code == 0, f"killed, not stopped ({service.exit_code}):\n{service.tail()}"
    left = {pid: _command_line(pid) for pid in [*pids, supervisor] if alive(pid)}
    assert not left, left
    manifest = json.loads((service.out / "runs" / run_id / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["epochs_completed"] < 60
    with running_service(tmp_path) as again:
        final = again.wait(run_id)
        assert final["status"] == "finished" and final["attempt"] == 2, final
        assert final["epoch"] == 60


def _command_line(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return "(gone)"


def _supervisor_pid(service: Service) -> int:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            if b"start" in cmdline and any(
                arg == f"paths.output_dir={service.out}".encode() for arg in cmdline
            ):
                return int(proc.name)
    raise AssertionError("no supervisor process found")


def test_a_client_without_the_service_is_told_so(tmp_path: Path) -> None:
    url = f"http://{HOST}:{free_port()}"
    with pytest.raises(Exception) as raised:
        from services.client import ServiceClient

        ServiceClient(url, timeout_s=2).status("x")
    assert "is the service running?" in str(raised.value)
    assert httpx.__name__  # the client's transport
