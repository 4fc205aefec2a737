"""Keras trainer throughput: the full trainer against a plain ``model.fit``, and per backend.

Both sides train the same LSTM (hidden 32) on the same tiny dataset with the same batch size
and the same length-bucketed batches, side by side in one process (TensorFlow backend): the
trainer with every callback on (validation pass, breakdowns, jsonl tracking, top-k checkpoints,
backup), the plain side with ``model.fit`` and ``validation_data`` only. Each side runs a
warm-up fit first (graph tracing), then the timed epochs. Per-backend speeds run the trainer
in one subprocess per backend (the backend is fixed per process).

Run one backend by hand (from ``scripts/``, as a module: ``keras.py`` must not shadow Keras):
``python -m bench.keras BACKEND DATASET_DIR EPOCHS``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import BenchmarkRow

SECTION = "keras"
GOAL_RATIO = 0.90
BACKENDS = ("tensorflow", "jax", "torch")
HIDDEN = 32
BATCH_SIZE = 64


def _hyperparams() -> Any:
    from trainers.hyperparams import LSTMHyperparams

    return LSTMHyperparams(hidden=HIDDEN, embedding_dim=32, batch_size=BATCH_SIZE, dropout=0.1)


def _dataset(root: Path) -> Any:
    from stories import build_dataset

    return build_dataset("all_4dir", size="tiny", seed=0, output_dir=root, progress=False)


def trainer_speed(ds: Any, run_dir: Path, epochs: int, backend: str = "tensorflow") -> float:
    """Training examples/s of ``KerasTrainer.train`` over ``epochs`` (after a warm-up run)."""
    from trainers import KerasTrainer, TrainerConfig

    hp = _hyperparams()
    data = {s: (ds.encode_lstm(s), ds.metadata(s)) for s in ("train", "valid_a")}
    seconds = 0.0
    for attempt, n in (("warmup", 1), ("timed", epochs)):
        config = TrainerConfig(max_epochs=n, progress=False, keras_backend=backend)
        trainer = KerasTrainer(run_dir / attempt, dataset=ds, config=config, echo=lambda s: None)
        model = trainer.build_model(hp, vocab_size=len(ds.vocab))
        start = time.perf_counter()
        trainer.train(
            model, data["train"][0], data["valid_a"][0], data["train"][1], data["valid_a"][1], hp
        )
        seconds = time.perf_counter() - start
        trainer.close()
    return epochs * len(data["train"][0]) / seconds


def plain_speed(ds: Any, epochs: int) -> float:
    """Training examples/s of a plain ``model.fit`` with ``validation_data`` (after warm-up)."""
    import keras

    from models.lstm import build_lstm
    from trainers.keras.batches import BucketedBatches, example_lengths

    train, val = ds.encode_lstm("train"), ds.encode_lstm("valid_a")
    seconds = 0.0
    for n in (1, epochs):
        keras.utils.set_random_seed(0)
        model = build_lstm(_hyperparams(), vocab_size=len(ds.vocab))
        batches = BucketedBatches(train, BATCH_SIZE, seed=0)
        validation = BucketedBatches(val, 256, seed=0, bucket_by_length=True)
        assert len(example_lengths(val)) == len(val)
        start = time.perf_counter()
        model.fit(batches, validation_data=validation, epochs=n, shuffle=False, verbose=0)
        seconds = time.perf_counter() - start
    return epochs * len(train) / seconds


def backend_speed(backend: str, dataset_dir: Path, epochs: int) -> float:
    """``trainer_speed`` for ``backend`` in a fresh process."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join([str(root), str(root / "scripts")])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    out = subprocess.run(
        [sys.executable, "-m", "bench.keras", backend, str(dataset_dir), str(epochs)],
        capture_output=True,
        text=True,
        env=env,
        cwd=root / "scripts",
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{backend} benchmark failed:\n{out.stderr[-2000:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["examples_per_s"])


def run(quick: bool = False) -> list[BenchmarkRow]:
    """Measure; ``quick`` uses fewer epochs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    epochs = 2 if quick else 5
    rows: list[BenchmarkRow] = []
    with tempfile.TemporaryDirectory() as tmp:
        ds = _dataset(Path(tmp) / "data")
        n = len(ds["train"])
        # Alternate the two sides and keep each side's best, to damp machine noise.
        trainer = max(trainer_speed(ds, Path(tmp) / f"t{i}", epochs) for i in range(2))
        plain = max(plain_speed(ds, epochs) for _ in range(2))
        note = f"{n} train examples, {epochs} epochs, hidden {HIDDEN}, batch {BATCH_SIZE}"
        rows.append(
            BenchmarkRow(
                SECTION,
                "KerasTrainer (tensorflow)",
                trainer,
                "examples/s",
                note=f"{note}, tracking jsonl + breakdowns + top-k + backup",
            )
        )
        rows.append(
            BenchmarkRow(
                SECTION,
                "plain model.fit (tensorflow)",
                plain,
                "examples/s",
                note=f"{note}, validation_data, no callbacks",
            )
        )
        ratio = trainer / plain
        rows.append(
            BenchmarkRow(
                SECTION,
                "trainer / plain fit",
                ratio,
                "x",
                goal=f">= {GOAL_RATIO:.2f}",
                met=ratio >= GOAL_RATIO,
                note="same model, data, batches; side by side",
            )
        )
        for backend in BACKENDS:
            speed = backend_speed(backend, Path(ds.path), epochs)
            rows.append(
                BenchmarkRow(
                    SECTION,
                    f"KerasTrainer ({backend})",
                    speed,
                    "examples/s",
                    note=f"{note}, own process, after a 1-epoch warm-up run",
                )
            )
    return rows


def _main(backend: str, dataset_dir: str, epochs: str) -> None:
    from trainers.keras.backend import use_backend

    use_backend(backend)
    from stories import load_dataset

    with tempfile.TemporaryDirectory() as tmp:
        speed = trainer_speed(load_dataset(dataset_dir), Path(tmp), int(epochs), backend)
    print(json.dumps({"backend": backend, "examples_per_s": speed}))


if __name__ == "__main__":
    _main(*sys.argv[1:4])
