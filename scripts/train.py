"""Train one model: build or reuse the dataset, train, evaluate the best checkpoint on every
split, write ``report.html``, register the run and print the console report.

Usage::

    python scripts/train.py model=transformer data=all_4dir data.size=tiny trainer.max_epochs=2
    python scripts/train.py -m model=lstm,transformer seed=0,1      # one run per job
    python scripts/train.py resume=models_out/runs/<run_id>         # continue a run

A sweep started again (the same ``-m`` command, after a kill or just again) continues in its
folder: a job whose run finished before (same config, seed and dataset version, in the
registry) is skipped, a job whose run was interrupted resumes it from its last checkpoint (or,
when it finished no epoch, trains it again from the start); ``retrain=true`` trains every job
again (``scripts/_sweep.py``, ``trainers/runs/sweeps.py``).

``model=`` picks a preset (``conf/model``; values in ``trainers/config/presets.py``),
``model.<key>=`` overrides a hyperparameter, ``trainer.<key>=`` a trainer setting
(``trainers/config/trainer.py``),
``tracker.<key>=`` the tracking sinks. The whole config is validated before anything is built.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from models.settings import SettingsError
from scripts._cli import (
    CONFIG_DIR,
    HYDRA_SUBDIR,
    exit_with_user_error,
    model_name,
    register_configs,
    reports_user_errors,
    run_dir_for,
    split_run_config,
)
from trainers.records.manifest import RunManifest
from trainers.runs.comparison import JOB_RUN_FILE
from trainers.runs.pipeline import (
    RESUME_EXTENSIONS,
    PipelineConfig,
    restart_unstarted_run,
    run_pipeline,
)
from trainers.runs.sweeps import JOB_OUTCOME_FILE, EarlierRun, SweepRecord, earlier_run
from trainers.signals import TrainingInterrupted
from trainers.tracking import Invocation

register_configs()

logger = logging.getLogger("scripts.train")

#: What Hydra writes in a sweep folder before its first job starts.
SWEEP_CONFIG_FILE = "multirun.yaml"
#: What a sweep keeps in its folder before its first job starts: Hydra's config, the sweep's
#: record and its lock (``scripts/_sweep.py``).
SWEEP_START_FILES = frozenset({SWEEP_CONFIG_FILE, SweepRecord.FILENAME, ".sweep.lock"})
#: A sweep's own override that hands its jobs its MLflow run: not part of a job's command.
PARENT_RUN_OVERRIDE = "tracker.mlflow_parent_run_id="


def _remove_if_empty_run(run_dir: Path) -> None:
    """Remove a run folder that holds nothing but Hydra's config dump (a rejected config)."""
    if (
        run_dir.is_dir()
        and not RunManifest.path_for(run_dir).exists()
        and {p.name for p in run_dir.iterdir()} <= {HYDRA_SUBDIR}
    ):
        shutil.rmtree(run_dir, ignore_errors=True)


def _remove_rejected_sweep_job(job_dir: Path) -> None:
    """Remove a sweep job folder that holds nothing but Hydra's config dump (its config was
    rejected before a run folder existed), and the sweep folder when nothing else is left in it.
    """
    _remove_if_empty_run(job_dir)
    sweep_dir = job_dir.parent
    if sweep_dir.is_dir() and {p.name for p in sweep_dir.iterdir()} <= SWEEP_START_FILES:
        shutil.rmtree(sweep_dir, ignore_errors=True)


def _remove_empty_output_folders(output_dir: Path) -> None:
    """Remove ``runs/`` and ``multirun/`` of the output root when a rejected config left them
    empty (another job of the same sweep may still fill them: its folders are made with their
    parents)."""
    for name in ("runs", "multirun"):
        with contextlib.suppress(OSError):  # not empty, or not there
            (output_dir / name).rmdir()


#: What a resumed run takes on the command line besides ``resume=``.
RESUME_KEYS = frozenset({"resume", "progress", *(f"trainer.{k}" for k in RESUME_EXTENSIONS)})


def _override_key(override: str) -> str:
    """The key of a command-line override (``++model.hidden=8`` -> ``model.hidden``)."""
    return override.split("=", 1)[0].lstrip("+~")


def _refuse_resume_changes(given: set[str]) -> None:
    """Refuse keys other than :data:`RESUME_KEYS` given with ``resume=``.

    Raises:
        SettingsError: Naming the first such key.
    """
    ignored = sorted(given - RESUME_KEYS)
    if ignored:
        raise SettingsError(
            f"{ignored[0]}: a resumed run keeps its own saved config; only "
            f"{sorted(RESUME_KEYS - {'resume', 'progress'})} may be given with resume= "
            "(start a new run to change anything else)"
        )


