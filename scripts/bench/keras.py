"""Keras trainer throughput against a plain ``model.fit``, side by side, and per backend.

Both sides train the same LSTM (hidden 32, batch 64) on the same rows of the ``all_4dir``
dataset (``default`` size, a slice of ``train``; ``tiny`` with ``--quick``; see
:data:`scripts.bench.common.TRAINING_SETTINGS`) over the same length-bucketed
:class:`~trainers.keras.batches.BucketedBatches`, in one process (TensorFlow backend, the same
thread count and op determinism for both). The trainer side runs
:class:`~trainers.KerasTrainer` with everything on: the ``jsonl`` tracker, per-epoch
breakdowns, top-k/best/last checkpoints and ``BackupAndRestore``; its epoch ends are the
moments it prints each epoch's line. The plain side is ``model.fit`` with ``validation_data``
and only a callback that notes the time at each epoch end. Either way an epoch spans its
training steps and its one validation pass. The two alternate, ``repeats`` times; each side's
seconds per epoch is the median over its steady-state epochs (the first epoch of every run,
with its graph tracing, is dropped).

Per-backend speeds run the trainer alone in one subprocess per backend (the backend is fixed
per process): training examples per second of its median steady-state epoch. Run one by hand
as a module of the installed ``scripts`` package (``-P``: this folder's ``keras.py`` must not
shadow Keras): ``python -P -m scripts.bench.keras BACKEND DATASET_DIR [--quick]``.
"""

from __future__ import annotations

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
    EpochClock,
    side_by_side,
    training_dataset,
    training_splits,
)

SECTION = "keras"
GOAL_RATIO = 0.90
BACKENDS = ("tensorflow", "jax", "torch")
HIDDEN = 32
BATCH_SIZE = 64
THREADS = 1


def _hyperparams() -> Any:
    from trainers import Hyperparams

    return Hyperparams.of(
        "lstm", hidden=HIDDEN, embedding_dim=32, batch_size=BATCH_SIZE, dropout=0.1
    )


def trainer_epochs(ds: Any, splits: tuple[Any, ...], epochs: int, backend: str) -> list[float]:
    """Seconds of each epoch of one ``KerasTrainer.train`` run (every callback on)."""
    from trainers import KerasTrainer, TrainerConfig

    train, val, meta_train, meta_val = splits
    hp = _hyperparams()
    clock = EpochClock()
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainerConfig(
            max_epochs=epochs, progress=False, keras_backend=backend, num_threads=THREADS
        )
        trainer = KerasTrainer(
            Path(tmp) / "runs" / "bench", dataset=ds, seed=0, config=config, echo=clock.tick
        )
        model = trainer.build_model(hp, vocab_size=len(ds.vocab))
        clock.tick()
        trainer.train(model, train, val, meta_train, meta_val, hp)
        trainer.close()
    return clock.epochs()


def plain_epochs(ds: Any, splits: tuple[Any, ...], epochs: int) -> list[float]:
    """Seconds of each epoch of one plain ``model.fit`` with ``validation_data``."""
    import keras

    from trainers import TrainerConfig
    from trainers.keras.batches import BucketedBatches
    from trainers.keras.compile import compile_for_training

    train, val = splits[:2]
    clock = EpochClock()

    class EpochEnds(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            clock.tick()  # after the epoch's validation pass

    class EpochBatches(BucketedBatches):
        """The trainer's batch order of every epoch, without its callback: Keras calls
        ``on_epoch_begin`` before each epoch. (A fixed order would favour this side: a new
        order's first batches sometimes stall TensorFlow for seconds.)"""

        started = 0

        def on_epoch_begin(self) -> None:
            self.epoch, self.started = self.started, self.started + 1

    keras.utils.set_random_seed(0)
    hp = _hyperparams()
    model = compile_for_training(
        hp.build(len(ds.vocab)), keras.optimizers.Adam(learning_rate=hp.training.lr)
    )
    batches = EpochBatches(train, BATCH_SIZE, seed=0)
    validation = BucketedBatches(val, TrainerConfig().eval_batch_size, seed=0)
    clock.tick()
    model.fit(
        batches,
        validation_data=validation,
        epochs=epochs,
        shuffle=False,
        verbose=0,
        callbacks=[EpochEnds()],
    )
    return clock.epochs()


def backend_speed(backend: str, dataset_dir: Path, quick: bool) -> float:
    """The trainer's steady-state training examples/s on ``backend``, in a fresh process."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
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
    """Measure; ``quick`` uses the tiny dataset and fewer epochs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from trainers import TrainerConfig
    from trainers.keras.backend import seed_and_configure, use_backend

    use_backend("tensorflow")
    # Threads and op determinism are process-wide: set them before either side runs.
    seed_and_configure(0, TrainerConfig().deterministic, THREADS)
    settings = TRAINING_SETTINGS[quick]
    ds = training_dataset(settings)
    splits = training_splits(ds, "lstm", settings)
    epochs = settings.epochs
    trainer_s, plain_s, n_epochs = side_by_side(
        settings.repeats,
        lambda: trainer_epochs(ds, splits, epochs, "tensorflow"),
        lambda: plain_epochs(ds, splits, epochs),
    )
    n_train = settings.train_rows
    ratio = plain_s / trainer_s
    note = (
        f"{settings.note()}; LSTM hidden {HIDDEN}, batch {BATCH_SIZE}, bucketing, "
        f"{THREADS} thread(s); median of {n_epochs} epochs each side, alternating runs"
    )
    rows = [
        BenchmarkRow(SECTION, "KerasTrainer (tensorflow), s/epoch", trainer_s, "s", note=note),
        BenchmarkRow(SECTION, "plain model.fit (tensorflow), s/epoch", plain_s, "s", note=note),
        BenchmarkRow(
            SECTION,
            "KerasTrainer (tensorflow), training throughput",
            n_train / trainer_s,
            "examples/s",
            note="jsonl tracking, per-epoch breakdowns, top-k/best/last checkpoints, backup on",
        ),
        BenchmarkRow(
            SECTION,
            "plain model.fit (tensorflow), training throughput",
            n_train / plain_s,
            "examples/s",
            note="validation_data, no other callbacks",
        ),
        BenchmarkRow(
            SECTION,
            "throughput ratio trainer / plain fit",
            ratio,
            "x",
            goal=f">= {GOAL_RATIO:.2f}",
            met=ratio >= GOAL_RATIO,
            note="same model, data, batches, threads; validation pass on both sides",
        ),
    ]
    for backend in BACKENDS:
        rows.append(
            BenchmarkRow(
                SECTION,
                f"KerasTrainer ({backend}), own process",
                backend_speed(backend, Path(ds.path).resolve(), quick),
                "examples/s",
                note=f"{settings.note()}; own process, median of {epochs - 1} steady epochs",
            )
        )
    return rows


def _main(backend: str, dataset_dir: str, *flags: str) -> None:
    from trainers.keras.backend import use_backend

    use_backend(backend)
    from stories import load_dataset

    settings = TRAINING_SETTINGS["--quick" in flags]
    ds = load_dataset(dataset_dir)
    epochs = trainer_epochs(ds, training_splits(ds, "lstm", settings), settings.epochs, backend)
    seconds = statistics.median(epochs[1:])
    print(json.dumps({"backend": backend, "examples_per_s": settings.train_rows / seconds}))


if __name__ == "__main__":
    _main(*sys.argv[1:])
