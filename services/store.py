"""A run's live state in Redis, fenced per attempt.

Each run is a hash ``storyqa:run:<id>`` (status, attempt, the attempt's token, worker,
heartbeat, progress, message, the validated config) indexed by ``storyqa:runs``. Every
write an attempt makes names its token and is refused once the run has moved on to another
attempt (:meth:`RunStore.update_fenced`, one Lua script), so an old attempt that is still
alive can never mark the run finished. The run folder stays the source of truth: a store on
an empty Redis is rebuilt from the run folders (:meth:`RunStore.rebuild_from_folders`).

Example:
    >>> RunStatus.terminal("finished"), RunStatus.terminal("running")
    (True, False)
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final

if TYPE_CHECKING:
    import redis
    import redis.asyncio

PREFIX: Final = "storyqa"
RUNS_INDEX: Final = f"{PREFIX}:runs"
WORKERS_INDEX: Final = f"{PREFIX}:workers"
#: The RQ queue every worker takes jobs from.
QUEUE_NAME: Final = "storyqa"

_FENCED_UPDATE: Final = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
if #ARGV > 1 then redis.call('HSET', KEYS[1], unpack(ARGV, 2)) end
return 1
"""
#: Move a run to a new attempt when it is still at ``expected`` token and status.
_NEW_ATTEMPT: Final = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'status') ~= ARGV[2] then return 0 end
if ARGV[3] == '1' then redis.call('HINCRBY', KEYS[1], 'attempt', 1) end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
return 1
"""


class RunStatus:
    """The statuses a run has in the service."""

    QUEUED: Final = "queued"
    RUNNING: Final = "running"
    FINISHED: Final = "finished"
    FAILED: Final = "failed"
    CANCELED: Final = "canceled"
    INTERRUPTED: Final = "interrupted"
    ALL: Final = (QUEUED, RUNNING, FINISHED, FAILED, CANCELED, INTERRUPTED)
    #: Statuses a run can be resumed from.
    RESUMABLE: Final = (CANCELED, INTERRUPTED, FAILED)

    @staticmethod
    def terminal(status: str) -> bool:
        """Whether nothing more happens to a run in ``status`` unless it is resumed."""
        return status not in (RunStatus.QUEUED, RunStatus.RUNNING)


class UnknownRun(KeyError):
    """No run of that id in the service."""


def new_token() -> str:
    """A fresh attempt token."""
    return secrets.token_hex(8)


def now() -> float:
    """Wall-clock seconds (what heartbeats and times are stored as)."""
    return time.time()


def worker_identity(name: str) -> dict[str, Any]:
    """Who is running an attempt, called in its job process: the worker's name, host and pid,
    and the job process' own pid."""
    return {"name": name, "host": socket.gethostname(), "pid": os.getppid(), "job_pid": os.getpid()}