def _refuses_resume_changes_first(main: Callable[..., Any]) -> Callable[..., Any]:
    """Run the ``resume=`` check on the command line before Hydra composes the config: a key
    that the default model lacks (``model.hidden`` of an LSTM run) would otherwise stop
    Hydra first, with its own message, instead of the ``error:`` line every other key gets.
    Hydra's own overrides (``hydra.*``, ``hydra/...``) are left to Hydra."""

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        overrides = [a for a in sys.argv[1:] if "=" in a and not a.startswith("-")]
        given = {_override_key(o) for o in overrides}
        if not args and not kwargs and "resume" in given:
            try:
                _refuse_resume_changes(
                    {k for k in given if k.split(".")[0].split("/")[0] != "hydra"}
                )
            except SettingsError as error:
                exit_with_user_error(str(error))
        return main(*args, **kwargs)

    return wrapper


@_refuses_resume_changes_first
@hydra.main(config_path=CONFIG_DIR, config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float:
    hydra_config = HydraConfig.get()
    run_dir = Path(hydra_config.runtime.output_dir)
    new_run_dir: Path | None = None
    try:
        if hydra_config.mode == RunMode.RUN:
            _warn_sweep_only_keys(cfg)
            return _run(cfg, run_dir)
        # A sweep job: its run goes to runs/<run_id>; its Hydra job folder points there.
        for stale in (JOB_RUN_FILE, JOB_OUTCOME_FILE):  # an earlier start's, in a continued sweep
            (run_dir / stale).unlink(missing_ok=True)
        invocation = _sweep_job_invocation(run_dir)
        earlier = _earlier_run(cfg)
        if earlier is not None and earlier.state == "finished":
            accuracy = earlier.best_val_accuracy
            print(
                f"\nskipped: this job finished before as run {earlier.run_dir} (best val "
                f"accuracy {accuracy if accuracy is None else f'{accuracy:.4f}'}); "
                "retrain=true trains it again"
            )
            _record_job(run_dir, earlier.run_dir, "skipped")
            return float("nan") if accuracy is None else accuracy
        if earlier is not None and restart_unstarted_run(earlier.run_dir):
            new_run_dir = earlier.run_dir
            print(
                f"\nrestarted: this job's run {new_run_dir} was interrupted before it finished "
                "an epoch (nothing to resume); training it again from the start"
            )
            accuracy = _run(cfg, new_run_dir, invocation)
            _record_job(run_dir, new_run_dir, "trained")
            return accuracy
        if earlier is not None:
            new_run_dir = earlier.run_dir
            print(
                f"\nresumed: this job's run {earlier.run_dir} was interrupted after "
                f"{earlier.trained_so_far}; continuing it from its last checkpoint"
            )
            accuracy = _run(cfg, new_run_dir, invocation, continue_run=new_run_dir)
            _record_job(run_dir, new_run_dir, "resumed")
            return accuracy
        name = model_name(cfg)
        new_run_dir = Path(
            run_dir_for(None, cfg.paths.output_dir, name, cfg.data.name, cfg.data.path)
        )
        accuracy = _run(cfg, new_run_dir, invocation)
        _record_job(run_dir, new_run_dir, "trained")
        return accuracy
    except BaseException:
        if hydra_config.mode == RunMode.RUN:
            _remove_if_empty_run(run_dir)
        elif new_run_dir is None or not new_run_dir.exists():
            _remove_rejected_sweep_job(run_dir)
        _remove_empty_output_folders(Path(cfg.paths.output_dir).expanduser())
        raise


def _record_job(job_dir: Path, run_dir: Path, outcome: str) -> None:
    """Write the job folder's ``run_dir.txt`` (its run) and ``outcome.txt`` (what it did)."""
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / JOB_RUN_FILE).write_text(f"{run_dir.resolve()}\n", encoding="utf-8")
    (job_dir / JOB_OUTCOME_FILE).write_text(f"{outcome}\n", encoding="utf-8")


def _warn_sweep_only_keys(cfg: DictConfig) -> None:
    """``retrain`` and ``full_comparison`` mean something in a sweep only: say so."""
    for key in ("retrain", "full_comparison"):
        if cfg.get(key):
            logger.warning("%s=true only changes a sweep (-m); this single run ignores it", key)


