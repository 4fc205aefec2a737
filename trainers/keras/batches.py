"""Length-bucketed batches for Keras, of either encoding a model reads:
:class:`~stories.encoding.LSTMInputs` (story and question as two inputs) or
:class:`~stories.encoding.TransformerInputs` (one ``input_ids`` input).

Training batches come from :func:`trainers.batching.epoch_batches`, so the order depends only
on ``(seed, epoch)`` (the same order as the Lightning trainer, and the same after a resume),
served to the trainer as one stream that Keras cuts into validation periods
(:mod:`trainers.periods`).
Each batch is cut to its own longest story and question: real tokens are never dropped,
padding is. Prediction sorts rows by length and restores row order at the end.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import keras
import numpy as np

from models.lstm import QUESTION_INPUT, STORY_INPUT
from stories.encoding import LSTMInputs, TransformerInputs
from trainers.batching import EpochOrders, steps_per_epoch
from trainers.periods import ValidationSchedule

#: Probabilities are clipped to [EPSILON, 1 - EPSILON] in the loss, as Keras does.
EPSILON = 1e-7


def padded_width(length: int, multiple: int) -> int:
    """``length`` rounded up to a multiple of ``multiple`` (at least 1).

    Example:
        >>> padded_width(33, 1), padded_width(33, 32), padded_width(0, 8)
        (33, 64, 8)
    """
    return max(multiple, -(-length // multiple) * multiple)


def batch_inputs(
    data: LSTMInputs | TransformerInputs, rows: np.ndarray, multiple: int = 1
) -> dict[str, np.ndarray] | np.ndarray:
    """The ids of ``rows``, cut to the batch's longest row: ``input_ids`` (an array), or the
    story and question ids (a dict by input name), each cut on its own.

    Args:
        data: The encoded split.
        rows: Row indices of the batch.
        multiple: Round the width up to a multiple of this (fewer distinct shapes for
            backends that compile per shape); padding is masked, so outputs do not change.
    """
    if isinstance(data, TransformerInputs):
        width = padded_width(int(data.lengths[rows].max()), multiple)
        return _take(data.input_ids, rows, width)
    story = padded_width(int(data.story_lengths[rows].max()), multiple)
    question = padded_width(int(data.question_lengths[rows].max()), multiple)
    return {
        STORY_INPUT: _take(data.story_ids, rows, story),
        QUESTION_INPUT: _take(data.question_ids, rows, question),
    }


def _take(ids: np.ndarray, rows: np.ndarray, width: int) -> np.ndarray:
    taken = np.asarray(ids[rows, : min(width, ids.shape[1])], dtype=np.int32)
    if taken.shape[1] < width:
        taken = np.pad(taken, ((0, 0), (0, width - taken.shape[1])))
    return taken


def example_lengths(data: LSTMInputs | TransformerInputs) -> np.ndarray:
    """The length of every row (story plus question; what bucketing sorts by)."""
    if isinstance(data, TransformerInputs):
        return np.asarray(data.lengths, dtype=np.int64)
    return np.asarray(data.story_lengths, dtype=np.int64) + data.question_lengths


class BucketedBatches(keras.utils.PyDataset):
    """Training batches of one epoch (a ``PyDataset``; :attr:`epoch` selects the epoch), and
    of a whole run as one stream (:meth:`stream`).

    The trainer fits on :meth:`stream`: Keras trains one validation period
    (:mod:`trainers.periods`) per epoch, taking at most ``schedule.longest`` steps from it
    (``fit(steps_per_epoch=...)``); a shorter period is ended by
    :class:`~trainers.keras.tracking.EpochTracking`. Either way the batches of epoch ``e`` are
    those of :func:`~trainers.batching.epoch_batches` for ``(seed, e)``, also when Keras reads
    the stream ahead.

    Args:
        data: The encoded training split.
        batch_size: Examples per batch.
        seed: The run's seed.
        bucket_by_length: Batch similar lengths together (see
            :func:`~trainers.batching.epoch_batches`).
        multiple: Width rounding (see :func:`batch_inputs`).
        epoch: The epoch served as a ``PyDataset``.
        schedule: The validation periods of :meth:`stream`; default one per epoch.

    Attributes:
        order: The batches (row indices) of an epoch, by epoch (:class:`EpochOrders`).
    """

    def __init__(
        self,
        data: LSTMInputs | TransformerInputs,
        batch_size: int,
        seed: int,
        bucket_by_length: bool = True,
        multiple: int = 1,
        epoch: int = 0,
        schedule: ValidationSchedule | None = None,
    ):
        super().__init__()
        self.data = data
        self.batch_size = batch_size
        self.seed = seed
        self.bucket_by_length = bucket_by_length
        self.multiple = multiple
        self.lengths = example_lengths(data)
        self.labels = np.asarray(data.labels, dtype=np.float32)[:, None]
        steps = steps_per_epoch(len(self.lengths), batch_size)
        self.schedule = ValidationSchedule(steps) if schedule is None else schedule
        self.order = EpochOrders(self.lengths, batch_size, seed, bucket_by_length)
        self.epoch = epoch

    @property
    def epoch(self) -> int:
        """The epoch whose batches are served as a ``PyDataset``."""
        return self._epoch

    @epoch.setter
    def epoch(self, epoch: int) -> None:
        self._epoch = epoch
        self._batches = self.order(epoch)

    def rows(self, index: int) -> np.ndarray:
        """Row indices of batch ``index`` of the current epoch."""
        return self._batches[index]

    def examples(self, period: int, steps: int | None = None) -> int:
        """Training examples of the first ``steps`` steps (``None``: all) of ``period``."""
        span = self.schedule.period(period)
        order = self.order(span.epoch)
        count = span.length if steps is None else steps
        return sum(len(order[span.start + step]) for step in range(count))

    def stream(self, period: int = 0) -> Iterator[tuple[Any, np.ndarray]]:
        """The batches of the run from the start of ``period`` on, endlessly (the trainer
        stops after the last period)."""
        first = self.schedule.period(period)
        epoch, batch = first.epoch, first.start
        while True:
            order = self.order(epoch)
            for rows in order[batch:]:
                yield batch_inputs(self.data, rows, self.multiple), self.labels[rows]
            epoch, batch = epoch + 1, 0

    def fit_input(self, period: int = 0) -> Any:
        """What ``model.fit`` reads: :meth:`stream` from ``period`` on. On the TensorFlow
        backend it is wrapped in a ``tf.data.Dataset`` whose batch widths are left free (Keras
        would otherwise fix a width that its first two batches happen to share)."""
        stream = self.stream(period)
        if keras.backend.backend() != "tensorflow":
            return stream
        import tensorflow as tf

        first = next(stream)
        signature = keras.tree.map_structure(
            lambda array: tf.TensorSpec([None] * array.ndim, tf.as_dtype(array.dtype)), first
        )
        resumed = itertools.chain([first], stream)
        dataset = tf.data.Dataset.from_generator(lambda: resumed, output_signature=signature)
        return dataset.prefetch(tf.data.AUTOTUNE)

    def __len__(self) -> int:
        return len(self._batches)

    def __getitem__(self, index: int) -> tuple[dict[str, np.ndarray] | np.ndarray, np.ndarray]:
        rows = self._batches[index]
        return batch_inputs(self.data, rows, self.multiple), self.labels[rows]


def sorted_batches(lengths: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Row indices sorted by length, in chunks of ``batch_size`` (stable: ties keep row order)."""
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