@dataclass
class RunRecord:
    """A run as the store holds it.

    Attributes:
        run_id: The run folder's name.
        status: One of :attr:`RunStatus.ALL`.
        model: The model's name.
        dataset: The dataset's name.
        overrides: The command-line overrides it was submitted with.
        config: The validated run config (what ``run_pipeline`` takes).
        attempt: Attempts so far (1 for the first).
        losses: Attempts that ended with their worker lost (bounded by
            ``service.max_retries``).
        token: The current attempt's token.
        job_id: The RQ job of the current attempt.
        worker: ``name``, ``host``, ``pid`` of the worker running it and ``job_pid``, its job
            process.
        heartbeat: Wall-clock time of the current attempt's last heartbeat.
        not_before: A retried attempt waits until this wall-clock time (back-off).
        epoch: Epochs finished.
        max_epochs: ``trainer.max_epochs``.
        best_val_accuracy: Best validation accuracy so far.
        message: What happened last (the failure's message, why it was re-queued, ...).
        error_class: ``user`` (config or data), ``infrastructure`` or ``crash`` for a failure.
        cancel_requested: A cancel is pending.
        killed: The attempt was killed after the cancel grace period.
        sweep_id: The sweep the run belongs to.
        created_at, started_at, ended_at: Wall-clock times.
        evaluation: Split -> accuracy of the best checkpoint, once finished.
        job_timeout: RQ's time limit of the job in seconds (-1: none).
    """

    run_id: str
    status: str
    model: str = ""
    dataset: str = ""
    overrides: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    attempt: int = 0
    losses: int = 0
    token: str = ""
    job_id: str = ""
    worker: dict[str, Any] | None = None
    heartbeat: float | None = None
    not_before: float | None = None
    epoch: int = 0
    max_epochs: int | None = None
    best_val_accuracy: float | None = None
    message: str = ""
    error_class: str = ""
    cancel_requested: bool = False
    killed: bool = False
    sweep_id: str = ""
    created_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    evaluation: dict[str, float] = field(default_factory=dict)
    job_timeout: int = -1

    JSON_FIELDS: ClassVar[tuple[str, ...]] = ("overrides", "config", "worker", "evaluation")
    FLOAT_FIELDS: ClassVar[tuple[str, ...]] = (
        "heartbeat",
        "not_before",
        "best_val_accuracy",
        "created_at",
        "started_at",
        "ended_at",
    )
    INT_FIELDS: ClassVar[tuple[str, ...]] = (
        "attempt",
        "losses",
        "epoch",
        "max_epochs",
        "job_timeout",
    )
    BOOL_FIELDS: ClassVar[tuple[str, ...]] = ("cancel_requested", "killed")

    @classmethod
    def from_hash(cls, data: Mapping[bytes | str, bytes | str]) -> RunRecord:
        """Decode a Redis hash."""
        plain = {_text(k): _text(v) for k, v in data.items()}
        values: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            if name not in plain:
                continue
            raw = plain[name]
            if name in cls.JSON_FIELDS:
                values[name] = json.loads(raw) if raw else None
            elif name in cls.FLOAT_FIELDS:
                values[name] = float(raw) if raw else None
            elif name in cls.INT_FIELDS:
                values[name] = int(raw) if raw else None
            elif name in cls.BOOL_FIELDS:
                values[name] = raw == "1"
            else:
                values[name] = raw
        for name in ("overrides", "config", "evaluation"):
            if values.get(name) is None:
                values.pop(name, None)
        values.setdefault("attempt", 0)
        values["attempt"] = values["attempt"] or 0
        values["epoch"] = values.get("epoch") or 0
        values["losses"] = values.get("losses") or 0
        values["job_timeout"] = -1 if values.get("job_timeout") is None else values["job_timeout"]
        return cls(**values)

    @property
    def terminal(self) -> bool:
        """See :meth:`RunStatus.terminal`."""
        return RunStatus.terminal(self.status)


def encode_fields(values: Mapping[str, Any]) -> dict[Any, str]:
    """Field values as Redis hash strings (JSON for structures, ``1``/``0`` for booleans,
    ``""`` for ``None``).

    Example:
        >>> encode_fields({"epoch": 3, "worker": {"pid": 1}, "killed": True, "heartbeat": None})
        {'epoch': '3', 'worker': '{"pid": 1}', 'killed': '1', 'heartbeat': ''}
    """
    out: dict[Any, str] = {}
    for key, value in values.items():
        if key in RunRecord.JSON_FIELDS:
            out[key] = "" if value is None else json.dumps(value)
        elif isinstance(value, bool):
            out[key] = "1" if value else "0"
        else:
            out[key] = "" if value is None else str(value)
    return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def run_key(run_id: str) -> str:
    """The run's hash."""
    return f"{PREFIX}:run:{run_id}"


def worker_key(name: str) -> str:
    """A worker's heartbeat hash (it expires when the worker stops beating)."""
    return f"{PREFIX}:worker:{name}"


def sweep_key(sweep_id: str) -> str:
    """A sweep's hash."""
    return f"{PREFIX}:sweep:{sweep_id}"


