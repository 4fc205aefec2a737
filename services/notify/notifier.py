"""The notifier's loop (``storyqa-service notifier``): it reads the service's event stream
with a Redis consumer group and sends each event to every target that takes it.

- The group ``storyqa:notify`` is made at the stream's end (``XGROUP CREATE ... $ MKSTREAM``;
  :func:`ensure_group`, which ``start`` also calls before its workers start): events published
  before the notifier's first start are not sent.
- Each target has a sender thread that sends its messages one at a time, in stream order: a
  receiver that is slow, rate-limits or is down holds up only its own target. A run's
  ``run.epoch.v1`` events are batched: at most one message of epochs per run per
  ``service.notify_epoch_every_s``, carrying every epoch since the last; the run's next other
  event (its end) carries those not sent yet.
- A target that has an entry (delivered, or given up on) marks it in
  ``storyqa:notify:sent:<target key>``; the entry is acknowledged (``XACK``) once every
  target that takes it has it, and its marks are dropped in the same transaction.
- On start the notifier first reads its own pending entries again (``XREADGROUP ... 0``) and
  sends each only to the targets that have not marked it: a notifier killed (even with
  SIGKILL) and started again loses nothing and sends nothing twice, but for a message whose
  receiver answered in the instant before the kill (each webhook request carries its stream
  id in ``X-Storyqa-Event-Id`` for that).
- One notifier runs per Redis: it holds a lease (``storyqa:notify:lease``, renewed, expiring
  :data:`LEASE_TTL_S` after its holder dies); another one waits for it.

Workers only add to the stream: the notifier never holds them up.

Example:
    >>> sent_key(NotifyTarget("slack", "https://hooks.example/x")).startswith(SENT_PREFIX)
    True
"""

from __future__ import annotations

import functools
import json
import queue
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

from services.events.schemas import RUN_ENDED, RunEpoch, RunEvent, parse_event
from services.events.stream import FIELD, STREAM
from services.notify.delivery import Outcome, RetryPolicy, deliver
from services.notify.targets import Entry, build_request
from services.settings import NotifyTarget, ServiceSettings

if TYPE_CHECKING:
    import redis

#: The consumer group, and this notifier's name in it (the same after a restart).
GROUP: Final = "storyqa:notify"
CONSUMER: Final = "notifier"
#: A target's marks: the stream ids it has (a set, dropped once the entry is acknowledged).
SENT_PREFIX: Final = "storyqa:notify:sent:"
#: Marks left by a notifier that stopped for good expire after this long.
SENT_TTL_S: Final = 7 * 24 * 3600
#: The lease that keeps a second notifier waiting.
LEASE_KEY: Final = "storyqa:notify:lease"
LEASE_TTL_S: Final = 5.0
#: Entries read at a time, how long a read waits, and how many may be unsent at once.
READ_COUNT: Final = 100
BLOCK_MS: Final = 1000
MAX_IN_FLIGHT: Final = 1000

_RENEW: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

Log = Callable[[str], None]


def sent_key(target: NotifyTarget) -> str:
    """The Redis set of the stream ids ``target`` has."""
    return f"{SENT_PREFIX}{target.key}"


def ensure_group(connection: redis.Redis) -> bool:
    """Make the notifier's consumer group at the stream's end (and the stream, if there is
    none); whether it was made now."""
    import redis as redis_module

    try:
        connection.xgroup_create(STREAM, GROUP, id="$", mkstream=True)
    except redis_module.ResponseError as error:
        if "BUSYGROUP" in str(error):
            return False
        raise
    return True


def print_line(text: str) -> None:
    """The notifier's log: one line on stderr."""
    print(text, file=sys.stderr, flush=True)


def redacting(log: Log, targets: Sequence[NotifyTarget]) -> Log:
    """``log`` with every target's URL and secret replaced by ``<redacted>`` (should one ever
    reach a line).

    Example:
        >>> lines = []
        >>> redacting(lines.append, [NotifyTarget("slack", "https://h/x")])("to https://h/x")
        >>> lines
        ['to <redacted>']
    """
    hidden = sorted({v for t in targets for v in (t.url, t.secret) if v}, key=len, reverse=True)

    def write(text: str) -> None:
        for value in hidden:
            text = text.replace(value, "<redacted>")
        log(text)

    return write


