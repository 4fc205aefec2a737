"""Batches of encoded Transformer inputs for Lightning: the shared epoch order, padded per batch.

Training batches come from :func:`trainers.batching.epoch_batches` (the same ``(seed, epoch)``
gives the same batches in both frameworks and after a resume); Lightning's epoch is a
validation period (:mod:`trainers.periods`), which trains a slice of its epoch's batches
(the whole epoch without ``trainer.val_check_interval``). Prediction batches are sorted by
length. Every batch is cut to the longest row in it, so padding is short and no real token
is ever dropped. Under DDP each process takes every ``world_size``-th batch (training) or a
strided share of the rows (prediction); shares are padded with repeats to equal sizes, as
``DistributedSampler`` does, and every batch carries its row indices so the repeats can be
dropped after gathering.

Example:
    >>> import numpy as np
    >>> from stories.encoding import TransformerInputs
    >>> data = TransformerInputs(np.array([[2, 5, 0, 0], [2, 5, 6, 7], [2, 0, 0, 0]]),
    ...                          np.array([2, 4, 1]), np.array([1, 0, 1]))
    >>> ids, labels, rows = StoryBatches(data)[[2, 0]]
    >>> ids.tolist(), labels.tolist(), rows.tolist()
    ([[2, 0], [2, 5]], [1.0, 1.0], [2, 0])
    >>> [b.tolist() for b in prediction_batches(data.lengths, batch_size=2)]
    [[2, 0], [1]]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from trainers.batching import EpochOrders, steps_per_epoch
from trainers.periods import ValidationSchedule

if TYPE_CHECKING:
    from stories.encoding import TransformerInputs

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class StoryBatches(Dataset[Batch]):
    """Whole batches of one split: ``(input_ids [B, L_batch], labels [B], rows [B])``.

    Indexed by a list of row indices (through a batch sampler and ``__getitems__``), it
    gathers the rows in one NumPy operation and cuts the padding to the batch's longest row.

    Args:
        data: The encoded split (``dataset.encode_transformer(split)``).
    """

    def __init__(self, data: TransformerInputs):
        self.input_ids = data.input_ids
        self.lengths = np.asarray(data.lengths)
        self.labels = np.asarray(data.labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, rows: Sequence[int] | np.ndarray) -> Batch:
        index = np.asarray(rows, dtype=np.int64)
        width = int(self.lengths[index].max())
        ids = np.asarray(self.input_ids[index, :width], dtype=np.int64)
        return (
            torch.from_numpy(ids),
            torch.from_numpy(self.labels[index].astype(np.float32)),
            torch.from_numpy(index),
        )

    __getitems__ = __getitem__


def whole_batch(batch: Any) -> Any:
    """The DataLoader ``collate_fn``: the dataset already returns whole :data:`Batch` es."""
    return batch


def shard(items: Sequence[Any], rank: int, world_size: int) -> list[Any]:
    """Every ``world_size``-th item from ``rank``, after padding with repeats of the first items
    so that every rank gets the same count.

    Example:
        >>> shard([0, 1, 2, 3, 4], rank=1, world_size=2)
        [1, 3, 0]
    """
    items = list(items)
    if world_size == 1 or not items:
        return items
    padded = items + items[: (-len(items)) % world_size]
    return padded[rank::world_size]


def prediction_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Row indices sorted by length (stable), cut into batches of ``batch_size``."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class EpochBatchSampler(Sampler[list[int]]):
    """This process's training batches of each validation period (Lightning's epoch;
    :class:`~trainers.lightning.callbacks.BatchOrder` calls :meth:`set_epoch`).

    Args:
        lengths: Token length of each training row.
        batch_size: Examples per batch.
        seed: The run's seed.
        bucket_by_length: Length bucketing (see :func:`~trainers.batching.epoch_batches`).
        rank: This process's global rank.
        world_size: Number of processes.
        schedule: The validation periods; default one per epoch.
        period: The first period served.
        orders: The epochs' batch orders, shared by the samplers of one fit (the trainer
            makes a new sampler for each period when periods differ in length); default its
            own.
    """

    def __init__(
        self,
        lengths: np.ndarray,
        batch_size: int,
        seed: int,
        bucket_by_length: bool,
        rank: int = 0,
        world_size: int = 1,
        schedule: ValidationSchedule | None = None,
        period: int = 0,
        orders: EpochOrders | None = None,
    ):
        lengths = np.asarray(lengths)
        self.rank = rank
        self.world_size = world_size
        steps = steps_per_epoch(len(lengths), batch_size)
        self.schedule = ValidationSchedule(steps) if schedule is None else schedule
        self.orders = (
            EpochOrders(lengths, batch_size, seed, bucket_by_length) if orders is None else orders
        )
        self.epoch = period

    def set_epoch(self, epoch: int) -> None:
        """Select the period (Lightning's epoch) whose batches :meth:`__iter__` yields."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        period = self.schedule.period(self.epoch)
        batches = self.orders(period.epoch)
        for batch in shard(batches[period.start : period.stop], self.rank, self.world_size):
            yield batch.tolist()

    def __len__(self) -> int:
        return -(-self.schedule.period(self.epoch).length // self.world_size)


class StoryDataModule(pl.LightningDataModule):
    """Training and validation loaders over encoded arrays.

    Args:
        train: Encoded training split.
        val: Encoded validation split.
        batch_size: Training batch size.
        eval_batch_size: Validation batch size.
        seed: The run's seed (training order).
        bucket_by_length: Length-bucketed training batches.
        schedule: The validation periods (Lightning's epochs); default one per epoch. When
            periods differ in length, the trainer reloads the training loader every epoch
            so that Lightning knows each one's length.
    """

    def __init__(
        self,
        train: TransformerInputs,
        val: TransformerInputs,
        batch_size: int,
        eval_batch_size: int,
        seed: int,
        bucket_by_length: bool = True,
        schedule: ValidationSchedule | None = None,
    ):
        super().__init__()
        self.train = train
        self.val = val
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.seed = seed
        self.bucket_by_length = bucket_by_length
        self.schedule = schedule
        self.orders = EpochOrders(train.lengths, batch_size, seed, bucket_by_length)

    def _placement(self) -> tuple[int, int]:
        trainer = self.trainer
        return (0, 1) if trainer is None else (trainer.global_rank, trainer.world_size)

    def train_dataloader(self) -> DataLoader[Batch]:
        rank, world_size = self._placement()
        sampler = EpochBatchSampler(
            self.train.lengths,
            self.batch_size,
            self.seed,
            self.bucket_by_length,
            rank,
            world_size,
            self.schedule,
            period=0 if self.trainer is None else self.trainer.current_epoch,
            orders=self.orders,
        )
        return self._loader(self.train, sampler)

    def val_dataloader(self) -> DataLoader[Batch]:
        rank, world_size = self._placement()
        batches = prediction_batches(self.val.lengths, self.eval_batch_size)
        rows = shard(np.concatenate(batches).tolist(), rank, world_size)
        mine = [
            rows[i : i + self.eval_batch_size] for i in range(0, len(rows), self.eval_batch_size)
        ]
        return self._loader(self.val, mine)

    def _loader(self, data: TransformerInputs, batches: Iterable[list[int]]) -> DataLoader[Batch]:
        # An own generator: creating an iterator then draws nothing from torch's global RNG,
        # so dropout draws do not depend on when Lightning creates iterators (resume).
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            StoryBatches(data), batch_sampler=batches, collate_fn=whole_batch, generator=generator
        )
