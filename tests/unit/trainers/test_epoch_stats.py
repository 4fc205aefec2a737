"""The per-epoch statistics: the clock times an epoch and its training part, the routine logs
the learning rate, the training throughput and the epoch's seconds under the shared names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from metrics import namespaces as ns
from trainers.checkpoints import CheckpointFiles
from trainers.epoch import EpochClock, EpochRoutine, EpochStats
from trainers.tracking import Tracker
from trainers.tracking.sinks.jsonl import JsonlSink


def test_the_clock_times_the_epoch_and_its_training() -> None:
    ticks = iter([10.0, 14.0, 15.0])  # start, training done, report
    clock = EpochClock(lambda: next(ticks))
    clock.start()
    clock.training_done()
    assert clock.stats(0.01) == EpochStats(0.01, epoch_seconds=5.0, train_seconds=4.0)
    assert EpochClock().stats(None) == EpochStats()  # never started: nothing to time


def test_the_routine_logs_the_statistics_per_epoch(tmp_path: Path) -> None:
    tracker = Tracker(tmp_path, [JsonlSink(tmp_path)])
    files = CheckpointFiles.for_run(tmp_path, "keras", "demo")
    routine = EpochRoutine(tracker, files, echo=None, train_examples=600)
    labels = np.array([0, 1, 1, 0])
    metadata = pd.DataFrame({"category": ["simple"] * 4, "noun_count": [2, 2, 3, 3]})
    stats = EpochStats(learning_rate=2e-3, epoch_seconds=5.0, train_seconds=4.0)
    routine(0, 0.6, 0.5, labels, np.array([0.2, 0.8, 0.6, 0.4]), metadata, stats=stats)
    routine(1, 0.5, 0.6, labels, np.array([0.2, 0.8, 0.6, 0.4]), metadata)  # none given
    tracker.close()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    logged = {(r["name"], r["step"]): r["value"] for r in records if r["kind"] == "series"}
    assert logged[(ns.train_stat("learning_rate"), 0)] == 2e-3
    assert logged[(ns.train_stat("examples_per_second"), 0)] == 150.0  # 600 / 4 s
    assert logged[(ns.epoch_seconds(), 0)] == 5.0
    assert (ns.epoch_seconds(), 1) not in logged
