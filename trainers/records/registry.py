"""The model registry: ``<output_root>/registry.json``, one entry per finished run.

Entries are added under a file lock and the file is replaced atomically, so parallel sweep
jobs never lose an entry and a reader never sees half a file. Registering a run again
replaces its entry (a re-evaluation updates the scores).

Example:
    >>> import tempfile, pathlib
    >>> registry = Registry(pathlib.Path(tempfile.mkdtemp()))
    >>> registry.register(RegistryEntry(run_id="lstm-all_4dir-1", framework="keras",
    ...                                 model="lstm", run_dir="runs/lstm-all_4dir-1"))
    >>> [entry.run_id for entry in registry.list()]
    ['lstm-all_4dir-1']
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from filelock import FileLock

from trainers.records.io import write_json_atomic
from trainers.records.manifest import RunManifest, utc_now


class RegistryError(ValueError):
    """The registry file is damaged, or a run is not in it."""


@dataclass(frozen=True)
class RegistryEntry:
    """One registered run.

    Attributes:
        run_id: The run id (the run directory's name).
        framework: ``lightning`` or ``keras``.
        model: Model preset.
        run_dir: Run directory, relative to the output root when inside it.
        dataset: ``name``, ``version``, ``hash`` of the training data.
        seed: The run's seed.
        config: The run's config.
        best: Best epoch, validation accuracy and loss.
        checkpoint: The best checkpoint, relative to the output root when inside it.
        evaluation: Split -> overall scores.
        evaluation_dirs: Split -> evaluation folder, relative to the output root.
        status: The manifest status when registered.
        registered_at: UTC time of the registration.
    """

    run_id: str
    framework: str
    model: str
    run_dir: str
    dataset: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    best: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    evaluation: dict[str, dict[str, float]] = field(default_factory=dict)
    evaluation_dirs: dict[str, str] = field(default_factory=dict)
    status: str = "finished"
    registered_at: str = ""

    @classmethod
    def from_manifest(cls, manifest: RunManifest, output_root: str | Path) -> RegistryEntry:
        """The entry of a run, from its manifest."""
        root = Path(output_root).resolve()
        run_dir = manifest.run_dir.resolve()
        best_checkpoint = manifest.checkpoints.get("best")
        evaluation_dirs = {
            split: _relative(run_dir / "eval" / split, root) for split in manifest.evaluation
        }
        return cls(
            run_id=manifest.run_id,
            framework=manifest.framework,
            model=manifest.model,
            run_dir=_relative(run_dir, root),
            dataset={k: manifest.dataset.get(k) for k in ("name", "version", "hash")},
            seed=manifest.seed,
            config=manifest.config or {},
            best=dict(manifest.best),
            checkpoint=_relative(run_dir / best_checkpoint, root) if best_checkpoint else None,
            evaluation=dict(manifest.evaluation),
            evaluation_dirs=evaluation_dirs,
            status=manifest.status,
            registered_at=utc_now(),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegistryEntry:
        """Read an entry, ignoring keys this version does not know."""
        known = {item.name for item in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def output_root_of(run_dir: str | Path) -> Path:
    """The output root of a run folder: the folder that holds its ``runs/`` folder (home of
    ``registry.json``, ``datasets/``, ``mlflow.db``), or its parent when the run folder is
    not inside a ``runs/`` folder.

    Example:
        >>> output_root_of("/elsewhere/runs/lstm-x").as_posix()
        '/elsewhere'
        >>> output_root_of("/elsewhere/demo").as_posix()
        '/elsewhere'
    """
    parent = Path(run_dir).parent
    return parent.parent if parent.name == Registry.RUNS_DIR else parent


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


class Registry:
    """The registry of one output root.

    Args:
        output_root: The output root (``models_out``); the file is ``registry.json`` in it.
    """

    FILENAME: ClassVar[str] = "registry.json"
    RUNS_DIR: ClassVar[str] = "runs"
    LOCK_TIMEOUT_S: ClassVar[float] = 60.0

    def __init__(self, output_root: str | Path):
        self.output_root = Path(output_root)
        self.path = self.output_root / self.FILENAME
        self._lock = FileLock(str(self.output_root / f".{self.FILENAME}.lock"))

    def _read(self) -> list[RegistryEntry]:
        if not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return [RegistryEntry.from_dict(item) for item in data["models"]]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise RegistryError(
                f"{self.path} is damaged ({type(error).__name__}: {error}); restore it from a "
                "backup or delete it and re-register the runs (python scripts/registry.py "
                "rebuild)"
            ) from None

    @contextmanager
    def _locked(self) -> Iterator[list[RegistryEntry]]:
        self.output_root.mkdir(parents=True, exist_ok=True)
        with self._lock.acquire(timeout=self.LOCK_TIMEOUT_S):
            entries = self._read()
            yield entries
            write_json_atomic(self.path, {"models": [asdict(entry) for entry in entries]})

    def register(self, entry: RegistryEntry) -> None:
        """Add ``entry``, replacing any entry with the same run id."""
        with self._locked() as entries:
            entries[:] = [e for e in entries if e.run_id != entry.run_id] + [entry]

    def register_run(self, run_dir: str | Path) -> RegistryEntry:
        """Register the run in ``run_dir`` from its manifest."""
        entry = RegistryEntry.from_manifest(RunManifest.load(run_dir), self.output_root)
        self.register(entry)
        return entry

    def list(self, **filters: Any) -> list[RegistryEntry]:
        """Entries in registration order, optionally only those whose attributes equal
        ``filters`` (e.g. ``framework="keras"``)."""
        if not self.output_root.is_dir():
            return []
        with self._lock.acquire(timeout=self.LOCK_TIMEOUT_S):
            entries = self._read()
        return [e for e in entries if all(getattr(e, k) == v for k, v in filters.items())]

    def get(self, run_id: str) -> RegistryEntry:
        """The entry of ``run_id``.

        Raises:
            RegistryError: When no such run is registered (the message lists a few ids).
        """
        entries = self.list()
        for entry in entries:
            if entry.run_id == run_id:
                return entry
        known = ", ".join(e.run_id for e in entries[-5:]) or "none"
        raise RegistryError(
            f"run {run_id!r} is not in {self.path} (latest: {known}); "
            "list them with: python scripts/registry.py list"
        )

    def resolve_run(self, run: str | Path) -> Path:
        """The run directory named by ``run``: a run id (a folder of this output root's
        ``runs/``), or the path of a run folder anywhere (its own output root is
        :func:`output_root_of` it).

        An id must name a folder directly inside ``<output_root>/runs/`` (an id that is a link
        out of it is refused); a path must be a run folder, with its manifest.

        Raises:
            RegistryError: An id outside the runs folder, not a run, or a damaged manifest,
                naming what was given.
        """
        runs_root = (self.output_root / self.RUNS_DIR).resolve()
        text = str(run).strip()
        if not text:
            raise RegistryError("run: empty; give a run id or a run directory")
        candidate = Path(text).expanduser()
        is_id = len(candidate.parts) == 1 and not candidate.is_absolute() and text != ".."
        path = (runs_root / text if is_id else candidate).resolve()
        if is_id and path.parent != runs_root:
            raise RegistryError(
                f"run={text!r}: a run id names a folder in {runs_root}, and this one leads out "
                "of it (a link?); give the path of the run folder itself"
            )
        if not RunManifest.path_for(path).exists():
            raise RegistryError(
                f"run={text!r}: {path} is not a run (no {RunManifest.FILENAME}); "
                "list runs with: python scripts/registry.py list"
            )
        try:
            RunManifest.load(path)
        except ValueError as error:  # names the file: not JSON, or not a run manifest
            raise RegistryError(f"run={text!r}: {error}") from None
        return path

    def remove(self, run_id: str) -> None:
        """Drop the entry of ``run_id`` (the run folder stays)."""
        self.get(run_id)
        with self._locked() as entries:
            entries[:] = [e for e in entries if e.run_id != run_id]