def _sweep_job_invocation(job_dir: Path) -> Invocation:
    """How a sweep job was started: ``train.py`` with the job's own overrides (the command
    that runs this job alone), the sweep it belongs to (its folder's name) and the composed
    config Hydra wrote in the job folder."""
    hydra_config = HydraConfig.get()
    script = Path(__file__)
    with contextlib.suppress(ValueError):
        script = script.resolve().relative_to(Path.cwd().resolve())
    config = job_dir / (hydra_config.output_subdir or HYDRA_SUBDIR) / "config.yaml"
    overrides = [o for o in hydra_config.overrides.task if not o.startswith(PARENT_RUN_OVERRIDE)]
    return Invocation(
        command=("python", str(script), *overrides),
        source=str(script),
        sweep=Path(str(hydra_config.sweep.dir)).name,
        config_file=config,
    )


def _settings(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's plain config and the command's own keys (:func:`split_run_config`)."""
    return split_run_config(cfg, model_name(cfg))


@reports_user_errors
def _earlier_run(cfg: DictConfig) -> EarlierRun | None:
    """A run of this sweep job from before (finished: skip the job; interrupted: resume it),
    unless ``retrain=true`` or the job resumes a run of its own (``resume=``)."""
    from stories import version_of

    plain, command = _settings(cfg)
    if command["retrain"] or command["resume"] is not None:
        return None
    config = PipelineConfig.from_mapping(plain)
    output_root = config.output_dir.expanduser().resolve()
    version = version_of(config.data, config.data_seed)
    return earlier_run(config.to_dict(), version, output_root)


def _report_interrupt(interrupt: KeyboardInterrupt, run_dir: Path | None) -> NoReturn:
    """One line on how to continue an interrupted run, then exit ``128 + signal``."""
    code = interrupt.exit_code if isinstance(interrupt, TrainingInterrupted) else 130
    if run_dir is not None and RunManifest.path_for(run_dir).is_file():
        print(
            f"\ninterrupted: the run keeps its last finished epoch; continue it with\n"
            f"  python scripts/train.py resume={run_dir}",
            file=sys.stderr,
        )
    raise SystemExit(code)


@reports_user_errors
def _run(
    cfg: DictConfig,
    run_dir: Path | None,
    invocation: Invocation | None = None,
    continue_run: Path | None = None,
) -> float:
    """Train (or, with ``resume=`` or ``continue_run``, continue) one run, print where it is.

    Args:
        cfg: The command's config.
        run_dir: The run folder.
        invocation: How it was started (a sweep job's own command).
        continue_run: A sweep job's interrupted run to continue with its own saved config.
    """
    plain, command = _settings(cfg)
    resume = command["resume"] if continue_run is None else str(continue_run)
    progress = bool(command["progress"])
    # Every key is checked before anything is built; the run gets the checked config.
    config = PipelineConfig.from_mapping(plain) if resume is None else plain
    extend = None
    if resume is not None and continue_run is None:  # only these may change, when given
        given = {_override_key(o) for o in HydraConfig.get().overrides.task}
        _refuse_resume_changes(given)
        extend = {k: plain["trainer"][k] for k in RESUME_EXTENSIONS if f"trainer.{k}" in given}
    try:
        out = run_pipeline(
            config,
            run_dir=run_dir,
            resume=resume,
            progress=progress,
            extend=extend,
            invocation=invocation,
        )
    except KeyboardInterrupt as interrupt:
        _report_interrupt(interrupt, run_dir)
    training = out["training"]
    if "report" not in out:  # a DDP worker (rank > 0): rank zero prints the run's summary
        return float(training.best_val_accuracy)
    print(f"\nRun:    {out['run_dir']}")
    print(f"Best:   epoch {training.best_epoch}, val accuracy {training.best_val_accuracy:.4f}")
    print(f"Report: {out['report']}")
    if invocation is None:  # a single run (a sweep prints where MLflow shows it at its end)
        _print_mlflow_ui(Path(out["run_dir"]))
    return float(training.best_val_accuracy)


def _print_mlflow_ui(run_dir: Path) -> None:
    """Where MLflow's UI shows the run, when it logged its model to MLflow (the ``mlflow``
    sink): the line of :func:`trainers.tracking.mlflow_ui.mlflow_ui_line`."""
    from trainers.runs.serving import RECORD_FILE, LoggedModel
    from trainers.tracking.mlflow_ui import mlflow_ui_line

    if not (run_dir / RECORD_FILE).is_file():
        return
    logged = LoggedModel.load(run_dir)
    if logged.experiment_id:
        print(mlflow_ui_line(logged.tracking_uri, logged.experiment_id))


if __name__ == "__main__":
    main()
