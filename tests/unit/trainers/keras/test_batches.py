"""Bucketed training batches and length-sorted prediction."""

from __future__ import annotations

import keras  # noqa: F401  (the Keras backend must load here)
import numpy as np

from stories.encoding import LSTMInputs
from trainers.batching import epoch_batches, steps_per_epoch
from trainers.keras.batches import (
    BucketedBatches,
    Predictor,
    batch_inputs,
    example_lengths,
)


def fake_inputs(n: int = 40, seed: int = 0) -> LSTMInputs:
    rng = np.random.default_rng(seed)
    story_lengths = rng.integers(1, 30, n).astype("int32")
    question_lengths = rng.integers(1, 6, n).astype("int32")
    story = np.zeros((n, 30), "int32")
    question = np.zeros((n, 6), "int32")
    for i in range(n):
        story[i, : story_lengths[i]] = rng.integers(4, 50, story_lengths[i])
        question[i, : question_lengths[i]] = rng.integers(4, 50, question_lengths[i])
    labels = rng.integers(0, 2, n).astype("int8")
    return LSTMInputs(story, question, story_lengths, question_lengths, labels)


def test_batches_follow_the_shared_order_of_each_epoch() -> None:
    data = fake_inputs()
    batches = BucketedBatches(data, batch_size=8, seed=3)
    for epoch in (0, 4):
        batches.epoch = epoch
        expected = epoch_batches(example_lengths(data), 8, 3, epoch)
        assert len(batches) == len(expected)
        for i, rows in enumerate(expected):
            _, y = batches[i]
            np.testing.assert_array_equal(batches.rows(i), rows)
            np.testing.assert_array_equal(y[:, 0], data.labels[rows])


def test_each_batch_is_cut_to_its_longest_row_and_keeps_every_real_token() -> None:
    data = fake_inputs()
    rows = np.array([0, 5, 9])
    x = batch_inputs(data, rows)
    assert x["story"].shape == (3, data.story_lengths[rows].max())
    assert (x["story"] != 0).sum() == data.story_lengths[rows].sum()
    assert (x["question"] != 0).sum() == data.question_lengths[rows].sum()
    wide = batch_inputs(data, rows, multiple=32)
    assert wide["story"].shape[1] == 32 and (wide["story"] != 0).sum() == (x["story"] != 0).sum()


class Echo:
    """A 'model' whose probability encodes the row's story length (to check row order)."""

    def __init__(self) -> None:
        self.widths: list[int] = []

    def predict_on_batch(self, x: dict[str, np.ndarray]) -> np.ndarray:
        self.widths.append(x["story"].shape[1])
        return ((x["story"] != 0).sum(axis=1, keepdims=True) / 100.0).astype("float32")


def test_predictor_returns_row_order_and_per_example_bce() -> None:
    data = fake_inputs()
    model = Echo()
    probabilities, losses = Predictor(batch_size=16)(model, data)  # type: ignore[arg-type]
    np.testing.assert_allclose(probabilities, data.story_lengths / 100.0, rtol=1e-6)
    y = data.labels
    expected = -(y * np.log(probabilities) + (1 - y) * np.log(1 - probabilities))
    np.testing.assert_allclose(losses, expected, rtol=1e-6)
    assert model.widths == sorted(model.widths) and len(model.widths) == 3  # sorted by length


def test_the_stream_runs_on_from_a_period_across_epochs() -> None:
    from itertools import islice

    from trainers.periods import ValidationSchedule

    data = fake_inputs()
    schedule = ValidationSchedule(steps_per_epoch(len(data), 8), 2)
    batches = BucketedBatches(data, batch_size=8, seed=3, schedule=schedule)
    orders = [epoch_batches(example_lengths(data), 8, 3, epoch) for epoch in (0, 1, 2)]
    whole = [rows for order in orders for rows in order]
    first = schedule.period(3)
    start = first.epoch * schedule.steps_per_epoch + first.start
    for i, (_, y) in enumerate(islice(batches.stream(3), len(whole) - start)):
        np.testing.assert_array_equal(y[:, 0], data.labels[whole[start + i]])
    assert batches.examples(3) == sum(len(whole[start + i]) for i in range(first.length))
    assert batches.examples(3, steps=1) == len(whole[start])