class Predictor:
    """Probabilities and per-example binary cross-entropy of a model on a split, in one pass.

    Uses ``predict_on_batch`` (safe inside ``fit`` callbacks on every backend) on batches
    sorted by length.

    Args:
        batch_size: Examples per prediction batch.
        multiple: Width rounding (see :func:`batch_inputs`).
    """

    EPSILON: ClassVar[float] = EPSILON

    def __init__(self, batch_size: int, multiple: int = 1):
        self.batch_size = batch_size
        self.multiple = multiple

    def probabilities(
        self,
        model: keras.Model,
        data: LSTMInputs | TransformerInputs,
        progress: Callable[[int], object] | None = None,
    ) -> np.ndarray:
        """``float64 [N]`` probabilities of ``yes``, in row order; ``progress`` is called with
        the rows done after each batch."""
        out = np.empty(len(data), dtype=np.float64)
        for rows in sorted_batches(example_lengths(data), self.batch_size):
            predicted = model.predict_on_batch(batch_inputs(data, rows, self.multiple))
            out[rows] = np.asarray(predicted, dtype=np.float64).reshape(-1)
            if progress is not None:
                progress(len(rows))
        return out

    def __call__(
        self,
        model: keras.Model,
        data: LSTMInputs | TransformerInputs,
        progress: Callable[[int], object] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and per-example losses, in row order (``progress``: see
        :meth:`probabilities`)."""
        probabilities = self.probabilities(model, data, progress)
        clipped = np.clip(probabilities, self.EPSILON, 1.0 - self.EPSILON)
        labels = np.asarray(data.labels, dtype=np.float64)
        losses = -(labels * np.log(clipped) + (1.0 - labels) * np.log1p(-clipped))
        return probabilities, losses
