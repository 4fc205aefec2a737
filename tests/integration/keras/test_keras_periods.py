"""The Keras trainer with ``trainer.val_check_interval``: validations inside epochs, logged at
their steps, checkpointed, and resumed from a mid-epoch backup exactly."""

from __future__ import annotations

import numpy as np
import pytest

from metrics import namespaces as ns
from tests.clocks import TickingClock
from trainers.records.manifest import RunManifest

from .conftest import HP, fit
from .test_keras_trainer import StopAfter, series, timeless

#: tiny data's 700 training stories in batches of 64: 11 steps, cut 4 + 4 + 3.
STEPS, INTERVAL = 11, 4
ENDS = [4, 8, 11, 15, 19, 22]


def test_validations_follow_every_interval_and_each_epochs_end(make_trainer, splits) -> None:
    trainer = make_trainer(max_epochs=2, val_check_interval=INTERVAL, top_k=-1, every_n_epochs=1)
    _, result = fit(trainer, splits)
    trainer.close()
    values = series(trainer.run_dir)
    accuracy = ns.epoch_metric("val", "accuracy")
    assert sorted(step for name, step in values if name == accuracy) == ENDS
    assert [values[(ns.epoch_progress(), step)] for step in ENDS] == pytest.approx(
        [step / STEPS for step in ENDS]
    )
    assert (result.epochs_completed, RunManifest.load(trainer.run_dir).periods_completed) == (2, 6)
    assert sorted(entry.step for entry in result.top_k) == ENDS
    assert [entry.epoch for entry in sorted(result.top_k, key=lambda e: e.position)] == [
        0,
        0,
        0,
        1,
        1,
        1,
    ]
    periodic = sorted(p.name for p in (trainer.run_dir / "checkpoints").glob("*-periodic-*"))
    assert periodic == [trainer.files.periodic_filename(epoch) for epoch in (0, 1)]
    files = {
        p.name
        for p in (trainer.run_dir / "checkpoints").glob("keras-*.h5")
        if "-periodic-" not in p.name
    }
    assert files == {entry.filename for entry in result.top_k}
    assert all("-step=" in name for name in files)
    assert result.best_step in ENDS


@pytest.mark.slow
def test_a_run_resumed_mid_epoch_ends_exactly_like_an_uninterrupted_one(
    make_trainer, splits
) -> None:
    hp = HP.replace(lr_schedule="cosine", warmup_steps=5)
    straight = make_trainer("straight", max_epochs=2, val_check_interval=INTERVAL)
    _, expected = fit(straight, splits, hp)
    straight.close()

    broken = make_trainer("broken", max_epochs=2, val_check_interval=INTERVAL)
    broken.extra_callbacks.append(StopAfter(1, broken.run_dir))  # after epoch 0's second part
    with pytest.raises(KeyboardInterrupt):
        fit(broken, splits, hp)
    manifest = RunManifest.load(broken.run_dir)
    assert (manifest.epochs_completed, manifest.periods_completed) == (0, 2)
    assert {step for _, step in series(broken.run_dir)} == {4, 8}

    resumed = make_trainer("broken", max_epochs=2, val_check_interval=INTERVAL)
    _, result = fit(resumed, splits, hp, resume_from=resumed.run_dir)
    resumed.close()
    assert timeless(series(resumed.run_dir)) == timeless(series(straight.run_dir))  # exact
    kept = {p.name for p in (straight.run_dir / "checkpoints").glob("*.h5")}
    assert {p.name for p in (resumed.run_dir / "checkpoints").glob("*.h5")} == kept
    assert (result.best_step, result.best_val_accuracy) == (
        expected.best_step,
        expected.best_val_accuracy,
    )
    assert np.isclose(result.best_val_loss, expected.best_val_loss)


def test_the_time_budget_cuts_a_period_and_says_where_a_resume_starts(
    make_trainer, splits, caplog
) -> None:
    trainer = make_trainer(max_epochs=2, val_check_interval=INTERVAL, max_minutes=6 / 60)
    trainer.budget_clock = TickingClock()  # one second per reading: spent at the 6th check
    _, result = fit(trainer, splits)
    trainer.close()
    values = series(trainer.run_dir)
    accuracy = ns.epoch_metric("val", "accuracy")
    # checks: steps 1-4, the validation at step 4, then step 5: the second period is cut there
    assert sorted(step for name, step in values if name == accuracy) == [4, 5]
    assert "after step 000005 (1 of the 4 steps to its next validation)" in caplog.text
    assert "a resumed run starts at epoch 000 step 000009" in caplog.text
    assert RunManifest.load(trainer.run_dir).periods_completed == 2 and result.stopped_early
