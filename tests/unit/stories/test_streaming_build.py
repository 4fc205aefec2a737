"""Streaming generation: the files are those of the whole-dataset-in-memory assembly, byte for
byte, while the writer holds at most one bucket of rows and an interruption leaves nothing."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from stories import DatasetConfig
from stories import build as build_module
from stories.build import build_version, plan_tasks, shuffled_positions
from stories.config import SPLITS
from stories.generator import Cell, derive_seed, generate_cells
from stories.vocab import Vocabulary
from tests.conftest import REPO_ROOT
from tests.unit.stories.test_build import EXHAUSTED  # superdense cells run short

TINY = DatasetConfig.preset("all_4dir", size="tiny", workers=1)
#: sha256 of the files of ``TINY`` with seed 0 as the in-memory writer wrote them before
#: generation streamed to disk (its manifest's ``files``).
IN_MEMORY_SHA256 = {
    "test.jsonl": "bd812c25f8b10004f8e6aa07344455acc2ff03f09d238f7d9be257b711579467",
    "train.jsonl": "63151e5c99f1f6e3e0bf72d093555332019f70f9e6d23c385fadb3c34efc01bc",
    "valid_a.jsonl": "72f6d17acd07b380e2d3754ce8111db2e40ab9c1fa01c903e39ea9264622b69e",
    "valid_comp.jsonl": "94df0c6d1062fcb2a65e79c5a42c669ae15f4a9d44e1d3ea4ce5c23c372fbf78",
    "vocab.json": "1b9550d579fc412f97ca62c1491ae6b5bf1d83b885dc52198ac8082e54650cfa",
}


def in_memory_files(config: DatasetConfig, seed: int, folder: Path) -> None:
    """Write the splits and the vocabulary as the whole-dataset-in-memory assembly did: every
    cell's kept examples (yes and no alternating), gathered by split in task order, the list
    shuffled, then numbered."""
    splits: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
    drawn: dict[Cell, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}

    def accept(cell: Cell, label: int, record: dict[str, Any]) -> None:
        drawn.setdefault(cell, ([], []))[label].append(record)

    for task in plan_tasks(config, seed):
        for result in generate_cells(task, accept):
            no, yes = drawn.get(result.cell, ([], []))
            pairs = zip(yes[: result.kept], no[: result.kept], strict=True)
            splits[result.cell.split].extend(r for pair in pairs for r in pair)
    for split, records in splits.items():
        random.Random(derive_seed(seed, "shuffle", split)).shuffle(records)
        with (folder / f"{split}.jsonl").open("w", encoding="utf-8", newline="\n") as handle:
            for index, record in enumerate(records):
                row = {"id": f"{split}-{index:06d}", **record}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    texts = (text for r in splits["train"] for text in (r["story"], r["question"]))
    Vocabulary.build(texts).save(folder / "vocab.json")


@pytest.mark.parametrize(("config", "seed"), [(TINY, 0), (TINY, 5), (EXHAUSTED, 0)])
def test_streamed_files_are_those_of_the_in_memory_assembly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: DatasetConfig, seed: int
) -> None:
    # Several buckets per split; train's 700 rows in 5 larger ones (at most MAX_BUCKETS).
    monkeypatch.setattr(build_module, "SHARD_ROWS", 64)
    monkeypatch.setattr(build_module, "MAX_BUCKETS", 5)
    folder, _ = build_version(config, seed, tmp_path / "out", progress=False)
    reference = tmp_path / "reference"
    reference.mkdir()
    in_memory_files(config, seed, reference)
    for name in [f"{split}.jsonl" for split in SPLITS] + ["vocab.json"]:
        assert (folder / name).read_bytes() == (reference / name).read_bytes(), name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["shortfalls"] != []) == (config is EXHAUSTED)


def test_streamed_files_match_the_hashes_of_the_in_memory_writer(tmp_path: Path) -> None:
    folder, _ = build_version(TINY, 0, tmp_path, progress=False)
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    assert {name: files[name] for name in IN_MEMORY_SHA256} == IN_MEMORY_SHA256


def test_positions_are_where_a_shuffle_of_the_rows_puts_them() -> None:
    rows = list(range(500))
    random.Random(derive_seed(3, "shuffle", "train")).shuffle(rows)
    positions = shuffled_positions(500, 3, "train")
    assert [positions[row] for row in rows] == list(range(500))


@pytest.mark.parametrize(
    ("max_buckets", "bucket_rows"),
    [(500, 50), (4, 175)],  # 175: train's 700 rows in 4 buckets, at most MAX_BUCKETS
)
def test_the_writer_holds_at_most_one_bucket_of_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_buckets: int, bucket_rows: int
) -> None:
    held: list[int] = []
    read_bucket = build_module.read_bucket

    def counted(path: Path, start: int, size: int) -> list[str]:
        lines = read_bucket(path, start, size)
        held.append(len(lines))
        return lines

    monkeypatch.setattr(build_module, "SHARD_ROWS", 50)
    monkeypatch.setattr(build_module, "MAX_BUCKETS", max_buckets)
    monkeypatch.setattr(build_module, "read_bucket", counted)
    folder, _ = build_version(TINY, 0, tmp_path, progress=False)
    assert max(held) == bucket_rows and sum(held) == 700 + 140 + 120 + 100  # every row
    assert not (folder / build_module.DRAWS_DIR).exists()


def interrupt_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(task: Any, accept: Any) -> Any:
        yield from generate_cells(task, accept)
        raise KeyboardInterrupt

    monkeypatch.setattr(build_module, "generate_cells", interrupted)


def interrupt_writing(monkeypatch: pytest.MonkeyPatch) -> None:
    read_bucket = build_module.read_bucket
    calls: list[Path] = []

    def interrupted(path: Path, start: int, size: int) -> list[str]:
        calls.append(path)
        if len(calls) == 3:  # a split and a half written
            raise KeyboardInterrupt
        return read_bucket(path, start, size)

    monkeypatch.setattr(build_module, "SHARD_ROWS", 100)
    monkeypatch.setattr(build_module, "read_bucket", interrupted)


@pytest.mark.parametrize("interrupt", [interrupt_generation, interrupt_writing])
def test_an_interrupted_build_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interrupt: Any
) -> None:
    with monkeypatch.context() as patch:
        interrupt(patch)
        with pytest.raises(KeyboardInterrupt):
            build_version(TINY, 0, tmp_path, progress=False)
    datasets = tmp_path / "datasets"
    assert [p.name for p in datasets.iterdir() if not p.name.endswith(".lock")] == []
    folder, cached = build_version(TINY, 0, tmp_path, progress=False)
    assert not cached and (folder / "manifest.json").is_file()


#: A build big enough to be interrupted mid-way on two worker processes.
PARALLEL_BUILD = (
    "import sys; from stories import DatasetConfig; from stories.build import build_version; "
    "config = DatasetConfig.preset('all_4dir', split_sizes={'train': 400_000}, workers=2); "
    "build_version(config, 0, sys.argv[1], progress=False)"
)


@pytest.mark.skipif(sys.platform == "win32", reason="Ctrl-C is a POSIX process-group signal")
def test_ctrl_c_during_parallel_generation_leaves_no_folder(tmp_path: Path) -> None:
    build = subprocess.Popen(
        [sys.executable, "-c", PARALLEL_BUILD, str(tmp_path)],
        cwd=REPO_ROOT,
        start_new_session=True,  # its own process group, as a terminal's job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not any(tmp_path.glob("datasets/.tmp-*/.draws/*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert build.poll() is None, "the build ended before it could be interrupted"
    os.killpg(build.pid, signal.SIGINT)  # Ctrl-C: the main process and its workers
    _, stderr = build.communicate(timeout=120)
    assert build.returncode != 0 and "KeyboardInterrupt" in stderr
    datasets = tmp_path / "datasets"
    assert [p.name for p in datasets.iterdir() if not p.name.endswith(".lock")] == []
