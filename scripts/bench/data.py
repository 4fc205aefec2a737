"""Data benchmarks: generation throughput (1 process vs all cores), encoding, cached load."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from scripts.bench.common import BenchmarkRow, best_time
from stories import DatasetConfig, build_dataset, load_dataset
from stories.build import build_version, plan_tasks, run_tasks
from stories.config import SPLITS

SECTION = "data"
GOAL_PER_CORE = 5_000
GOAL_PAPER_SECONDS = 2.0
GOAL_CACHED_LOAD_SECONDS = 1.0


def _generation_rate(config: DatasetConfig, workers: int) -> tuple[float, int]:
    tasks = plan_tasks(config, seed=0)
    start = time.perf_counter()
    results = run_tasks(tasks, workers, progress=False)
    elapsed = time.perf_counter() - start
    examples = sum(len(r.records) for r in results)
    return examples / elapsed, examples


def run(quick: bool = False) -> list[BenchmarkRow]:
    """Measure the data layer; ``quick`` uses the tiny size for the load/encode part."""
    cores = os.cpu_count() or 1
    size = "tiny" if quick else "default"
    config = DatasetConfig.preset("all_4dir", size=size)
    rows = []
    single, examples = _generation_rate(config.replace(split_sizes={"train": 30_000}), 1)
    multi, _ = _generation_rate(config.replace(split_sizes={"train": 30_000}), cores)
    note = f"all_4dir, {examples:,} examples"
    rows.append(
        BenchmarkRow(
            SECTION,
            "generation, 1 process",
            single,
            "examples/s",
            f">= {GOAL_PER_CORE:,}",
            single >= GOAL_PER_CORE,
            note,
        )
    )
    rows.append(
        BenchmarkRow(SECTION, f"generation, {cores} processes", multi, "examples/s", "", None, note)
    )
    rows.append(
        BenchmarkRow(
            SECTION,
            "scaling efficiency",
            multi / single / cores,
            "x",
            "near 1",
            None,
            f"{multi / single:.2f}x speed-up on {cores} cores",
        )
    )
    for name, (low, high) in (("2-8 actors", (2, 8)), ("21-30 actors", (21, 30))):
        ranged = config.replace(
            noun_ranges={s: [low, high] for s in SPLITS},
            split_sizes={"train": 4_000, "valid_a": 200, "valid_comp": 200, "test": 200},
        )
        rate, _ = _generation_rate(ranged, 1)
        rows.append(
            BenchmarkRow(SECTION, f"generation {name}, 1 process", rate, "examples/s", "", None, "")
        )
    with tempfile.TemporaryDirectory() as tmp:
        paper = DatasetConfig.preset("all_4dir", size="paper")
        start = time.perf_counter()
        build_version(paper, 0, Path(tmp), progress=False)
        seconds = time.perf_counter() - start
        rows.append(
            BenchmarkRow(
                SECTION,
                "build paper all_4dir",
                seconds,
                "s",
                f"< {GOAL_PAPER_SECONDS}",
                seconds < GOAL_PAPER_SECONDS,
                "generate + write + vocab + manifest",
            )
        )
        dataset = build_dataset(config, seed=0, output_dir=tmp, progress=False)
        start = time.perf_counter()
        for split in SPLITS:
            dataset.encode_transformer(split)
            dataset.encode_lstm(split)
        encode_seconds = time.perf_counter() - start
        total = sum(len(dataset[s]) for s in SPLITS)
        rows.append(
            BenchmarkRow(
                SECTION,
                "encode (both families)",
                total / encode_seconds,
                "examples/s",
                "",
                None,
                f"{size} all_4dir, first (uncached) pass",
            )
        )

        def cached_load() -> None:
            loaded = load_dataset(dataset.path)
            for split in SPLITS:
                loaded.encode_transformer(split)
                loaded.encode_lstm(split)

        seconds = best_time(cached_load)
        rows.append(
            BenchmarkRow(
                SECTION,
                f"cached load of {size} + encoded arrays",
                seconds,
                "s",
                f"< {GOAL_CACHED_LOAD_SECONDS}",
                seconds < GOAL_CACHED_LOAD_SECONDS,
                "sha256 check + JSONL parse + memory-mapped .npy",
            )
        )
    return rows
