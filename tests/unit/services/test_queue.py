"""The run queue and the reaper on a real Redis (no worker: jobs stay queued): submitting,
cancelling, resuming, re-queueing a lost run with back-off until the retry limit, and finding
a run whose heartbeat stopped."""

from __future__ import annotations

import time

import pytest

from services.queue import NewRun, QueueConflict, RunQueue
from services.settings import ServiceSettings
from services.store import RunStatus, connect, now
from services.worker import Reaper

CONFIG = {"model": {"name": "lstm"}, "trainer": {"max_epochs": 3, "max_minutes": 2}}


def queue(redis_url: str, **settings: object) -> RunQueue:
    return RunQueue(connect(redis_url), ServiceSettings(**settings))  # type: ignore[arg-type]


def submit(runs: RunQueue, run_id: str = "r1") -> str:
    (job_id,) = runs.submit([NewRun(run_id, CONFIG, ["model=lstm"], "lstm", "all_4dir")])
    return job_id


def test_a_submitted_run_is_queued_with_its_job(redis_url: str) -> None:
    runs = queue(redis_url, job_timeout_margin_s=60)
    job_id = submit(runs)
    record = runs.store.get("r1")
    assert (record.status, record.attempt, record.job_id) == (RunStatus.QUEUED, 1, job_id)
    assert record.job_timeout == 2 * 60 + 60
    assert runs.job_pending(job_id) and runs.queue.job_ids == [job_id]


def test_a_queued_run_canceled_never_starts(redis_url: str) -> None:
    runs = queue(redis_url)
    job_id = submit(runs)
    assert runs.cancel("r1").status == RunStatus.CANCELED
    assert not runs.job_pending(job_id)
    with pytest.raises(QueueConflict, match="nothing to cancel"):
        runs.cancel("r1")


def test_a_running_run_is_asked_to_stop(redis_url: str) -> None:
    runs = queue(redis_url)
    submit(runs)
    token = runs.store.get("r1").token
    runs.store.update_fenced("r1", token, status=RunStatus.RUNNING)
    asked = runs.cancel("r1")
    assert asked.status == RunStatus.RUNNING and asked.cancel_requested
    with pytest.raises(QueueConflict, match="only a canceled, interrupted or failed run"):
        runs.resume("r1")


def test_a_resumed_run_is_a_new_attempt(redis_url: str) -> None:
    runs = queue(redis_url)
    submit(runs)
    runs.cancel("r1")
    resumed = runs.resume("r1")
    assert (resumed.status, resumed.attempt, resumed.job_id) == (RunStatus.QUEUED, 2, "r1--2")
    assert runs.job_pending("r1--2")


def test_a_lost_run_is_resumed_with_back_off_until_the_retry_limit(redis_url: str) -> None:
    runs = queue(redis_url, max_retries=2)
    submit(runs)
    for loss in (1, 2):
        record = runs.store.get("r1")
        runs.store.update_fenced("r1", record.token, status=RunStatus.RUNNING)
        assert runs.requeue_lost(runs.store.get("r1"), "worker w lost") is not None
        again = runs.store.get("r1")
        assert (again.status, again.losses, again.attempt) == (RunStatus.QUEUED, loss, loss + 1)
        assert again.not_before is not None and again.not_before > now()
        assert f"retry {loss} of 2" in again.message
    record = runs.store.get("r1")
    runs.store.update_fenced("r1", record.token, status=RunStatus.RUNNING)
    assert runs.requeue_lost(runs.store.get("r1"), "worker w lost") is None
    failed = runs.store.get("r1")
    assert (failed.status, failed.error_class) == (RunStatus.FAILED, "infrastructure")
    assert "lost 3 times" in failed.message


def test_the_reaper_requeues_a_run_whose_heartbeat_stopped(redis_url: str) -> None:
    runs = queue(redis_url)
    submit(runs, "beating")
    submit(runs, "silent")
    for run_id in ("beating", "silent"):
        record = runs.store.get(run_id)
        runs.store.update_fenced(run_id, record.token, status=RunStatus.RUNNING, heartbeat=1.0)
    reaper = Reaper(runs, timeout_s=0.3)
    assert reaper.tick() == []  # first sight
    beat, requeued = 2.0, []
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:
        token = runs.store.get("beating").token
        runs.store.update_fenced("beating", token, heartbeat=beat)
        beat += 1
        requeued += reaper.tick()
        time.sleep(0.05)
    assert requeued == ["silent"]
    assert runs.store.get("silent").status == RunStatus.QUEUED
    assert runs.store.get("beating").status == RunStatus.RUNNING


def test_the_reaper_forgets_what_it_saw_while_redis_was_away(redis_url: str) -> None:
    runs = queue(redis_url)
    submit(runs)
    record = runs.store.get("r1")
    runs.store.update_fenced("r1", record.token, status=RunStatus.RUNNING, heartbeat=1.0)
    reaper = Reaper(runs, timeout_s=0.2)
    reaper.tick()
    time.sleep(0.3)
    reaper.forget()
    assert reaper.tick() == []  # seen afresh
