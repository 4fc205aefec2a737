"""Tracking overhead per epoch: the shared per-epoch routine with the default sinks, against
the trainer's own epoch on the same data, measured side by side in this run.

Times :class:`trainers.epoch.EpochRoutine` (MetricsProcessor with the default breakdowns,
``metrics/...`` series with the learning rate and timing, top-k decision, ``best/...`` and
``top_epochs/...`` fields, flush) with ``jsonl`` + ``neptune`` (offline) + ``mlflow`` (sqlite),
the run's context and dataset inputs logged and the system metrics monitors of both running
(the defaults), in a temporary directory, on the validation rows the trainer benchmarks use
(their labels and metadata; probabilities drawn afresh each epoch). Opening the sinks (client
imports, database creation) happens once per run and is reported separately.

The epoch it is compared with is :class:`~trainers.KerasTrainer`'s (the LSTM: the shortest
epoch of the two trainers, so the strictest comparison) on the same rows, in a process of its
own: each pair is one routine call here and one trainer epoch there, at the same time
(:func:`scripts.bench.trials.run_together`), both in CPU time. The overhead is the median of
the pairs' ``routine / epoch`` with its 95% interval; the goal is met when the whole interval
is below it.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from scripts.bench import keras as keras_bench
from scripts.bench.common import (
    TRAINING_SETTINGS,
    BenchmarkRow,
    estimate_row,
    paired_ratio,
    seconds_estimate,
    training_dataset,
    training_splits,
)
from scripts.bench.stats import Goal
from scripts.bench.trials import InProcess, OwnProcess, run_together

SECTION = "tracking"
GOAL = Goal(5.0, at_least=False)  # percent of the trainer's epoch


def run(quick: bool = False) -> list[BenchmarkRow]:
    """Measure; ``quick`` uses the tiny dataset."""
    from trainers.checkpoints import CheckpointFiles
    from trainers.epoch import EpochRoutine, EpochStats
    from trainers.tracking import DatasetInput, RunContext, TrackerConfig, open_tracker

    # As many pairs as the trainer sections: now and then a routine call costs ten times the
    # usual (the sinks' own work lands in it), and twelve pairs keep two such out of the interval.
    settings = TRAINING_SETTINGS[quick]
    ds = training_dataset(settings)
    dataset_dir = str(Path(ds.path).resolve())
    _, val, _, metadata = training_splits(ds, "lstm", settings)
    y_true = np.asarray(val.labels)
    rng = np.random.default_rng(0)
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
                [DatasetInput("bench", "0" * 24 + "-training", "training", tmp, len(val))]
            )
            open_s = time.perf_counter() - start
            if tracker.disabled:
                raise RuntimeError(f"sinks failed to open: {tracker.disabled}")
            files = CheckpointFiles.for_run(run_dir, "keras", "all_4dir")
            routine = EpochRoutine(tracker, files, echo=None, train_examples=settings.train_rows)
            stats = EpochStats(learning_rate=1e-3, epoch_seconds=3.0, train_seconds=2.5)
            epochs = itertools.count()
            outcomes = []

            def one_epoch() -> None:
                y_prob = np.clip(0.5 + (y_true - 0.5) * 0.3 + rng.normal(0, 0.3, y_true.size), 0, 1)
                outcomes.append(
                    routine(next(epochs), 0.6, 0.7, y_true, y_prob, metadata, stats=stats)
                )

            with tracker:
                paired = run_together(
                    InProcess("per-epoch routine", one_epoch),
                    OwnProcess("KerasTrainer", keras_bench.trainer_side, settings, dataset_dir),
                    pairs=settings.pairs,
                    warmup=settings.warmup,
                )
            # + train loss/accuracy, learning rate, examples/s, epoch seconds
            n_series = len(outcomes[-1].result.epoch_namespaces()) + 5
    finally:
        for key, value in saved_env.items():
            if value is not None:
                os.environ[key] = value

    routine_s = seconds_estimate(paired.first)
    epoch_s = seconds_estimate(paired.second)
    overhead = paired_ratio(paired.first, paired.second).scaled(100.0)
    note = (
        f"{len(val):,} val examples, {n_series} series/epoch, jsonl+neptune(offline)+"
        f"mlflow(sqlite), context, system metrics on; CPU time, {settings.pairs} epochs after "
        f"{settings.warmup} warm-up"
    )
    return [
        estimate_row(SECTION, "per-epoch routine, default sinks", routine_s, "s", note=note),
        estimate_row(
            SECTION,
            "KerasTrainer epoch, same rows",
            epoch_s,
            "s",
            note=f"{settings.note()}; LSTM hidden {keras_bench.HIDDEN}, own process, CPU time",
        ),
        estimate_row(
            SECTION,
            "overhead vs the trainer's epoch",
            overhead,
            "%",
            goal=str(GOAL) if quick else GOAL,
            note="median of the pairs' routine / epoch, each pair measured at the same time"
            + ("; the goal is judged on full-size epochs only" if quick else ""),
        ),
        BenchmarkRow(
            SECTION,
            "open sinks (once per run)",
            open_s,
            "s",
            note=(
                "imports neptune + mlflow, creates mlflow.db, logs the context (git) and inputs; "
                "not part of the per-epoch cost"
            ),
        ),
    ]