class RunStore:
    """Runs, workers and sweeps in Redis.

    Args:
        connection: A Redis client.
    """

    def __init__(self, connection: redis.Redis):
        self.redis = connection
        self._fenced = connection.register_script(_FENCED_UPDATE)
        self._attempt = connection.register_script(_NEW_ATTEMPT)

    # runs ---------------------------------------------------------------------------------
    def create(self, record: RunRecord, pipeline: Any = None) -> None:
        """Add a new run (in ``pipeline`` when given, so that it lands with its job)."""
        target = pipeline if pipeline is not None else self.redis
        fields = {k: v for k, v in vars(record).items() if k in RunRecord.__dataclass_fields__}
        target.hset(run_key(record.run_id), mapping=encode_fields(fields))
        target.zadd(RUNS_INDEX, {record.run_id: record.created_at or now()})

    def get(self, run_id: str) -> RunRecord:
        """The run.

        Raises:
            UnknownRun: No such run.
        """
        data = self.redis.hgetall(run_key(run_id))
        if not data:
            raise UnknownRun(run_id)
        return RunRecord.from_hash(data)

    def exists(self, run_id: str) -> bool:
        """Whether the store holds the run."""
        return bool(self.redis.exists(run_key(run_id)))

    def ids(self) -> list[str]:
        """Every run id, oldest first."""
        return [_text(item) for item in self.redis.zrange(RUNS_INDEX, 0, -1)]  # type: ignore[arg-type]

    def all(self) -> Iterator[RunRecord]:
        """Every run, oldest first."""
        ids = self.ids()
        pipe = self.redis.pipeline(transaction=False)
        for run_id in ids:
            pipe.hgetall(run_key(run_id))
        for data in pipe.execute():
            if data:
                yield RunRecord.from_hash(data)

    def update(self, run_id: str, **values: Any) -> None:
        """Set fields regardless of the attempt (the API's own writes: cancel requests)."""
        self.redis.hset(run_key(run_id), mapping=encode_fields(values))

    def update_fenced(self, run_id: str, token: str, **values: Any) -> bool:
        """Set fields only while ``token`` is the run's current attempt.

        Returns:
            Whether the write happened (``False``: this attempt has been superseded).
        """
        flat = [item for pair in encode_fields(values).items() for item in pair]
        return bool(self._fenced(keys=[run_key(run_id)], args=[token, *flat]))

    def new_attempt(
        self,
        run_id: str,
        expected_token: str,
        expected_status: str = "",
        *,
        count: bool = True,
        **values: Any,
    ) -> str | None:
        """Give the run a new token (the attempt counter incremented when ``count``) and set
        ``values``, if it is still at ``expected_token`` (and ``expected_status`` when given):
        whatever held the old token can no longer write.

        Returns:
            The new token, or ``None`` when the run had moved on.
        """
        token = new_token()
        flat = [item for pair in encode_fields({**values, "token": token}).items() for item in pair]
        args = [expected_token, expected_status, "1" if count else "0", *flat]
        done = self._attempt(keys=[run_key(run_id)], args=args)
        return token if done else None

    # workers ------------------------------------------------------------------------------
    def beat_worker(self, name: str, info: Mapping[str, Any], ttl_s: float) -> None:
        """Record a worker's heartbeat; it expires after ``ttl_s`` without another."""
        pipe = self.redis.pipeline()
        encoded: dict[Any, str] = {k: json.dumps(v) for k, v in info.items()}
        pipe.hset(worker_key(name), mapping=encoded)
        pipe.expire(worker_key(name), max(1, int(ttl_s)))
        pipe.sadd(WORKERS_INDEX, name)
        pipe.execute()

    def remove_worker(self, name: str) -> None:
        """A worker that stopped."""
        self.redis.delete(worker_key(name))
        self.redis.srem(WORKERS_INDEX, name)

    def workers(self) -> list[dict[str, Any]]:
        """Live workers (whose heartbeat has not expired), by name; expired ones are
        forgotten."""
        names = sorted(_text(n) for n in self.redis.smembers(WORKERS_INDEX))
        live = []
        for name in names:
            data = self.redis.hgetall(worker_key(name))
            if not data:
                self.redis.srem(WORKERS_INDEX, name)
                continue
            live.append({_text(k): json.loads(_text(v)) for k, v in data.items()})
        return live

    # sweeps -------------------------------------------------------------------------------
    def create_sweep(self, sweep_id: str, run_ids: list[str], command: str, pipeline: Any) -> None:
        """A sweep of ``run_ids``; its comparison is written when the last ends."""
        pipeline.hset(
            sweep_key(sweep_id),
            mapping={
                "run_ids": json.dumps(run_ids),
                "command": command,
                "created_at": str(now()),
                "comparison": "",
            },
        )

    def sweep(self, sweep_id: str) -> dict[str, Any]:
        """The sweep's runs, command and comparison page.

        Raises:
            UnknownRun: No such sweep.
        """
        data = self.redis.hgetall(sweep_key(sweep_id))
        if not data:
            raise UnknownRun(sweep_id)
        plain = {_text(k): _text(v) for k, v in data.items()}
        return {
            "sweep_id": sweep_id,
            "run_ids": json.loads(plain["run_ids"]),
            "command": plain.get("command", ""),
            "comparison": plain.get("comparison") or None,
            "comparison_error": plain.get("comparison_error") or None,
        }

    def claim_sweep_comparison(self, sweep_id: str) -> bool:
        """Whether this caller is the one to write the sweep's comparison (once)."""
        return bool(self.redis.hsetnx(sweep_key(sweep_id), "comparing", "1"))

    def set_sweep(self, sweep_id: str, **values: str) -> None:
        """Record the sweep's comparison page (or why there is none)."""
        encoded: dict[Any, str] = dict(values)
        self.redis.hset(sweep_key(sweep_id), mapping=encoded)

    # rebuilding ---------------------------------------------------------------------------
    def rebuild_from_folders(self, output_root: Path) -> int:
        """Add the runs of ``<output_root>/runs/`` that the store does not hold (a service
        started on an empty Redis): finished, failed and interrupted runs as they are; a run
        left ``running`` by nobody as ``interrupted`` (resumable).

        Returns:
            How many runs were added.
        """
        from trainers.records.manifest import RunManifest

        added = 0
        runs = output_root / "runs"
        for manifest_path in sorted(runs.glob(f"*/{RunManifest.FILENAME}")):
            run_dir = manifest_path.parent
            if self.exists(run_dir.name):
                continue
            try:
                manifest = RunManifest.load(run_dir)
            except (ValueError, OSError):
                continue
            record = record_from_manifest(manifest)
            self.create(record)
            added += 1
        return added


