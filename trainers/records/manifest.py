"""``manifest.json`` of a run: what ran, on what, with which outcome.

Both trainers write the same fields (the framework-specific parts are values, never keys), so
runs of either framework read alike. The file is rewritten atomically at every change of
status, so it always tells the truth about the run: ``running`` while training,
``finished``, ``interrupted`` (Ctrl-C, SIGTERM) or ``failed`` (with the error) at the end.

Example:
    >>> import tempfile, pathlib
    >>> run_dir = pathlib.Path(tempfile.mkdtemp())
    >>> manifest = RunManifest.start(run_dir, framework="keras", model="lstm", seed=0)
    >>> RunManifest.load(run_dir).status
    'running'
    >>> manifest.finish("finished")
    >>> RunManifest.load(run_dir).status
    'finished'
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal

from trainers.records.io import write_json_atomic

ManifestStatus = Literal["running", "finished", "interrupted", "failed"]


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def git_commit(directory: str | Path | None = None) -> str | None:
    """The commit checked out where the code lives, ``None`` outside a git checkout."""
    where = Path(directory) if directory is not None else Path(__file__).resolve().parent
    try:
        output = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return output.stdout.strip() or None


def hardware() -> dict[str, Any]:
    """Machine, OS, Python and CPU count."""
    return {
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }


@dataclass
class RunManifest:
    """The manifest of one run (``<run_dir>/manifest.json``).

    Attributes:
        run_dir: The run directory (not written; the file's own folder).
        run_id: The run directory's name.
        status: ``running``, ``finished``, ``interrupted`` or ``failed``.
        framework: ``lightning`` or ``keras``.
        model: Model preset name.
        seed: The seed that drives everything.
        dataset: ``name``, ``version``, ``hash``, ``path`` and ``split_sizes``.
        hyperparams: The model hyperparameters.
        trainer: The trainer settings.
        config: The full run config (from Hydra), when there is one.
        libraries: Versions of the libraries that matter for this framework.
        git_commit: Commit of the code, if known.
        hardware: Machine description.
        device: What trained the model (e.g. ``cpu``, ``cuda:0 (NVIDIA H100)``).
        precision: Numeric precision used.
        started_at: UTC start of the first attempt.
        ended_at: UTC end of the last attempt, ``None`` while running.
        durations: Seconds spent, by phase (``train``, ``evaluate``).
        epochs_completed: Epochs finished so far.
        periods_completed: Validation periods finished so far, with
            ``trainer.val_check_interval`` (``trainers/periods.py``); ``None`` when the run
            validates once per epoch.
        stopped_early: Whether early stopping ended training.
        best: ``epoch``, ``val_accuracy``, ``val_loss``, ``checkpoint`` of the best epoch.
        checkpoints: ``best``, ``last`` and ``top_k`` paths, relative to the run directory.
        evaluation: Split name -> overall scores of the evaluated best checkpoint.
        resumed_at: UTC times the run was resumed.
        error: The error that failed or interrupted the run.
    """

    FILENAME: ClassVar[str] = "manifest.json"
    #: Start of ``error`` when training ended but evaluating the best checkpoint, writing the
    #: report or registering the run failed.
    AFTER_TRAINING_ERROR: ClassVar[str] = "evaluation after training failed"

    run_dir: Path
    run_id: str
    status: ManifestStatus
    framework: str
    model: str
    seed: int
    dataset: dict[str, Any] = field(default_factory=dict)
    hyperparams: dict[str, Any] = field(default_factory=dict)
    trainer: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] | None = None
    libraries: dict[str, str] = field(default_factory=dict)
    git_commit: str | None = None
    hardware: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    precision: str = "32"
    started_at: str = field(default_factory=utc_now)
    ended_at: str | None = None
    durations: dict[str, float] = field(default_factory=dict)
    epochs_completed: int = 0
    periods_completed: int | None = None
    stopped_early: bool = False
    best: dict[str, Any] = field(default_factory=dict)
    checkpoints: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, dict[str, float]] = field(default_factory=dict)
    resumed_at: list[str] = field(default_factory=list)
    error: str | None = None

    @classmethod
    def path_for(cls, run_dir: str | Path) -> Path:
        """``<run_dir>/manifest.json``."""
        return Path(run_dir) / cls.FILENAME

    @classmethod
    def start(cls, run_dir: str | Path, **values: Any) -> RunManifest:
        """A new ``running`` manifest, written at once.

        Args:
            run_dir: The run directory.
            **values: Field values (``framework``, ``model``, ``seed`` are required).
        """
        run_dir = Path(run_dir)
        values.setdefault("hardware", hardware())
        values.setdefault("git_commit", git_commit())
        manifest = cls(run_dir=run_dir, run_id=run_dir.name, status="running", **values)
        manifest.save()
        return manifest

    @classmethod
    def load(cls, run_dir: str | Path) -> RunManifest:
        """Read ``<run_dir>/manifest.json``.

        Raises:
            FileNotFoundError: When the run has no manifest.
            ValueError: When the file is not a manifest (names the file).
        """
        path = cls.path_for(run_dir)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(
                f"{path}: not valid JSON ({error}); the run folder is damaged"
            ) from None
        known = {item.name for item in fields(cls)} - {"run_dir"}
        required = {"run_id", "status", "framework", "model", "seed"}
        missing = required - set(data) if isinstance(data, dict) else required
        if not isinstance(data, dict) or missing:
            raise ValueError(f"{path}: not a run manifest (missing {sorted(missing)})")
        return cls(run_dir=Path(run_dir), **{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        """The fields as written to the file."""
        data = asdict(self)
        del data["run_dir"]
        return data

    def save(self) -> Path:
        """Write the manifest atomically."""
        return write_json_atomic(self.path_for(self.run_dir), self.to_dict())

    def update(self, **values: Any) -> None:
        """Change fields and write the manifest.

        Raises:
            AttributeError: For a name that is not a field.
        """
        for name, value in values.items():
            if not hasattr(self, name) or name == "run_dir":
                raise AttributeError(f"RunManifest has no field {name!r}")
            setattr(self, name, value)
        self.save()

    @property
    def saved_progress(self) -> bool:
        """Whether a checkpoint to resume from was recorded: a finished epoch, or with
        ``trainer.val_check_interval`` a finished validation period."""
        return self.epochs_completed > 0 or (self.periods_completed or 0) > 0

    @property
    def trained_so_far(self) -> str:
        """How far training got, for people: ``3 epoch(s)``, or with validation periods
        ``1 epoch(s) and 3 validation(s)``."""
        epochs = f"{self.epochs_completed} epoch(s)"
        if self.periods_completed is None:
            return epochs
        return f"{epochs} and {self.periods_completed} validation(s)"

    @property
    def training_done(self) -> bool:
        """Training ran to its end: ``finished``, or ``failed`` afterwards (while the best
        checkpoint was evaluated, reported or registered; see :attr:`AFTER_TRAINING_ERROR`).
        Resuming such a run only evaluates it."""
        return self.status == "finished" or (
            self.status == "failed" and (self.error or "").startswith(self.AFTER_TRAINING_ERROR)
        )

    def mark_resumed(self) -> None:
        """Record a resume: status back to ``running``, the error cleared."""
        self.resumed_at.append(utc_now())
        self.update(status="running", ended_at=None, error=None)

    def finish(self, status: ManifestStatus, error: str | None = None) -> None:
        """Record the end of an attempt.

        Args:
            status: ``finished``, ``interrupted`` or ``failed``.
            error: What went wrong, for ``interrupted`` and ``failed``.
        """
        self.update(status=status, ended_at=utc_now(), error=error)
