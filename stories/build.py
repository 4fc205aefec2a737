"""Build dataset versions: plan cells, generate in parallel, write atomically, cache by hash.

A dataset version is the folder ``<output_dir>/datasets/<name>-<size>-<hash8>/`` holding one
JSONL file per split, ``vocab.json`` and ``manifest.json``. The hash covers the content config,
the seed, and the source code and constants that shape the files (:func:`content_code_hash`), so
the same request is a cache hit that rewrites nothing, and any change that could alter the
output gives a new version.

Generation writes into a hidden temporary folder that is renamed into place only when complete,
under a file lock, so an interrupted or concurrent build never leaves a folder that looks done.
It streams: the worker processes write each accepted draw to disk at once, and each split is
then shuffled and numbered through bucket files of :data:`SHARD_ROWS` rows, of which one at a
time is held, so memory does not grow with the rows (only the seen pairs' 16-byte digests in a
worker and 16 bytes per row of a split's shuffle do).
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import hashlib
import inspect
import json
import multiprocessing
import os
import random
import shutil
import signal
import sys
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Final, TextIO

from filelock import FileLock
from tqdm.auto import tqdm

from stories import generator, names
from stories import vocab as vocabulary
from stories.config import DENSE_TURN_FACTORS, SPLITS, DatasetConfig
from stories.errors import DatasetIntegrityError, OutputDirError
from stories.generator import (
    Cell,
    CellResult,
    CellTask,
    GeneratorParams,
    derive_seed,
    generate_cells,
)
from stories.jsonl import record_line, with_id
from stories.vocab import Vocabulary, tokenize

MANIFEST: Final = "manifest.json"
VOCAB: Final = "vocab.json"
DATASETS_DIR: Final = "datasets"
#: Below this many requested examples, generation runs in-process (pool start-up costs more).
PARALLEL_THRESHOLD: Final = 4_000


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("storyqa")
    except PackageNotFoundError:
        return "0+unknown"


def content_sources() -> dict[str, str]:
    """The source code of every module and function that shapes a version's files, by name.

    The generator and the shipped names (whole modules); how cells are planned into tasks, run
    (their accepted draws and train tokens streamed out) and gathered back in task order; how
    each cell's examples are read back, and each split gathered, shuffled, numbered and
    written; the JSONL lines and the manifest's counts; how the vocabulary is tokenized, built
    and saved; and how a split's noun counts are read from its range.
    """
    pieces: dict[str, Any] = {
        "stories.generator": generator,
        "stories.names": names,
        "stories.build.plan_tasks": plan_tasks,
        "stories.build.generate_task": generate_task,
        "stories.build.run_tasks": run_tasks,
        "stories.build._kept_lines": _kept_lines,
        "stories.build.shuffled_positions": shuffled_positions,
        "stories.build.read_bucket": read_bucket,
        "stories.build.write_split": write_split,
        "stories.build._write_version": _write_version,
        "stories.build._counts": _counts,
        "stories.jsonl.record_line": record_line,
        "stories.jsonl.with_id": with_id,
        "stories.vocab.tokenize": vocabulary.tokenize,
        "stories.vocab.Vocabulary.from_tokens": vocabulary.Vocabulary.from_tokens,
        "stories.vocab.Vocabulary.save": vocabulary.Vocabulary.save,
        "stories.config.DatasetConfig.noun_counts": DatasetConfig.noun_counts,
    }
    return {name: inspect.getsource(piece) for name, piece in pieces.items()}


def content_constants() -> dict[str, Any]:
    """The values of the constants that shape a version's files and live outside the hashed
    sources: the dense categories' turn factors, the split order (tasks generate their cells
    in it) and the vocabulary's reserved tokens and token pattern."""
    return {
        "DENSE_TURN_FACTORS": dict(DENSE_TURN_FACTORS),
        "SPLITS": list(SPLITS),
        "RESERVED": list(vocabulary.RESERVED),
        "TOKEN_PATTERN": [vocabulary.TOKEN_PATTERN.pattern, vocabulary.TOKEN_PATTERN.flags],
    }


