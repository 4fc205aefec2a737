"""A storyqa worker: an RQ worker that takes one run at a time from the service's queue, with
its own heartbeat (``GET /workers``, ``/readyz``) and a reaper that finds runs whose worker
was lost and queues them again as resumes from their last checkpoint.

A worker started on a Redis with leftover state reconciles it first (:func:`reconcile`): the
run folders the store does not know are added, and a queued run whose job is gone is queued
again. A lost run is one whose heartbeat this worker has seen unchanged for
``service.heartbeat_timeout_s`` (counted on this worker's own clock, so clocks of different
machines need not agree, and a Redis outage does not make every run look lost).

On SIGTERM or Ctrl-C the worker asks its running attempt to stop (SIGTERM: the run keeps its
last checkpoint and is queued to resume on any worker), waits for it, and exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Final

from services.queue import RunQueue
from services.settings import ServiceSettings
from services.store import RunStatus, connect, now

if TYPE_CHECKING:
    import rq

logger = logging.getLogger(__name__)


def worker_name() -> str:
    """``<host>.<pid>``: unique among live workers."""
    return f"{socket.gethostname()}.{os.getpid()}"


class Reaper:
    """Finds lost runs and orphaned jobs; any number of workers may run one (every change
    is a compare-and-set on the run's attempt token).

    Args:
        queue: The run queue.
        timeout_s: How long a heartbeat may stay unchanged.
    """

    def __init__(self, queue: RunQueue, timeout_s: float):
        self.queue = queue
        self.timeout_s = timeout_s
        self._seen: dict[str, tuple[tuple[Any, ...], float]] = {}

    def tick(self) -> list[str]:
        """One pass over the runs; returns the runs queued again."""
        requeued = []
        active = set()
        for record in self.queue.store.all():
            if record.status == RunStatus.RUNNING:
                state: tuple[Any, ...] = (record.token, record.heartbeat)
            elif record.status == RunStatus.QUEUED and not self.queue.job_pending(record.job_id):
                state = (record.token, "orphan")
            else:
                continue
            active.add(record.run_id)
            if not self._stale(record.run_id, state):
                continue
            if record.status == RunStatus.RUNNING:
                age = self.timeout_s if record.heartbeat is None else now() - record.heartbeat
                worker = (record.worker or {}).get("name", "its worker")
                reason = f"worker {worker} lost (no heartbeat for {age:.0f} s)"
                token = self.queue.requeue_lost(record, reason)
            else:
                token = self.queue.requeue_orphan(record)
            self._seen.pop(record.run_id, None)
            if token is not None:
                logger.warning("run %s queued again: %s", record.run_id, record.status)
                requeued.append(record.run_id)
        for run_id in set(self._seen) - active:
            del self._seen[run_id]
        return requeued

    def _stale(self, run_id: str, state: tuple[Any, ...]) -> bool:
        seen = self._seen.get(run_id)
        if seen is None or seen[0] != state:
            self._seen[run_id] = (state, time.monotonic())
            return False
        return time.monotonic() - seen[1] > self.timeout_s

    def forget(self) -> None:
        """Start observing afresh (after Redis was unreachable)."""
        self._seen.clear()


def reconcile(queue: RunQueue, settings: ServiceSettings) -> int:
    """Bring a Redis with leftover state (or none) in line with the run folders: add the runs
    it does not know. Queued runs whose job is gone are left to the reaper.

    Returns:
        Runs added from their folders.
    """
    return queue.store.rebuild_from_folders(settings.output_dir.resolve())


class Heart:
    """The worker's heartbeat and reaper, on a thread.

    Args:
        queue: The run queue (its own Redis connection, with timeouts).
        name: The worker's name.
        settings: Intervals.
    """

    def __init__(self, queue: RunQueue, name: str, settings: ServiceSettings):
        self.queue, self.name, self.settings = queue, name, settings
        self.reaper = Reaper(queue, settings.heartbeat_timeout_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="storyqa-heart", daemon=True)
        self.info = {
            "name": name,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": now(),
            "output_dir": str(settings.output_dir.resolve()),
        }

    def start(self) -> None:
        self._beat()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(Exception):
            self.queue.store.remove_worker(self.name)

    def _loop(self) -> None:
        import redis

        last_pass = time.monotonic()
        while not self._stop.wait(self.settings.heartbeat_s):
            if time.monotonic() - last_pass > 3 * self.settings.heartbeat_s + 1:
                self.reaper.forget()  # Redis was out of reach: the heartbeats we saw are old
            try:
                self._beat()
                self.reaper.tick()
                last_pass = time.monotonic()
            except redis.RedisError as error:
                logger.warning("worker %s: Redis unreachable (%s); retrying", self.name, error)
            except Exception:  # the heart must keep beating
                logger.exception("worker %s: reaper pass failed", self.name)

    def _beat(self) -> None:
        self.queue.store.beat_worker(
            self.name, {**self.info, "heartbeat": now()}, self.settings.heartbeat_timeout_s
        )


#: Seconds the worker's pub/sub thread (RQ's command channel) waits between two looks.
PUBSUB_WAKE_S: Final = 1.0


def storyqa_worker_class() -> type[rq.Worker]:
    """RQ's forking worker, whose warm shutdown first asks the running attempt to stop, and
    whose command-channel thread wakes every :data:`PUBSUB_WAKE_S` seconds (RQ's 60 s would
    hold a stopping worker for up to a minute: its teardown waits for that thread, which
    redis-py ≥ 8.2 joins, and the thread sleeps the whole interval once unsubscribed)."""
    import rq

    class StoryqaWorker(rq.Worker):
        stopping = False

        def subscribe(self) -> None:
            self.pubsub = self.connection.pubsub()
            self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
            self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
                sleep_time=PUBSUB_WAKE_S,  # (RQ declares the attribute as None)
                daemon=True,
                exception_handler=self._pubsub_exception_handler,
            )

        def request_stop(self, signum: int, frame: Any) -> None:
            self.stopping = True
            horse = getattr(self, "horse_pid", 0)
            if horse:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(horse, signal.SIGTERM)
            super().request_stop(signum, frame)

    return StoryqaWorker


def run_worker(settings: ServiceSettings, redis_url: str, *, burst: bool = False) -> None:
    """Run one worker until SIGTERM or Ctrl-C (or, with ``burst``, until the queue is empty).

    When Redis goes away for longer than RQ's worker can bear, the worker waits for its
    running attempt to end (it carries on, or stops itself and is resumed), waits for Redis to
    answer again, and takes jobs again.

    Args:
        settings: The service's settings (this worker's output folder: the same shared folder
            as every other worker's).
        redis_url: The Redis the queue lives in.
        burst: Stop when the queue is empty (tests).
    """
    from services import jobs

    if settings.worker_nice:
        os.nice(settings.worker_nice)  # the API answers first; training takes what is left
    name = worker_name()
    patience = settings.heartbeat_timeout_s
    queue = RunQueue(connect(redis_url, patience_s=patience), settings)
    added = reconcile(queue, settings)
    if added:
        logger.warning("worker %s: %d run(s) added from their folders", name, added)
    jobs.configure(settings, redis_url, name)
    heart = Heart(queue, name, settings)
    heart.start()
    try:
        while True:
            worker = storyqa_worker_class()(
                [queue.queue.name],
                connection=connect(redis_url, timeout_s=None, patience_s=patience),
                name=name,
            )
            with contextlib.suppress(redis_errors()):
                worker.work(burst=burst, logging_level="WARNING")
            if getattr(worker, "stopping", False) or burst:
                return
            logger.warning("worker %s: lost Redis; taking jobs again once it answers", name)
            _wait_for_attempt(getattr(worker, "horse_pid", 0))
            _wait_for_redis(queue)
    finally:
        heart.stop()


def redis_errors() -> type[Exception]:
    """Redis' errors (imported when needed)."""
    import redis

    return redis.RedisError


def _wait_for_attempt(pid: int) -> None:
    """Let a running attempt end by itself (it carries on, or stops itself)."""
    if pid:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _wait_for_redis(queue: RunQueue) -> None:
    import redis

    while True:
        try:
            queue.store.redis.ping()
            return
        except redis.RedisError:
            time.sleep(1.0)
