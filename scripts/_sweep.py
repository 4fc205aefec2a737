"""A ``train.py -m`` sweep's life in the process that starts it (Hydra's ``SweepCallback`` in
``scripts/_cli.py`` calls :func:`open_sweep` before the first job and
:meth:`SweepSession.end` after the last).

At the start:

- **Its folder.** The same command started before (after a kill, or just again) continues in
  the earlier start's folder (found by its ``sweep.json``: :mod:`trainers.runs.sweeps`), so
  the sweep keeps its id, its comparison, its MLflow parent run and its Optuna study;
  ``retrain=true`` or an explicit ``hydra.sweep.dir=`` start a folder of their own. A lock in
  the folder (``.sweep.lock``) refuses a second start of the same sweep while one runs.
- **Its search.** An Optuna search keeps its study in ``hydra.sweeper.storage`` (a sqlite
  file under the output folder by default), named after the search and the command
  (``lstm_optuna-<key>``) unless ``hydra.sweeper.study_name`` is given; the storage is made
  ready for Optuna 2.10 under SQLAlchemy 2 and the trials a kill left open are settled
  (:mod:`trainers.runs.search`). Its job folders continue the trial numbers, and its sampler's
  seed moves on by the trials done (the same seed would ask the same trials again).
- **Its MLflow run.** With the ``mlflow`` sink, the sweep's parent run is opened (or reopened)
  and its id handed to every job as ``tracker.mlflow_parent_run_id``.

What the jobs need reaches them through their config: each job's config is composed again
from the sweep's Hydra overrides (in the job's own process under joblib or submitit), so the
overrides added here (``hydra.sweep.dir``, ``hydra.sweep.subdir``,
``tracker.mlflow_parent_run_id``) are seen by every launcher.
"""

from __future__ import annotations

import atexit
import logging
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from trainers.runs.sweeps import SweepRecord, find_sweep, sweep_key

if TYPE_CHECKING:
    from filelock import FileLock

    from trainers.tracking import TrackerConfig
    from trainers.tracking.sweep import SweepRun

logger = logging.getLogger(__name__)

#: The lock a running sweep holds in its folder.
LOCK_FILE = ".sweep.lock"
#: What Optuna's sweeper writes at the end of a search.
OPTUNA_RESULTS = "optimization_results.yaml"
#: An override value Hydra takes as it is, unquoted.
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_./:@+-]+$")
#: The config key that hands the sweep's MLflow run to its jobs.
PARENT_RUN_KEY = "tracker.mlflow_parent_run_id"


class SweepError(ValueError):
    """The sweep cannot start (its storage cannot be opened, it is already running...); the
    message is the user's one ``error:`` line."""


def override_value(text: str) -> str | None:
    """``text`` as the value of a Hydra override (quoted when it needs it), or ``None`` when
    it cannot be written as one (a quote or backslash in it).

    Example:
        >>> override_value("/tmp/out/multirun/20260101-120000")
        '/tmp/out/multirun/20260101-120000'
        >>> override_value("/tmp/my out/x")
        "'/tmp/my out/x'"
    """
    if _PLAIN_VALUE.match(text):
        return text
    if "'" in text or "\\" in text:
        return None
    return f"'{text}'"


@dataclass
class SweepSession:
    """One start of a sweep, from before its first job to after its last.

    Attributes:
        sweep_dir: Its folder.
        record: Its ``sweep.json``.
        continued: Whether an earlier start of the same command ran in this folder.
        lock: The lock it holds while it runs.
        parent: Its MLflow run, with the ``mlflow`` sink.
        tracking_uri: The MLflow store of ``parent``.
    """

    sweep_dir: Path
    record: SweepRecord
    continued: bool
    lock: FileLock
    parent: SweepRun | None = None
    tracking_uri: str | None = None
    ended: bool = field(default=False)

    JOB_FIELDS: ClassVar[tuple[str, ...]] = ("trained", "resumed", "skipped")

    @property
    def sweep_id(self) -> str:
        """The sweep id: its folder's name."""
        return self.sweep_dir.name

    def end(self, outcomes: dict[str, int]) -> None:
        """Log the sweep's files and counts to its MLflow run (the comparison, the search's
        results) and close it; release the sweep.

        Args:
            outcomes: How many jobs ``trained``, ``resumed`` and were ``skipped``.
        """
        if self.ended:
            return
        self.ended = True
        try:
            if self.parent is not None:
                self._log_parent(outcomes)
        finally:
            self.release()

    def _log_parent(self, outcomes: dict[str, int]) -> None:
        from metrics import namespaces as ns

        assert self.parent is not None
        try:
            files = sorted(self.sweep_dir.glob("comparison*"))
            files.append(self.sweep_dir / OPTUNA_RESULTS)
            self.parent.log_files(files)
            fields: dict[str, float | int | str] = {
                ns.sweep_field("jobs"): sum(outcomes.values()),
                **{ns.sweep_field(name): outcomes.get(name, 0) for name in self.JOB_FIELDS},
            }
            results = self.sweep_dir / OPTUNA_RESULTS
            if results.is_file():
                best = OmegaConf.load(results)
                if "best_value" in best:
                    fields[ns.sweep_field("best_value")] = float(best.best_value)
                    fields[ns.sweep_field("best_trial")] = " ".join(
                        f"{key}={value}" for key, value in best.best_params.items()
                    )
            self.parent.log_fields(fields)
            self.parent.close("finished")
        except Exception as error:
            logger.warning("the sweep's MLflow run %s not completed: %s", self.parent.run_id, error)
            return
        from trainers.tracking.mlflow_ui import mlflow_ui_line

        print(f"MLflow: sweep run {self.parent.run_id} holds its jobs' runs as children")
        if self.tracking_uri and self.parent.experiment_id:
            print(mlflow_ui_line(self.tracking_uri, self.parent.experiment_id))

    def abort(self) -> None:
        """At exit without :meth:`end` (a failed job, SIGTERM, Ctrl-C): mark the MLflow run
        killed and release the sweep; started again, the sweep continues."""
        if self.ended:
            return
        self.ended = True
        if self.parent is not None:
            try:
                self.parent.close("killed")
            except Exception as error:
                logger.warning("the sweep's MLflow run not marked killed: %s", error)
        self.release()

    def release(self) -> None:
        """Release the sweep's lock."""
        if self.lock.is_locked:
            self.lock.release()


