"""An Optuna search that continues where it stopped: its study lives in a database
(``hydra.sweeper.storage``, by default ``sqlite:///<output_dir>/optuna.db``) and the same
``train.py -m hparams_search=...`` command started again adds its trials to the same study.

Two things stand in the way, and this module removes both:

- **Optuna 2.10 and SQLAlchemy 2.** ``hydra-optuna-sweeper`` 1.3 pins Optuna 2.10, whose
  ``RDBStorage`` stamps its schema version (alembic) on a connection it never commits:
  under SQLAlchemy 1.x that connection autocommitted, under 2.x (MLflow's) the stamp is rolled
  back and opening any fresh database fails with a bare ``AssertionError``. Once the schema
  and its stamp are in place, every other storage call works (create, ask, tell, reload,
  enqueue: checked in ``tests/unit/trainers/test_search_storage.py``).
  :func:`prepare_storage` creates them in committed transactions before the sweeper opens the
  database; a database made this way is a normal Optuna 2.10 database.
- **Trials a kill left open.** The sweeper tells Optuna a batch's results only when the whole
  batch is back, so a search killed mid-batch leaves its trials ``RUNNING`` forever.
  :func:`continue_study` settles them before the sweeper asks for more: a trial whose job
  finished (its job folder names its run) is told that run's value; any other is marked
  failed and its parameters are queued again, so the first trial of the new start is that
  same job, which resumes its interrupted run from its last checkpoint.

Job folders are numbered by trial (``<sweep dir>/<trial number>/``): a continued search
numbers its new jobs from :attr:`StudyProgress.first_trial`.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainers.records.manifest import RunManifest

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

#: The file a sweep job writes in its job folder: the path of its run (as in
#: :data:`trainers.runs.comparison.JOB_RUN_FILE`).
JOB_RUN_FILE = "run_dir.txt"


class SearchStorageError(ValueError):
    """The search's storage cannot be opened; the message names it and the reason."""


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's experimental-feature warnings and its info lines, hidden for our own calls."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (relative to the current folder when the URL's path
    is), or ``None`` for another database.

    Example:
        >>> sqlite_path("sqlite:////tmp/out/optuna.db").as_posix()
        '/tmp/out/optuna.db'
        >>> sqlite_path("postgresql://db/optuna") is None
        True
    """
    prefix = "sqlite:///"
    return Path(url[len(prefix) :]) if url.startswith(prefix) else None


def absolute_url(url: str) -> str:
    """``url`` with a relative sqlite path made absolute (the sweep's jobs may run
    elsewhere); other URLs unchanged.

    Example:
        >>> absolute_url("postgresql://db/optuna")
        'postgresql://db/optuna'
        >>> absolute_url("sqlite:///out/optuna.db").endswith("/out/optuna.db")
        True
    """
    path = sqlite_path(url)
    if path is None or path.is_absolute() or str(path) == ":memory:":
        return url
    return f"sqlite:///{Path(os.path.abspath(path)).as_posix()}"


def prepare_storage(url: str) -> None:
    """Make the database at ``url`` usable by Optuna 2.10 under SQLAlchemy 2 (see the module
    docstring): create its folder (sqlite), its tables, its version row and its alembic stamp,
    each committed, then open it as Optuna will.

    Args:
        url: An SQLAlchemy URL (``sqlite:////abs/out/optuna.db``).

    Raises:
        SearchStorageError: It cannot be created or opened, naming the URL and the reason.
    """
    try:
        path = sqlite_path(url)
        if path is not None and str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        _stamp_schema(url)
        from optuna.storages import RDBStorage

        with _quiet_optuna():
            storage = RDBStorage(url)
        storage.engine.dispose()
    except Exception as error:
        from trainers.tracking.config import masked_password_uri

        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        shown = masked_password_uri(url) or url
        raise SearchStorageError(
            f"hydra.sweeper.storage: cannot open {shown} ({type(error).__name__}: {reason}); "
            "give a database the search can write, e.g. "
            "hydra.sweeper.storage=sqlite:///models_out/optuna.db"
        ) from None


def _stamp_schema(url: str) -> None:
    import alembic.config
    import alembic.migration
    import alembic.script
    import optuna
    import sqlalchemy
    from optuna.storages._rdb import models
    from sqlalchemy.orm import Session

    engine = sqlalchemy.create_engine(url)
    try:
        models.BaseModel.metadata.create_all(engine)
        with Session(engine) as session, session.begin():
            if session.query(models.VersionInfoModel).first() is None:
                session.add(
                    models.VersionInfoModel(
                        schema_version=models.SCHEMA_VERSION,
                        library_version=optuna.__version__,
                    )
                )
        folder = Path(models.__file__).parent
        config = alembic.config.Config(str(folder / "alembic.ini"))
        config.set_main_option("script_location", str(folder / "alembic").replace("%", "%%"))
        script = alembic.script.ScriptDirectory.from_config(config)
        with engine.begin() as connection:
            context = alembic.migration.MigrationContext.configure(connection)
            head = script.get_current_head()
            if context.get_current_revision() is None and head is not None:
                context.stamp(script, head)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class StudyProgress:
    """Where a search's study stands when a start of the sweep begins.

    Attributes:
        study_name: The study.
        trials: Trials it held before this start (any state).
        complete: Of which complete, after settling the open ones.
        recovered: Open trials whose job had finished, now told their run's value.
        requeued: Open trials whose job had not finished, now failed and asked again first.
        best_value: The best value so far, if any trial is complete.
    """

    study_name: str
    trials: int = 0
    complete: int = 0
    recovered: int = 0
    requeued: int = 0
    best_value: float | None = None

    @property
    def first_trial(self) -> int:
        """The number of the first trial this start asks for (its first job folder)."""
        return self.trials

    @property
    def continued(self) -> bool:
        """Whether the study existed before this start."""
        return self.trials > 0


def continue_study(url: str, study_name: str, sweep_dir: str | Path) -> StudyProgress:
    """Settle the trials an earlier, killed start of the search left open (see the module
    docstring) and say where the study stands. A study that does not exist yet is left to the
    sweeper to create.

    Args:
        url: The storage (prepared by :func:`prepare_storage`).
        study_name: The study.
        sweep_dir: The sweep's folder, whose job folders are numbered by trial.
    """
    import optuna
    from optuna.trial import TrialState

    with _quiet_optuna():
        summaries = optuna.study.get_all_study_summaries(url)
        if study_name not in {summary.study_name for summary in summaries}:
            return StudyProgress(study_name=study_name)
        study = optuna.load_study(study_name=study_name, storage=url)
        trials = study.get_trials(deepcopy=False)
        recovered = requeued = 0
        for trial in trials:
            if trial.state != TrialState.RUNNING:
                continue
            value = finished_job_value(sweep_dir, trial.number)
            if value is not None and len(study.directions) == 1:
                study.tell(trial.number, value)
                recovered += 1
            else:
                study.tell(trial.number, state=TrialState.FAIL)
                study.enqueue_trial(dict(trial.params))
                requeued += 1
        settled = study.get_trials(deepcopy=False)
        complete = [t for t in settled if t.state == TrialState.COMPLETE]
        best = _best_value(study) if complete and len(study.directions) == 1 else None
    return StudyProgress(
        study_name=study_name,
        trials=len(trials),
        complete=len(complete),
        recovered=recovered,
        requeued=requeued,
        best_value=best,
    )


def _best_value(study: optuna.Study) -> float | None:
    try:
        return float(study.best_value)
    except ValueError:
        return None


def finished_job_value(sweep_dir: str | Path, number: int) -> float | None:
    """The value job ``number`` of the sweep returned (its run's best validation accuracy),
    when it finished: its folder names its run and that run says ``finished``; else ``None``.
    """
    record = Path(sweep_dir) / str(number) / JOB_RUN_FILE
    if not record.is_file():
        return None
    try:
        manifest = RunManifest.load(record.read_text(encoding="utf-8").strip())
    except (OSError, ValueError, TypeError):
        return None
    value: Any = manifest.best.get("val_accuracy")
    if manifest.status != "finished" or not isinstance(value, int | float):
        return None
    return float(value)
