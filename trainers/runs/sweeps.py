"""Sweeps that resume: what identifies a sweep and its jobs across two starts of the same
``train.py -m`` command.

A *sweep* is identified by its command: the task overrides (``model=lstm,transformer
seed=0,1``) and the sweeper's settings (``hydra.sweeper.params...``), leaving out what only
changes how it is shown or how much more it runs (``progress``, ``retrain``,
``hydra.sweeper.n_trials``...). Its folder (``multirun/<time>/``) holds a
:class:`SweepRecord` (``sweep.json``), so the same command started again finds its folder
(:func:`find_sweep`) and continues there: the same sweep id, the same MLflow parent run, the
same Optuna study.

A *job* is identified by what its run computes: the validated config without the keys that
do not change the numbers (tracking, output folder, progress bars) and the dataset version
(:func:`job_signature`). :func:`earlier_run` finds a run of the same job: a finished one in
the registry (the job is skipped: on CPU it would give the same numbers) or one that was
interrupted (killed, Ctrl-C, SIGTERM: the job resumes it from its last checkpoint).

Example:
    >>> first = sweep_key(["seed=0,1", "model=lstm", "progress=false"], ["hydra/launcher=joblib"])
    >>> first == sweep_key(["model=lstm", "seed=0,1"], [])
    True
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal

from trainers.records.io import write_json_atomic
from trainers.records.manifest import RunManifest, utc_now
from trainers.records.registry import Registry

logger = logging.getLogger(__name__)

#: Task overrides that do not change what a sweep computes (display, or the decision to
#: train again): left out of the sweep key.
DISPLAY_OVERRIDES: tuple[str, ...] = (
    "retrain",
    "progress",
    "trainer.progress",
    "full_comparison",
)
#: The sweeper's settings that say how much more to run, not what: left out of the sweep key
#: (an Optuna search started again with another ``n_trials`` continues the same study).
BUDGET_OVERRIDES: tuple[str, ...] = ("hydra.sweeper.n_trials", "hydra.sweeper.n_jobs")
#: Config keys that do not change what a run computes: left out of a job's signature.
UNCOMPUTED_KEYS: tuple[str, ...] = ("tracker", "output_dir", "run_id")
UNCOMPUTED_TRAINER_KEYS: tuple[str, ...] = ("progress",)
UNCOMPUTED_DATA_KEYS: tuple[str, ...] = ("workers",)
#: A manifest status of a run a job may continue (``running``: the process was killed).
RESUMABLE: tuple[str, ...] = ("running", "interrupted")
#: The file a sweep job writes in its job folder: what it did, one of :data:`JOB_OUTCOMES`
#: (beside ``run_dir.txt``, the path of its run).
JOB_OUTCOME_FILE = "outcome.txt"
#: Trained a new run; resumed an interrupted one; skipped (a run of it had finished).
JOB_OUTCOMES: tuple[str, ...] = ("trained", "resumed", "skipped")


def _override_key(override: str) -> str:
    """The key of a Hydra override (``++model.lr=1`` -> ``model.lr``)."""
    return override.split("=", 1)[0].lstrip("+~")


def sweep_key(task_overrides: Sequence[str], hydra_overrides: Sequence[str]) -> str:
    """The identity of a sweep's command: a hash of its task overrides and the sweeper's own
    settings (``hydra.sweeper.*``), in any order, without :data:`DISPLAY_OVERRIDES` and
    :data:`BUDGET_OVERRIDES`. The launcher is not part of it: the same sweep may continue on
    another launcher.

    Args:
        task_overrides: ``hydra.overrides.task`` of the sweep.
        hydra_overrides: ``hydra.overrides.hydra`` of the sweep.

    Example:
        >>> key = sweep_key(["model=lstm"], ["hydra.sweeper.n_trials=5"])
        >>> key == sweep_key(["model=lstm"], ["hydra.sweeper.n_trials=9"]), len(key)
        (True, 16)
        >>> key == sweep_key(["model=transformer"], [])
        False
    """
    kept = sorted(o for o in task_overrides if _override_key(o) not in DISPLAY_OVERRIDES)
    kept += sorted(
        o
        for o in hydra_overrides
        if _override_key(o).startswith("hydra.sweeper.")
        and _override_key(o) not in BUDGET_OVERRIDES
    )
    return hashlib.sha256(json.dumps(kept).encode()).hexdigest()[:16]


@dataclass
class SweepRecord:
    """``<sweep dir>/sweep.json``: what identifies a sweep and what it is tracked as.

    Attributes:
        key: :func:`sweep_key` of its command.
        command: The command that started it (secrets redacted).
        starts: UTC times it was started (two or more: continued).
        mlflow_tracking_uri: The MLflow store of its parent run, if any.
        mlflow_parent_run_id: Its MLflow parent run, if any.
        study_name: Its Optuna study, if it is a search with a storage.
        study_storage: The storage of that study.
    """

    FILENAME: ClassVar[str] = "sweep.json"

    key: str
    command: str = ""
    starts: list[str] = field(default_factory=list)
    mlflow_tracking_uri: str | None = None
    mlflow_parent_run_id: str | None = None
    study_name: str | None = None
    study_storage: str | None = None

    @classmethod
    def path_for(cls, sweep_dir: str | Path) -> Path:
        """``<sweep_dir>/sweep.json``."""
        return Path(sweep_dir) / cls.FILENAME

    @classmethod
    def load(cls, sweep_dir: str | Path) -> SweepRecord | None:
        """The record of ``sweep_dir``, or ``None`` when it has none or it cannot be read (a
        sweep folder from before storyqa kept one, or a damaged file: with a warning)."""
        path = cls.path_for(sweep_dir)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            known = {item.name for item in fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in known})
        except (OSError, ValueError, TypeError) as error:
            logger.warning("%s cannot be read (%s); that sweep is not continued", path, error)
            return None

    def save(self, sweep_dir: str | Path) -> Path:
        """Write the record atomically into ``sweep_dir``."""
        return write_json_atomic(self.path_for(sweep_dir), asdict(self))

    def started_now(self) -> None:
        """Record one more start."""
        self.starts.append(utc_now())


def find_sweep(multirun_root: str | Path, key: str) -> Path | None:
    """The latest sweep folder of ``multirun_root`` whose record has ``key`` (the same command
    started before), or ``None``."""
    root = Path(multirun_root)
    if not root.is_dir():
        return None
    found: list[tuple[str, str, Path]] = []
    for path in root.glob(f"*/{SweepRecord.FILENAME}"):
        record = SweepRecord.load(path.parent)
        if record is not None and record.key == key:
            found.append((max(record.starts, default=""), path.parent.name, path.parent))
    return max(found)[2] if found else None


def job_signature(config: Mapping[str, Any]) -> dict[str, Any]:
    """What must be equal for two runs to compute the same thing: a run's config as the
    manifest saves it (:meth:`trainers.runs.pipeline.PipelineConfig.to_dict`) without
    :data:`UNCOMPUTED_KEYS` (and the trainer's and the data's keys that change no number),
    normalised as JSON.

    Example:
        >>> a = {"seed": 0, "output_dir": "a", "trainer": {"max_epochs": 2, "progress": True}}
        >>> b = {"seed": 0, "output_dir": "b", "trainer": {"max_epochs": 2, "progress": False}}
        >>> job_signature(a) == job_signature(b)
        True
    """
    signature = {k: v for k, v in config.items() if k not in UNCOMPUTED_KEYS}
    for key, dropped in (("trainer", UNCOMPUTED_TRAINER_KEYS), ("data", UNCOMPUTED_DATA_KEYS)):
        if isinstance(signature.get(key), Mapping):
            signature[key] = {k: v for k, v in signature[key].items() if k not in dropped}
    normalised: dict[str, Any] = json.loads(json.dumps(signature, sort_keys=True, default=str))
    return normalised


@dataclass(frozen=True)
class EarlierRun:
    """A run of the same job from an earlier start of the sweep (or any earlier run).

    Attributes:
        run_dir: Its folder.
        state: ``finished`` (registered: the job is skipped) or ``interrupted`` (the job
            resumes it).
        epochs_completed: Epochs it finished.
        best_val_accuracy: Its best validation accuracy (what ``train.py`` returns), if any.
        trained_so_far: How far it trained, for people (:attr:`RunManifest.trained_so_far`).
    """

    run_dir: Path
    state: Literal["finished", "interrupted"]
    epochs_completed: int
    best_val_accuracy: float | None
    trained_so_far: str = ""


def earlier_run(
    config: Mapping[str, Any], dataset_version: str, output_root: str | Path
) -> EarlierRun | None:
    """A run of the job ``config`` describes that an earlier start left in ``output_root``.

    A finished run comes from the registry (the latest registered one with the same
    :func:`job_signature` and dataset version, whose folder still says ``finished``); failing
    that, an unfinished run comes from ``runs/`` (status ``running`` — its process was
    killed — or ``interrupted``; the latest started). A run folder that cannot be read is
    passed over.

    Args:
        config: The job's validated config (``PipelineConfig.to_dict()``).
        dataset_version: The dataset version the job trains on.
        output_root: The output root (``registry.json`` and ``runs/``).

    Raises:
        RegistryError: A damaged registry (naming the file).
    """
    root = Path(output_root)
    signature = job_signature(config)
    for entry in reversed(Registry(root).list()):
        if (
            entry.status != "finished"
            or entry.dataset.get("version") != dataset_version
            or job_signature(entry.config) != signature
        ):
            continue
        run_dir = Path(entry.run_dir)
        run_dir = run_dir if run_dir.is_absolute() else root / run_dir
        manifest = _manifest(run_dir)
        if manifest is not None and manifest.status == "finished":
            return EarlierRun(
                run_dir=run_dir.resolve(),
                state="finished",
                epochs_completed=manifest.epochs_completed,
                best_val_accuracy=_best(manifest),
                trained_so_far=manifest.trained_so_far,
            )
    unfinished = []
    for path in sorted((root / Registry.RUNS_DIR).glob(f"*/{RunManifest.FILENAME}")):
        manifest = _manifest(path.parent)
        if (
            manifest is not None
            and (manifest.status in RESUMABLE or manifest.training_done)
            and manifest.status != "finished"
            and manifest.dataset.get("version") == dataset_version
            and manifest.config
            and job_signature(manifest.config) == signature
        ):
            unfinished.append(manifest)
    if not unfinished:
        return None
    latest = max(unfinished, key=lambda m: (m.started_at, m.run_id))
    return EarlierRun(
        run_dir=latest.run_dir.resolve(),
        state="interrupted",
        epochs_completed=latest.epochs_completed,
        best_val_accuracy=_best(latest),
        trained_so_far=latest.trained_so_far,
    )


def _manifest(run_dir: Path) -> RunManifest | None:
    try:
        return RunManifest.load(run_dir)
    except (OSError, ValueError, TypeError) as error:
        logger.debug("%s passed over: %s", run_dir, error)
        return None


def _best(manifest: RunManifest) -> float | None:
    value = manifest.best.get("val_accuracy")
    return float(value) if isinstance(value, int | float) else None
