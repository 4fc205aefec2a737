"""EpochTracking: one validation pass per epoch into the shared routine, values into logs."""

from __future__ import annotations

import math
from types import SimpleNamespace

import keras  # the Keras backend must load here
import numpy as np
import pandas as pd
import pytest

from tests.clocks import TickingClock
from trainers.budget import TimeBudget
from trainers.errors import NonFiniteLossError
from trainers.keras.tracking import EpochTracking
from trainers.periods import ValidationSchedule


class Routine:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(
        self, epoch, train_loss, train_accuracy, y_true, y_prob, metadata, losses=None, stats=None
    ):
        self.calls.append(
            dict(epoch=epoch, loss=train_loss, acc=train_accuracy, prob=y_prob, stats=stats)
        )
        return SimpleNamespace(epoch=epoch, period=epoch, val_accuracy=0.75, val_loss=0.5)


class Predictor:
    def __init__(self) -> None:
        self.passes = 0

    def __call__(self, model, data):
        self.passes += 1
        return np.full(len(data.labels), 0.6), np.full(len(data.labels), 0.4)


class Batches:
    """An epoch of training batches of the given sizes (what EpochTracking asks of them)."""

    def __init__(self, *sizes: int, interval: int | None = None) -> None:
        self.sizes = sizes
        self.schedule = ValidationSchedule(len(sizes), interval)

    def examples(self, period: int, steps: int | None = None) -> int:
        span = self.schedule.period(period)
        count = span.length if steps is None else steps
        return sum(self.sizes[span.start : span.start + count])


def make(
    budget: TimeBudget | None = None, interval: int | None = None
) -> tuple[EpochTracking, Routine, Predictor]:
    routine, predictor = Routine(), Predictor()
    data = SimpleNamespace(labels=np.array([1, 0, 1]))
    metadata = pd.DataFrame({"category": ["a"] * 3})
    batches = Batches(4, 4, 3, 4, 4, interval=interval)
    callback = EpochTracking(routine, data, metadata, predictor, batches, budget)  # type: ignore[arg-type]
    return callback, routine, predictor


def ticking_budget(checks: int) -> TimeBudget:
    """A budget spent at its ``checks``-th check."""
    return TimeBudget.start(checks / 60, clock=TickingClock())


def test_one_prediction_pass_feeds_the_routine_and_the_logs() -> None:
    callback, routine, predictor = make()
    logs = {"loss": 0.9, "bce": 0.7, "accuracy": 0.55}
    callback.on_epoch_end(3, logs)
    assert predictor.passes == 1
    [call] = routine.calls
    assert (call["epoch"], call["loss"], call["acc"]) == (3, 0.7, 0.55)  # bce, not loss
    assert logs[EpochTracking.VAL_ACCURACY_KEY] == 0.75 and logs[EpochTracking.VAL_LOSS_KEY] == 0.5
    assert callback.outcome is not None and callback.outcome.epoch == 3


@pytest.mark.parametrize("key", ["loss", "bce"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_training_loss_raises_before_anything_is_recorded(key, value) -> None:
    callback, routine, predictor = make()
    logs = {"loss": 0.9, "bce": 0.7, "accuracy": 0.5, key: value}
    with pytest.raises(NonFiniteLossError, match=f"epoch 002: training {key}"):
        callback.on_epoch_end(2, logs)
    assert routine.calls == [] and predictor.passes == 0 and callback.outcome is None


def test_the_routine_gets_the_epoch_timing_and_the_optimizers_learning_rate() -> None:
    from trainers.batching import lr_multiplier
    from trainers.keras.schedule import WarmupDecay

    callback, routine, _ = make()
    optimizer = keras.optimizers.Adam(learning_rate=WarmupDecay(0.01, 100, 10, "linear"))
    optimizer.iterations.assign(40)  # the steps taken so far
    callback.set_model(SimpleNamespace(optimizer=optimizer))
    callback.on_epoch_begin(3)
    callback.on_epoch_end(3, {"loss": 0.9, "bce": 0.7, "accuracy": 0.55})
    stats = routine.calls[0]["stats"]
    assert stats.learning_rate == pytest.approx(0.01 * lr_multiplier(40, 100, 10, "linear"))
    assert stats.epoch_seconds >= stats.train_seconds >= 0


def test_a_spent_budget_stops_after_the_step_and_reports_the_partial_epoch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    callback, routine, _ = make(ticking_budget(3))  # spent at the third step's check
    model = SimpleNamespace(optimizer=None, stop_training=False)
    callback.set_model(model)
    callback.on_epoch_begin(0)
    for step in range(3):
        assert not model.stop_training
        callback.on_train_batch_end(step)
    assert model.stop_training and callback.stopped_by_budget
    callback.on_epoch_end(0, {"loss": 0.9, "bce": 0.7, "accuracy": 0.55})
    assert routine.calls[0]["stats"].examples == 4 + 4 + 3  # the rows of the steps done
    assert "epoch 000 after 3 of 5 steps" in caplog.text


def test_a_budget_spent_during_validation_stops_after_the_whole_epoch() -> None:
    callback, routine, _ = make(ticking_budget(6))  # five step checks, then the epoch's end
    model = SimpleNamespace(optimizer=None, stop_training=False)
    callback.set_model(model)
    callback.on_epoch_begin(0)
    for step in range(5):
        callback.on_train_batch_end(step)
    assert not model.stop_training
    callback.on_epoch_end(0, {"loss": 0.9, "bce": 0.7, "accuracy": 0.55})
    assert model.stop_training and routine.calls[0]["stats"].examples is None  # a whole epoch


def test_a_short_period_ends_its_keras_epoch_and_training_goes_on() -> None:
    callback, routine, _ = make(interval=2)  # periods of 2, 2 and 1 steps
    model = SimpleNamespace(optimizer=None, stop_training=False)
    callback.set_model(model)
    callback.on_epoch_begin(2)  # the epoch's last period: 1 step, shorter than the longest
    callback.on_train_batch_end(0)
    assert model.stop_training  # Keras ends the epoch after this step
    callback.on_epoch_end(2, {"loss": 0.9, "bce": 0.7, "accuracy": 0.55})
    assert not model.stop_training  # the next period trains
    assert routine.calls[0]["stats"].examples == 4  # the period's one batch
    callback.on_epoch_begin(3)  # a whole-length period ends with Keras' own epoch
    for step in range(2):
        callback.on_train_batch_end(step)
    assert not model.stop_training


def test_a_budget_spent_in_a_period_says_where_a_resumed_run_starts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    callback, routine, _ = make(ticking_budget(1), interval=2)
    model = SimpleNamespace(optimizer=None, stop_training=False)
    callback.set_model(model)
    callback.on_epoch_begin(1)  # steps 3 and 4 of the epoch
    callback.on_train_batch_end(0)
    callback.on_epoch_end(1, {"loss": 0.9, "bce": 0.7, "accuracy": 0.55})
    assert model.stop_training and routine.calls[0]["stats"].steps == 1
    assert routine.calls[0]["stats"].examples == 3  # the third batch
    assert "after step 000003 (1 of the 2 steps" in caplog.text
    assert "a resumed run starts at epoch 000 step 000005" in caplog.text
