"""The top-k checkpoint policy and the checkpoint file names: the one place both live.

Both trainers keep the same checkpoints: the Keras trainer through :class:`CheckpointManager`
(which applies :class:`TopKPolicy` decisions with a caller-supplied ``save_fn``), the Lightning
trainer through ``ModelCheckpoint`` set up by :mod:`trainers.lightning.checkpointing`. Files live
in ``<run_dir>/checkpoints/``::

    <framework>-<dataset>-epoch=<NNN>-val_acc=<0.0000>.<ext>    top-k epoch files
    <framework>-<dataset>-epoch=<NNN>-step=<NNNNNN>-val_acc=<0.0000>.<ext>
                                                with trainer.val_check_interval
    best.<ext>  last.<ext>                                      best so far, latest (for resume)
    <framework>-<dataset>-periodic-epoch=<NNN>.<ext>            optional, every N epochs
    topk_state.json                                             policy state per epoch (resume)

``ext`` is ``ckpt`` for Lightning and ``weights.h5`` for Keras. Epochs are 0-based. With
``trainer.val_check_interval`` every validation within an epoch is a candidate too, named by
its epoch and the step it follows (:mod:`trainers.periods`); "epoch" below then means
"validation", taken in step order. The file name always carries the validation accuracy,
whatever the monitored quantity.

Tie rule: the earlier epoch wins. While fewer than ``k`` files are kept, every epoch enters;
once ``k`` are kept, a new epoch enters only if it is *strictly* better than the worst kept
one, so on a tie the earlier epoch keeps its place and the new one is not saved. The evicted
file is the worst kept one; if several kept epochs tie for worst, the *latest* of them goes,
so the earlier epoch wins here too. The best epoch is the earliest of those tied for the best
value. A NaN score ranks below every number.

Lightning's ``ModelCheckpoint`` follows the same rule except in one corner: among kept epochs
tied for worst it evicts the earliest (``min()`` over its insertion-ordered dict). The
Lightning trainer must therefore take the eviction choice from this policy, not from
``ModelCheckpoint``'s own bookkeeping, so both frameworks keep the same files.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from metrics import namespaces as ns
from models.settings import Framework

logger = logging.getLogger(__name__)

Mode = Literal["max", "min"]


@dataclass(frozen=True)
class CheckpointEntry:
    """One epoch as the policy sees it.

    Attributes:
        epoch: 0-based epoch.
        score: Monitored value (NaN already mapped to the worst value of the mode).
        val_accuracy: Validation accuracy (it names the file).
        filename: The epoch file name (no directory).
        step: The step the validation followed, with ``trainer.val_check_interval``;
            ``None`` when the run validates once per epoch.
    """

    epoch: int
    score: float
    val_accuracy: float
    filename: str
    step: int | None = None

    @property
    def position(self) -> int:
        """Its place in the run's order of validations: the step, else the epoch."""
        return self.epoch if self.step is None else self.step

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-ready)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckpointEntry:
        """Inverse of :meth:`to_dict`.

        Args:
            data: A mapping with ``epoch``, ``score``, ``val_accuracy``, ``filename`` and
                optionally ``step``.
        """
        step = data.get("step")
        return cls(
            epoch=int(data["epoch"]),
            score=float(data["score"]),
            val_accuracy=float(data["val_accuracy"]),
            filename=str(data["filename"]),
            step=None if step is None else int(step),
        )


@dataclass(frozen=True)
class TopKDecision:
    """What the policy decided for one epoch.

    Attributes:
        entry: This epoch's candidate.
        rank: Its rank (1 = best) among the kept epochs after the update; ``None`` when it was
            not kept.
        is_new_best: Whether this epoch is the new best (strictly better than every earlier one).
        evicted: Kept epochs this one pushed out (their files are to be deleted).
        ranking: Kept epochs after the update, best first (ties: earlier epoch first).
        best: The best epoch so far (this one when ``is_new_best``).
    """

    entry: CheckpointEntry
    rank: int | None
    is_new_best: bool
    evicted: tuple[CheckpointEntry, ...]
    ranking: tuple[CheckpointEntry, ...]
    best: CheckpointEntry

    @property
    def epoch(self) -> int:
        """The decided epoch."""
        return self.entry.epoch

    @property
    def delete(self) -> tuple[str, ...]:
        """File names to delete."""
        return tuple(entry.filename for entry in self.evicted)


