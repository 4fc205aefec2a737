"""Lightning trainer throughput against a plain PyTorch loop, side by side.

Both sides train the same default-size Transformer (``Hyperparams.of("transformer")``) on the
same rows of the ``all_4dir`` dataset (``default`` size, a slice of ``train``; ``tiny`` with
``--quick``), with the same batch size, the same length-bucketed batch order
(:func:`trainers.batching.epoch_batches`), the same thread count, and one validation pass per
epoch. The Lightning side runs :class:`~trainers.LightningTrainer` with everything on: the
``jsonl`` tracker, per-epoch breakdowns, top-k/best/last checkpoints. The plain loop only trains
and predicts. The two alternate, ``REPEATS`` times; each side's seconds per epoch is the median
over its steady-state epochs (the first epoch of every run is dropped).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from scripts.bench.common import (
    TRAINING_SETTINGS,
    BenchmarkRow,
    EpochClock,
    side_by_side,
    training_dataset,
    training_splits,
)

SECTION = "lightning"
GOAL_RATIO = 0.90
THREADS = 1


def _lightning_epochs(
    ds: Any, train: Any, val: Any, meta: tuple[Any, Any], epochs: int
) -> list[float]:
    from trainers import Hyperparams, LightningTrainer, TrainerConfig

    hp = Hyperparams.of("transformer")
    clock = EpochClock()
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainerConfig(max_epochs=epochs, progress=False, num_threads=THREADS)
        trainer = LightningTrainer(
            Path(tmp) / "runs" / "bench",
            dataset=ds,
            seed=0,
            config=config,
            echo=clock.tick,
        )
        model = trainer.build_model(hp, len(ds.vocab))
        clock.tick()
        trainer.train(model, train, val, meta[0], meta[1], hp)
        trainer.close()
    return clock.epochs()


def _plain_epochs(ds: Any, train: Any, val: Any, epochs: int) -> list[float]:
    import torch

    from trainers import Hyperparams, TrainerConfig
    from trainers.batching import epoch_batches
    from trainers.lightning.data import StoryBatches, prediction_batches

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    hp = Hyperparams.of("transformer")
    model = hp.build(len(ds.vocab))
    training = hp.training
    optimizer = torch.optim.Adam(model.parameters(), lr=training.lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    train_batches, val_batches = StoryBatches(train), StoryBatches(val)
    eval_size = TrainerConfig().eval_batch_size
    clock = EpochClock()
    clock.tick()
    for epoch in range(epochs):
        model.train()
        for rows in epoch_batches(
            train.lengths, training.batch_size, 0, epoch, training.bucket_by_length
        ):
            ids, labels, _ = train_batches[rows]
            loss = loss_fn(model(ids), labels)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        model.eval()
        probabilities = np.empty(len(val), dtype=np.float32)
        with torch.inference_mode():
            for rows in prediction_batches(val.lengths, eval_size):
                probabilities[rows] = torch.sigmoid(model(val_batches[rows][0])).numpy()
        clock.tick()
    return clock.epochs()


def run(quick: bool = False) -> list[BenchmarkRow]:
    """Measure; ``quick`` uses the tiny dataset and fewer epochs."""
    settings = TRAINING_SETTINGS[quick]
    ds = training_dataset(settings)
    train, val, meta_train, meta_val = training_splits(ds, "transformer", settings)
    epochs = settings.epochs
    lightning_s, plain_s, n_epochs = side_by_side(
        settings.repeats,
        lambda: _lightning_epochs(ds, train, val, (meta_train, meta_val), epochs),
        lambda: _plain_epochs(ds, train, val, epochs),
    )
    n_train = settings.train_rows
    ratio = plain_s / lightning_s
    note = (
        f"{settings.note()}; default Transformer, batch 64, bucketing, {THREADS} thread(s); "
        f"median of {n_epochs} epochs each side, alternating runs"
    )
    return [
        BenchmarkRow(SECTION, "lightning trainer, s/epoch", lightning_s, "s", note=note),
        BenchmarkRow(SECTION, "plain torch loop, s/epoch", plain_s, "s", note=note),
        BenchmarkRow(
            SECTION,
            "lightning trainer, training throughput",
            n_train / lightning_s,
            "examples/s",
            note="jsonl tracking, per-epoch breakdowns, top-k/best/last checkpoints on",
        ),
        BenchmarkRow(
            SECTION, "plain torch loop, training throughput", n_train / plain_s, "examples/s"
        ),
        BenchmarkRow(
            SECTION,
            "throughput ratio lightning / plain",
            ratio,
            "x",
            goal=f">= {GOAL_RATIO:.2f}",
            met=ratio >= GOAL_RATIO,
            note="same model, data, batch order, threads; validation pass on both sides",
        ),
    ]
