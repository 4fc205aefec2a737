"""``storyqa-service start``: the single-machine service in one command — the embedded Redis
(unless ``service.redis_url`` names one), the API, ``service.workers`` workers and, when
``service.notify`` lists targets, the notifier, each a child process that ends with this one.
Ctrl-C or SIGTERM stops them all: the workers first (a running attempt stops at the end of its
step and is queued to resume on the next start), then the API, the notifier, then Redis (its
append-only file flushed). A worker or a notifier that dies is started again.

The API key and the notification targets (their URLs and secrets) reach the children in the
environment (``STORYQA_API_KEY``, ``STORYQA_SERVICE_NOTIFY``), never on a command line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Final

from services.processes import end_with_parent
from services.redis_server import EmbeddedRedis
from services.settings import API_KEY_ENV, NOTIFY_ENV, ServiceSettings, notify_environment

#: The lock file that keeps a second service off the same output folder.
LOCK_FILE: Final = "service.lock"
#: Seconds the API may take to answer ``/healthz``.
API_START_TIMEOUT_S: Final = 120.0
#: Restarts of dead workers allowed per minute before the service gives up.
MAX_RESTARTS_PER_MINUTE: Final = 5
#: Seconds the notifier has to finish the request it is sending when the service stops.
NOTIFIER_STOP_TIMEOUT_S: Final = 15.0
#: Overrides a child's command line never carries (their values travel in the environment).
SECRET_OVERRIDES: Final = ("service.api_key=", "service.notify=", "service.notify.")


class ServiceStartError(RuntimeError):
    """The service cannot start; the message says why and what to do."""


class Supervisor:
    """Starts, watches and stops the service's processes.

    Args:
        settings: The service's settings.
        command: The command line of a child: ``command("api", redis_url)``,
            ``command("worker", redis_url)`` or ``command("notifier", redis_url)``.
        log: Where to print what happens (the console).
    """

    def __init__(
        self,
        settings: ServiceSettings,
        command: Callable[[str, str], Sequence[str]],
        log: Callable[[str], None] = print,
    ):
        self.settings, self.command, self.log = settings, command, log
        self.redis: EmbeddedRedis | None = None
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.notifier: subprocess.Popen[bytes] | None = None
        self._stopping = False
        self._restarts: list[float] = []
        self._notifier_restarts: list[float] = []

    def run(self) -> int:
        """Start everything, wait for Ctrl-C or SIGTERM, stop everything; the exit code."""
        from filelock import FileLock, Timeout

        state = self.settings.state_dir
        state.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(state / LOCK_FILE))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise ServiceStartError(
                f"another storyqa service runs on {self.settings.output_dir} (it holds "
                f"{state / LOCK_FILE}); stop it first, or choose another paths.output_dir"
            ) from None
        previous = {
            s: signal.signal(s, self._request_stop) for s in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            return self._run()
        finally:
            self._stop_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            lock.release()

    def _run(self) -> int:
        url = self.settings.redis_url
        if url is None:
            self.redis = EmbeddedRedis(self.settings.state_dir).start()
            url = self.redis.url
            self.log(f"Redis:   embedded, append-only, {self.redis.socket}")
        else:
            self.log("Redis:   external (service.redis_url)")
        if self.settings.notify:
            self._start_notifier(url)
        self.api = self._spawn("api", url)
        self._wait_for_api()
        self.workers = [self._spawn("worker", url) for _ in range(self.settings.workers)]
        self.log(
            f"API:     {self.settings.url}  (OpenAPI: {self.settings.url}/docs)\n"
            f"Workers: {self.settings.workers}\n"
            f"Notify:  {', '.join(t.label for t in self.settings.notify) or 'none'}\n"
            f"Runs:    {self.settings.output_dir.resolve() / 'runs'}\n"
            "Ctrl-C stops the service; running runs stop at the end of a step and resume "
            "on the next start."
        )
        while not self._stopping:
            time.sleep(0.5)
            if self.api.poll() is not None and not self._stopping:
                self.log(f"error: the API exited with code {self.api.returncode}")
                return 1
            for index, worker in enumerate(self.workers):
                if worker.poll() is not None and not self._stopping:
                    if not self._may_restart():
                        self.log("error: workers keep dying; stopping the service")
                        return 1
                    self.log(
                        f"warning: worker {worker.pid} exited with code {worker.returncode};"
                        " starting another"
                    )
                    self.workers[index] = self._spawn("worker", url)
            self._watch_notifier(url)
        return 0

    def _start_notifier(self, redis_url: str) -> None:
        """The notifier's consumer group made before any worker publishes (so that the first
        run's events are sent), then the notifier."""
        from services.notify.notifier import ensure_group
        from services.store import connect

        ensure_group(connect(redis_url, patience_s=10))
        self.notifier = self._spawn("notifier", redis_url)

    def _watch_notifier(self, redis_url: str) -> None:
        """Start the notifier again when it died (notifications are not worth stopping the
        service for: after too many deaths it stays off)."""
        if self.notifier is None or self.notifier.poll() is None or self._stopping:
            return
        now = time.monotonic()
        self._notifier_restarts = [t for t in self._notifier_restarts if now - t < 60] + [now]
        if len(self._notifier_restarts) > MAX_RESTARTS_PER_MINUTE:
            self.log("error: the notifier keeps dying; notifications are off until a restart")
            self.notifier = None
            return
        self.log(
            f"warning: the notifier ({self.notifier.pid}) exited with code "
            f"{self.notifier.returncode}; starting another"
        )
        self.notifier = self._spawn("notifier", redis_url)

    def _spawn(self, kind: str, redis_url: str) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        if self.settings.api_key:  # by the environment, never on a command line
            env[API_KEY_ENV] = self.settings.api_key
        if kind == "notifier":  # the targets' URLs and secrets, likewise
            env[NOTIFY_ENV] = notify_environment(self.settings.notify)
        return subprocess.Popen(
            list(self.command(kind, redis_url)),
            env=env,
            start_new_session=True,
            preexec_fn=end_with_parent,
        )

    def _wait_for_api(self) -> None:
        import httpx

        assert self.api is not None
        deadline = time.monotonic() + API_START_TIMEOUT_S
        while time.monotonic() < deadline and not self._stopping:
            if self.api.poll() is not None:
                raise ServiceStartError(
                    f"the API exited with code {self.api.returncode} (is port "
                    f"{self.settings.port} taken? service.port=...)"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.settings.url}/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        if not self._stopping:
            raise ServiceStartError(f"the API did not answer on {self.settings.url}")

    def _may_restart(self) -> bool:
        now = time.monotonic()
        self._restarts = [t for t in self._restarts if now - t < 60] + [now]
        return len(self._restarts) <= MAX_RESTARTS_PER_MINUTE

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        if not self._stopping:
            self.log(f"\nstopping ({signal.Signals(signum).name}): workers, API, notifier, Redis")
        self._stopping = True

    def _stop_all(self) -> None:
        grace = self.settings.cancel_grace_s + 30
        _terminate(self.workers, grace)
        _terminate([self.api] if self.api is not None else [], 30)
        _terminate([self.notifier] if self.notifier is not None else [], NOTIFIER_STOP_TIMEOUT_S)
        if self.redis is not None:
            self.redis.stop()


def _terminate(processes: Sequence[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM each process' group, wait up to ``timeout`` s, then SIGKILL what is left."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def child_command(kind: str, overrides: Sequence[str], redis_url: str) -> list[str]:
    """``python -m scripts.service <kind> <overrides> service.redis_url=<url>``, without the
    API key and the notification targets (they travel in the environment).

    Example:
        >>> child_command("worker", ["service.api_key=s3cret", "service.port=1"], "unix:///r")[3:]
        ['worker', 'service.port=1', 'service.redis_url=unix:///r']
        >>> child_command("notifier", ["service.notify=[{kind:slack,url:'https://h/x'}]",
        ...     "service.notify_epoch_every_s=5"], "unix:///r")[3:]
        ['notifier', 'service.notify_epoch_every_s=5', 'service.redis_url=unix:///r']
    """
    kept = [
        o
        for o in overrides
        if not o.lstrip("+~").startswith((*SECRET_OVERRIDES, "service.redis_url="))
    ]
    return [sys.executable, "-m", "scripts.service", kind, *kept, f"service.redis_url={redis_url}"]
