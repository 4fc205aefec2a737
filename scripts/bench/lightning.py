"""Lightning trainer throughput against a plain PyTorch loop, epoch by epoch side by side.

Both sides train the same default-size Transformer (``Hyperparams.of("transformer")``) on the
same rows of the ``all_4dir`` dataset (``default`` size, the first 1,500 rows of ``train`` and
500 of ``valid_a``; ``tiny`` with ``--quick``), each in a fresh process of its own with the
same settings: one thread, deterministic algorithms (``trainer.deterministic``), the same batch
size and length-bucketed batch order (:func:`trainers.batching.epoch_batches`), the same optimiser,
learning-rate schedule and gradient clipping, and one validation pass per epoch. The Lightning
side runs :class:`~trainers.LightningTrainer` with everything on: the ``jsonl`` tracker,
per-epoch breakdowns, top-k/best/last checkpoints; its epoch ends when it prints the epoch's
line, and the next one includes the checkpoints of the one before. The plain loop only trains
and predicts.

The two run side by side, epoch by epoch (:func:`scripts.bench.trials.run_together`: one
warm-up epoch each, then pairs of epochs run at the same time, the next pair when both are
done), so that whatever else the machine runs meets both sides alike. The ratio is the median
of the pairs' ``plain seconds / trainer seconds`` in CPU time (what an epoch costs; other
processes' load stretches wall time 2-5x on this machine, unevenly) with its 95% interval; the
goal is met when the interval's lower end clears it. The wall-clock ratio of the same pairs is
reported beside it, without a goal.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from scripts.bench.common import (
    TRAINING_SETTINGS,
    BenchmarkRow,
    TrainingSettings,
    estimate_row,
    paired_ratio,
    seconds_estimate,
    training_dataset,
    training_splits,
)
from scripts.bench.stats import Goal
from scripts.bench.trials import OwnProcess, Ticker, run_together

SECTION = "lightning"
GOAL = Goal(0.90)
THREADS = 1
#: Training and validation rows of the full run: fewer than the Keras section's, as a
#: Transformer epoch costs about twice an LSTM epoch (this keeps the section near 1.5 minutes).
ROWS = (1_500, 500)


def settings_for(quick: bool) -> TrainingSettings:
    """The section's sizes: :data:`~scripts.bench.common.TRAINING_SETTINGS` with
    :data:`ROWS` in a full run."""
    settings = TRAINING_SETTINGS[quick]
    if quick:
        return settings
    return dataclasses.replace(settings, train_rows=ROWS[0], val_rows=ROWS[1])


def trainer_side(turns: Ticker, settings: TrainingSettings, dataset_dir: str) -> None:
    """One :meth:`LightningTrainer.train` run of ``settings.epochs`` epochs; ticks before
    training and at each epoch's line."""
    from trainers import Hyperparams, LightningTrainer, TrainerConfig

    ds = training_dataset(settings, dataset_dir)
    train, val, meta_train, meta_val = training_splits(ds, "transformer", settings)
    hp = Hyperparams.of("transformer")
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainerConfig(max_epochs=settings.epochs, progress=False, num_threads=THREADS)
        trainer = LightningTrainer(
            Path(tmp) / "runs" / "bench", dataset=ds, seed=0, config=config, echo=turns.tick
        )
        model = trainer.build_model(hp, len(ds.vocab))
        turns.tick()
        trainer.train(model, train, val, meta_train, meta_val, hp)
        trainer.close()


def plain_side(turns: Ticker, settings: TrainingSettings, dataset_dir: str) -> None:
    """The same training in a plain loop: Adam with the trainer's learning-rate schedule and
    gradient clipping, then one prediction pass over the validation rows, each epoch; ticks
    before training and after each epoch."""
    import torch

    from trainers import Hyperparams, TrainerConfig
    from trainers.batching import epoch_batches, lr_multiplier, steps_per_epoch
    from trainers.lightning.data import StoryBatches, prediction_batches

    config = TrainerConfig()
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(config.deterministic)  # as Lightning sets it
    torch.manual_seed(0)
    ds = training_dataset(settings, dataset_dir)
    train, val = training_splits(ds, "transformer", settings)[:2]
    hp = Hyperparams.of("transformer")
    model = hp.build(len(ds.vocab))
    training = hp.training
    optimizer = torch.optim.Adam(model.parameters(), lr=training.lr)
    total = steps_per_epoch(len(train), training.batch_size) * settings.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_multiplier(step, total, training.warmup_steps, training.lr_schedule),
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    train_batches, val_batches = StoryBatches(train), StoryBatches(val)
    clip = config.gradient_clip_val
    turns.tick()
    for epoch in range(settings.epochs):
        model.train()
        for rows in epoch_batches(
            train.lengths, training.batch_size, 0, epoch, training.bucket_by_length
        ):
            ids, labels, _ = train_batches[rows]
            loss = loss_fn(model(ids), labels)
            optimizer.zero_grad()
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            schedule.step()
        model.eval()
        probabilities = np.empty(len(val), dtype=np.float32)
        with torch.inference_mode():
            for rows in prediction_batches(val.lengths, config.eval_batch_size):
                probabilities[rows] = torch.sigmoid(model(val_batches[rows][0])).numpy()
        turns.tick()


def run(quick: bool = False) -> list[BenchmarkRow]:
    """Measure; ``quick`` uses the tiny dataset and fewer pairs."""
    settings = settings_for(quick)
    dataset_dir = str(Path(training_dataset(settings).path).resolve())
    paired = run_together(
        OwnProcess("lightning trainer", trainer_side, settings, dataset_dir),
        OwnProcess("plain torch loop", plain_side, settings, dataset_dir),
        pairs=settings.pairs,
        warmup=settings.warmup,
        enough=settings.enough,
        max_pairs=settings.max_pairs,
    )
    trainer_s = seconds_estimate(paired.first)
    plain_s = seconds_estimate(paired.second)
    ratio = paired_ratio(paired.second, paired.first)
    wall = paired_ratio(paired.second, paired.first, "wall")
    n_train = settings.train_rows
    note = (
        f"{settings.note()}; default Transformer, batch 64, bucketing, {THREADS} thread(s); "
        f"CPU time per epoch, {settings.pairs_note(len(paired.first), ratio)}"
    )
    return [
        estimate_row(SECTION, "lightning trainer, s/epoch", trainer_s, "s", note=note),
        estimate_row(SECTION, "plain torch loop, s/epoch", plain_s, "s", note=note),
        BenchmarkRow(
            SECTION,
            "lightning trainer, training throughput",
            n_train / trainer_s.median,
            "examples/s",
            note="jsonl tracking, per-epoch breakdowns, top-k/best/last checkpoints on",
        ),
        BenchmarkRow(
            SECTION,
            "plain torch loop, training throughput",
            n_train / plain_s.median,
            "examples/s",
            note="same optimiser, schedule, clipping, determinism; no callbacks",
        ),
        estimate_row(
            SECTION,
            "throughput ratio lightning / plain",
            ratio,
            "x",
            goal=GOAL,
            note="median of the pairs' CPU-time ratios; validation pass on both sides",
        ),
        estimate_row(
            SECTION,
            "wall-clock ratio lightning / plain",
            wall,
            "x",
            note="the same pairs on wall time: other processes' load included; no goal",
        ),
    ]
