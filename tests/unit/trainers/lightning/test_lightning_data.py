"""Batching of encoded Transformer inputs: shared epoch order, per-batch padding, DDP shares."""

from __future__ import annotations

import numpy as np
import pytest

from stories.encoding import TransformerInputs
from trainers.batching import epoch_batches
from trainers.lightning.data import (
    EpochBatchSampler,
    StoryBatches,
    StoryDataModule,
    prediction_batches,
    shard,
)


def _inputs(n: int = 23, seed: int = 0) -> TransformerInputs:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 30, n).astype(np.int32)
    ids = np.zeros((n, int(lengths.max())), dtype=np.int32)
    for row, length in enumerate(lengths):
        ids[row, :length] = rng.integers(4, 50, length)
    return TransformerInputs(ids, lengths, rng.integers(0, 2, n).astype(np.int8))


def test_batches_keep_every_real_token_and_cut_padding() -> None:
    data = _inputs()
    batches = StoryBatches(data)
    for rows in prediction_batches(data.lengths, batch_size=5):
        ids, labels, index = batches[rows]
        assert ids.shape[1] == data.lengths[rows].max()
        for position, row in enumerate(index.tolist()):
            length = data.lengths[row]
            assert ids[position, :length].tolist() == data.input_ids[row, :length].tolist()
            assert (ids[position, length:] == 0).all()
        assert labels.tolist() == data.labels[rows].astype(float).tolist()


def test_sampler_follows_the_shared_epoch_order() -> None:
    data = _inputs(40)
    sampler = EpochBatchSampler(data.lengths, batch_size=8, seed=3, bucket_by_length=True)
    for epoch in (0, 4):
        sampler.set_epoch(epoch)
        expected = [b.tolist() for b in epoch_batches(data.lengths, 8, 3, epoch)]
        assert list(sampler) == expected
    assert len(sampler) == 5


@pytest.mark.parametrize("world_size", [2, 3])
def test_ranks_share_all_training_batches_equally(world_size: int) -> None:
    data = _inputs(41)
    per_rank = []
    for rank in range(world_size):
        sampler = EpochBatchSampler(data.lengths, 8, 0, True, rank, world_size)
        sampler.set_epoch(1)
        per_rank.append(list(sampler))
        assert len(per_rank[-1]) == len(sampler)
    assert len({len(batches) for batches in per_rank}) == 1
    seen = sorted(row for batches in per_rank for batch in batches for row in batch)
    assert set(seen) == set(range(41))


def test_shard_pads_with_repeats() -> None:
    items = list(range(7))
    shares = [shard(items, rank, 3) for rank in range(3)]
    assert [len(s) for s in shares] == [3, 3, 3]
    flat = sorted(x for s in shares for x in s)
    assert set(flat) == set(items) and len(flat) == 9


def test_validation_loader_is_length_sorted_and_covers_rows_once() -> None:
    data = _inputs(30)
    module = StoryDataModule(data, data, batch_size=4, eval_batch_size=7, seed=0)
    rows = np.concatenate([batch[2].numpy() for batch in module.val_dataloader()])
    assert sorted(rows.tolist()) == list(range(30))
    assert (np.diff(data.lengths[rows]) >= 0).all()


def test_sampler_serves_each_validation_periods_slice_of_its_epoch() -> None:
    from trainers.periods import ValidationSchedule

    data = _inputs(40)  # 5 batches of 8: periods of 2, 2 and 1
    schedule = ValidationSchedule(5, 2)
    sampler = EpochBatchSampler(data.lengths, 8, 3, True, schedule=schedule, period=4)
    order = [b.tolist() for b in epoch_batches(data.lengths, 8, 3, 1)]
    assert list(sampler) == order[2:4] and len(sampler) == 2  # period 4: epoch 1, part 1
    sampler.set_epoch(5)
    assert list(sampler) == order[4:] and len(sampler) == 1
