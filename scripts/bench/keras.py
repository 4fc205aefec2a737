"""Keras trainer throughput against a plain ``model.fit``, epoch by epoch side by side, and per
backend.

Both sides train the same LSTM (hidden 32, batch 64) on the same rows of the ``all_4dir``
dataset (``default`` size, a slice of ``train``; ``tiny`` with ``--quick``; see
:data:`scripts.bench.common.TRAINING_SETTINGS`) over the same length-bucketed
:class:`~trainers.keras.batches.BucketedBatches` (a new order each epoch), each in a fresh
process of its own with the TensorFlow backend and the same settings (one thread, op
determinism, the trainer's optimiser: Adam with global-norm clipping at
``trainer.gradient_clip_val``). The trainer side runs :class:`~trainers.KerasTrainer` with
everything on: the ``jsonl`` tracker, per-epoch breakdowns, top-k/best/last checkpoints and
``BackupAndRestore``; its epoch ends when it prints the epoch's line, and the next one
includes the checkpoints and backup of the one before. The plain side is ``model.fit`` with
``validation_data`` and only a callback that marks each epoch's end. Either way an epoch spans
its training steps and its one validation pass.

The two run side by side, epoch by epoch (:func:`scripts.bench.trials.run_together`: one
warm-up epoch each, with its graph tracing, then pairs of epochs run at the same time, the next
pair when both are done), so that whatever else the machine runs meets both sides alike. The
ratio is the median of the pairs' ``plain seconds / trainer seconds`` in CPU time (what an
epoch costs, all threads) with its 95% interval; the goal is met when the interval's lower end
clears it. The wall-clock ratio of the same pairs is reported beside it, without a goal.

Per-backend speeds run the trainer alone in one subprocess per backend (the backend is fixed
per process): training examples per second of wall time, median of its steady epochs. Run
one by hand as a module of the installed ``scripts`` package (``-P``: this folder's
``keras.py`` must not shadow Keras): ``python -P -m scripts.bench.keras BACKEND DATASET_DIR
[--quick]``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

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
from scripts.bench.trials import Clock, OwnProcess, Ticker, run_together

SECTION = "keras"
GOAL = Goal(0.90)
BACKENDS = ("tensorflow", "jax", "torch")
HIDDEN = 32
BATCH_SIZE = 64
THREADS = 1
#: Epochs of each per-backend run, keyed by ``--quick`` (the first, with its compilation, is
#: not timed), and the training and validation rows of a full run (a figure to compare the
#: backends by, with no goal: kept short).
BACKEND_EPOCHS = {False: 3, True: 2}
BACKEND_ROWS = (1_000, 250)


def _hyperparams() -> Any:
    from trainers import Hyperparams

    return Hyperparams.of(
        "lstm", hidden=HIDDEN, embedding_dim=32, batch_size=BATCH_SIZE, dropout=0.1
    )


def trainer_side(
    turns: Ticker, settings: TrainingSettings, dataset_dir: str, backend: str = "tensorflow"
) -> None:
    """One ``KerasTrainer.train`` run of ``settings.epochs`` epochs (every callback on; the
    trainer sets its threads and determinism); ticks before training and at each epoch's
    line."""
    from trainers import KerasTrainer, TrainerConfig
    from trainers.keras.backend import use_backend

    use_backend(backend)

    ds = training_dataset(settings, dataset_dir)
    train, val, meta_train, meta_val = training_splits(ds, "lstm", settings)
    hp = _hyperparams()
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainerConfig(
            max_epochs=settings.epochs, progress=False, keras_backend=backend, num_threads=THREADS
        )
        trainer = KerasTrainer(
            Path(tmp) / "runs" / "bench", dataset=ds, seed=0, config=config, echo=turns.tick
        )
        model = trainer.build_model(hp, vocab_size=len(ds.vocab))
        turns.tick()
        trainer.train(model, train, val, meta_train, meta_val, hp)
        trainer.close()


def plain_side(turns: Ticker, settings: TrainingSettings, dataset_dir: str) -> None:
    """One plain ``model.fit`` with ``validation_data`` (TensorFlow, with the threads and
    determinism the trainer sets); ticks before training and at each epoch's end, after its
    validation pass."""
    from trainers import TrainerConfig
    from trainers.keras.backend import seed_and_configure, use_backend

    use_backend("tensorflow")
    seed_and_configure(0, TrainerConfig().deterministic, THREADS)
    import keras

    from trainers.keras.batches import BucketedBatches
    from trainers.keras.compile import compile_for_training

    class EpochEnds(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            turns.tick()  # after the epoch's validation pass

    class EpochBatches(BucketedBatches):
        """The trainer's batch order of every epoch, without its callback: Keras calls
        ``on_epoch_begin`` before each epoch. (A fixed order would favour this side: a new
        order's first batches sometimes stall TensorFlow for seconds.)"""

        started = 0

        def on_epoch_begin(self) -> None:
            self.epoch, self.started = self.started, self.started + 1

    config = TrainerConfig()
    ds = training_dataset(settings, dataset_dir)
    train, val = training_splits(ds, "lstm", settings)[:2]
    hp = _hyperparams()
    optimizer = keras.optimizers.Adam(
        learning_rate=hp.training.lr, global_clipnorm=config.gradient_clip_val
    )
    model = compile_for_training(hp.build(len(ds.vocab)), optimizer)
    batches = EpochBatches(train, BATCH_SIZE, seed=0)
    validation = BucketedBatches(val, config.eval_batch_size, seed=0)
    turns.tick()
    model.fit(
        batches,
        validation_data=validation,
        epochs=settings.epochs,
        shuffle=False,
        verbose=0,
        callbacks=[EpochEnds()],
    )


def backend_speed(backend: str, dataset_dir: Path, quick: bool) -> float:
    """The trainer's steady-state training examples/s on ``backend``, in a fresh process."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    out = subprocess.run(
        [
            sys.executable,
            "-P",  # the working directory is not importable: only the installed package is
            "-m",
            "scripts.bench.keras",
            backend,
            str(dataset_dir),
            *(["--quick"] if quick else []),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{backend} benchmark failed:\n{out.stderr[-2000:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["examples_per_s"])


def run(quick: bool = False) -> list[BenchmarkRow]:
    """Measure; ``quick`` uses the tiny dataset and fewer pairs."""
    settings = TRAINING_SETTINGS[quick]
    dataset_dir = Path(training_dataset(settings).path).resolve()
    paired = run_together(
        OwnProcess("KerasTrainer", trainer_side, settings, str(dataset_dir)),
        OwnProcess("plain model.fit", plain_side, settings, str(dataset_dir)),
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
        f"{settings.note()}; LSTM hidden {HIDDEN}, batch {BATCH_SIZE}, bucketing, "
        f"{THREADS} thread(s); CPU time per epoch, "
        f"{settings.pairs_note(len(paired.first), ratio)}"
    )
    rows = [
        estimate_row(SECTION, "KerasTrainer (tensorflow), s/epoch", trainer_s, "s", note=note),
        estimate_row(SECTION, "plain model.fit (tensorflow), s/epoch", plain_s, "s", note=note),
        BenchmarkRow(
            SECTION,
            "KerasTrainer (tensorflow), training throughput",
            n_train / trainer_s.median,
            "examples/s",
            note="jsonl tracking, per-epoch breakdowns, top-k/best/last checkpoints, backup on",
        ),
        BenchmarkRow(
            SECTION,
            "plain model.fit (tensorflow), training throughput",
            n_train / plain_s.median,
            "examples/s",
            note="validation_data, the trainer's optimiser and clipping, no other callbacks",
        ),
        estimate_row(
            SECTION,
            "throughput ratio trainer / plain fit",
            ratio,
            "x",
            goal=GOAL,
            note="median of the pairs' CPU-time ratios; validation pass on both sides",
        ),
        estimate_row(
            SECTION,
            "wall-clock ratio trainer / plain fit",
            wall,
            "x",
            note="the same pairs on wall time: other processes' load included; no goal",
        ),
    ]
    sizes = backend_settings(quick)
    for backend in BACKENDS:
        rows.append(
            BenchmarkRow(
                SECTION,
                f"KerasTrainer ({backend}), own process",
                backend_speed(backend, dataset_dir, quick),
                "examples/s",
                note=(
                    f"{sizes.note()}; own process, median of {sizes.pairs} steady epoch(s), "
                    "wall time"
                ),
            )
        )
    return rows


def backend_settings(quick: bool) -> TrainingSettings:
    """Sizes of a per-backend run: :data:`BACKEND_EPOCHS`, and :data:`BACKEND_ROWS` in a
    full run."""
    settings = TRAINING_SETTINGS[quick]
    if not quick:
        settings = dataclasses.replace(
            settings, train_rows=BACKEND_ROWS[0], val_rows=BACKEND_ROWS[1]
        )
    return dataclasses.replace(
        settings, pairs=BACKEND_EPOCHS[quick] - 1, warmup=1, spread=None, max_pairs=None
    )


def _main(backend: str, dataset_dir: str, *flags: str) -> None:
    settings = backend_settings("--quick" in flags)
    clock = Clock()
    trainer_side(clock, settings, dataset_dir, backend)
    seconds = statistics.median(s.wall for s in clock.samples[1:])
    print(json.dumps({"backend": backend, "examples_per_s": settings.train_rows / seconds}))


if __name__ == "__main__":
    _main(*sys.argv[1:])
