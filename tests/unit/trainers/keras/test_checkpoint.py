"""TopKCheckpoint applies the routine's decisions with model.save_weights."""

from __future__ import annotations

from types import SimpleNamespace

import keras  # noqa: F401  (the Keras backend must load here)
import pytest

from models.lstm import build_lstm
from trainers.checkpoints import CheckpointFiles, TopKPolicy
from trainers.keras.checkpoint import TopKCheckpoint
from trainers.periods import ValidationSchedule


def test_keeps_top_k_best_and_last_weights_files(tmp_path) -> None:
    files = CheckpointFiles.for_run(tmp_path, "keras", "tiny")
    policy = TopKPolicy(k=2)
    tracking = SimpleNamespace(outcome=None, schedule=ValidationSchedule(10))
    callback = TopKCheckpoint(files, tracking, every_n_epochs=2)  # type: ignore[arg-type]
    callback.set_model(build_lstm(vocab_size=20, hidden=8))
    accuracies = [0.5, 0.7, 0.6, 0.4]
    for epoch, accuracy in enumerate(accuracies):
        decision = policy.update(epoch, accuracy, accuracy, files.epoch_filename(epoch, accuracy))
        tracking.outcome = SimpleNamespace(epoch=epoch, period=epoch, decision=decision)
        callback.on_epoch_end(epoch)
    names = sorted(p.name for p in files.directory.glob("*.weights.h5"))
    assert names == sorted(
        [
            files.epoch_filename(1, 0.7),
            files.epoch_filename(2, 0.6),
            files.best_filename,
            files.last_filename,
            files.periodic_filename(1),
            files.periodic_filename(3),
        ]
    )
    assert (files.directory / files.best_filename).read_bytes() == (
        files.directory / files.epoch_filename(1, 0.7)
    ).read_bytes()
    assert len(callback.reports) == 4 and callback.reports[2].deleted  # epoch 0 evicted


def test_refuses_an_epoch_without_a_decision(tmp_path) -> None:
    files = CheckpointFiles.for_run(tmp_path, "keras", "tiny")
    callback = TopKCheckpoint(files, SimpleNamespace(outcome=None))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="after EpochTracking"):
        callback.on_epoch_end(0)
