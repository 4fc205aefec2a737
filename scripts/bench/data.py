"""Data benchmarks: generation throughput (1 process vs all cores), encoding, cached load.

Generation on one process and on every core is timed in turns (:func:`take_turns`: one
warm-up each, then pairs in the order A B, B A, ...), on enough stories per trial (about
1.5 s on one process on an idle machine) that starting the worker processes is a small part;
the rates are the medians of the trials with their 95% intervals, and the scaling efficiency
(speed-up over the core count) the median of the pairs' ratios with its interval. A trial on
every core needs every core: its figure falls with the load other processes put on the
machine, and its interval shows by how much it moved within the run.

Generation at scale: a version of N and of 10 N training stories is built, each in a fresh
process that then reports its examples/s and the peak memory (RSS) of the largest process of
its tree, itself or a generation worker; the peak should stay flat (within 20%) since the
rows stream to disk. Each trainer then trains on the 10 N version and on the ``default`` size
side by side (:mod:`scripts.bench.scale`): its throughput should not fall with the data.

Loading at scale: :func:`report_loading` opens such a version in a fresh process and reports
the peak memory of loading it, of ``train.py``'s data stage or of its summary; it should not
grow with the stories' text (split frames are read only when asked for).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.bench.common import BenchmarkRow, best_time, estimate_row, seconds
from scripts.bench.scale import FRAMEWORKS, compare
from scripts.bench.stats import Goal, median_estimate, ratio_estimate
from scripts.bench.trials import InProcess, take_turns
from stories import DatasetConfig, StoryDataset, build_dataset, load_dataset
from stories.build import DATASETS_DIR, build_version, plan_tasks, read_manifest, run_tasks
from stories.config import SPLITS

SECTION = "data"
GOAL_PER_CORE = Goal(5_000)
#: Training stories generated per trial, and timed pairs of trials (full run, ``--quick``).
GENERATION = {False: (45_000, 6), True: (8_000, 6)}
GOAL_PAPER_SECONDS = 2.0
#: Training stories of the smaller generation at scale (full run, ``--quick``); the larger has
#: ten times as many.
SCALE = {False: 100_000, True: 10_000}
#: The larger generation's peak memory over the smaller's stays below this.
GOAL_PEAK_GROWTH = 1.2
GOAL_CACHED_LOAD_SECONDS = 1.0
#: What :func:`report_loading` measures.
LOADING_STAGES = ("load", "train", "summary")


def _generation_rate(config: DatasetConfig, workers: int) -> tuple[float, int]:
    tasks = plan_tasks(config, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        cells = run_tasks(tasks, workers, Path(tmp), progress=False)
        elapsed = time.perf_counter() - start
    examples = sum(c.result.generated for c in cells)
    return examples / elapsed, examples


def _scaling(config: DatasetConfig, cores: int, quick: bool) -> list[BenchmarkRow]:
    """Generation on one process and on ``cores``, in turns: the rates and the scaling."""
    stories, pairs = GENERATION[quick]
    tasks = plan_tasks(config.replace(split_sizes={"train": stories}), seed=0)
    examples = sum(c.requested for t in tasks for c in t.cells)
    with tempfile.TemporaryDirectory() as tmp:
        draws = Path(tmp)
        paired = take_turns(
            InProcess("1 process", lambda: run_tasks(tasks, 1, draws, progress=False)),
            InProcess(f"{cores} processes", lambda: run_tasks(tasks, cores, draws, progress=False)),
            pairs=pairs,
        )
    single = median_estimate([examples / t for t in seconds(paired.first, "wall")])
    multi = median_estimate([examples / t for t in seconds(paired.second, "wall")])
    speedup = ratio_estimate(seconds(paired.first, "wall"), seconds(paired.second, "wall"))
    note = f"all_4dir, {examples:,} examples per trial; wall time, {pairs} trials each in turns"
    return [
        estimate_row(SECTION, "generation, 1 process", single, "examples/s", GOAL_PER_CORE, note),
        estimate_row(SECTION, f"generation, {cores} processes", multi, "examples/s", note=note),
        estimate_row(
            SECTION,
            "scaling efficiency",
            speedup.scaled(1.0 / cores),
            "x",
            "near 1",
            f"{speedup.median:.2f}x speed-up on {cores} cores (median of the pairs); falls "
            "with other processes' load",
        ),
    ]


def _peak_mib() -> float:
    """Peak RSS of this process or of the largest of its finished children, in MiB."""
    import resource

    peak = max(
        resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return peak / (1 << 20 if sys.platform == "darwin" else 1 << 10)  # bytes on macOS, else KiB


def report_generation(stories: int, output_dir: str) -> None:
    """Build all_4dir with ``stories`` training stories under ``output_dir`` and print, as
    JSON, its examples/s and the peak RSS of this process's tree (run in a fresh process)."""
    config = DatasetConfig.preset("all_4dir", split_sizes={"train": stories})
    start = time.perf_counter()
    folder, _ = build_version(config, 0, Path(output_dir), progress=False)
    seconds = time.perf_counter() - start
    examples = sum(read_manifest(folder)["totals"].values())
    print(json.dumps({"rate": examples / seconds, "peak_mib": _peak_mib()}))


