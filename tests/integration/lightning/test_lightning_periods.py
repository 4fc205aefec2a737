"""The Lightning trainer trains each epoch on its own batch order and, with
``trainer.val_check_interval``, validates, logs and checkpoints inside epochs, resuming from a
mid-epoch checkpoint exactly."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from metrics import namespaces as ns
from trainers.batching import epoch_batches
from trainers.lightning.module import StoryModule
from trainers.records.manifest import RunManifest

from .conftest import Small, fit, hyperparams, make_trainer, series, timeless

BATCH_SIZE = 16


def recorded_rows(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, list[int]]]:
    """``(Lightning's epoch, rows)`` of every training batch, as the module sees them."""
    seen: list[tuple[int, list[int]]] = []
    original = StoryModule.training_step

    def training_step(self: StoryModule, batch: Any, batch_idx: int) -> Any:
        seen.append((self.current_epoch, batch[2].tolist()))
        return original(self, batch, batch_idx)

    monkeypatch.setattr(StoryModule, "training_step", training_step)
    return seen


def test_every_epoch_trains_on_its_own_order(
    tmp_path: Path, small: Small, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = recorded_rows(monkeypatch)
    trainer = make_trainer(tmp_path / "run", small, max_epochs=3)
    fit(trainer, small, hyperparams(batch_size=BATCH_SIZE))
    trainer.close()
    for epoch in range(3):
        expected = epoch_batches(small.train.lengths, BATCH_SIZE, 0, epoch, True)
        assert [rows for e, rows in seen if e == epoch] == [b.tolist() for b in expected]


def test_periods_slice_each_epochs_order_and_log_at_their_steps(
    tmp_path: Path, small: Small, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = recorded_rows(monkeypatch)
    run_dir = tmp_path / "run"
    trainer = make_trainer(
        run_dir, small, max_epochs=2, val_check_interval=3, top_k=-1, every_n_epochs=1
    )
    _, result = fit(trainer, small, hyperparams(batch_size=BATCH_SIZE))
    trainer.close()
    steps = -(-len(small.train) // BATCH_SIZE)
    cuts = [(start, min(start + 3, steps)) for start in range(0, steps, 3)]
    for epoch in range(2):
        order = [b.tolist() for b in epoch_batches(small.train.lengths, BATCH_SIZE, 0, epoch, True)]
        for part, (start, stop) in enumerate(cuts):
            period = epoch * len(cuts) + part
            assert [rows for e, rows in seen if e == period] == order[start:stop]
    ends = [epoch * steps + stop for epoch in range(2) for _, stop in cuts]
    values = series(run_dir)
    assert sorted({s for (name, s) in values if name == ns.epoch_metric("val", "accuracy")}) == ends
    progress = [values[(ns.epoch_progress(), step)] for step in ends]
    assert progress == pytest.approx([step / steps for step in ends])
    assert result.epochs_completed == 2 and len(result.top_k) == len(ends)
    assert {entry.step for entry in result.top_k} == set(ends)
    assert all(f"-step={entry.step:06d}-" in entry.filename for entry in result.top_k)
    periodic = sorted(p.name for p in (run_dir / "checkpoints").glob("*-periodic-*"))
    assert periodic == [trainer.files.periodic_filename(epoch) for epoch in (0, 1)]


def test_a_run_resumed_mid_epoch_ends_exactly_like_an_uninterrupted_one(
    tmp_path: Path, small: Small, monkeypatch: pytest.MonkeyPatch
) -> None:
    hp = hyperparams(batch_size=BATCH_SIZE, dropout=0.1, lr_schedule="cosine", warmup_steps=3)
    whole = make_trainer(tmp_path / "whole", small, max_epochs=2, val_check_interval=0.5)
    _, expected = fit(whole, small, hp)
    whole.close()

    original = StoryModule.on_train_epoch_start

    def interrupt_in_the_second_half_of_epoch_0(self: StoryModule) -> None:
        if self.current_epoch == 1:  # periods 0 and 1 are epoch 0's halves
            raise KeyboardInterrupt
        original(self)

    run_dir = tmp_path / "resumed"
    first = make_trainer(run_dir, small, max_epochs=2, val_check_interval=0.5)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    monkeypatch.setattr(
        StoryModule, "on_train_epoch_start", interrupt_in_the_second_half_of_epoch_0
    )
    try:
        with pytest.raises(KeyboardInterrupt):
            fit(first, small, hp)
    finally:
        signal.signal(signal.SIGINT, previous)
    monkeypatch.undo()
    manifest = RunManifest.load(run_dir)
    assert (manifest.epochs_completed, manifest.periods_completed) == (0, 1)  # half an epoch

    second = make_trainer(run_dir, small, max_epochs=2, val_check_interval=0.5)
    _, result = fit(second, small, hp, resume_from=run_dir)
    second.close()
    assert timeless(series(run_dir)) == timeless(series(tmp_path / "whole"))
    assert (result.best_epoch, result.best_step, result.best_val_accuracy) == (
        expected.best_epoch,
        expected.best_step,
        expected.best_val_accuracy,
    )
    assert np.isclose(result.best_val_loss, expected.best_val_loss)


def test_resuming_with_another_interval_is_refused(tmp_path: Path, small: Small) -> None:
    from trainers.errors import ResumeError

    run_dir = tmp_path / "run"
    trainer = make_trainer(run_dir, small, max_epochs=1, val_check_interval=2)
    fit(trainer, small, hyperparams(batch_size=BATCH_SIZE))
    trainer.close()
    again = make_trainer(run_dir, small, max_epochs=2)
    with pytest.raises(ResumeError, match=r"val_check_interval=2, not null.*=2$"):
        fit(again, small, hyperparams(batch_size=BATCH_SIZE), resume_from=run_dir)


def test_the_time_budget_cuts_a_period_and_a_resume_starts_the_next(
    tmp_path: Path, small: Small, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.clocks import TickingClock

    run_dir = tmp_path / "run"
    trainer = make_trainer(run_dir, small, max_epochs=2, val_check_interval=2, max_minutes=4 / 60)
    # 4 steps an epoch, periods of 2; checks: steps 1 and 2, the validation, step 3: spent
    trainer.budget_clock = TickingClock()
    _, result = fit(trainer, small, hyperparams(batch_size=BATCH_SIZE))
    trainer.close()
    accuracy = ns.epoch_metric("val", "accuracy")
    assert sorted(s for (name, s) in series(run_dir) if name == accuracy) == [2, 3]
    assert "after step 000003 (1 of the 2 steps to its next validation)" in caplog.text
    assert "a resumed run starts at epoch 001 step 000005" in caplog.text
    assert result.stopped_early and RunManifest.load(run_dir).periods_completed == 2

    resumed = make_trainer(run_dir, small, max_epochs=2, val_check_interval=2)
    _, after = fit(resumed, small, hyperparams(batch_size=BATCH_SIZE), resume_from=run_dir)
    resumed.close()
    assert sorted(s for (name, s) in series(run_dir) if name == accuracy) == [2, 3, 6, 8]
    assert after.epochs_completed == 2 and not after.stopped_early
