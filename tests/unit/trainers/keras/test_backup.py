"""AtomicBackupAndRestore: a backup torn by a kill never replaces the previous one."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from trainers.keras.backup import AtomicBackupAndRestore


def tiny_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(keras.optimizers.Adam(0.1), "mse")
    return model


def fit(model: keras.Model, backup: Path, epochs: int) -> keras.callbacks.History:
    x = np.arange(24, dtype="float32").reshape(8, 3) / 24
    return model.fit(
        x, x.sum(axis=1), epochs=epochs, verbose=0, callbacks=[AtomicBackupAndRestore(backup)]
    )


def test_resume_continues_from_the_committed_epoch(tmp_path: Path) -> None:
    fit(tiny_model(), tmp_path, epochs=2)
    assert AtomicBackupAndRestore.read(tmp_path) == (2, tmp_path / "backup-a.weights.h5")
    reference = tiny_model()
    fit(reference, tmp_path / "whole", epochs=3)

    resumed = tiny_model()
    history = fit(resumed, tmp_path, epochs=3)
    assert history.epoch == [2]  # only the epoch that was left
    for got, want in zip(resumed.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_a_torn_weights_write_leaves_the_previous_backup_usable(tmp_path: Path) -> None:
    fit(tiny_model(), tmp_path, epochs=2)  # committed: epoch 2 in slot a; slot b holds epoch 1
    (tmp_path / "backup-b.weights.h5").write_bytes(b"\x89HDF\r\n")  # killed while writing 3
    epoch, weights = AtomicBackupAndRestore.read(tmp_path) or (0, None)
    assert (epoch, weights) == (2, tmp_path / "backup-a.weights.h5")
    history = fit(tiny_model(), tmp_path, epochs=3)
    assert history.epoch == [2]


def test_damaged_metadata_is_named(tmp_path: Path) -> None:
    (tmp_path / AtomicBackupAndRestore.METADATA).write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="damaged Keras backup metadata"):
        AtomicBackupAndRestore.read(tmp_path)
    (tmp_path / AtomicBackupAndRestore.METADATA).write_text(
        json.dumps({"epoch": 1, "batch": 0, "weights": "backup-b.weights.h5"}), encoding="utf-8"
    )
    with pytest.raises(ValueError, match=r"backup-b\.weights\.h5, which is missing"):
        AtomicBackupAndRestore.read(tmp_path)


def test_no_backup_reads_as_none(tmp_path: Path) -> None:
    assert AtomicBackupAndRestore.read(tmp_path) is None
