"""Dropout randomness is set from the epoch, so it does not depend on history."""

from __future__ import annotations

import keras
import numpy as np

from models.lstm import build_lstm
from trainers.keras.rng import EpochRandomState


def test_epoch_begin_sets_every_generator_counter_and_keeps_the_seeds() -> None:
    model = build_lstm(vocab_size=20, hidden=8, dropout=0.5)
    callback = EpochRandomState()
    callback.set_model(model)
    states = callback.generator_states()
    assert len(states) == 3  # two LSTMs and the dropout layer
    seeds = [int(keras.ops.convert_to_numpy(s)[0]) for s in states]
    for state in states:
        state.assign(np.array([7, 12345], dtype=state.dtype))  # as if drawn earlier
    callback.on_epoch_begin(5)
    after = [keras.ops.convert_to_numpy(s).tolist() for s in callback.generator_states()]
    assert after == [[7, 5 * EpochRandomState.STRIDE]] * 3
    assert len(set(seeds)) == 3


def test_same_epoch_gives_the_same_dropout_masks() -> None:
    model = build_lstm(vocab_size=20, hidden=8, dropout=0.5)
    callback = EpochRandomState()
    callback.set_model(model)
    x = {"story": np.array([[4, 5, 6]] * 8, "int32"), "question": np.array([[4, 5]] * 8, "int32")}

    def draw(epoch: int) -> np.ndarray:
        callback.on_epoch_begin(epoch)
        return keras.ops.convert_to_numpy(model(x, training=True))

    first, other, again = draw(1), draw(2), draw(1)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_an_epochs_counter_range_is_shared_among_its_periods() -> None:
    from trainers.periods import ValidationSchedule

    callback = EpochRandomState(ValidationSchedule(10, 4))  # 3 periods per epoch
    counters = [callback.counter(index) for index in range(6)]
    third = EpochRandomState.STRIDE // 3
    assert counters == [
        0,
        third,
        2 * third,
        *(EpochRandomState.STRIDE + k * third for k in range(3)),
    ]
    assert EpochRandomState().counter(5) == 5 * EpochRandomState.STRIDE  # once per epoch
