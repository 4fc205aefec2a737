"""The run store on a real Redis: records round-trip, writes are fenced by the attempt's
token, a new attempt is a compare-and-set, workers expire, and a store on an empty Redis is
rebuilt from the run folders."""

from __future__ import annotations

import time
from pathlib import Path

from services.redis_server import EmbeddedRedis
from services.store import RunRecord, RunStatus, RunStore, connect, record_from_manifest
from trainers.records.manifest import RunManifest


def record(run_id: str = "run-a", status: str = RunStatus.RUNNING) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        status=status,
        model="lstm",
        dataset="all_4dir",
        overrides=["model=lstm"],
        config={"model": {"name": "lstm"}, "trainer": {"max_epochs": 3}},
        attempt=1,
        token="t1",
        worker={"name": "w", "host": "h", "pid": 1, "job_pid": 2},
        heartbeat=10.5,
        created_at=1.0,
        evaluation={"test": 0.5},
    )


def test_a_record_round_trips(redis_url: str) -> None:
    store = RunStore(connect(redis_url))
    store.create(record())
    assert store.get("run-a") == record()
    assert store.ids() == ["run-a"] and [r.run_id for r in store.all()] == ["run-a"]


def test_only_the_current_attempt_may_write(redis_url: str) -> None:
    store = RunStore(connect(redis_url))
    store.create(record())
    assert store.update_fenced("run-a", "t1", epoch=2)
    assert not store.update_fenced("run-a", "stale", status=RunStatus.FINISHED)
    assert store.get("run-a").status == RunStatus.RUNNING and store.get("run-a").epoch == 2


def test_a_new_attempt_is_a_compare_and_set(redis_url: str) -> None:
    store = RunStore(connect(redis_url))
    store.create(record())
    assert store.new_attempt("run-a", "t1", RunStatus.QUEUED, status="x") is None  # not queued
    token = store.new_attempt("run-a", "t1", RunStatus.RUNNING, status=RunStatus.QUEUED)
    assert token is not None and token != "t1"
    assert store.new_attempt("run-a", "t1", "", status="y") is None  # t1 is no longer current
    fresh = store.get("run-a")
    assert (fresh.attempt, fresh.token, fresh.status) == (2, token, RunStatus.QUEUED)
    assert not store.update_fenced("run-a", "t1", status=RunStatus.FINISHED)


def test_workers_expire_without_heartbeats(redis_url: str) -> None:
    store = RunStore(connect(redis_url))
    store.beat_worker("w1", {"name": "w1", "host": "h", "pid": 1, "heartbeat": 0.0}, ttl_s=1)
    assert [w["name"] for w in store.workers()] == ["w1"]
    time.sleep(1.5)
    assert store.workers() == []


def manifest(run_dir: Path, status: str, epochs: int) -> None:
    started = RunManifest.start(
        run_dir, framework="keras", model="lstm", seed=0, dataset={"name": "all_4dir"},
        trainer={"max_epochs": 5}, git_commit=None, hardware={},
    )  # fmt: skip
    started.update(status=status, epochs_completed=epochs, best={"val_accuracy": 0.6})


def test_a_store_on_an_empty_redis_is_rebuilt_from_the_run_folders(
    redis_url: str, output_dir: Path
) -> None:
    manifest(output_dir / "runs" / "done", "finished", 5)
    manifest(output_dir / "runs" / "orphan", "running", 2)
    (output_dir / "runs" / "not-a-run").mkdir()
    store = RunStore(connect(redis_url))
    assert store.rebuild_from_folders(output_dir) == 2
    done, orphan = store.get("done"), store.get("orphan")
    assert (done.status, done.epoch, done.best_val_accuracy) == (RunStatus.FINISHED, 5, 0.6)
    assert orphan.status == RunStatus.INTERRUPTED and "resume it" in orphan.message
    assert orphan.max_epochs == 5
    assert store.rebuild_from_folders(output_dir) == 0  # known runs are left as they are


def test_a_record_from_a_manifest_keeps_its_times(tmp_path: Path) -> None:
    manifest(tmp_path / "r", "interrupted", 1)
    rebuilt = record_from_manifest(RunManifest.load(tmp_path / "r"))
    assert rebuilt.created_at is not None and rebuilt.created_at > 1.7e9


def test_a_redis_restart_keeps_the_queue(tmp_path: Path) -> None:
    """Append-only persistence: what was written survives a restart of the server."""
    server = EmbeddedRedis(tmp_path / "service").start()
    try:
        RunStore(connect(server.url)).create(record("kept", RunStatus.QUEUED))
        server.stop()
        server.start()
        assert RunStore(connect(server.url)).get("kept").status == RunStatus.QUEUED
        assert (tmp_path / "service" / "appendonly.aof").stat().st_size > 0
    finally:
        server.stop()