def _overrides(config: DictConfig, kind: str) -> list[str]:
    values = OmegaConf.select(config, f"hydra.overrides.{kind}") or []
    return [str(value) for value in values]


def _add_override(config: DictConfig, override: str) -> None:
    """Add ``override`` to the sweep's Hydra overrides: every job's config is composed from
    them (``load_sweep_config``), in whichever process the launcher runs it."""
    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra.overrides.hydra.append(override)


def _set_hydra(config: DictConfig, key: str, value: Any) -> None:
    with read_write(config.hydra), open_dict(config.hydra):
        OmegaConf.update(config, key, value, merge=False)


def open_sweep(config: DictConfig) -> SweepSession:
    """Start (or continue) the sweep of ``config`` (Hydra's multirun config): its folder, its
    lock, its Optuna study and its MLflow run; print what is continued.

    Raises:
        SweepError: The sweep runs already, or its storage cannot be opened.
    """
    from filelock import FileLock, Timeout

    from trainers.tracking.secrets import SecretFilter

    tracker = _tracker_config(config)  # a bad tracker.* key: refused before any folder exists
    task, hydra = _overrides(config, "task"), _overrides(config, "hydra")
    key = sweep_key(task, hydra)
    retrain = bool(OmegaConf.select(config, "retrain", default=False))
    sweep_dir = Path(str(config.hydra.sweep.dir)).expanduser().resolve()
    explicit = any(o.split("=", 1)[0].lstrip("+") == "hydra.sweep.dir" for o in hydra)
    earlier = None if explicit or retrain else find_sweep(sweep_dir.parent, key)
    if earlier is not None and earlier != sweep_dir:
        value = override_value(str(earlier))
        if value is None:
            logger.warning("sweep folder %s cannot be named in an override; a new one", earlier)
        else:
            sweep_dir = earlier
            _set_hydra(config, "hydra.sweep.dir", str(earlier))
            _add_override(config, f"hydra.sweep.dir={value}")
    record = SweepRecord.load(sweep_dir)
    continued = record is not None and record.key == key
    if record is None or not continued:
        command = SecretFilter().redact_command(["python", *sys.argv])
        record = SweepRecord(key=key, command=command)
    made = [folder for folder in (sweep_dir, *sweep_dir.parents) if not folder.exists()]
    sweep_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(sweep_dir / LOCK_FILE))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        _remove_made(made)
        raise SweepError(
            f"this sweep is already running ({sweep_dir}: another `train.py -m` with the same "
            "overrides holds it); wait for it to end, or add retrain=true to start a new sweep"
        ) from None
    session = SweepSession(sweep_dir=sweep_dir, record=record, continued=continued, lock=lock)
    atexit.register(session.abort)
    try:
        record.started_now()
        if continued:
            print(
                f"Continuing sweep {sweep_dir.name} ({sweep_dir}, first started "
                f"{record.starts[0]}): jobs that finished before are skipped, interrupted ones "
                "resumed from their last checkpoint (retrain=true trains them all again)"
            )
        if _is_optuna(config):
            _open_study(config, session, key)
        if "mlflow" in tracker.sinks:
            _open_parent(config, session, tracker)
        record.save(sweep_dir)
    except BaseException:
        session.abort()
        _remove_made(made)
        raise
    return session