def record_from_manifest(manifest: Any) -> RunRecord:
    """A store record for a run folder the service did not start or has forgotten."""
    status = manifest.status
    message = manifest.error or ""
    if status == "running":
        status = RunStatus.INTERRUPTED
        message = (
            "left running by a process the service no longer knows; resume it (POST "
            "/runs/{id}/resume) once nothing else trains it"
        )
    best = manifest.best or {}
    created = _timestamp(manifest.started_at)
    return RunRecord(
        run_id=manifest.run_id,
        status=status,
        model=manifest.model,
        dataset=str((manifest.dataset or {}).get("name", "")),
        config=dict(manifest.config or {}),
        attempt=1 + len(manifest.resumed_at),
        token=new_token(),
        epoch=manifest.epochs_completed,
        max_epochs=(manifest.trainer or {}).get("max_epochs"),
        best_val_accuracy=best.get("val_accuracy"),
        message=message,
        created_at=created,
        ended_at=_timestamp(manifest.ended_at),
        evaluation={
            split: float(scores["accuracy"])
            for split, scores in (manifest.evaluation or {}).items()
            if "accuracy" in scores
        },
    )


def _timestamp(value: str | None) -> float | None:
    from datetime import datetime

    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def connect(url: str, *, timeout_s: float | None = 5.0, patience_s: float = 0.0) -> redis.Redis:
    """A Redis client for ``url`` (``redis://``, ``rediss://`` or ``unix://``).

    Args:
        url: The server.
        timeout_s: A command fails after this long rather than hang (``None``: blocking
            commands wait as long as they ask, as RQ's dequeue does).
        patience_s: Retry a command that finds the server down for about this long (a
            restart), every 0.5 s; 0 answers at once (the API's 503).
    """
    import redis
    from redis.backoff import ConstantBackoff, NoBackoff
    from redis.retry import Retry

    retries = int(patience_s / 0.5)
    retry = Retry(ConstantBackoff(0.5), retries) if retries else Retry(NoBackoff(), 0)
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s or 5.0,
        retry=retry,
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )


def connect_async(url: str, *, timeout_s: float = 5.0) -> redis.asyncio.Redis:
    """An asyncio Redis client for ``url`` that fails within ``timeout_s`` (the API's hot
    paths: a status request never waits for a thread)."""
    import redis.asyncio

    return redis.asyncio.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
    )


async def get_async(connection: redis.asyncio.Redis, run_id: str) -> RunRecord:
    """:meth:`RunStore.get` on an asyncio client.

    Raises:
        UnknownRun: No such run.
    """
    data = await connection.hgetall(run_key(run_id))
    if not data:
        raise UnknownRun(run_id)
    return RunRecord.from_hash(data)


def path_inside(root: Path, relative: str) -> Path | None:
    """``root / relative`` when it stays inside ``root`` (links resolved), else ``None``.

    Example:
        >>> path_inside(Path("/tmp/run"), "../etc/passwd") is None
        True
    """
    root = root.resolve()
    target = (root / relative).resolve()
    if target == root or root in target.parents:
        return target
    return None
