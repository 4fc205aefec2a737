"""Shared plumbing of the Hydra entry points in ``scripts/``.

Hydra lives only here and in ``conf/``: the config schemas registered below are the
library's own dataclasses, so every key, type and default has exactly one source.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Final, NoReturn, TypeVar

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from models.settings import SettingsError
from stories.config import DatasetConfig
from trainers.keras.startup_log import quiet_tensorflow_start
from trainers.records.registry import RegistryError
from trainers.runs.pipeline import USER_ERRORS
from trainers.tracking import TrackerConfigError

#: This folder: the ``scripts`` package (the entry points, each importing ``scripts._cli``).
SCRIPTS_DIR: Final = Path(__file__).resolve().parent
#: Hydra's config folder: ``conf/`` of the checkout (``scripts/conf`` links to it), which an
#: installed wheel ships inside this folder.
CONFIG_DIR: Final = str(
    (SCRIPTS_DIR / "conf").resolve()
    if (SCRIPTS_DIR / "conf").is_dir()
    else SCRIPTS_DIR.parent / "conf"
)
EXIT_USER_ERROR: Final = 2
#: ``OSError`` numbers of an output folder that is full or cannot be written: printed as one
#: line, exit code 2, like a user error (the fix is the user's: space or another folder).
DISK_ERRNOS: Final = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}
)

quiet_tensorflow_start()

F = TypeVar("F", bound=Callable[..., Any])


def register_configs() -> None:
    """Register the schemas and defaults that ``conf/`` extends, from the library's own
    dataclasses, and the ``storyqa_run_dir``, ``storyqa_hydra_subdir`` and
    ``storyqa_job_number`` resolvers."""
    from dataclasses import asdict

    from trainers.config import PRESETS, TrainerConfig, preset_config
    from trainers.tracking import TrackerConfig

    store = ConfigStore.instance()
    store.store(group="data", name="_schema", node=DatasetConfig)
    for name in PRESETS:
        store.store(group="model_presets", name=name, node=preset_config(name))
    store.store(group="trainer", name="_defaults", node=TrainerConfig().to_dict())
    tracker = {
        k: list(v) if isinstance(v, tuple) else v for k, v in asdict(TrackerConfig()).items()
    }
    store.store(group="tracker", name="_defaults", node=tracker)
    if not OmegaConf.has_resolver("storyqa_run_dir"):
        OmegaConf.register_new_resolver("storyqa_run_dir", run_dir_for, use_cache=True)
    if not OmegaConf.has_resolver("storyqa_hydra_subdir"):
        OmegaConf.register_new_resolver("storyqa_hydra_subdir", hydra_subdir_for, use_cache=True)
    if not OmegaConf.has_resolver("storyqa_job_number"):
        OmegaConf.register_new_resolver("storyqa_job_number", job_number)


def job_number(number: Any, first: Any) -> str:
    """The folder of a sweep's job: its number in this start after ``first`` (a continued
    Optuna search numbers its jobs after the study's trials).

    Example:
        >>> job_number(0, 2), job_number("1", "2")
        ('2', '3')
    """
    return str(int(number) + int(first))


def model_name(config: DictConfig) -> str:
    """The run's model name: ``model.name``, or the name of the chosen ``model`` config (a
    user's model config may leave ``name`` out)."""
    name = OmegaConf.select(config, "model.name")
    if name:
        return str(name)
    return str(HydraConfig.get().runtime.choices.get("model") or "model")