def _remove_made(folders: list[Path]) -> None:
    """Remove the folders a refused start made (deepest first), with the lock and record it
    left in them: a sweep that never started leaves nothing behind."""
    for folder in folders:
        for name in (LOCK_FILE, SweepRecord.FILENAME):
            (folder / name).unlink(missing_ok=True)
        try:
            folder.rmdir()
        except OSError:  # not empty: something else lives there
            return


def _is_optuna(config: DictConfig) -> bool:
    target = str(OmegaConf.select(config, "hydra.sweeper._target_") or "")
    return "optuna" in target.lower()


def _open_study(config: DictConfig, session: SweepSession, key: str) -> None:
    """Name the search's study after its command, make its storage ready, settle the trials
    a kill left open and number this start's job folders after the study's trials."""
    from trainers.runs.search import (
        SearchStorageError,
        absolute_url,
        continue_study,
        prepare_storage,
    )

    storage = OmegaConf.select(config, "hydra.sweeper.storage")
    if not storage:
        logger.warning(
            "hydra.sweeper.storage is null: the study lives in memory, so this search cannot "
            "be continued if it stops"
        )
        return
    url = absolute_url(str(storage))
    hydra = _overrides(config, "hydra")
    name = str(OmegaConf.select(config, "hydra.sweeper.study_name") or "search")
    if not any(o.split("=", 1)[0].lstrip("+") == "hydra.sweeper.study_name" for o in hydra):
        name = f"{name}-{key[:8]}"
    _set_hydra(config, "hydra.sweeper.storage", url)
    _set_hydra(config, "hydra.sweeper.study_name", name)
    try:
        prepare_storage(url)
        progress = continue_study(url, name, session.sweep_dir)
    except SearchStorageError as error:
        raise SweepError(str(error)) from None
    session.record.study_name, session.record.study_storage = name, url
    if not progress.continued:
        print(f"Optuna study {name} (new) in {url}")
        return
    best = "" if progress.best_value is None else f", best {progress.best_value:.4f}"
    line = f"Continuing Optuna study {name} in {url}: {progress.complete} complete trials{best}"
    if progress.recovered:
        line += f"; {progress.recovered} trial(s) whose job had finished now recorded"
    if progress.requeued:
        line += f"; {progress.requeued} interrupted trial(s) run again first"
    print(line)
    offset = progress.first_trial
    seed = OmegaConf.select(config, "hydra.sweeper.sampler.seed")
    if isinstance(seed, int):  # a fresh seed per start: the same seed would ask the same trials
        _set_hydra(config, "hydra.sweeper.sampler.seed", seed + offset)
    _set_hydra(config, "hydra.sweep.subdir", f"${{storyqa_job_number:${{hydra.job.num}},{offset}}}")
    _add_override(
        config, f"hydra.sweep.subdir='${{storyqa_job_number:${{hydra.job.num}},{offset}}}'"
    )


def _entry_point() -> str:
    """The script this process runs (``scripts/train.py``), relative to the current folder
    when it lies below it, as a sweep's jobs record theirs."""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("train.py")
    try:
        return str(script.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(script)


def _tracker_config(config: DictConfig) -> TrackerConfig:
    """The sweep's ``tracker.*`` settings, validated.

    Raises:
        TrackerConfigError: A bad key or value, naming it.
    """
    from trainers.tracking import TrackerConfig

    plain = OmegaConf.to_container(config.tracker, resolve=True)
    assert isinstance(plain, dict)
    return TrackerConfig.from_mapping({str(k): v for k, v in plain.items()})


def _open_parent(config: DictConfig, session: SweepSession, tracker: TrackerConfig) -> None:
    """Open the sweep's MLflow run and hand its id to the jobs. A store that cannot be reached
    costs the nesting only (one warning): the jobs log as they would without it, and meet the
    same store themselves."""
    from trainers.tracking.sweep import SweepRun

    output_root = Path(str(config.paths.output_dir)).expanduser()
    resolved = tracker.resolve(output_root, session.sweep_dir)
    known = (
        session.record.mlflow_parent_run_id
        if session.record.mlflow_tracking_uri == resolved.mlflow_tracking_uri
        else None
    )
    try:
        parent = SweepRun.open(
            resolved,
            sweep_id=session.sweep_id,
            sweep_dir=session.sweep_dir,
            command=["python", *sys.argv],
            source=_entry_point(),
            known_run_id=known,
        )
    except Exception as error:
        logger.warning(
            "no MLflow run for the sweep (%s: %s); its jobs are logged without a parent",
            type(error).__name__,
            error,
        )
        return
    session.parent, session.tracking_uri = parent, resolved.mlflow_tracking_uri
    session.record.mlflow_parent_run_id = parent.run_id
    session.record.mlflow_tracking_uri = resolved.mlflow_tracking_uri
    _add_override(config, f"{PARENT_RUN_KEY}={parent.run_id}")
