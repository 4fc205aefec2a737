"""A stopping worker ends at once: its command-channel thread (RQ's pub/sub) does not hold
its teardown for RQ's 60-second sleep, even when the thread has already seen the channel
unsubscribed and gone to sleep (the case that kept a stopping service's worker alive for a
minute)."""

from __future__ import annotations

import time
from collections.abc import Callable

from services.store import connect
from services.worker import PUBSUB_WAKE_S, storyqa_worker_class

#: Well under RQ's own 60 s sleep, well over this worker's wake-up interval.
BOUND_S = 20.0


def _until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_teardown_does_not_wait_for_the_pubsub_threads_sleep(redis_url: str) -> None:
    worker = storyqa_worker_class()(["storyqa-test"], connection=connect(redis_url))
    worker.subscribe()
    _until(lambda: worker.pubsub.subscribed, "the subscription")
    # The race: the thread reads the unsubscribe's reply before the teardown stops it, and
    # sleeps in get_message() until the channel is subscribed again or its interval is over.
    worker.pubsub.unsubscribe()
    _until(lambda: not worker.pubsub.subscribed, "the unsubscribe's reply")
    time.sleep(2 * PUBSUB_WAKE_S)  # asleep again, for one interval at most
    began = time.monotonic()
    worker.unsubscribe()
    assert time.monotonic() - began < BOUND_S
    assert not worker.pubsub_thread.is_alive()
