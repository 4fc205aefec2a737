"""``BackupAndRestore`` whose backup survives being killed at any instant.

Keras' ``BackupAndRestore`` overwrites one weights file and then its metadata in place: a
``kill -9`` during the write leaves a truncated ``.weights.h5`` (resume then fails) or new
weights beside old metadata (resume then silently repeats an epoch with the wrong weights).
:class:`AtomicBackupAndRestore` writes each backup's weights to the slot the previous backup
does not use and then replaces the metadata file atomically, naming that slot. Until the
metadata is replaced the previous backup stays whole, so a resume always finds a consistent
pair.

Example (not run as a doctest: it trains a Keras model)::

    model.fit(data, epochs=10, callbacks=[AtomicBackupAndRestore("run/backup")])
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import keras

from trainers.signals import epoch_end_done


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Epoch-end backups (weights with optimizer state, and the next epoch) for resume.

    Keras' epochs are the run's validation periods (:mod:`trainers.periods`), so a backup
    follows every validation, and "epoch" here means period.

    Args:
        backup_dir: The backup folder (created on the first save).
        on_saved: Called with the number of finished epochs once an epoch's backup is
            committed; ``None`` for nothing.

    The backup is kept when training ends (``delete_checkpoint=False``): the run may be
    resumed later to train longer.
    """

    #: Weights slots, used in turn (``epoch % 2``).
    SLOTS: ClassVar[tuple[str, str]] = ("backup-a.weights.h5", "backup-b.weights.h5")
    #: The commit file: ``{"epoch": next epoch, "batch": 0, "weights": slot file name}``.
    METADATA: ClassVar[str] = "training_metadata.json"

    def __init__(
        self, backup_dir: str | Path, on_saved: Callable[[int], None] | None = None
    ) -> None:
        super().__init__(str(backup_dir), save_freq="epoch", delete_checkpoint=False)
        self.directory = Path(backup_dir)
        self.on_saved = on_saved

    @classmethod
    def read(cls, backup_dir: str | Path) -> tuple[int, Path] | None:
        """``(next epoch, weights file)`` of the backup in ``backup_dir``, or ``None`` when it
        holds none.

        Raises:
            ValueError: The metadata file is damaged or names a missing weights file.
        """
        path = Path(backup_dir) / cls.METADATA
        if not path.is_file():
            return None
        try:
            metadata = json.loads(path.read_text(encoding="utf-8"))
            epoch, weights = int(metadata["epoch"]), Path(backup_dir) / metadata["weights"]
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: damaged Keras backup metadata ({error})") from None
        if not weights.is_file():
            raise ValueError(f"{path}: names {weights.name}, which is missing")
        return epoch, weights

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        backup = self.read(self.directory)
        if backup is None:
            return
        epoch, weights = backup
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(str(weights))
        self.model._initial_epoch = epoch

    def _save_model(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        slot = self.SLOTS[self._current_epoch % len(self.SLOTS)]
        self.model.save_weights(str(self.directory / slot), overwrite=True)
        _fsync(self.directory / slot)
        metadata = {"epoch": self._current_epoch, "batch": 0, "weights": slot}
        tmp = self.directory / f".{self.METADATA}.tmp"
        tmp.write_text(json.dumps(metadata), encoding="utf-8")
        _fsync(tmp)
        os.replace(tmp, self.directory / self.METADATA)
        if self.on_saved is not None:
            self.on_saved(self._current_epoch)
        epoch_end_done()  # the epoch is wholly saved: a stop signal that came meanwhile acts


def _fsync(path: Path) -> None:
    """Flush ``path`` to the disk (so a power cut cannot reorder it after the commit)."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
