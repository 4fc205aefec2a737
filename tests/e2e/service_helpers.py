"""Helpers of the service's end-to-end tests: start a service (or its parts) on a free
loopback port, follow runs over HTTP, compare a run with an uninterrupted one."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from metrics import namespaces as ns
from tests.conftest import REPO_ROOT
from tests.servers import HOST, free_port, serving

#: A tiny LSTM run (a few seconds an epoch at most).
RUN = [
    "model=lstm",
    "model.hidden=8",
    "model.embedding_dim=8",
    "data.size=tiny",
    "tracker.sinks=[jsonl]",
    "trainer.num_threads=1",
]
#: Fast heartbeats, so that faults are seen within seconds.
SETTINGS = [
    "service.heartbeat_s=0.5",
    "service.heartbeat_timeout_s=6",
    "service.cancel_grace_s=30",
]
TERMINAL = {"finished", "failed", "canceled", "interrupted"}


class Service:
    """A running service: its URL, output folder and an HTTP client.

    Args:
        url: The API's base URL.
        out: The output root.
        log: The service's console log.
        headers: Sent with every request (the API key).

    Attributes:
        exit_code: The service's exit code once it was stopped (``None`` before).
    """

    def __init__(self, url: str, out: Path, log: Path, headers: dict[str, str] | None = None):
        self.url, self.out, self.log = url, out, log
        self.http = httpx.Client(base_url=url, timeout=30, headers=headers or {})
        self.exit_code: int | None = None

    def submit(self, *overrides: str) -> str:
        response = self.http.post("/runs", json={"overrides": list(overrides)})
        assert response.status_code == 202, response.text
        return str(response.json()["run_id"])

    def status(self, run_id: str) -> dict[str, Any]:
        response = self.http.get(f"/runs/{run_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait(self, run_id: str, until: Any = None, timeout: float = 300) -> dict[str, Any]:
        """Poll the run until ``until(status)`` holds (default: it has ended)."""
        until = until or (lambda s: s["status"] in TERMINAL)
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(run_id)
            if until(status):
                return status
            assert time.monotonic() < deadline, f"{run_id} stuck: {status}\n{self.tail()}"
            time.sleep(0.2)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.is_file() else ""


def env() -> dict[str, str]:
    """The environment of the service's processes (the repository importable: its test
    models are a user's models)."""
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def service_command(
    kind: str, out: Path, *extra: str, settings: Sequence[str] = SETTINGS
) -> list[str]:
    """``python -m scripts.service <kind> paths.output_dir=<out> <settings> <extra>``."""
    return [
        sys.executable,
        "-m",
        "scripts.service",
        kind,
        f"paths.output_dir={out}",
        *settings,
        *extra,
    ]


@contextlib.contextmanager
def running_service(
    folder: Path,
    *extra: str,
    key: str | None = None,
    ready: bool = True,
    settings: Sequence[str] = SETTINGS,
) -> Iterator[Service]:
    """``storyqa-service start`` in ``folder`` on a free loopback port until the block ends
    (then SIGTERM: it stops its workers, API and Redis); with ``ready``, once a worker is up."""
    port = free_port()
    out = folder / "out"
    log = folder / "service.log"
    environment = env()
    if key is not None:
        environment["STORYQA_API_KEY"] = key
    command = service_command("start", out, f"service.port={port}", *extra, settings=settings)
    url = f"http://{HOST}:{port}"
    headers = {"X-API-Key": key} if key else None
    service = Service(url, out, log, headers)
    # A stopping service waits for its running attempts to end their step (on a busy
    # machine, many seconds), then for its workers, API and Redis.
    with serving(command, f"{url}/healthz", log, env=environment, stop_timeout=120) as process:
        deadline = time.monotonic() + 120
        while ready and service.http.get("/readyz").status_code != 200:  # the workers are up
            assert time.monotonic() < deadline, service.tail()
            time.sleep(0.3)
        yield service
    service.exit_code = process.returncode


def clockless_series(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """The run's tracked series (``metrics.jsonl``) without the wall-clock ones, each point
    once (a resumed run repeats none)."""
    clock = ns.wall_clock_series()
    series: dict[str, dict[int, float]] = {}
    for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "step" not in record or record["name"] in clock:
            continue
        points = series.setdefault(record["name"], {})
        assert record["step"] not in points or points[record["step"]] == record["value"], record
        points[record["step"]] = record["value"]
    return {name: sorted(points.items()) for name, points in series.items()}


def assert_same_run(run_dir: Path, reference: Path) -> None:
    """``run_dir`` ended exactly as the uninterrupted ``reference``: the same evaluation of
    every split, best epoch, checkpoints and tracked series."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    whole = json.loads((reference / "manifest.json").read_text())
    assert manifest["status"] == whole["status"] == "finished"
    assert manifest["evaluation"] == whole["evaluation"]
    assert manifest["best"]["epoch"] == whole["best"]["epoch"]
    assert manifest["best"]["val_accuracy"] == whole["best"]["val_accuracy"]
    assert manifest["epochs_completed"] == whole["epochs_completed"]
    names = sorted(p.name.replace(run_dir.name, "") for p in (run_dir / "checkpoints").iterdir())
    reference_names = sorted(
        p.name.replace(reference.name, "") for p in (reference / "checkpoints").iterdir()
    )
    assert names == reference_names
    assert clockless_series(run_dir) == clockless_series(reference)
