"""One attempt of a run, inside a worker's job process (RQ's work horse).

:func:`run_attempt` trains the run with the trainers' own pipeline (``run_pipeline``; a run
that has a checkpoint is continued with ``resume=``, so that it ends exactly as an
uninterrupted run would), writes the run's console into its ``run.log``, and records the end:
``finished``, ``failed`` (a config or data error, or a crash: never retried), ``canceled``,
or back to the queue when its worker shut down. SIGTERM stops the attempt in an orderly
way whatever it is doing (training, building data, evaluating). A :class:`Watchdog` thread
beside it beats the heartbeat, reports progress from the manifest, turns a cancel request into
SIGTERM (storyqa's orderly stop: checkpoints, manifest and sinks written) and kills the
attempt when:

- its worker is gone (RQ's job process lives in a process group of its own and survives a
  SIGKILL of its worker),
- the run has moved on to another attempt (its token is no longer current, in Redis or in the
  run folder's fence file),
- it has not reached Redis for half the heartbeat timeout (it is about to be taken for lost),
- a cancel was not honoured within ``service.cancel_grace_s``.

So an old attempt never writes after a new one has started.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from services.events.schemas import (
    Event,
    RunCanceled,
    RunFailed,
    RunFinished,
    RunResumed,
    RunStarted,
    SplitAccuracy,
)
from services.events.stream import publish
from services.events.tail import RecordTail
from services.queue import event_fields, finish_sweep_if_done
from services.settings import ServiceSettings
from services.store import RunRecord, RunStatus, RunStore, now, worker_identity
from trainers.signals import termination_as_interrupt

logger = logging.getLogger(__name__)

#: The file in a run folder that names the attempt allowed to write into it.
FENCE_FILE: Final = ".service-attempt"
#: What the service's runs record as their command (the run's context).
SOURCE: Final = "storyqa-service"
#: The longest back-off before a retried attempt starts.
MAX_BACKOFF_S: Final = 30.0


class _Worker:
    """The settings and identity of the worker this process belongs to (set by
    :func:`services.worker.run_worker` before it forks job processes)."""

    settings: ServiceSettings | None = None
    redis_url: str = ""
    name: str = ""


def configure(settings: ServiceSettings, redis_url: str, name: str) -> None:
    """Tell the jobs of this worker its settings, Redis and name."""
    _Worker.settings, _Worker.redis_url, _Worker.name = settings, redis_url, name


def run_attempt(run_id: str, token: str) -> str:
    """Run one attempt of ``run_id`` (RQ's job function).

    Args:
        run_id: The run.
        token: The attempt's token: nothing is written once it is no longer current.

    Returns:
        How the attempt ended (RQ keeps it as the job's result).
    """
    from services.queue import RunQueue
    from services.store import connect

    settings = _Worker.settings
    assert settings is not None, "services.jobs.configure() was not called in this worker"
    # Patient through a Redis restart, and within a third of the heartbeat timeout, so that
    # an attempt cut off from Redis stops itself before it is taken for lost.
    store = RunStore(connect(_Worker.redis_url, patience_s=settings.heartbeat_timeout_s / 3))
    record = store.get(run_id)
    if record.not_before is not None and record.not_before > now():  # a retry's back-off
        time.sleep(min(record.not_before - now(), MAX_BACKOFF_S))
        record = store.get(run_id)
    if record.token != token or record.status != RunStatus.QUEUED:
        return "superseded"
    run_dir = settings.output_dir.resolve() / "runs" / run_id
    identity = worker_identity(_Worker.name)
    started = store.update_fenced(
        run_id,
        token,
        status=RunStatus.RUNNING,
        worker=identity,
        heartbeat=now(),
        started_at=now(),
        message="",
    )
    if not started:
        return "superseded"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / FENCE_FILE).write_text(token, encoding="utf-8")  # only the current attempt's
    started_event = RunStarted(
        **event_fields(record),
        attempt=record.attempt,
        worker=str(identity["name"]),
        host=str(identity["host"]),
    )
    publish(store.redis, started_event)
    watchdog = Watchdog(store, record, token, run_dir, settings)
    with console_into(run_dir / "run.log"), termination_as_interrupt(), watchdog.running():
        outcome = _train(record, run_dir, settings, store)
    if outcome.interrupted and not watchdog.cancel_requested:
        RunQueue(store.redis, settings).requeue_after_shutdown(store.get(run_id))
        return "requeued"
    fields = outcome.fields
    if outcome.interrupted:
        fields = {"status": RunStatus.CANCELED, "message": "canceled: stopped at the end of a step"}
    if store.update_fenced(run_id, token, ended_at=now(), cancel_requested=False, **fields):
        publish(store.redis, end_event(store.get(run_id), outcome))
        finish_sweep_if_done(store, record.sweep_id, settings.output_dir)
    return str(fields["status"])


@dataclass
class Outcome:
    """How an attempt's training ended.

    Attributes:
        fields: The run's store fields to set.
        interrupted: It stopped on SIGTERM (a cancel, or its worker shutting down).
        headline: Split -> accuracy with its 95% interval, for a finished run.
        best_epoch: The best epoch, for a finished run.
    """

    fields: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    headline: dict[str, SplitAccuracy] = field(default_factory=dict)
    best_epoch: int | None = None


def end_event(record: RunRecord, outcome: Outcome) -> Event:
    """``run.finished.v1``, ``run.failed.v1`` or ``run.canceled.v1`` of a run that ended."""
    common, attempt = event_fields(record), record.attempt
    if record.status == RunStatus.FINISHED:
        seconds = None
        if record.created_at is not None and record.ended_at is not None:
            seconds = round(record.ended_at - record.created_at, 3)
        return RunFinished(
            **common,
            attempt=attempt,
            best_epoch=outcome.best_epoch,
            best_val_accuracy=record.best_val_accuracy,
            headline=outcome.headline,
            seconds=seconds,
        )
    if record.status == RunStatus.FAILED:
        return RunFailed(
            **common, attempt=attempt, error_class=record.error_class, message=record.message
        )
    return RunCanceled(**common, attempt=attempt, killed=record.killed, message=record.message)


def _train(record: RunRecord, run_dir: Path, settings: ServiceSettings, store: RunStore) -> Outcome:
    """Train (or continue) the run; how it ended."""
    from rq.timeouts import JobTimeoutException

    from trainers.runs.pipeline import USER_ERRORS, run_pipeline
    from trainers.tracking import Invocation

    invocation = Invocation(command=(SOURCE, "submit", *record.overrides), source=SOURCE)
    try:
        done = _epochs_done(run_dir)
        if done is not None:
            print(f"service: attempt {record.attempt}: continuing from the last checkpoint")
            resumed = RunResumed(**event_fields(record), attempt=record.attempt, from_epoch=done)
            publish(store.redis, resumed)
            out = run_pipeline({}, resume=run_dir, progress=False, invocation=invocation)
        else:
            config = {**record.config, "output_dir": str(settings.output_dir.resolve())}
            out = run_pipeline(config, run_dir=run_dir, progress=False, invocation=invocation)
    except KeyboardInterrupt:
        return Outcome(interrupted=True)
    except JobTimeoutException as error:
        return _failure("infrastructure", f"stopped by the job's time limit: {error}")
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return _failure("user", f"error: {error}")
    except Exception as error:
        traceback.print_exc()
        return _failure("crash", f"{type(error).__name__}: {error} (traceback in run.log)")
    evaluations = out["evaluations"]
    return Outcome(
        fields={
            **progress(run_dir),
            "status": RunStatus.FINISHED,
            "best_val_accuracy": out["training"].best_val_accuracy,
            "evaluation": {split: float(r.accuracy) for split, r in evaluations.items()},
            "message": "",
        },
        headline={split: split_accuracy(r) for split, r in evaluations.items()},
        best_epoch=out["training"].best_epoch,
    )


def split_accuracy(result: Any) -> SplitAccuracy:
    """A split's evaluation as accuracy with its 95% Wilson interval."""
    from metrics.functional import wilson_interval

    total = int(result.n_samples)
    accuracy = float(result.accuracy)
    low, high = wilson_interval(round(accuracy * total), total) if total else (None, None)
    return SplitAccuracy(accuracy=accuracy, low=low, high=high, examples=total)


def _failure(error_class: str, message: str) -> Outcome:
    return Outcome(
        fields={"status": RunStatus.FAILED, "error_class": error_class, "message": message}
    )


def _epochs_done(run_dir: Path) -> int | None:
    """The epochs an earlier attempt finished, when the run folder holds something to continue
    (else ``None``). A run that finished no epoch is started again from the start (its folder
    cleared but for its log and the fence file, its MLflow run closed as ``KILLED``:
    :func:`trainers.runs.pipeline.restart_unstarted_run`), saying so."""
    from trainers.records.manifest import RunManifest
    from trainers.runs.pipeline import restart_unstarted_run

    if not RunManifest.path_for(run_dir).is_file():
        return None
    if restart_unstarted_run(run_dir, keep=(FENCE_FILE,)):
        print("service: the earlier attempt finished no epoch; training again from the start")
        return None
    return RunManifest.load(run_dir).epochs_completed


@contextlib.contextmanager
def console_into(log: Path) -> Iterator[None]:
    """Within the block, this process' stdout and stderr (Python's and the C libraries')
    are appended to ``log``: the run's console, as ``train.py`` would have printed it. The
    worker's own log handlers are set aside meanwhile (the run's log records its warnings
    itself), so nothing is written twice."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        for handler in handlers:
            root.removeHandler(handler)
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield
    finally:
        for handler in handlers:
            root.addHandler(handler)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (target, *saved):
            os.close(fd)


class Watchdog:
    """The attempt's heartbeat, progress, events, cancel and fencing, on a thread of the job
    process.

    Args:
        store: The run store.
        record: The run (its id, model and sweep name its events).
        token: This attempt's token.
        run_dir: The run folder (its records give the progress and the events; its fence
            file the token).
        settings: Heartbeat interval and timeout, cancel grace period.
    """

    #: Seconds between two looks at the run's records (an epoch's event follows its end
    #: within about this long) and at the worker.
    TICK_S = 0.1

    def __init__(
        self,
        store: RunStore,
        record: RunRecord,
        token: str,
        run_dir: Path,
        settings: ServiceSettings,
    ):
        self.store, self.run_id, self.token = store, record.run_id, token
        self.run_dir, self.settings = run_dir, settings
        self.cancel_requested = False
        self._signalled_at: float | None = None
        self._stop = threading.Event()
        self._parent = os.getppid()
        self._last_contact = time.monotonic()
        self.tail = RecordTail(
            run_dir,
            run_id=record.run_id,
            model=record.model,
            sweep_id=record.sweep_id,
            max_epochs=record.max_epochs,
        )
        self.tail.skip_existing()  # an earlier attempt published those

    @contextlib.contextmanager
    def running(self) -> Iterator[Watchdog]:
        """Watch while the block runs (and publish what the last look finds)."""
        thread = threading.Thread(target=self._loop, name="storyqa-watchdog", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self._publish(self.tail.poll())

    def _loop(self) -> None:
        next_beat = 0.0
        while not self._stop.wait(self.TICK_S):
            if os.getppid() != self._parent:
                self._die("its worker is gone")
            self._publish(self.tail.poll())
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + self.settings.heartbeat_s
                self._beat()
                self._publish(self.tail.poll_checkpoints())
            self._enforce_cancel()

    def _publish(self, events: list[Event]) -> None:
        for event in events:
            publish(self.store.redis, event)

    def _beat(self) -> None:
        import redis

        if _read(self.run_dir / FENCE_FILE) not in (self.token, None):
            self._die("another attempt owns the run folder")
        try:
            current = self.store.update_fenced(
                self.run_id, self.token, heartbeat=now(), **progress(self.run_dir)
            )
            cancel = self.store.redis.hget(f"storyqa:run:{self.run_id}", "cancel_requested")
        except redis.RedisError:
            if time.monotonic() - self._last_contact > self.settings.heartbeat_timeout_s / 2:
                self._die("Redis unreachable for half the heartbeat timeout")
            return
        self._last_contact = time.monotonic()
        if not current:
            self._die("the run has moved on to another attempt")
        if cancel == b"1":
            self.cancel_requested = True

    def _enforce_cancel(self) -> None:
        if not self.cancel_requested:
            return
        if self._signalled_at is None:
            self._signalled_at = time.monotonic()
            print("service: cancel requested; stopping at the end of the current step")
            os.kill(os.getpid(), signal.SIGTERM)
        elif time.monotonic() - self._signalled_at > self.settings.cancel_grace_s:
            grace = self.settings.cancel_grace_s
            with contextlib.suppress(Exception):
                killed = self.store.update_fenced(
                    self.run_id,
                    self.token,
                    status=RunStatus.CANCELED,
                    killed=True,
                    cancel_requested=False,
                    ended_at=now(),
                    message=f"canceled: killed after it did not stop within {grace:g} s "
                    "(service.cancel_grace_s); resume continues from its last finished epoch",
                )
                if killed:
                    record = self.store.get(self.run_id)
                    publish(self.store.redis, end_event(record, Outcome()))
                    finish_sweep_if_done(self.store, record.sweep_id, self.settings.output_dir)
            self._die("cancel grace period over")

    def _die(self, why: str) -> None:
        """End this attempt at once (its process group: the job process and what it started)
        without writing anything more."""
        print(f"service: attempt stopped: {why}", flush=True)
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)


def progress(run_dir: Path) -> dict[str, Any]:
    """Epochs finished and the best validation accuracy so far, from the run's manifest."""
    import json

    text = _read(run_dir / "manifest.json")
    if not text:
        return {}
    try:
        manifest = json.loads(text)
    except ValueError:
        return {}
    best = (manifest.get("best") or {}).get("val_accuracy")
    return {"epoch": int(manifest.get("epochs_completed") or 0), "best_val_accuracy": best}


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None
