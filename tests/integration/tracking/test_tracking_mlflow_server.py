"""A real ``mlflow server`` on the sqlite store lists the run and its metric names."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from metrics import namespaces as ns

from .conftest import FullRun
from .simulation import read_jsonl

READY_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(base: str, path: str, body: dict[str, Any] | None = None, **query: str) -> Any:
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def wait_until_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"mlflow server exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"mlflow server not ready after {READY_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.mark.slow
def test_mlflow_server_lists_the_run_and_its_metrics(full_run: FullRun, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "mlflow-server.log"
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", full_run.tracking_uri,
        "--default-artifact-root", (tmp_path / "artifacts").as_uri(),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True
        )
    try:
        wait_until_ready(base, process, log)
        experiment = call(
            base, "/api/2.0/mlflow/experiments/get-by-name", experiment_name="storyqa"
        )
        experiment_id = experiment["experiment"]["experiment_id"]
        found = call(
            base,
            "/api/2.0/mlflow/runs/search",
            {
                "experiment_ids": [experiment_id],
                "filter": f"tags.`storyqa.run_id` = '{full_run.run_name}'",
            },
        )
        [run] = found["runs"]
        assert run["info"]["run_name"] == full_run.run_name
        served = {metric["key"] for metric in run["data"]["metrics"]}
        logged = {name for name, _ in read_jsonl(full_run.run_dir).series}
        assert logged <= served
        assert ns.best("val_accuracy") in served
        history = call(
            base,
            "/api/2.0/mlflow/metrics/get-history",
            run_id=run["info"]["run_id"],
            metric_key=ns.epoch_metric("val", "accuracy"),
        )
        assert sorted(point["step"] for point in history["metrics"]) == [0, 1, 2, 3, 4]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)