class Lease:
    """One notifier per Redis: a key holding this process' token, expiring ``ttl_s`` after
    its last renewal."""

    def __init__(self, connection: redis.Redis, ttl_s: float = LEASE_TTL_S):
        self.connection, self.ttl_ms = connection, int(ttl_s * 1000)
        self.token = secrets.token_hex(8)

    def acquire(self) -> bool:
        """Take the lease if nobody holds it."""
        return bool(self.connection.set(LEASE_KEY, self.token, nx=True, px=self.ttl_ms))

    def renew(self) -> bool:
        """Extend it (or take it again if it expired meanwhile); ``False``: another holds it."""
        if self.connection.eval(_RENEW, 1, LEASE_KEY, self.token, self.ttl_ms):
            return True
        return self.acquire()

    def release(self) -> None:
        """Give it up (only if still ours)."""
        self.connection.eval(_RELEASE, 1, LEASE_KEY, self.token)


class Sender(threading.Thread):
    """Sends one target's messages, in stream order, batching its runs' epochs.

    Args:
        target: The receiver.
        send: Sends one message; its outcome.
        done: Called with the stream ids the target has (delivered or given up on).
        every_s: The least time between two messages of a run's epochs.
        stop: Set when the notifier stops.
        clock: Monotonic seconds.
    """

    def __init__(
        self,
        target: NotifyTarget,
        send: Callable[[NotifyTarget, list[Entry]], Outcome],
        done: Callable[[NotifyTarget, list[str]], None],
        every_s: float,
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(name=f"notify-{target.index}", daemon=True)
        self.target, self.send, self.done = target, send, done
        self.every_s, self.stop, self.clock = every_s, stop, clock
        self.inbox: queue.Queue[Entry] = queue.Queue()
        self.refused = False
        #: What ended the thread unexpectedly (the notifier then stops, to be started again).
        self.error: Exception | None = None
        self._epochs: dict[str, list[Entry]] = {}
        self._last_epochs: dict[str, float] = {}

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    entry: Entry | None = self.inbox.get(timeout=self._wait())
                except queue.Empty:
                    entry = None
                if (entry is not None and not self._take(entry)) or not self._flush_due():
                    return
        except Exception as error:  # a bug or an unexpected answer: stop, be started again
            self.error = error
            self.stop.set()

    def _take(self, entry: Entry) -> bool:
        """Send ``entry`` (with its run's unsent epochs), or hold it in its run's batch;
        ``False`` when the notifier stopped before it was sent."""
        event = entry.event
        run_id = event.run_id if isinstance(event, RunEvent) else None
        if isinstance(event, RunEpoch):
            self._epochs.setdefault(event.run_id, []).append(entry)
            return self._flush_due()
        batch = [*self._epochs.pop(run_id, [])] if run_id else []
        if not self._send([*batch, entry], run_id if batch else None):
            return False
        if run_id and event.type in RUN_ENDED:
            self._last_epochs.pop(run_id, None)
        return True

    def _due(self, run_id: str) -> bool:
        last = self._last_epochs.get(run_id)
        return last is None or self.clock() - last >= self.every_s

    def _flush_due(self) -> bool:
        """Send every batch of epochs that is due."""
        for run_id in [r for r in self._epochs if self._due(r)]:
            if not self._send(self._epochs.pop(run_id), run_id):
                return False
        now = self.clock()
        for run_id in [r for r, t in self._last_epochs.items() if now - t >= self.every_s]:
            if run_id not in self._epochs:
                del self._last_epochs[run_id]
        return True

    def _wait(self) -> float:
        """Until the next batch is due (at most half a second, to see a stop)."""
        now, wait = self.clock(), 0.5
        for run_id in self._epochs:
            last = self._last_epochs.get(run_id, now - self.every_s)
            wait = min(wait, max(0.01, last + self.every_s - now))
        return wait

    def _send(self, entries: list[Entry], epochs_of: str | None) -> bool:
        if not self.refused:
            outcome = self.send(self.target, entries)
            if outcome is Outcome.STOPPED:
                return False
            self.refused = outcome is Outcome.REFUSED
        if epochs_of is not None:
            self._last_epochs[epochs_of] = self.clock()
        self.done(self.target, [entry.id for entry in entries])
        return True


class Notifier:
    """Reads the stream with the consumer group and hands each entry to its targets' senders.

    Args:
        settings: The service's settings (``notify``, ``notify_epoch_every_s``, and the API's
            URL for links).
        connection: A Redis client (its socket timeout above :data:`BLOCK_MS`).
        stop: Set to stop (SIGTERM); unsent entries stay pending for the next notifier.
        log: Where lines go (URLs and secrets are redacted).
        policy: Retries.
        lease_ttl_s: The lease's time to live.
    """

    def __init__(
        self,
        settings: ServiceSettings,
        connection: redis.Redis,
        *,
        stop: threading.Event | None = None,
        log: Log = print_line,
        policy: RetryPolicy | None = None,
        lease_ttl_s: float = LEASE_TTL_S,
    ):
        self.settings, self.connection = settings, connection
        self.stop = stop or threading.Event()
        self.log = redacting(log, settings.notify)
        self.policy = policy or RetryPolicy()
        self.lease = Lease(connection, lease_ttl_s)
        self.senders = [
            Sender(t, self._send, self._done, settings.notify_epoch_every_s, self.stop)
            for t in settings.notify
        ]
        self._lock = threading.Lock()
        self._outstanding: dict[str, set[str]] = {}
        self._unacked: list[str] = []
        self._unknown: set[str] = set()
        self._clients: dict[int, Any] = {}
        self._away = False

    # --- the loop ---------------------------------------------------------------------

    def run(self) -> int:
        """Send until :attr:`stop` is set; the exit code."""
        if not self._start():
            return 0
        for sender in self.senders:
            sender.start()
        labels = ", ".join(t.label for t in self.settings.notify)
        self.log(f"notifier: sending the service's events to {labels}")
        try:
            self._loop()
        finally:
            self.stop.set()
            for sender in self.senders:
                sender.join(self.policy.timeout_s + 5)
            for client in self._clients.values():
                client.close()
            self._quietly(self.lease.release)
        failed = [s for s in self.senders if s.error is not None]
        for sender in failed:
            self.log(
                f"error: notify {sender.target.label}: stopped by {type(sender.error).__name__}: "
                f"{sender.error}; what it had not sent is sent after a restart"
            )
        return 1 if failed else 0

    def _start(self) -> bool:
        """The group made and the lease taken (waiting for it); ``False`` if stopped first."""
        waiting = False
        while not self.stop.is_set():
            ok = self._quietly(lambda: ensure_group(self.connection) or True)
            if ok and self._quietly(self.lease.acquire):
                return True
            if ok and not waiting:
                self.log(
                    "notifier: another notifier holds the lease (or held it, until it expires); "
                    "waiting"
                )
                waiting = True
            self.stop.wait(0.5)
        return False

    def _loop(self) -> None:
        after: str | None = "0"  # first this notifier's own pending entries, then new ones
        renewed = time.monotonic()
        while not self.stop.is_set():
            if time.monotonic() - renewed >= self.lease.ttl_ms / 5000:
                held = self._quietly(self.lease.renew)
                if held is False:
                    self.log("warning: notifier: another notifier took the lease; stopping")
                    return
                renewed = time.monotonic() if held else renewed
            self._retry_acks()
            if after is None and self._in_flight() >= MAX_IN_FLIGHT:
                self.stop.wait(0.2)
                continue
            entries = self._quietly(functools.partial(self._read, after or ">"))
            if entries is None:
                self.stop.wait(1.0)
                continue
            self._dispatch(entries, check_marks=after is not None)
            if after is not None:
                after = entries[-1][0] if entries else None

    def _read(self, after: str) -> list[tuple[str, str | None]]:
        """Entries of the group after ``after`` (``0``: this notifier's pending ones; ``>``:
        new ones, waiting up to :data:`BLOCK_MS`)."""
        import redis as redis_module

        block = None if after != ">" else BLOCK_MS
        try:
            found: Any = self.connection.xreadgroup(
                GROUP, CONSUMER, {STREAM: after}, count=READ_COUNT, block=block
            )
        except redis_module.ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            self.log("warning: notifier: the consumer group was gone (Redis emptied?); made again")
            ensure_group(self.connection)
            return []
        out = []
        for _, items in found or []:
            for entry_id, fields in items:
                raw = (fields or {}).get(FIELD.encode(), (fields or {}).get(FIELD))
                key = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                out.append((key, raw.decode() if isinstance(raw, bytes) else raw))
        return out

    def _quietly(self, call: Callable[[], Any]) -> Any:
        """``call()``, or ``None`` (with one warning per outage) while Redis is unreachable."""
        import redis as redis_module

        try:
            result = call()
        except (redis_module.ConnectionError, redis_module.TimeoutError) as error:
            if not self._away:
                self.log(f"warning: notifier: Redis unreachable ({type(error).__name__}); retrying")
                self._away = True
            return None
        if self._away:
            self.log("notifier: Redis answers again")
            self._away = False
        return result

    def _patiently(self, call: Callable[[], Any]) -> Any:
        """``call()``, tried again every half second while Redis is unreachable; ``None``
        once the notifier stops."""
        while not self.stop.is_set():
            result = self._quietly(call)
            if result is not None:
                return result
            self.stop.wait(0.5)
        return None

    # --- entries to senders, and back ---------------------------------------------------

    def _dispatch(self, entries: Iterable[tuple[str, str | None]], *, check_marks: bool) -> None:
        """Hand each entry to the senders of the targets that take it (and have not marked
        it); acknowledge at once those no target takes."""
        unwanted = []
        for entry_id, raw in entries:
            entry = self._entry(entry_id, raw)
            senders = [] if entry is None else self._takers(entry, check_marks)
            if senders is None:
                break  # stopping: what is left stays pending
            if entry is None or not senders:
                unwanted.append(entry_id)
                continue
            with self._lock:
                self._outstanding[entry_id] = {s.target.key for s in senders}
            for sender in senders:
                sender.inbox.put(entry)
        if unwanted:
            with self._lock:
                self._ack(unwanted)

    def _entry(self, entry_id: str, raw: str | None) -> Entry | None:
        from pydantic import ValidationError

        if raw is None:
            self.log(f"warning: notifier: entry {entry_id} left the stream (trimmed) unsent")
            return None
        try:
            return Entry(entry_id, parse_event(raw), raw)
        except ValidationError:
            kind = _event_type(raw)
            if kind not in self._unknown:
                self._unknown.add(kind)
                self.log(f"notifier: skipping events of type {kind!r} (unknown to this version)")
            return None

    def _takers(self, entry: Entry, check_marks: bool) -> list[Sender] | None:
        """The senders of the targets that take ``entry`` and (``check_marks``) have not
        marked it; ``None`` when the notifier stopped meanwhile."""
        senders = [s for s in self.senders if entry.event.type in s.target.events]
        if not check_marks or not senders:
            return senders

        def marks() -> list[Any]:
            pipe = self.connection.pipeline(transaction=False)
            for sender in senders:
                pipe.sismember(sent_key(sender.target), entry.id)
            return list(pipe.execute())

        marked = self._patiently(marks)
        if marked is None:
            return None
        return [s for s, has in zip(senders, marked, strict=True) if not has]

    def _send(self, target: NotifyTarget, entries: list[Entry]) -> Outcome:
        """One message to ``target`` (a sender's thread)."""
        import httpx

        client = self._clients.get(target.index)
        if client is None:
            client = self._clients[target.index] = httpx.Client(follow_redirects=False)
        request = build_request(target, entries, self.settings.url)
        ids = entries[0].id if len(entries) == 1 else f"{entries[0].id}..{entries[-1].id}"
        what = f"{entries[-1].event.type} {ids}"
        return deliver(
            client, target, request, stop=self.stop, log=self.log, what=what, policy=self.policy
        )

    def _done(self, target: NotifyTarget, ids: list[str]) -> None:
        """``target`` has ``ids``: mark them, and acknowledge those every target has."""
        with self._lock:
            if self._patiently(lambda: self._mark(target, ids)) is None:
                return  # unmarked: the next notifier sends them again
            complete = []
            for entry_id in ids:
                keys = self._outstanding.get(entry_id)
                if keys is None:
                    continue
                keys.discard(target.key)
                if not keys:
                    del self._outstanding[entry_id]
                    complete.append(entry_id)
            if complete:
                self._ack(complete)

    def _mark(self, target: NotifyTarget, ids: list[str]) -> bool:
        pipe = self.connection.pipeline(transaction=True)
        pipe.sadd(sent_key(target), *ids)
        pipe.expire(sent_key(target), SENT_TTL_S)
        pipe.execute()
        return True

    def _ack(self, ids: list[str]) -> None:
        """Acknowledge ``ids`` and drop their marks, in one transaction (the lock held)."""

        def ack() -> bool:
            pipe = self.connection.pipeline(transaction=True)
            pipe.xack(STREAM, GROUP, *ids)
            for target in self.settings.notify:
                pipe.srem(sent_key(target), *ids)
            pipe.execute()
            return True

        if self._quietly(ack) is None:
            self._unacked.extend(ids)

    def _retry_acks(self) -> None:
        with self._lock:
            if self._unacked:
                ids, self._unacked = self._unacked, []
                self._ack(ids)

    def _in_flight(self) -> int:
        with self._lock:
            return len(self._outstanding)


def _event_type(raw: str) -> str:
    try:
        value = json.loads(raw)
    except ValueError:
        return "not JSON"
    return str(value.get("type")) if isinstance(value, dict) else "not an object"


def run_notifier(settings: ServiceSettings, redis_url: str, log: Log = print_line) -> int:
    """``storyqa-service notifier``: send until SIGTERM or Ctrl-C; the exit code."""
    from services.store import connect

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    connection = connect(redis_url, timeout_s=BLOCK_MS / 1000 + 10)
    return Notifier(settings, connection, stop=stop, log=log).run()
