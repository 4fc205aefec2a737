"""Batch order and learning-rate schedule shared by both trainers (framework-free).

Length bucketing: examples are sorted by length (ties broken at random), cut into batches of
neighbours, and the batches are shuffled, so a batch is padded only to the length of its
longest member and every epoch still sees a new order. The same ``seed`` and epoch give the
same batches in both frameworks.

Example:
    >>> lengths = np.array([5, 50, 6, 49, 7, 48])
    >>> batches = epoch_batches(lengths, batch_size=2, seed=0, epoch=0)
    >>> sorted(sorted(lengths[b].tolist()) for b in batches)
    [[5, 6], [7, 48], [49, 50]]
    >>> lr_multiplier(0, total_steps=100, warmup_steps=10, schedule="cosine")
    0.1
"""

from __future__ import annotations

import math
import threading

import numpy as np

#: Batches per bucket window: bucketing sorts within windows of this many batches, so the
#: order keeps some randomness beyond ties (and each window's batches are near-uniform).
WINDOW_BATCHES = 100


def epoch_batches(
    lengths: np.ndarray,
    batch_size: int,
    seed: int,
    epoch: int,
    bucket_by_length: bool = True,
    window_batches: int = WINDOW_BATCHES,
) -> list[np.ndarray]:
    """Row indices of each batch of one epoch.

    Args:
        lengths: Token length of each example.
        batch_size: Examples per batch (the last batch may be smaller).
        seed: The run's seed.
        epoch: 0-based epoch (each epoch has its own order).
        bucket_by_length: Group examples of similar length; otherwise plain shuffling.
        window_batches: With bucketing, examples are shuffled, then sorted by length within
            windows of ``window_batches * batch_size`` examples.

    Returns:
        Index arrays, in the order to train on.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    if bucket_by_length:
        window = max(1, window_batches) * batch_size
        chunks = [order[i : i + window] for i in range(0, len(order), window)]
        order = (
            np.concatenate([chunk[np.argsort(lengths[chunk], kind="stable")] for chunk in chunks])
            if chunks
            else order
        )
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if bucket_by_length:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


class EpochOrders:
    """:func:`epoch_batches` of one training split, each epoch's computed once: a run that
    validates inside epochs (``trainer.val_check_interval``) reads an epoch's order once per
    validation period, and sorting a large split costs a tenth of a second per million rows.
    The latest :attr:`KEPT` epochs are kept (a reader may look ahead into the next epoch);
    calls may come from several threads.

    Args:
        lengths: Token length of each example.
        batch_size: Examples per batch.
        seed: The run's seed.
        bucket_by_length: Length bucketing (see :func:`epoch_batches`).

    Example:
        >>> orders = EpochOrders(np.array([5, 50, 6, 49, 7, 48]), 2, seed=0)
        >>> orders(1) is orders(1), len(orders(0))
        (True, 3)
    """

    KEPT = 2

    def __init__(
        self, lengths: np.ndarray, batch_size: int, seed: int, bucket_by_length: bool = True
    ):
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.bucket_by_length = bucket_by_length
        self._orders: dict[int, list[np.ndarray]] = {}
        self._lock = threading.Lock()

    def __call__(self, epoch: int) -> list[np.ndarray]:
        """The batches of ``epoch``, in order."""
        with self._lock:
            if epoch not in self._orders:
                if len(self._orders) >= self.KEPT:
                    del self._orders[min(self._orders)]
                self._orders[epoch] = epoch_batches(
                    self.lengths, self.batch_size, self.seed, epoch, self.bucket_by_length
                )
            return self._orders[epoch]

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.update(_orders={}, _lock=None)  # a spawned process computes its own
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    """Batches in one epoch (the last one may be partial)."""
    return math.ceil(n_examples / batch_size)


def lr_multiplier(step: int, total_steps: int, warmup_steps: int, schedule: str) -> float:
    """Factor applied to the peak learning rate at optimizer step ``step`` (0-based).

    Linear warm-up over ``warmup_steps`` (step ``s`` gets ``(s + 1) / warmup_steps``), then
    ``constant``, ``cosine`` (half cosine to 0 at ``total_steps``) or ``linear`` decay to 0.

    Args:
        step: Optimizer step, counted over the whole run.
        total_steps: Steps in the whole run.
        warmup_steps: Warm-up steps.
        schedule: ``constant``, ``cosine`` or ``linear``.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "linear":
        return 1.0 - progress
    raise ValueError(f"unknown lr schedule {schedule!r}; expected constant, cosine or linear")