def content_code_hash() -> str:
    """sha256 of :func:`content_sources` and :func:`content_constants`: everything besides
    the config and the seed that a version's files depend on."""
    payload = {"sources": content_sources(), "constants": content_constants()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def dataset_hash(config: DatasetConfig, seed: int) -> str:
    """Full hex hash identifying the content of ``config`` generated with ``seed``."""
    payload = {"config": config.content_dict(), "seed": seed, "code": content_code_hash()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def dataset_version(config: DatasetConfig, seed: int) -> str:
    """Folder name of the dataset version: ``<name>-<size>-<hash8>``."""
    return f"{config.name}-{config.size}-{dataset_hash(config, seed)[:8]}"


def plan_tasks(config: DatasetConfig, seed: int) -> list[CellTask]:
    """One task per noun count, holding its cells in split then category order."""
    per_cell = config.examples_per_cell()
    params = GeneratorParams(
        directions=config.directions,
        names=config.actor_names,
        max_events=config.max_events,
        two_actor_prob=float(config.two_actor_prob),
        follow_prob=float(config.follow_prob),
        dense_turn_factors=tuple(DENSE_TURN_FACTORS.items()),
        stall_limit=config.stall_limit,
    )
    cells: dict[int, list[Cell]] = {}
    for split in SPLITS:
        for category in config.categories:
            for n in config.noun_counts(split):
                cells.setdefault(n, []).append(Cell(split, category, n, per_cell[split]))
    return [CellTask(n, tuple(cells[n]), seed, params) for n in sorted(cells)]


#: Rows of a split held in memory at once while writing it: the output positions are written
#: one bucket of this many rows at a time...
SHARD_ROWS: Final = 10_000
#: ...unless the split needs more buckets than this (each is an open file while the rows are
#: routed), when the buckets grow to ``rows / MAX_BUCKETS``.
MAX_BUCKETS: Final = 500
#: Folder (inside the temporary version folder) of the accepted draws and the buckets.
DRAWS_DIR: Final = ".draws"


@dataclass(frozen=True)
class CellDraws:
    """One generated cell: what it accepted, and the tokens of its kept examples when it is a
    ``train`` cell (the vocabulary's)."""

    result: CellResult
    tokens: frozenset[str]


def _draws_path(folder: Path, cell: Cell, label: int) -> Path:
    return folder / f"{cell.split}-{cell.category}-{cell.noun_count}-{label}.jsonl"


def generate_task(task: CellTask, folder: Path) -> list[CellDraws]:
    """Generate ``task``, streaming each cell's accepted draws to ``folder``, one JSONL file
    per answer; only the open files and, for ``train`` cells, where each token first appears
    (per answer) are held."""
    done: list[CellDraws] = []
    files: dict[int, TextIO] = {}
    first: tuple[dict[str, int], dict[str, int]] = ({}, {})
    accepted = [0, 0]

    def accept(cell: Cell, label: int, record: dict[str, object]) -> None:
        if label not in files:
            path = _draws_path(folder, cell, label)
            files[label] = path.open("w", encoding="utf-8", newline="\n")
        files[label].write(record_line(record))
        if cell.split == "train":
            seen = first[label]
            new = set(tokenize(f"{record['story']} {record['question']}")).difference(seen)
            seen.update(dict.fromkeys(new, accepted[label]))
        accepted[label] += 1

    try:
        for result in generate_cells(task, accept):
            kept = {t for tokens in first for t, row in tokens.items() if row < result.kept}
            done.append(CellDraws(result, frozenset(kept)))
            for handle in files.values():
                handle.close()
            files.clear()
            accepted[:] = [0, 0]
            for tokens in first:
                tokens.clear()
    finally:
        for handle in files.values():
            handle.close()
    return done


def _task_weight(task: CellTask) -> int:
    # Larger stories cost more per example; schedule heavy tasks first.
    return sum(c.requested for c in task.cells) * task.noun_count


def run_tasks(
    tasks: list[CellTask], workers: int, folder: Path, progress: bool = True
) -> list[CellDraws]:
    """Run ``tasks`` (in-process or over ``workers`` processes), each streaming its accepted
    draws to ``folder`` (:func:`generate_task`); the cells in task order."""
    total = sum(c.requested for t in tasks for c in t.cells)
    bar = tqdm(total=total, unit="ex", desc="generating", disable=not progress, dynamic_ncols=True)
    results: dict[int, list[CellDraws]] = {}
    try:
        if workers <= 1 or total < PARALLEL_THRESHOLD:
            for task in tasks:
                results[task.noun_count] = generate_task(task, folder)
                bar.update(sum(c.requested for c in task.cells))
        else:
            context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
            ordered = sorted(tasks, key=_task_weight, reverse=True)
            # Ctrl-C ends a worker at once (Python's handler would end only its task, then it
            # would take the next one); the main process then removes what it wrote.
            stop = (signal.SIGINT, signal.SIG_DFL)
            with concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=context, initializer=signal.signal, initargs=stop
            ) as pool:
                futures = {pool.submit(generate_task, t, folder): t for t in ordered}
                try:
                    for future in concurrent.futures.as_completed(futures):
                        task = futures[future]
                        results[task.noun_count] = future.result()
                        bar.update(sum(c.requested for c in task.cells))
                except BaseException:  # Ctrl-C or a failed task: start no other task
                    pool.shutdown(cancel_futures=True)
                    raise
    finally:
        bar.close()
    return [r for t in tasks for r in results[t.noun_count]]


def _kept_lines(folder: Path, result: CellResult) -> Iterator[str]:
    """The cell's examples, read back from its draw files: the first ``kept`` of each answer,
    paired ``yes``, ``no``, ``yes``, ...; the files are deleted once read."""
    yes_path, no_path = (_draws_path(folder, result.cell, label) for label in (1, 0))
    if result.kept:
        with (
            yes_path.open(encoding="utf-8", newline="\n") as yes,
            no_path.open(encoding="utf-8", newline="\n") as no,
        ):
            pairs = zip(islice(yes, result.kept), islice(no, result.kept), strict=True)
            for pair in pairs:
                yield from pair
    yes_path.unlink(missing_ok=True)
    no_path.unlink(missing_ok=True)


def shuffled_positions(count: int, seed: int, split: str) -> array[int]:
    """Where each of a split's ``count`` gathered rows goes: the split is shuffled with
    ``random.Random(derive_seed(seed, "shuffle", split)).shuffle``, whose permutation depends
    only on the length, so shuffling the row numbers gives it without holding the rows."""
    order = array("q", range(count))
    random.Random(derive_seed(seed, "shuffle", split)).shuffle(order)
    positions = array("q", bytes(8 * count))
    for position, row in enumerate(order):
        positions[row] = position
    return positions


def read_bucket(path: Path, start: int, size: int) -> list[str]:
    """The lines of a bucket file (``<position>\\t<line>`` entries), at their position minus
    ``start``; ``size`` of them."""
    lines = [""] * size
    with path.open(encoding="utf-8", newline="\n") as handle:
        for entry in handle:
            position, line = entry.split("\t", 1)
            lines[int(position) - start] = line
    return lines


def write_split(path: Path, split: str, cells: list[CellDraws], seed: int, draws: Path) -> None:
    """Write ``split`` to ``path``: its cells' examples gathered in task order, shuffled and
    numbered, holding one bucket of them at a time (:data:`SHARD_ROWS`, or more for a split
    of over ``SHARD_ROWS * MAX_BUCKETS`` rows); the rest wait in bucket files."""
    total = sum(c.result.generated for c in cells)
    positions = shuffled_positions(total, seed, split)
    shard = max(SHARD_ROWS, -(-total // MAX_BUCKETS))
    buckets = [draws / f"{split}-bucket-{b}.txt" for b in range(-(-total // shard))]
    handles = [bucket.open("w", encoding="utf-8", newline="\n") for bucket in buckets]
    try:
        lines = (line for c in cells for line in _kept_lines(draws, c.result))
        for row, line in enumerate(lines):
            position = positions[row]
            handles[position // shard].write(f"{position}\t{line}")
    finally:
        for handle in handles:
            handle.close()
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for b, bucket in enumerate(buckets):
            start = b * shard
            held = read_bucket(bucket, start, min(shard, total - start))
            out.writelines(with_id(line, f"{split}-{start + i:06d}") for i, line in enumerate(held))
            bucket.unlink()


def _counts(cells: list[CellDraws]) -> dict[str, Any]:
    counts: dict[str, Any] = {}
    for draws in cells:
        cell, kept = draws.result.cell, draws.result.kept
        counts.setdefault(cell.split, {}).setdefault(cell.category, {})[str(cell.noun_count)] = {
            "yes": kept,
            "no": kept,
        }
    return counts


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_files(folder: Path, manifest: dict[str, Any]) -> None:
    """Check every file listed in the manifest against its sha256.

    Raises:
        DatasetIntegrityError: Naming the file and how to rebuild.
    """
    for name, info in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            problem = "is missing"
        elif _sha256(path) != info["sha256"]:
            problem = "no longer matches the sha256 in manifest.json (edited or corrupt)"
        else:
            continue
        raise DatasetIntegrityError(
            f"dataset {folder}: {name} {problem}. Delete the folder (rm -r '{folder}') and "
            "run the same command again to rebuild it."
        )


def read_manifest(folder: Path) -> dict[str, Any]:
    """Read ``manifest.json`` of a dataset folder."""
    path = folder / MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise DatasetIntegrityError(
            f"dataset {folder}: cannot read {MANIFEST} ({error}). Delete the folder "
            f"(rm -r '{folder}') and run the same command again to rebuild it."
        ) from None
    if not isinstance(manifest, dict) or "files" not in manifest:
        raise DatasetIntegrityError(
            f"dataset {folder}: {MANIFEST} has no file list. Delete the folder and rebuild it."
        )
    return manifest


def _write_version(
    folder: Path,
    version: str,
    config: DatasetConfig,
    seed: int,
    cells: list[CellDraws],
    seconds: float,
) -> None:
    draws = folder / DRAWS_DIR
    for split in SPLITS:
        mine = [c for c in cells if c.result.cell.split == split]
        write_split(folder / f"{split}.jsonl", split, mine, seed, draws)
    shutil.rmtree(draws)
    vocab = Vocabulary.from_tokens(
        t for c in cells if c.result.cell.split == "train" for t in c.tokens
    )
    vocab.save(folder / VOCAB)
    files = sorted([f"{split}.jsonl" for split in SPLITS] + [VOCAB])
    results = [c.result for c in cells]
    manifest = {
        "name": config.name,
        "version": version,
        "hash": dataset_hash(config, seed),
        "seed": seed,
        "config": config.content_dict(),
        "generator": {"code_sha256": content_code_hash(), "package_version": _package_version()},
        "totals": {s: sum(r.generated for r in results if r.cell.split == s) for s in SPLITS},
        "counts": _counts(cells),
        "shortfalls": [
            {
                "split": r.cell.split,
                "category": r.cell.category,
                "noun_count": r.cell.noun_count,
                "requested": r.cell.requested,
                "generated": r.generated,
            }
            for r in results
            if r.shortfall
        ],
        "vocab": {"size": len(vocab), "sha256": vocab.hash},
        "files": {
            name: {"sha256": _sha256(folder / name), "bytes": (folder / name).stat().st_size}
            for name in files
        },
        "generation_seconds": round(seconds, 3),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "package_version": _package_version(),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def ensure_writable_dir(path: Path) -> None:
    """Create ``path`` if needed and check that a file can be written in it.

    Raises:
        OutputDirError: It cannot be created or written, naming the folder and the fix.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise OutputDirError(
            f"cannot write to output directory {path}: {error.strerror or error}. "
            "Choose a writable folder (paths.output_dir=... on the command line)."
        ) from None


def _remove_stale_temporaries(datasets: Path, version: str) -> None:
    for stale in datasets.glob(f".tmp-{version}-*"):
        shutil.rmtree(stale, ignore_errors=True)


def build_version(
    config: DatasetConfig,
    seed: int,
    output_dir: Path,
    *,
    progress: bool = True,
    on_generated: Callable[[Path], None] | None = None,
) -> tuple[Path, bool]:
    """Generate the dataset version unless it exists; return ``(folder, was_cached)``.

    Args:
        config: What to generate (validated here).
        seed: Generator seed.
        output_dir: Output root; the version goes to ``<output_dir>/datasets/``.
        progress: Show a tqdm progress bar.
        on_generated: Called with the temporary folder once its files are written, before the
            rename (used by tests to simulate an interruption).

    Raises:
        OutputDirError: The output root cannot be written, or the disk fills up.
        DatasetIntegrityError: An existing version does not match its manifest.
    """
    config.validate()
    datasets = Path(output_dir) / DATASETS_DIR
    ensure_writable_dir(datasets)
    version = dataset_version(config, seed)
    final = datasets / version
    with FileLock(str(datasets / f".{version}.lock")):
        if final.is_dir():
            verify_files(final, read_manifest(final))
            return final, True
        _remove_stale_temporaries(datasets, version)
        temporary = datasets / f".tmp-{version}-{os.getpid()}"
        temporary.mkdir()
        try:
            start = time.perf_counter()
            workers = config.workers or os.cpu_count() or 1
            try:
                (temporary / DRAWS_DIR).mkdir()
                cells = run_tasks(
                    plan_tasks(config, seed), workers, temporary / DRAWS_DIR, progress
                )
                seconds = time.perf_counter() - start
                _write_version(temporary, version, config, seed, cells, seconds)
            except OSError as error:  # e.g. the disk filled up while writing
                reason = os.strerror(error.errno) if error.errno else str(error)
                raise OutputDirError(
                    f"cannot write dataset {final}: {reason}. Free some space, or choose a "
                    "folder on another disk (paths.output_dir=...)."
                ) from None
            if on_generated is not None:
                on_generated(temporary)
            temporary.rename(final)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
    return final, False