class TopKPolicy:
    """Decides which epoch files to keep: the ``k`` best by the monitored value.

    Args:
        k: Files to keep; ``-1`` keeps every epoch, ``0`` keeps none (``best`` and ``last``
            are still written), as Lightning's ``save_top_k``.
        monitor: The monitored key, one of :attr:`MONITORS` (``val/accuracy`` by default).
        mode: ``max`` or ``min``; ``None`` picks :attr:`DEFAULT_MODES` for ``monitor``.

    Example:
        >>> policy = TopKPolicy(k=2)
        >>> [policy.update(e, s, s, f"e{e}").rank for e, s in enumerate([0.5, 0.7, 0.5, 0.6])]
        [1, 1, None, 2]
        >>> [entry.epoch for entry in policy.ranking()]
        [1, 3]
    """

    DEFAULT_K: ClassVar[int] = 3
    #: Monitor key -> the ``EvaluationResult`` attribute it reads.
    MONITORS: ClassVar[Mapping[str, str]] = {
        ns.monitor_key("val", metric): metric for metric in ns.EPOCH_METRICS
    }
    DEFAULT_MONITOR: ClassVar[str] = ns.monitor_key("val", "accuracy")
    DEFAULT_MODES: ClassVar[Mapping[str, Mode]] = {"accuracy": "max", "loss": "min"}

    def __init__(
        self, k: int = DEFAULT_K, monitor: str = DEFAULT_MONITOR, mode: Mode | None = None
    ):
        if isinstance(k, bool) or not isinstance(k, int) or k < -1:
            raise ValueError(f"top_k must be an integer >= -1, got {k!r}")
        if monitor not in self.MONITORS:
            raise ValueError(f"unknown monitor {monitor!r}; expected one of {list(self.MONITORS)}")
        resolved = self.DEFAULT_MODES[self.MONITORS[monitor]] if mode is None else mode
        if resolved not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.k = k
        self.monitor = monitor
        self.mode: Mode = resolved
        self._kept: list[CheckpointEntry] = []  # insertion (= epoch) order, like Lightning
        self._best: CheckpointEntry | None = None

    def __repr__(self) -> str:
        return f"TopKPolicy(k={self.k}, monitor={self.monitor!r}, mode={self.mode!r})"

    @property
    def metric(self) -> str:
        """The ``EvaluationResult`` attribute the monitor reads (``accuracy`` or ``loss``)."""
        return self.MONITORS[self.monitor]

    @property
    def best(self) -> CheckpointEntry | None:
        """The best epoch so far (earliest on ties), ``None`` before the first update."""
        return self._best

    @property
    def kept(self) -> tuple[CheckpointEntry, ...]:
        """Kept epochs in epoch order."""
        return tuple(self._kept)

    def ranking(self) -> tuple[CheckpointEntry, ...]:
        """Kept epochs best first; ties: earlier epoch first."""
        sign = -1.0 if self.mode == "max" else 1.0
        return tuple(sorted(self._kept, key=lambda entry: (sign * entry.score, entry.position)))

    def is_better(self, score: float, than: float) -> bool:
        """Whether ``score`` is strictly better than ``than`` under the mode.

        Args:
            score: Candidate value.
            than: Reference value.
        """
        return score > than if self.mode == "max" else score < than

    def update(
        self,
        epoch: int,
        score: float,
        val_accuracy: float,
        filename: str,
        step: int | None = None,
    ) -> TopKDecision:
        """Decide for one finished epoch (or, with ``step``, one validation).

        Args:
            epoch: 0-based epoch.
            score: The monitored value of this epoch.
            val_accuracy: Validation accuracy of this epoch (recorded with the entry).
            filename: This epoch's file name (see :meth:`CheckpointFiles.epoch_filename`).
            step: The step the validation followed (``trainer.val_check_interval``); ``None``
                for once per epoch.

        Returns:
            The decision: rank if kept, files to delete, whether it is the new best.

        Raises:
            ValueError: If the validation (``step``, else ``epoch``) is not after the last
                one decided.
        """
        if math.isnan(score):
            score = -math.inf if self.mode == "max" else math.inf
        entry = CheckpointEntry(int(epoch), float(score), float(val_accuracy), filename, step)
        last = max((e.position for e in self._kept), default=-1)
        if self._best is not None:
            last = max(last, self._best.position)
        if entry.position <= last:
            what = "epoch" if step is None else "step"
            raise ValueError(
                f"{what} {entry.position} was already decided (last decided {what}: {last})"
            )

        evicted: tuple[CheckpointEntry, ...] = ()
        kept = False
        if self.k == -1 or (self.k > 0 and len(self._kept) < self.k):
            kept = True
        elif self.k > 0:
            worst = self._worst()
            if self.is_better(entry.score, worst.score):
                self._kept.remove(worst)
                evicted = (worst,)
                kept = True
        if kept:
            self._kept.append(entry)

        is_new_best = self._best is None or self.is_better(entry.score, self._best.score)
        if is_new_best:
            self._best = entry
        ranking = self.ranking()
        rank = ranking.index(entry) + 1 if kept else None
        assert self._best is not None
        return TopKDecision(entry, rank, is_new_best, evicted, ranking, self._best)

    def _worst(self) -> CheckpointEntry:
        # Among kept entries tied for worst, the latest goes: the earlier epoch wins ties.
        if self.mode == "max":
            return min(self._kept, key=lambda entry: (entry.score, -entry.position))
        return max(self._kept, key=lambda entry: (entry.score, entry.position))

    def to_dict(self) -> dict[str, Any]:
        """The policy and its state as a JSON-ready dict (see :meth:`from_dict`)."""
        return {
            "k": self.k,
            "monitor": self.monitor,
            "mode": self.mode,
            "kept": [entry.to_dict() for entry in self._kept],
            "best": None if self._best is None else self._best.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TopKPolicy:
        """Rebuild a policy with its state.

        Args:
            data: Output of :meth:`to_dict`.
        """
        policy = cls(k=int(data["k"]), monitor=str(data["monitor"]), mode=data["mode"])
        policy._kept = [CheckpointEntry.from_dict(item) for item in data["kept"]]
        best = data.get("best")
        policy._best = None if best is None else CheckpointEntry.from_dict(best)
        return policy

    def settings(self) -> tuple[int, str, str]:
        """``(k, monitor, mode)``: what must match for a stored state to be reused."""
        return (self.k, self.monitor, self.mode)


@dataclass(frozen=True)
class CheckpointFiles:
    """Checkpoint file names and locations of one run.

    Attributes:
        directory: ``<run_dir>/checkpoints``.
        framework: ``lightning`` or ``keras`` (picks the extension).
        dataset: Dataset name used in file names (e.g. ``all_4dir``).
    """

    directory: Path
    framework: Framework
    dataset: str

    EXTENSIONS: ClassVar[Mapping[str, str]] = {"lightning": "ckpt", "keras": "weights.h5"}
    DIRECTORY_NAME: ClassVar[str] = "checkpoints"
    FALLBACK_DIRECTORY_NAME: ClassVar[str] = "checkpoints_fallback"
    #: Prefix of a file being written, moved to its real name once complete.
    TMP_PREFIX: ClassVar[str] = "tmp-"
    STATE_FILE: ClassVar[str] = "topk_state.json"
    BEST_STEM: ClassVar[str] = "best"
    LAST_STEM: ClassVar[str] = "last"  # Lightning's ModelCheckpoint.CHECKPOINT_NAME_LAST
    PERIODIC_TAG: ClassVar[str] = "periodic"
    EPOCH_FORMAT: ClassVar[str] = "03d"
    STEP_FORMAT: ClassVar[str] = "06d"
    ACCURACY_FORMAT: ClassVar[str] = ".4f"
    FORBIDDEN_CHARACTERS: ClassVar[str] = "/\\{}"

    def __post_init__(self) -> None:
        if self.framework not in self.EXTENSIONS:
            raise ValueError(
                f"unknown framework {self.framework!r}; expected one of {list(self.EXTENSIONS)}"
            )
        if not self.dataset or any(c in self.dataset for c in self.FORBIDDEN_CHARACTERS):
            raise ValueError(
                f"dataset name {self.dataset!r} must be non-empty and free of "
                f"{self.FORBIDDEN_CHARACTERS!r}"
            )

    @classmethod
    def for_run(cls, run_dir: str | Path, framework: Framework, dataset: str) -> CheckpointFiles:
        """Files of the run in ``run_dir`` (``<run_dir>/checkpoints``).

        Args:
            run_dir: The run directory.
            framework: ``lightning`` or ``keras``.
            dataset: Dataset name used in file names.
        """
        return cls(Path(run_dir) / cls.DIRECTORY_NAME, framework, dataset)

    @property
    def extension(self) -> str:
        """``ckpt`` or ``weights.h5``."""
        return self.EXTENSIONS[self.framework]

    @property
    def prefix(self) -> str:
        """``<framework>-<dataset>``."""
        return f"{self.framework}-{self.dataset}"

    @property
    def fallback_directory(self) -> Path:
        """``<run_dir>/checkpoints_fallback``."""
        return self.directory.parent / self.FALLBACK_DIRECTORY_NAME

    @property
    def state_path(self) -> Path:
        """``<run_dir>/checkpoints/topk_state.json``."""
        return self.directory / self.STATE_FILE

    def discard_partial_writes(self) -> list[Path]:
        """Remove the temporary files of saves that were cut short (a killed process), which
        both trainers write before moving a checkpoint into place; returns what was removed."""
        partial = [
            path
            for directory in (self.directory, self.fallback_directory)
            if directory.is_dir()
            for path in directory.glob(f"{self.TMP_PREFIX}*")
        ]
        for path in partial:
            path.unlink(missing_ok=True)
        return partial

    @property
    def best_filename(self) -> str:
        """``best.<ext>``."""
        return f"{self.BEST_STEM}.{self.extension}"

    @property
    def last_filename(self) -> str:
        """``last.<ext>``."""
        return f"{self.LAST_STEM}.{self.extension}"

    def epoch_filename(self, epoch: int, val_accuracy: float, step: int | None = None) -> str:
        """``<framework>-<dataset>-epoch=<NNN>-val_acc=<0.0000>.<ext>``, with
        ``-step=<NNNNNN>`` after the epoch when ``step`` is given.

        Args:
            epoch: 0-based epoch.
            val_accuracy: Validation accuracy of the epoch.
            step: The step the validation followed (``trainer.val_check_interval``).

        Example:
            >>> files = CheckpointFiles(Path("checkpoints"), "keras", "all_4dir")
            >>> files.epoch_filename(1, 0.75, step=450)
            'keras-all_4dir-epoch=001-step=000450-val_acc=0.7500.weights.h5'
        """
        at = "" if step is None else f"-step={step:{self.STEP_FORMAT}}"
        return (
            f"{self.prefix}-epoch={epoch:{self.EPOCH_FORMAT}}{at}"
            f"-val_acc={val_accuracy:{self.ACCURACY_FORMAT}}.{self.extension}"
        )

    def periodic_filename(self, epoch: int) -> str:
        """``<framework>-<dataset>-periodic-epoch=<NNN>.<ext>``.

        Args:
            epoch: 0-based epoch.
        """
        stem = f"{self.prefix}-{self.PERIODIC_TAG}-epoch={epoch:{self.EPOCH_FORMAT}}"
        return f"{stem}.{self.extension}"

    def lightning_filename(self, by_step: bool = False) -> str:
        """The ``ModelCheckpoint(filename=...)`` template giving :meth:`epoch_filename` names
        (with the step when ``by_step``: the candidates ``epoch`` and ``step`` must then be
        the epoch and the step of :mod:`trainers.periods`)."""
        accuracy = ns.monitor_key("val", "accuracy")
        at = f"-step={{step:{self.STEP_FORMAT}}}" if by_step else ""
        return (
            f"{self.prefix}-epoch={{epoch:{self.EPOCH_FORMAT}}}{at}"
            f"-val_acc={{{accuracy}:{self.ACCURACY_FORMAT}}}"
        )

    def lightning_periodic_filename(self) -> str:
        """The ``ModelCheckpoint(filename=...)`` template giving :meth:`periodic_filename` names."""
        return f"{self.prefix}-{self.PERIODIC_TAG}-epoch={{epoch:{self.EPOCH_FORMAT}}}"


class TopKStateStore:
    """The policy state after every epoch, in ``checkpoints/topk_state.json``, for resume.

    One state per epoch is kept, so a run resumed at epoch ``E`` (from ``last.*`` written
    after epoch ``E - 1``) restores the state as it was after ``E - 1`` even if a later epoch
    was partly recorded before the interruption. With ``trainer.val_check_interval`` the
    states are kept per validation period (the framework's epoch, :mod:`trainers.periods`),
    each with the tracker step it was logged at (``steps``), so a resumed run knows which
    tracker records to drop.

    Args:
        path: The JSON file.
    """

    SCHEMA_VERSION: ClassVar[int] = 1

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"schema_version": self.SCHEMA_VERSION, "epochs": {}}
        data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        if data.get("schema_version") != self.SCHEMA_VERSION:
            version = data.get("schema_version")
            raise ValueError(f"{self.path}: unsupported schema_version {version!r}")
        return data

    def save(self, epoch: int, policy: TopKPolicy, step: int | None = None) -> None:
        """Record the state after ``epoch`` (atomically; later epochs are dropped).

        Args:
            epoch: The epoch (validation period) just decided.
            policy: The policy after that decision.
            step: The tracker step its values were logged at; ``None``: the epoch.
        """
        data = self._read()
        epochs = {key: value for key, value in data["epochs"].items() if int(key) < epoch}
        steps = {key: value for key, value in data.get("steps", {}).items() if key in epochs}
        epochs[str(epoch)] = policy.to_dict()
        steps[str(epoch)] = epoch if step is None else step
        data["epochs"], data["steps"] = epochs, steps
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def _stored_before(self, resume_epoch: int | None) -> tuple[dict[str, Any], int | None]:
        """The stored file and the last epoch stored before ``resume_epoch`` (``None``: the
        last stored), or ``None`` when there is none."""
        data = self._read()
        earlier = [
            int(key) for key in data["epochs"] if resume_epoch is None or int(key) < resume_epoch
        ]
        return data, max(earlier, default=None)

    def load(self, resume_epoch: int, like: TopKPolicy) -> TopKPolicy:
        """The policy as it was after epoch ``resume_epoch - 1``.

        Args:
            resume_epoch: First epoch (validation period) the resumed run trains.
            like: A fresh policy with the run's settings; returned unchanged when nothing
                was stored before ``resume_epoch``.

        Raises:
            ValueError: If the stored settings (k, monitor, mode) differ from ``like``'s.
        """
        data, last = self._stored_before(resume_epoch)
        if last is None:
            return like
        policy = TopKPolicy.from_dict(data["epochs"][str(last)])
        if policy.settings() != like.settings():
            raise ValueError(
                f"{self.path}: stored top-k settings {policy.settings()} differ from the run's "
                f"{like.settings()}; resume with the same trainer.top_k / monitor / mode"
            )
        return policy

    def next_step(self, resume_epoch: int | None = None) -> int:
        """The first tracker step after epoch ``resume_epoch - 1`` (``None``: after the last
        stored epoch): a resumed run drops the tracker records from there on.

        Args:
            resume_epoch: First epoch (validation period) the resumed run trains.

        Example:
            >>> import tempfile
            >>> store = TopKStateStore(Path(tempfile.mkdtemp()) / "topk_state.json")
            >>> store.save(0, TopKPolicy(), step=8); store.save(1, TopKPolicy(), step=16)
            >>> store.next_step(1), store.next_step(2), store.next_step(0)
            (9, 17, 0)
        """
        data, last = self._stored_before(resume_epoch)
        if last is None:
            return 0
        return int(data.get("steps", {}).get(str(last), last)) + 1


