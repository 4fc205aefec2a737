"""A real HTTP receiver of the notifier's messages, for tests: a ``ThreadingHTTPServer`` on a
free port of 127.0.0.1 in a thread of the test process. It records every POST, answers 200
unless told otherwise (a 429 with ``retry_after``, a 500, a 404, ... once or until told), and
checks what a receiver would: the webhook signature and Discord's limits.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.servers import HOST, free_port


@dataclass(frozen=True)
class Answer:
    """What the receiver answers to one request: a status, and for a 429 the wait it asks
    (in the JSON body, or with ``header`` in ``Retry-After``)."""

    status: int
    retry_after: float | None = None
    header: bool = False


@dataclass(frozen=True)
class Received:
    """One request as the receiver got it, and what it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def ids(self) -> list[str]:
        """The stream ids a webhook message carries (``X-Storyqa-Event-Id``)."""
        return self.headers["x-storyqa-event-id"].split(",")


class Receiver:
    """The receiver; ``with Receiver() as receiver:`` serves until the block ends."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self._answers: dict[str, list[Answer]] = {}
        self._always: dict[str, Answer] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((HOST, self.port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def url(self, path: str = "/hook") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def answer(self, path: str, *answers: Answer) -> None:
        """Answer the next requests to ``path`` so, one each (then 200 again)."""
        with self._lock:
            self._answers.setdefault(path, []).extend(answers)

    def always(self, path: str, answer: Answer | None) -> None:
        """Answer every request to ``path`` so until told ``None``."""
        with self._lock:
            if answer is None:
                self._always.pop(path, None)
            else:
                self._always[path] = answer

    def requests(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def accepted(self, path: str) -> list[Received]:
        """The requests to ``path`` answered 2xx (what the receiver took)."""
        return [r for r in self.requests(path) if 200 <= r.status < 300]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"receiver still waiting; got {self.summary()}"
            time.sleep(0.05)

    def summary(self) -> list[tuple[str, int, str]]:
        with self._lock:
            return [
                (r.path, r.status, r.headers.get("x-storyqa-event-id", "")) for r in self.received
            ]

    def _next(self, path: str) -> Answer:
        with self._lock:
            if path in self._always:
                return self._always[path]
            queued = self._answers.get(path)
            return queued.pop(0) if queued else Answer(200)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = receiver._next(self.path)
                with receiver._lock:
                    receiver.received.append(
                        Received(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            answer.status,
                            time.monotonic(),
                        )
                    )
                payload: dict[str, Any] = {"ok": answer.status < 300}
                self.send_response(answer.status)
                if answer.retry_after is not None:
                    if answer.header:
                        self.send_header("Retry-After", str(answer.retry_after))
                    else:
                        payload["retry_after"] = answer.retry_after
                data = json.dumps(payload).encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def signed_by(received: Received, secret: str) -> bool:
    """Whether ``X-Storyqa-Signature`` is the HMAC-SHA256 of the exact body with ``secret``
    (as a receiver checks it: in constant time)."""
    expected = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.headers.get("x-storyqa-signature", ""))


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def assert_discord_limits(payload: dict[str, Any]) -> None:
    """Every limit Discord sets on a webhook message holds (and nothing it refuses as empty)."""
    assert 0 < _units(payload["content"]) <= 2000
    embeds = payload["embeds"]
    assert len(embeds) <= 10
    total = 0
    for embed in embeds:
        title, description = embed.get("title", ""), embed.get("description", "")
        footer = embed.get("footer", {}).get("text", "")
        assert _units(title) <= 256 and _units(description) <= 4096 and _units(footer) <= 2048
        assert "title" not in embed or title
        assert "description" not in embed or description
        fields = embed.get("fields", [])
        assert len(fields) <= 25
        for field in fields:
            assert 0 < _units(field["name"]) <= 256
            assert 0 < _units(field["value"]) <= 1024
        total += _units(title) + _units(description) + _units(footer)
        total += sum(_units(f["name"]) + _units(f["value"]) for f in fields)
    assert total <= 6000, total


@contextlib.contextmanager
def receiving() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver
