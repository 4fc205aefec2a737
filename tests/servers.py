"""Servers in tests: started on a free port of 127.0.0.1, waited for, and stopped.

Every test that needs a server (MLflow's, TensorBoard, a served model) starts it with
:func:`serving`, so that each one listens on loopback only, fails with the server's own log
when it does not come up, and leaves no process behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

HOST = "127.0.0.1"
#: How long a server may take to answer its first request.
READY_TIMEOUT_S = 180.0
#: How long a server may take to stop after SIGTERM before it is killed.
STOP_TIMEOUT_S = 30.0


def make_target(target: str, *variables: str) -> list[str]:
    """The command line of ``make <target> <variables>`` in this repository, run with the
    environment these tests run in (its ``VENV``); skips the test without ``make`` or when
    that environment is not the up-to-date one ``make`` builds (it would reinstall first)."""
    from tests.conftest import REPO_ROOT

    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    venv = Path(sys.prefix)
    up_to_date = subprocess.run(
        [make, "-C", str(REPO_ROOT), "--question", f"VENV={venv}", str(venv / ".installed")],
        capture_output=True,
    )
    if up_to_date.returncode != 0:
        pytest.skip(f"{venv} is not the up-to-date environment of `make install`")
    return [make, "-C", str(REPO_ROOT), target, *variables, f"VENV={venv}"]


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def fetch_json(url: str, body: dict[str, Any] | None = None, timeout: float = 10) -> Any:
    """GET ``url`` (POST ``body`` as JSON when given) and decode the JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"{}")


@contextlib.contextmanager
def serving(
    command: list[str],
    ready: str,
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = READY_TIMEOUT_S,
    stop_timeout: float = STOP_TIMEOUT_S,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` (a server, in ``log``'s folder and a process group of its own) until
    the URL ``ready`` answers 200, yield the process, then stop it and every process it
    started (SIGTERM, then SIGKILL after ``stop_timeout`` seconds).

    Fails the test, with the end of the server's ``log``, when the server exits or does not
    answer within ``timeout`` seconds.
    """
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, cwd=log.parent,
            env=None if env is None else dict(env), start_new_session=True,
        )  # fmt: skip
    try:
        _wait(process, ready, log, timeout)
        yield process
    finally:
        _stop(process, stop_timeout)


def _wait(process: subprocess.Popen[bytes], ready: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{_tail(log)}")
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(ready, timeout=5) as response,
        ):
            if response.status == 200:
                return
        if time.monotonic() > deadline:
            pytest.fail(f"the server did not answer {ready} within {timeout:.0f} s:\n{_tail(log)}")
        time.sleep(0.5)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def _stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM to the process group, then SIGKILL to whatever is left of it after
    ``timeout`` seconds (a server's workers outlive their parent)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