@dataclass(frozen=True)
class SaveReport:
    """What :meth:`CheckpointManager.apply` did.

    Attributes:
        saved: Paths written (in the checkpoint or the fallback directory).
        deleted: Paths removed.
        failed: File names that could be written nowhere.
    """

    saved: tuple[Path, ...]
    deleted: tuple[Path, ...]
    failed: tuple[str, ...]


class CheckpointManager:
    """Applies :class:`TopKDecision` s with a framework's save function (the Keras side).

    Per decision: saves the epoch file when it enters the top-k, writes ``best.<ext>`` on a
    new best and ``last.<ext>`` every epoch (copies of the epoch file when it was just saved),
    the optional periodic file, then deletes evicted files. Every file is written to a
    temporary name (keeping the extension, as Keras requires ``.weights.h5``) and renamed, so
    a crash never leaves a half-written checkpoint under a real name. A save that raises is
    logged (path and reason) and retried in the fallback directory; if that fails too it is
    logged and training goes on.

    Args:
        files: The run's checkpoint files.
        save_fn: Writes a checkpoint to exactly the given path (e.g. ``model.save_weights``).
        fallback_directory: Where failed saves are retried; default
            ``<run_dir>/checkpoints_fallback``.
        every_n_epochs: Also keep a periodic file after epochs ``e`` with
            ``(e + 1) % every_n_epochs == 0``; ``None`` for none.
    """

    TMP_PREFIX: ClassVar[str] = CheckpointFiles.TMP_PREFIX

    def __init__(
        self,
        files: CheckpointFiles,
        save_fn: Callable[[Path], object],
        fallback_directory: str | Path | None = None,
        every_n_epochs: int | None = None,
    ):
        if every_n_epochs is not None and every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1 or None, got {every_n_epochs}")
        self.files = files
        self.save_fn = save_fn
        self.fallback_directory = (
            files.fallback_directory if fallback_directory is None else Path(fallback_directory)
        )
        self.every_n_epochs = every_n_epochs

    def locate(self, filename: str) -> Path | None:
        """Where ``filename`` exists: the checkpoint directory first, then the fallback."""
        for directory in (self.files.directory, self.fallback_directory):
            if (directory / filename).exists():
                return directory / filename
        return None

    def apply(self, decision: TopKDecision, ends_epoch: bool = True) -> SaveReport:
        """Save and delete files as ``decision`` says.

        Args:
            decision: The policy's decision for the epoch just finished.
            ends_epoch: Whether the validation ended its epoch (``False`` for one within an
                epoch, ``trainer.val_check_interval``): only then may a periodic file follow.
        """
        saved: list[Path] = []
        failed: list[str] = []

        def write(filename: str, source: Path | None) -> Path | None:
            path = self._write(filename, source)
            if path is None:
                failed.append(filename)
            else:
                saved.append(path)
            return path

        epoch_path = write(decision.entry.filename, None) if decision.rank is not None else None
        if decision.is_new_best:
            write(self.files.best_filename, epoch_path)
        write(self.files.last_filename, epoch_path)
        every = self.every_n_epochs
        if every is not None and ends_epoch and (decision.epoch + 1) % every == 0:
            write(self.files.periodic_filename(decision.epoch), epoch_path)

        deleted: list[Path] = []
        for filename in decision.delete:
            for directory in (self.files.directory, self.fallback_directory):
                path = directory / filename
                if path.exists():
                    path.unlink()
                    deleted.append(path)
        return SaveReport(tuple(saved), tuple(deleted), tuple(failed))

    def _write(self, filename: str, source: Path | None) -> Path | None:
        """Write ``filename`` (a copy of ``source``, else via ``save_fn``); ``None`` on failure."""
        for directory in (self.files.directory, self.fallback_directory):
            target = directory / filename
            tmp = directory / f"{self.TMP_PREFIX}{filename}"
            try:
                directory.mkdir(parents=True, exist_ok=True)
                if source is not None and source.exists():
                    shutil.copyfile(source, tmp)
                else:
                    self.save_fn(tmp)
                os.replace(tmp, target)
            except Exception as exc:
                tmp.unlink(missing_ok=True)
                reason = f"{type(exc).__name__}: {exc}"
                logger.error("checkpoint save to %s failed (%s)", target, reason)
                continue
            if directory != self.files.directory:
                logger.error("checkpoint %s saved to the fallback directory: %s", filename, target)
            return target
        logger.error("checkpoint %s could not be saved anywhere; training goes on", filename)
        return None