def exit_with_user_error(message: str) -> NoReturn:
    """Print ``error: <message>`` on stderr and exit with code 2."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USER_ERROR)


#: Where Hydra writes a job's config, overrides and settings, inside the run directory.
HYDRA_SUBDIR: Final = ".hydra"


def hydra_subdir_for(resume: str | None) -> str:
    """Where Hydra writes its config dump in the run directory: ``.hydra``, or for a resumed
    run ``.hydra/resumed-<time>``, so that the dump of the command that started the run (its
    overrides) is kept, next to one per resume.

    Example:
        >>> hydra_subdir_for(None)
        '.hydra'
        >>> hydra_subdir_for("models_out/runs/x").startswith(".hydra/resumed-")
        True
    """
    if not resume:
        return HYDRA_SUBDIR
    return f"{HYDRA_SUBDIR}/resumed-{datetime.now():%Y%m%d-%H%M%S}"


def run_dir_for(
    resume: str | None, output_dir: str, model: str, dataset: str, data_path: str | None = None
) -> str:
    """The run directory of a ``train.py`` job: the resumed run's, or a new
    ``<output_dir>/runs/<model>-<dataset>-<time>-<hex>`` (``<dataset>``: the folder's name of
    a user's ``data.path``).

    Hydra creates this folder before the job starts, so what would make that fail is refused
    here, as one ``error:`` line (exit code 2): a ``resume`` that is not a run folder, or an
    output folder that cannot be written.
    """
    from trainers.records.manifest import RunManifest
    from trainers.records.run import new_run_id

    if resume:
        run_dir = Path(resume).expanduser().resolve()
        if not RunManifest.path_for(run_dir).is_file():
            exit_with_user_error(
                f"resume={resume!r}: {run_dir} is not a run (no {RunManifest.FILENAME}); give "
                "a run folder, e.g. resume=models_out/runs/<run_id> (python scripts/registry.py "
                "list shows them)"
            )
        return str(run_dir)
    from stories.build import ensure_writable_dir
    from stories.errors import OutputDirError

    runs = Path(output_dir).expanduser() / "runs"
    try:
        ensure_writable_dir(runs)
    except OutputDirError as error:
        exit_with_user_error(str(error))
    label = DatasetConfig(name=dataset, path=data_path).label if data_path else dataset
    return str(runs / new_run_id(model, label))


def disk_error_message(error: OSError) -> str:
    """One line for an output folder that is full or not writable."""
    what = str(error.filename) if error.filename else "the output folder"
    reason = os.strerror(error.errno) if error.errno is not None else str(error)
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        fix = "Free some space, or choose a folder on another disk"
    elif error.errno == errno.EROFS:
        fix = "Choose a writable folder"
    else:
        fix = "Check its permissions, or choose a writable folder"
    return f"cannot write {what}: {reason}. {fix} (paths.output_dir=...)."


def reports_user_errors(main: F) -> F:
    """Turn a user error into one ``error: ...`` line on stderr and exit code 2; so too an
    output folder that is full or not writable (see :data:`DISK_ERRNOS`)."""

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except USER_ERRORS as error:
            exit_with_user_error(str(error))
        except OSError as error:
            if error.errno not in DISK_ERRNOS:
                raise
            exit_with_user_error(disk_error_message(error))

    return wrapper  # type: ignore[return-value]


def to_plain(config: DictConfig) -> dict[str, Any]:
    """A resolved plain-dict copy of a Hydra config node.

    Raises:
        SettingsError: A value the user must give (``???``) is missing, naming its key.
    """
    from omegaconf.errors import MissingMandatoryValue

    try:
        plain = OmegaConf.to_container(config, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as error:
        key = error.full_key or "a value"
        raise SettingsError(f"{key}: required; give {key}=<value> on the command line") from None
    assert isinstance(plain, dict)
    return {str(k): v for k, v in plain.items()}


#: Keys of ``conf/train.yaml`` that say how to run the command, not what the run is.
COMMAND_KEYS: Final = ("resume", "progress", "retrain", "full_comparison")


def split_run_config(cfg: DictConfig, model: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A composed ``train`` config (without its ``hydra`` node) as the run's plain config
    (what :class:`~trainers.runs.pipeline.PipelineConfig` takes) and the command's own keys
    (:data:`COMMAND_KEYS`).

    Args:
        cfg: The composed config.
        model: The model's name, for a model config that leaves ``name`` out.

    Raises:
        SettingsError: A value the user must give is missing.
    """
    plain = to_plain(cfg)
    plain["model"].setdefault("name", model)
    command = {key: plain.pop(key, None) for key in COMMAND_KEYS}
    plain["output_dir"] = plain.pop("paths")["output_dir"]
    return plain, command


def as_list(value: Any) -> list[str] | None:
    """A list-valued command-line key given as one value (``splits=test``) or a list
    (``splits=[valid_comp,test]``); ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return [str(value)]


def report_comparison(
    run_dirs: list[Path],
    path: Path,
    *,
    full: bool,
    full_hint: str,
    splits: list[str] | None = None,
    lead: str = "",
) -> Path:
    """Compare finished runs, save the comparison beside ``path`` (the page, its CSVs and
    plot: :func:`trainers.runs.comparison.save_comparison`) and print it so that it ends with
    what to read: every row only when ``full``, the mean ± std over seeds when a model ran
    more than once, then the headline (accuracy per split and run, with its 95% interval)
    and the paired tests, then where the breakdowns are.

    Args:
        run_dirs: The runs, in order (the first is the baseline).
        path: The page to write.
        full: Print every row (each split, breakdown and group) too.
        full_hint: The override that sets ``full`` (``full=true``), for the closing note.
        splits: Splits to keep; default every evaluated one.
        lead: One line under the page's title.

    Raises:
        RegistryError: A run that cannot be compared, naming it.
    """
    from trainers.runs.comparison import (
        compare_runs,
        format_seed_summary,
        save_comparison,
        seed_summary,
    )

    comparison = compare_runs(run_dirs, splits)
    files = save_comparison(comparison, path, run_dirs, lead=lead)
    if full:
        print("\n" + comparison.rows_table())
    summary = seed_summary(run_dirs)
    if (summary["runs"] > 1).any():
        print("\nMean ± standard deviation over the runs of each model and dataset:")
        print(format_seed_summary(summary))
    print("\n" + comparison.console_summary())
    shown = "printed above" if full else f"{full_hint} prints them here"
    print(
        f"\nComparison page: {files.html}\n"
        f"Breakdowns by category and noun count, every metric: there and in {files.csv.name} "
        f"({shown})"
    )
    return files.html


def job_outcomes(sweep: Path) -> dict[str, int]:
    """How many of a sweep's jobs, in their folders, ``trained``, ``resumed`` an interrupted
    run or were ``skipped`` (finished before)."""
    from trainers.runs.sweeps import JOB_OUTCOME_FILE, JOB_OUTCOMES

    counts = dict.fromkeys(JOB_OUTCOMES, 0)
    for path in sweep.glob(f"*/{JOB_OUTCOME_FILE}"):
        outcome = path.read_text(encoding="utf-8").strip()
        if outcome in counts:
            counts[outcome] += 1
    return counts


def print_search_result(sweep: Path) -> None:
    """Optuna's best trial and its run, when the sweep was a single-objective search."""
    from trainers.runs.comparison import JOB_RUN_FILE

    results = sweep / "optimization_results.yaml"  # Optuna's
    if not results.is_file():
        return
    best = OmegaConf.load(results)
    if "best_value" not in best:  # a multi-objective study
        return
    params = [f"{key}={value}" for key, value in best.best_params.items()]
    print(f"\nBest trial: valid_a accuracy {best.best_value:.4f} with {' '.join(params)}")
    for overrides in sorted(sweep.glob("*/.hydra/overrides.yaml")):
        job = overrides.parent.parent
        if set(params) <= set(OmegaConf.load(overrides)) and (job / JOB_RUN_FILE).is_file():
            print(f"Best run:   {(job / JOB_RUN_FILE).read_text(encoding='utf-8').strip()}")
            break
    print(f"Search results: {results}")


class CompareJobsCallback(Callback):
    """Hydra callback: at the end of a ``train.py -m`` sweep, say what its jobs did (trained,
    resumed, skipped), print a search's best trial, and print and save the comparison of its
    jobs (``<sweep dir>/comparison.html``), ending with the headline and the paired tests
    (``full_comparison=true`` prints every breakdown row too)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from trainers.runs.comparison import sweep_run_dirs
        from trainers.runs.sweeps import SweepRecord

        sweep = Path(config.hydra.sweep.dir)
        counts = job_outcomes(sweep)
        if any(counts.values()):
            print(
                f"\nJobs of this start: {counts['trained']} trained, {counts['resumed']} "
                f"resumed (interrupted before), {counts['skipped']} skipped (finished before)"
            )
        print_search_result(sweep)
        record = SweepRecord.load(sweep)
        try:
            run_dirs = sweep_run_dirs(sweep)
            lead = f"sweep {sweep.name} · {len(run_dirs)} runs"
            if record is not None and record.command:
                lead += f" · {record.command}"
            report_comparison(
                run_dirs,
                sweep / "comparison.html",
                full=bool(OmegaConf.select(config, "full_comparison", default=False)),
                full_hint="full_comparison=true",
                lead=lead,
            )
        except (RegistryError, ValueError) as error:
            print(f"no comparison of the sweep: {error}", file=sys.stderr)


def searches_for(framework: str) -> list[str]:
    """The ``conf/hparams_search`` configs that train a model of ``framework``."""
    from trainers.config import PRESETS

    found = []
    for path in sorted((Path(CONFIG_DIR) / "hparams_search").glob("*.yaml")):
        loaded = OmegaConf.to_container(OmegaConf.load(path))
        defaults = loaded.get("defaults") if isinstance(loaded, dict) else None
        for entry in defaults or []:
            preset = entry.get("override /model") if isinstance(entry, dict) else None
            if (
                isinstance(preset, str)
                and preset in PRESETS
                and (PRESETS[preset]["framework"] == framework)
            ):
                found.append(path.stem)
    return found


def search_space_problem(config: DictConfig) -> str | None:
    """Why the sweeper's search space (``hydra.sweeper.params``) does not fit ``config``, or
    ``None``: every key it searches must be a key of the config, which it is not for
    ``hparams_search=transformer_optuna model=lstm`` (an LSTM has no ``model.d_model``)."""
    params = OmegaConf.select(config, "hydra.sweeper.params")
    if not params:
        return None
    choices = OmegaConf.select(config, "hydra.runtime.choices") or {}
    absent = object()
    missing = [
        key
        for key in map(str, params)
        if not key.startswith(("+", "~"))  # Hydra's append / delete overrides
        and "/" not in key  # a config group, e.g. hydra/launcher
        and key not in choices
        and OmegaConf.select(config, key, default=absent) is absent
    ]
    if not missing:
        return None
    keys = ", ".join(missing)
    search = choices.get("hparams_search")
    if search is None:
        return f"hydra.sweeper.params: {keys}: not a key of the config"
    model, framework = choices.get("model"), OmegaConf.select(config, "model.framework")
    matching = [name for name in searches_for(str(framework)) if name != search]
    instead = f"use hparams_search={matching[0]} for it, or " if matching else ""
    return (
        f"hparams_search={search} searches {keys}, which model={model} (a {framework} model) "
        f"does not have; {instead}leave out model= (each search picks its model)"
    )


class SweepCallback(Callback):
    """Hydra callback of ``train.py`` for every launcher and sweeper: refuses a search space
    that does not fit the model before any job starts (one ``error:`` line, exit code 2) and
    ``hparams_search=`` without ``-m``; opens the sweep (its folder, continued when the same
    command ran before; its Optuna study; its MLflow run: ``scripts/_sweep.py``) and closes it
    at the end (the MLflow run gets the comparison and the search's results).

    The job processes a launcher starts (joblib's workers; submitit's fresh interpreters, locally
    or on a SLURM node) unpickle this callback, and what the job refers to, by module name:
    ``scripts._cli`` (and ``scripts.train`` for ``storyqa-train``) are modules of the installed
    package, importable there as here."""

    def __init__(self) -> None:
        self._session: Any = None

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        search = OmegaConf.select(config, "hydra.runtime.choices.hparams_search")
        if search is not None:
            exit_with_user_error(
                f"hparams_search={search}: a search runs as a sweep; add -m "
                f"(python scripts/train.py -m hparams_search={search} ...)"
            )

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from scripts._sweep import SweepError, open_sweep

        problem = search_space_problem(config)
        if problem is not None:
            exit_with_user_error(problem)
        try:
            self._session = open_sweep(config)
        except (SweepError, TrackerConfigError) as error:
            exit_with_user_error(str(error))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self._session is not None:
            self._session.end(job_outcomes(self._session.sweep_dir))

    def __getstate__(self) -> dict[str, Any]:
        """Pickled for a launcher's job processes without the sweep's session (its lock and
        MLflow client belong to this process)."""
        return {"_session": None}
