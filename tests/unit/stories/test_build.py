"""Dataset versions: hashing, determinism, caching, integrity, atomic writes, exhaustion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stories import (
    DatasetConfig,
    DatasetIntegrityError,
    OutputDirError,
    build_dataset,
    load_dataset,
)
from stories.build import build_version, dataset_version
from stories.config import SPLITS
from stories.jsonl import read_records

TINY = DatasetConfig.preset("all_4dir", size="tiny", workers=1)


def file_hashes(folder: Path) -> dict[str, str]:
    manifest = json.loads((folder / "manifest.json").read_text())
    return {name: info["sha256"] for name, info in manifest["files"].items()}


def test_same_request_gives_byte_identical_files_anywhere(tmp_path):
    first, _ = build_version(TINY, 0, tmp_path / "a", progress=False)
    second, _ = build_version(TINY, 0, tmp_path / "b", progress=False)
    assert first.name == second.name
    for name in ("train.jsonl", "valid_a.jsonl", "valid_comp.jsonl", "test.jsonl", "vocab.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_different_seed_gives_a_new_version_with_different_content(tmp_path):
    first, _ = build_version(TINY, 0, tmp_path, progress=False)
    second, _ = build_version(TINY, 1, tmp_path, progress=False)
    assert first != second
    assert file_hashes(first)["train.jsonl"] != file_hashes(second)["train.jsonl"]


def test_result_does_not_depend_on_the_number_of_workers(tmp_path):
    # Large enough to run in a process pool (above the in-process threshold).
    config = DatasetConfig.preset("all_4dir", size="tiny", split_sizes={"train": 6000})
    one, _ = build_version(config.replace(workers=1), 0, tmp_path / "one", progress=False)
    two, _ = build_version(config.replace(workers=2), 0, tmp_path / "two", progress=False)
    assert file_hashes(one) == file_hashes(two)


def test_second_build_is_a_cache_hit_that_rewrites_nothing(tmp_path):
    folder, cached = build_version(TINY, 0, tmp_path, progress=False)
    assert not cached
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    again, cached = build_version(TINY, 0, tmp_path, progress=False)
    assert cached and again == folder
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_version_name_and_manifest_contents(tmp_path):
    folder, _ = build_version(TINY, 7, tmp_path, progress=False)
    assert folder.parent == tmp_path / "datasets"
    assert folder.name == dataset_version(TINY, 7)
    assert folder.name.startswith("all_4dir-tiny-") and len(folder.name.rsplit("-", 1)[1]) == 8
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["version"] == folder.name  # the final name, not the temporary folder's
    assert manifest["seed"] == 7 and manifest["hash"].startswith(folder.name[-8:])
    assert manifest["counts"]["test"]["dense"]["24"] == {"yes": 1, "no": 1}
    assert manifest["totals"]["train"] == 700 and manifest["shortfalls"] == []
    assert {"created_at", "package_version", "generator", "config", "vocab"} <= set(manifest)


def test_edited_dataset_file_is_detected_with_a_rebuild_hint(tmp_path):
    folder, _ = build_version(TINY, 0, tmp_path, progress=False)
    with (folder / "test.jsonl").open("a") as handle:
        handle.write("{}\n")
    with pytest.raises(DatasetIntegrityError, match=r"test\.jsonl .*rm -r"):
        build_version(TINY, 0, tmp_path, progress=False)
    with pytest.raises(DatasetIntegrityError, match=r"test\.jsonl"):
        load_dataset(folder)


def test_missing_file_is_detected(tmp_path):
    folder, _ = build_version(TINY, 0, tmp_path, progress=False)
    (folder / "vocab.json").unlink()
    with pytest.raises(DatasetIntegrityError, match=r"vocab\.json is missing"):
        load_dataset(folder)


def test_interrupted_generation_leaves_no_folder_that_looks_complete(tmp_path):
    def interrupt(_: Path) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_version(TINY, 0, tmp_path, progress=False, on_generated=interrupt)
    datasets = tmp_path / "datasets"
    assert [p for p in datasets.iterdir() if not p.name.endswith(".lock")] == []
    folder, cached = build_version(TINY, 0, tmp_path, progress=False)
    assert not cached and (folder / "manifest.json").is_file()


def test_stale_temporary_folder_from_a_killed_run_is_cleaned(tmp_path):
    datasets = tmp_path / "datasets"
    stale = datasets / f".tmp-{dataset_version(TINY, 0)}-99999"
    stale.mkdir(parents=True)
    (stale / "train.jsonl").write_text("partial")
    build_version(TINY, 0, tmp_path, progress=False)
    assert not stale.exists()


def test_unwritable_output_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputDirError, match=r"paths\.output_dir"):
        build_version(TINY, 0, blocker / "out", progress=False)


#: Two names and two directions leave very few distinct two-actor superdense stories:
#: "A walks d1. B walks d2." + one of 4 events, with the names in 2 orders and 2 questions.
EXHAUSTED = DatasetConfig(
    name="tinyworld",
    directions=2,
    categories=["superdense"],
    size="tiny",
    names=["Ava", "Ben"],
    noun_ranges={"train": [2, 2], "valid_a": [2, 2], "valid_comp": [2, 2], "test": [2, 2]},
    split_sizes={"train": 400, "valid_a": 10, "valid_comp": 10, "test": 10},
    stall_limit=2000,
    workers=1,
)


def test_exhausted_cell_is_filled_balanced_and_recorded(tmp_path):
    folder, _ = build_version(EXHAUSTED, 0, tmp_path, progress=False)
    rows = {s: read_records(folder / f"{s}.jsonl") for s in SPLITS}
    assert 0 < len(rows["train"]) < 400
    labels = [r["label"] for r in rows["train"]]
    assert labels.count(1) == labels.count(0)
    manifest = json.loads((folder / "manifest.json").read_text())
    train = manifest["shortfalls"][0]
    assert train["split"] == "train" and train["generated"] == len(rows["train"])
    half = len(labels) // 2
    assert manifest["counts"]["train"]["superdense"]["2"] == {"yes": half, "no": half}
    every = [r for split in SPLITS for r in rows[split]]
    assert len({(r["story"], r["question"]) for r in every}) == len(every)
    # Every possible story: 2 orders x 2 x 2 initial directions x 4 events x 2 questions = 64.
    assert len(every) <= 64


def test_shortfalls_reach_the_manifest_and_summary(tmp_path):
    dataset = build_dataset(EXHAUSTED, seed=0, output_dir=tmp_path, progress=False)
    shortfalls = dataset.manifest["shortfalls"]
    assert shortfalls and shortfalls[0]["split"] == "train" and shortfalls[0]["requested"] == 400
    assert "Shortfalls" in str(dataset.summary())
