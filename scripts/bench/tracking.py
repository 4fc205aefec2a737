"""Tracking overhead per epoch: the shared per-epoch routine with the default sinks.

Times :class:`trainers.epoch.EpochRoutine` (MetricsProcessor with the default breakdowns,
``metrics/...`` series with the learning rate and timing, top-k decision, ``best/...`` and
``top_epochs/...`` fields, flush) on 5,000 validation examples with ``jsonl`` + ``neptune``
(offline) + ``mlflow`` (sqlite), the run's context and dataset inputs logged and the system
metrics monitors of both running (the defaults), in a temporary directory. Opening the sinks
(client imports, database creation) happens once per run and is reported separately. No
trainer exists yet, so the per-epoch time is compared with
the documented reference epochs: 30,000 training examples at ~530 examples/s for the
Transformer (~57 s) and ~1,100 examples/s for the LSTM (~27 s); the LSTM is the stricter goal.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scripts.bench.common import BenchmarkRow

SECTION = "tracking"
N_VALIDATION = 5_000
TRAIN_EXAMPLES = 30_000
REFERENCE_SPEEDS = {"lstm": 1_100.0, "transformer": 530.0}  # training examples/s
GOAL_FRACTION = 0.05
CATEGORIES = ("simple", "deeper", "less_dense", "dense", "superdense")


def _validation(n: int, seed: int = 0) -> tuple[np.ndarray, pd.DataFrame, np.random.Generator]:
    rng = np.random.default_rng(seed)
    metadata = pd.DataFrame(
        {"category": rng.choice(CATEGORIES, n), "noun_count": rng.integers(2, 9, n)}
    )
    return rng.integers(0, 2, n), metadata, rng


def run(quick: bool = False) -> list[BenchmarkRow]:
    """Measure; ``quick`` uses fewer epochs."""
    from trainers.checkpoints import CheckpointFiles
    from trainers.epoch import EpochRoutine, EpochStats
    from trainers.tracking import DatasetInput, RunContext, TrackerConfig, open_tracker

    epochs = 4 if quick else 12
    warmup = 1
    rows: list[BenchmarkRow] = []
    saved_env = {k: os.environ.pop(k, None) for k in ("NEPTUNE_API_TOKEN", "NEPTUNE_PROJECT")}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "models_out"
            run_dir = root / "runs" / "bench"
            start = time.perf_counter()
            context = RunContext.collect(
                run_id="bench", model="lstm", framework="keras", dataset="bench", seed=0
            )
            tracker = open_tracker(TrackerConfig(), root, run_dir, context=context)
            tracker.log_inputs(
                [DatasetInput("bench", "0" * 24 + "-training", "training", tmp, TRAIN_EXAMPLES)]
            )
            open_s = time.perf_counter() - start
            if tracker.disabled:
                raise RuntimeError(f"sinks failed to open: {tracker.disabled}")
            y_true, metadata, rng = _validation(N_VALIDATION)
            files = CheckpointFiles.for_run(run_dir, "keras", "all_4dir")
            routine = EpochRoutine(tracker, files, echo=None, train_examples=TRAIN_EXAMPLES)
            stats = EpochStats(learning_rate=1e-3, epoch_seconds=27.0, train_seconds=25.0)
            times = []
            with tracker:
                for epoch in range(warmup + epochs):
                    y_prob = np.clip(
                        0.5 + (y_true - 0.5) * 0.3 + rng.normal(0, 0.3, y_true.size), 0, 1
                    )
                    start = time.perf_counter()
                    outcome = routine(epoch, 0.6, 0.7, y_true, y_prob, metadata, stats=stats)
                    if epoch >= warmup:
                        times.append(time.perf_counter() - start)
            # + train loss/accuracy, learning rate, examples/s, epoch seconds
            n_series = len(outcome.result.epoch_namespaces()) + 5
    finally:
        for key, value in saved_env.items():
            if value is not None:
                os.environ[key] = value

    per_epoch = statistics.mean(times)
    note = (
        f"{N_VALIDATION:,} val examples, {n_series} series/epoch, jsonl+neptune(offline)+"
        f"mlflow(sqlite), context, system metrics on, mean of {epochs} epochs after {warmup} "
        "warm-up"
    )
    rows.append(
        BenchmarkRow(SECTION, "per-epoch routine, default sinks", per_epoch, "s", note=note)
    )
    for model, speed in REFERENCE_SPEEDS.items():
        epoch_s = TRAIN_EXAMPLES / speed
        fraction = per_epoch / epoch_s
        rows.append(
            BenchmarkRow(
                SECTION,
                f"overhead vs {model} reference epoch",
                100.0 * fraction,
                "%",
                goal=f"< {100 * GOAL_FRACTION:.0f}",
                met=fraction < GOAL_FRACTION,
                note=(
                    f"reference epoch {epoch_s:.0f} s = {TRAIN_EXAMPLES:,} train examples at "
                    f"~{speed:,.0f}/s (documented; no trainer measured yet)"
                ),
            )
        )
    rows.append(
        BenchmarkRow(
            SECTION,
            "open sinks (once per run)",
            open_s,
            "s",
            note=(
                "imports neptune + mlflow, creates mlflow.db, logs the context (git) and inputs; "
                "not part of the per-epoch cost"
            ),
        )
    )
    return rows
