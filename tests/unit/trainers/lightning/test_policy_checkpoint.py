"""``PolicyCheckpoint`` keeps exactly the files ``TopKPolicy`` keeps, tied-worst corner included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from trainers.checkpoints import CheckpointFiles, TopKPolicy
from trainers.lightning.callbacks import EpochReporter, PolicyCheckpoint
from trainers.periods import ValidationSchedule


class _Strategy:
    @staticmethod
    def reduce_boolean_decision(decision: bool) -> bool:
        return decision


class _Trainer:
    """What ``ModelCheckpoint``'s top-k bookkeeping reads from a trainer (one process)."""

    def __init__(self) -> None:
        self.global_step = 0
        self.current_epoch = 0
        self.strategy = _Strategy()
        self.ckpt_path = None


def _run(tmp_path: Path, k: int, scores: list[float]) -> tuple[set[str], set[str]]:
    files = CheckpointFiles(tmp_path / "checkpoints", "lightning", "tiny")
    files.directory.mkdir(parents=True)
    policy = TopKPolicy(k=k)
    reporter = EpochReporter(None, np.zeros(1), pd.DataFrame(), ValidationSchedule(1))  # type: ignore[arg-type]
    callback = PolicyCheckpoint(files, TopKPolicy(k=k), reporter)

    def save(trainer: Any, path: str) -> None:
        Path(path).write_text("x")

    def remove(trainer: Any, path: str) -> None:
        Path(path).unlink()

    callback._save_checkpoint = save  # type: ignore[method-assign]
    callback._remove_checkpoint = remove  # type: ignore[method-assign]
    trainer = _Trainer()
    for epoch, score in enumerate(scores):
        trainer.current_epoch = epoch
        trainer.global_step = epoch + 1
        current = torch.tensor(score, dtype=torch.float64)
        candidates = {"epoch": torch.tensor(epoch), "val/accuracy": current}
        if callback.check_monitor_top_k(trainer, current):  # type: ignore[arg-type]
            callback._update_best_and_save(current, trainer, candidates)  # type: ignore[arg-type]
        policy.update(epoch, score, score, files.epoch_filename(epoch, score))
    on_disk = {p.name for p in files.directory.iterdir()}
    return on_disk, {entry.filename for entry in policy.kept}


@pytest.mark.parametrize(
    ("k", "scores"),
    [
        (2, [0.5, 0.5, 0.6]),  # tied worst: the later epoch goes
        (3, [0.7, 0.5, 0.5, 0.5, 0.6, 0.8]),
        (2, [0.5, 0.6, 0.6, 0.7, 0.6]),
        (3, [0.4, 0.6, 0.5, 0.6, 0.9, 0.1, 0.95]),
    ],
)
def test_files_on_disk_equal_the_policy(tmp_path: Path, k: int, scores: list[float]) -> None:
    on_disk, kept = _run(tmp_path, k, scores)
    assert on_disk == kept


def test_plain_model_checkpoint_differs_in_the_tied_worst_corner(tmp_path: Path) -> None:
    """The reason for the subclass: Lightning alone evicts the earlier of two tied epochs."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    original = PolicyCheckpoint._update_best_and_save
    try:
        PolicyCheckpoint._update_best_and_save = ModelCheckpoint._update_best_and_save  # type: ignore[method-assign]
        on_disk, kept = _run(tmp_path, 2, [0.5, 0.5, 0.6])
    finally:
        PolicyCheckpoint._update_best_and_save = original  # type: ignore[method-assign]
    assert on_disk != kept