def report_loading(stories: int, output_dir: str, stage: str) -> None:
    """Open the version :func:`report_generation` builds under ``output_dir`` (built first
    when missing), do ``stage`` and print, as JSON, the seconds it took and the peak RSS of
    this process (run in a fresh process).

    Stages: ``load`` (:func:`stories.load_dataset`), ``train`` (what ``train.py`` does with
    the data before training: the checks, the run's record of the split sizes, and the
    Transformer arrays and metadata of the train and validation splits) and ``summary``
    (what ``scripts/generate_data.py`` prints).

    Raises:
        ValueError: An unknown stage.
    """
    if stage not in LOADING_STAGES:
        raise ValueError(f"stage: {stage!r} is not one of {list(LOADING_STAGES)}")
    config = DatasetConfig.preset("all_4dir", split_sizes={"train": stories})
    folder, _ = build_version(config, 0, Path(output_dir), progress=False)
    start = time.perf_counter()
    dataset = load_dataset(folder)
    if stage == "train":
        _train_data_stage(dataset)
    elif stage == "summary":
        str(dataset.summary())
    seconds = time.perf_counter() - start
    print(json.dumps({"stage": stage, "seconds": seconds, "peak_mib": _peak_mib()}))


def _train_data_stage(dataset: StoryDataset) -> None:
    from trainers.config import Hyperparams
    from trainers.records.run import DatasetInfo
    from trainers.runs.data_checks import check_training_data

    valid = dataset.validation_split()
    check_training_data(dataset, valid, Hyperparams.of("transformer"), SPLITS)
    DatasetInfo.from_dataset(dataset)
    for split in ("train", valid):
        dataset.encode_transformer(split)
        dataset.metadata(split)


def _fresh_generation(stories: int, output_dir: str) -> tuple[float, float]:
    """``(examples/s, peak MiB)`` of :func:`report_generation` run in a new process, building
    under ``output_dir``."""
    code = f"from scripts.bench.data import report_generation; report_generation({stories}, "
    done = subprocess.run(
        [sys.executable, "-c", f"{code}{output_dir!r})"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"generating {stories:,} stories failed:\n{done.stderr[-2000:]}")
    figures = json.loads(done.stdout.splitlines()[-1])
    return figures["rate"], figures["peak_mib"]


def _scale(quick: bool) -> list[BenchmarkRow]:
    """Generation of N and 10 N training stories in fresh processes (rates and peak
    memory), then each trainer's throughput on the 10 N version against the default size's."""
    small = SCALE[quick]
    with tempfile.TemporaryDirectory() as tmp:
        with tempfile.TemporaryDirectory() as first:
            figures = {small: _fresh_generation(small, first)}
        figures[10 * small] = _fresh_generation(10 * small, tmp)
        (large,) = (p for p in Path(tmp, DATASETS_DIR).iterdir() if p.is_dir())
        default = build_dataset("all_4dir", size="tiny" if quick else "default", progress=False)
        throughput = [
            row
            for framework in FRAMEWORKS
            for row in compare(framework, str(default.path), str(large), 10 * small, quick)
        ]
    return _generation_rows(figures, small) + throughput


def _generation_rows(figures: dict[int, tuple[float, float]], small: int) -> list[BenchmarkRow]:
    """The rows of the generation at scale: each size's rate and peak, and the growth."""
    rows = [
        BenchmarkRow(
            SECTION,
            f"generation of {n:,} train stories",
            rate,
            "examples/s",
            note=f"all_4dir, fresh process on every core; peak RSS {peak:,.0f} MiB",
        )
        for n, (rate, peak) in figures.items()
    ]
    growth = figures[10 * small][1] / figures[small][1]
    rows.append(
        BenchmarkRow(
            SECTION,
            "generation peak memory, 10x the stories",
            growth,
            "x",
            f"< {GOAL_PEAK_GROWTH}",
            growth < GOAL_PEAK_GROWTH,
            f"peak RSS at {10 * small:,} / at {small:,} train stories (largest process of the "
            "tree); flat: rows stream to disk",
        )
    )
    return rows


def run(quick: bool = False) -> list[BenchmarkRow]:
    """Measure the data layer; ``quick`` uses the tiny size for the load/encode part and less
    generation per trial."""
    cores = os.cpu_count() or 1
    size = "tiny" if quick else "default"
    config = DatasetConfig.preset("all_4dir", size=size)
    rows = _scaling(config, cores, quick) + _scale(quick)
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
