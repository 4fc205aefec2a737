"""Train one model: build or reuse the dataset, train, evaluate the best checkpoint on every
split, write ``report.html``, register the run and print the console report.

Usage::

    python scripts/train.py model=transformer data=all_4dir data.size=tiny trainer.max_epochs=2
    python scripts/train.py -m model=lstm,transformer seed=0,1      # one run per job
    python scripts/train.py resume=models_out/runs/<run_id>         # continue a run

``model=`` picks a preset (``conf/model``; values in ``trainers/config/presets.py``),
``model.<key>=`` overrides a hyperparameter, ``trainer.<key>=`` a trainer setting
(``trainers/config/trainer.py``),
``tracker.<key>=`` the tracking sinks. The whole config is validated before anything is built.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path
from typing import NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from models.settings import SettingsError
from scripts._cli import (
    CONFIG_DIR,
    HYDRA_SUBDIR,
    model_name,
    register_configs,
    reports_user_errors,
    run_dir_for,
    to_plain,
)
from trainers.records.manifest import RunManifest
from trainers.runs.comparison import JOB_RUN_FILE
from trainers.runs.pipeline import RESUME_EXTENSIONS, PipelineConfig, run_pipeline
from trainers.signals import TrainingInterrupted
from trainers.tracking import Invocation

register_configs()

#: What Hydra writes in a sweep folder before its first job starts.
SWEEP_CONFIG_FILE = "multirun.yaml"


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
    if sweep_dir.is_dir() and {p.name for p in sweep_dir.iterdir()} <= {SWEEP_CONFIG_FILE}:
        shutil.rmtree(sweep_dir, ignore_errors=True)


def _remove_empty_output_folders(output_dir: Path) -> None:
    """Remove ``runs/`` and ``multirun/`` of the output root when a rejected config left them
    empty (another job of the same sweep may still fill them: its folders are made with their
    parents)."""
    for name in ("runs", "multirun"):
        with contextlib.suppress(OSError):  # not empty, or not there
            (output_dir / name).rmdir()


@hydra.main(config_path=CONFIG_DIR, config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float:
    hydra_config = HydraConfig.get()
    run_dir = Path(hydra_config.runtime.output_dir)
    new_run_dir: Path | None = None
    try:
        if hydra_config.mode == RunMode.RUN:
            return _run(cfg, run_dir)
        # A sweep job: its run goes to runs/<run_id>; its Hydra job folder points there.
        name = model_name(cfg)
        new_run_dir = Path(run_dir_for(None, cfg.paths.output_dir, name, cfg.data.name))
        accuracy = _run(cfg, new_run_dir, _sweep_job_invocation(run_dir))
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / JOB_RUN_FILE).write_text(f"{new_run_dir.resolve()}\n", encoding="utf-8")
        return accuracy
    except BaseException:
        if hydra_config.mode == RunMode.RUN:
            _remove_if_empty_run(run_dir)
        elif new_run_dir is None or not new_run_dir.exists():
            _remove_rejected_sweep_job(run_dir)
        _remove_empty_output_folders(Path(cfg.paths.output_dir).expanduser())
        raise


def _sweep_job_invocation(job_dir: Path) -> Invocation:
    """How a sweep job was started: ``train.py`` with the job's own overrides (the command
    that runs this job alone) and the composed config Hydra wrote in the job folder."""
    hydra_config = HydraConfig.get()
    script = Path(__file__)
    with contextlib.suppress(ValueError):
        script = script.resolve().relative_to(Path.cwd().resolve())
    config = job_dir / (hydra_config.output_subdir or HYDRA_SUBDIR) / "config.yaml"
    return Invocation(
        command=("python", str(script), *hydra_config.overrides.task),
        source=str(script),
        config_file=config,
    )


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
def _run(cfg: DictConfig, run_dir: Path | None, invocation: Invocation | None = None) -> float:
    plain = to_plain(cfg)
    plain["model"].setdefault("name", model_name(cfg))  # a model config may leave it out
    resume = plain.pop("resume")
    progress = bool(plain.pop("progress"))
    plain["output_dir"] = plain.pop("paths")["output_dir"]
    # Every key is checked before anything is built; the run gets the checked config.
    config = PipelineConfig.from_mapping(plain) if resume is None else plain
    extend = None
    if resume is not None:  # only these may change, and only when given on the command line
        given = {o.split("=", 1)[0].lstrip("+~") for o in HydraConfig.get().overrides.task}
        allowed = {"resume", "progress", *(f"trainer.{k}" for k in RESUME_EXTENSIONS)}
        ignored = sorted(given - allowed)
        if ignored:
            raise SettingsError(
                f"{ignored[0]}: a resumed run keeps its own saved config; only "
                f"{sorted(allowed - {'resume', 'progress'})} may be given with resume= "
                "(start a new run to change anything else)"
            )
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
    print(f"\nRun:    {out['run_dir']}")
    print(f"Best:   epoch {training.best_epoch}, val accuracy {training.best_val_accuracy:.4f}")
    print(f"Report: {out['report']}")
    return float(training.best_val_accuracy)


if __name__ == "__main__":
    main()
