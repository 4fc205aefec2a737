"""The dual-encoder LSTM: shapes, masking, regularisation, compilation."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from models.lstm import QUESTION_INPUT, STORY_INPUT, build_lstm

HP = {"hidden": 8, "embedding_dim": 8, "dropout": 0.0}


def inputs(story: list[list[int]], question: list[list[int]]) -> dict[str, np.ndarray]:
    return {STORY_INPUT: np.array(story, "int32"), QUESTION_INPUT: np.array(question, "int32")}


def test_outputs_one_probability_per_row_for_any_length() -> None:
    model = build_lstm(vocab_size=20, **HP)
    for width in (3, 11):
        out = np.asarray(model.predict_on_batch(inputs([[4] * width] * 2, [[5, 6]] * 2)))
        assert out.shape == (2, 1) and ((out > 0) & (out < 1)).all()


def test_padding_does_not_change_the_output() -> None:
    model = build_lstm(vocab_size=20, **HP)
    short = model.predict_on_batch(inputs([[4, 7, 9]], [[5, 6]]))
    padded = model.predict_on_batch(inputs([[4, 7, 9, 0, 0, 0]], [[5, 6, 0, 0]]))
    np.testing.assert_allclose(short, padded, rtol=1e-6)


def test_changing_a_real_token_changes_the_output() -> None:
    model = build_lstm(vocab_size=20, **HP)
    one = model.predict_on_batch(inputs([[4, 7, 9]], [[5, 6]]))
    other = model.predict_on_batch(inputs([[4, 7, 10]], [[5, 6]]))
    assert not np.allclose(one, other)


def test_built_uncompiled_then_compiled_by_the_trainer_with_bce_and_its_metrics() -> None:
    from trainers.keras.compile import BCE_METRIC, compile_for_training

    assert not build_lstm(vocab_size=20, **HP).compiled
    model = compile_for_training(
        build_lstm(vocab_size=20, hidden=8), keras.optimizers.Adam(learning_rate=0.0123)
    )
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0123)
    assert isinstance(model.loss, keras.losses.BinaryCrossentropy)
    x = inputs([[4, 7, 9]] * 4, [[5, 6]] * 4)
    logs = model.train_on_batch(x, np.array([[1], [0], [1], [0]], "float32"), return_dict=True)
    assert {"loss", "accuracy", BCE_METRIC} <= set(logs)


def test_l1_l2_penalty_reaches_the_dense_layer() -> None:
    plain = build_lstm(vocab_size=20, hidden=8, l2=0.0)
    penalised = build_lstm(vocab_size=20, hidden=8, l1=0.1, l2=0.5)
    assert plain.get_layer("dense").kernel_regularizer.get_config() == {"l1": 0.0, "l2": 0.0}
    assert penalised.get_layer("dense").kernel_regularizer.get_config() == pytest.approx(
        {"l1": 0.1, "l2": 0.5}
    )
    assert penalised.get_layer("dense").units == 8


@pytest.mark.parametrize("vocab_size", [0, -3, 2.5, True])
def test_rejects_a_bad_vocabulary_size(vocab_size: object) -> None:
    with pytest.raises(ValueError, match="vocab_size"):
        build_lstm(vocab_size=vocab_size, **HP)  # type: ignore[arg-type]
