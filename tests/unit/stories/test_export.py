"""Data exports (``stories.export``, ``stories.card``): each format read back by pandas or
``datasets`` holds exactly the version's rows, the Hugging Face one loads without storyqa, the
card's front matter says what the files hold, and a bad request writes nothing."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from stories.card import (
    ANSWER_NAMES,
    SplitFile,
    front_matter,
    read_card,
    render_card,
    size_category,
)
from stories.export import (
    EXPORT_FORMATS,
    WRITERS,
    DataExport,
    ExportError,
    check_target,
    default_export_dir,
    export_dataset,
)

#: The top-level packages of storyqa: none may be imported by a plain ``datasets`` user.
STORYQA_PACKAGES = ("stories", "models", "trainers", "metrics", "services", "scripts")


@pytest.fixture(scope="module")
def exports(tiny_4dir: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, DataExport]:
    """The tiny dataset exported once in every format."""
    root = tmp_path_factory.mktemp("exports")
    return {
        fmt: export_dataset(tiny_4dir, fmt, root / fmt, progress=False) for fmt in EXPORT_FORMATS
    }


def card_of(export: DataExport) -> dict[str, Any]:
    card = read_card(export.folder)
    assert card is not None, "the card's front matter does not parse"
    return card


def test_parquet_files_read_back_by_pandas_are_the_rows(tiny_4dir, exports):
    folder = exports["parquet"].folder
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["README.md", *(f"{split}.parquet" for split in tiny_4dir)]
    )
    for split in tiny_4dir:
        read = pd.read_parquet(folder / f"{split}.parquet")
        pd.testing.assert_frame_equal(read, tiny_4dir[split])
        for column in ("story", "question", "answer", "category", "noun_count"):
            assert column in read.columns


def test_jsonl_files_are_the_versions_own_bytes_and_read_back_as_the_rows(tiny_4dir, exports):
    folder = exports["jsonl"].folder
    for split in tiny_4dir:
        copy = folder / f"{split}.jsonl"
        assert copy.read_bytes() == (tiny_4dir.path / f"{split}.jsonl").read_bytes()
        read = pd.read_json(copy, lines=True, dtype=False)
        assert read.to_dict("records") == tiny_4dir[split].to_dict("records")


def test_hf_dataset_dict_has_class_label_answers_and_the_rows(tiny_4dir, exports):
    import datasets

    loaded = datasets.load_from_disk(str(exports["hf"].folder))
    assert isinstance(loaded, datasets.DatasetDict)
    assert list(loaded) == list(tiny_4dir)
    for split in tiny_4dir:
        part = loaded[split]
        for column in ("answer", "label"):
            feature = part.features[column]
            assert isinstance(feature, datasets.ClassLabel)
            assert feature.names == ["no", "yes"]
        frame = part.to_pandas()
        frame["answer"] = frame["answer"].map(part.features["answer"].int2str)
        assert frame.to_dict("records") == tiny_4dir[split].to_dict("records")
        assert exports["hf"].version in part.info.description


def test_hf_export_loads_in_a_process_that_imports_no_storyqa(tiny_4dir, exports, tmp_path):
    packages = STORYQA_PACKAGES
    script = (
        "import json, sys, datasets\n"
        f"d = datasets.load_from_disk({str(exports['hf'].folder)!r})\n"
        "first = d['test'][0]\n"
        "print(json.dumps({\n"
        "    'rows': {split: d[split].num_rows for split in d},\n"
        "    'names': d['train'].features['answer'].names,\n"
        "    'first': [first['id'], d['test'].features['answer'].int2str(first['answer'])],\n"
        f"    'storyqa': sorted(m for m in sys.modules if m.split('.')[0] in {packages!r}),\n"
        "}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-I", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["storyqa"] == []
    assert result["rows"] == {split: len(tiny_4dir[split]) for split in tiny_4dir}
    assert result["names"] == ["no", "yes"]
    test = tiny_4dir["test"]
    assert result["first"] == [test["id"].iloc[0], test["answer"].iloc[0]]


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_card_front_matter_states_hash_seed_counts_and_files(tiny_4dir, exports, fmt):
    export = exports[fmt]
    card = card_of(export)
    assert card["language"] == ["en"]
    assert {"question-answering", "text-classification"} <= set(card["task_categories"])
    assert card["size_categories"] == ["1K<n<10K"]  # 1,060 rows
    info = card["storyqa"]
    assert info["format"] == fmt
    assert info["hash"] == tiny_4dir.hash and info["seed"] == 0
    assert info["version"] == tiny_4dir.path.name
    assert info["generator"] == tiny_4dir.manifest["generator"]
    assert info["totals"] == {split: len(tiny_4dir[split]) for split in tiny_4dir}
    for split in tiny_4dir:
        frame = tiny_4dir[split]
        counted = frame.groupby(["category", "noun_count"]).size()
        stated = {(c, n): k for c, by_n in info["counts"][split].items() for n, k in by_n.items()}
        assert stated == {key: int(k) for key, k in counted.items()}
        yes = int(frame["label"].sum())
        assert info["answers"][split] == {"no": len(frame) - yes, "yes": yes}
    (config,) = card["configs"]
    for entry in config["data_files"]:
        assert list(export.folder.glob(entry["path"])), entry  # every path names files
    assert [entry["split"] for entry in config["data_files"]] == list(tiny_4dir)
    splits = card["dataset_info"]["splits"]
    assert {s["name"]: s["num_examples"] for s in splits} == info["totals"]
    features = card["dataset_info"]["features"]
    assert [f["name"] for f in features] == list(tiny_4dir["train"].columns)
    answer = next(f["dtype"] for f in features if f["name"] == "answer")
    class_label = {"class_label": {"names": {"0": "no", "1": "yes"}}}
    assert answer == (class_label if fmt == "hf" else "string")
    text = (export.folder / "README.md").read_text(encoding="utf-8")
    for expected in (tiny_4dir.hash, "| `test` | 21 to 30 | 100 | 50 | 50 |", "X turns left"):
        assert expected in text


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_datasets_load_dataset_reads_the_folder_by_its_card(tiny_4dir, exports, fmt, tmp_path):
    """The card's ``configs`` and ``dataset_info`` are what ``datasets.load_dataset`` uses:
    wrong split sizes or features would fail here."""
    import datasets

    loaded = datasets.load_dataset(str(exports[fmt].folder), cache_dir=str(tmp_path / "cache"))
    assert list(loaded) == list(tiny_4dir)
    for split in tiny_4dir:
        frame = loaded[split].to_pandas()
        if fmt == "hf":
            frame["answer"] = frame["answer"].map(ANSWER_NAMES.__getitem__)
        assert frame.to_dict("records") == tiny_4dir[split].to_dict("records")


def test_two_direction_card_has_only_around_turns(tiny_2dir):
    splits = [SplitFile(s, f"{s}.parquet", len(tiny_2dir[s]), 0, 0) for s in tiny_2dir]
    card = render_card(tiny_2dir.manifest, "parquet", splits, list(tiny_2dir["train"].columns))
    assert "`X turns around.`" in card
    assert "X turns left" not in card and "`west`" not in card
    assert front_matter(card)["storyqa"]["config"]["directions"] == 2  # type: ignore[index]


def test_size_categories_follow_the_hubs_bounds():
    assert [size_category(n) for n in (999, 1_000, 92_000, 100_000)] == [
        "n<1K",
        "1K<n<10K",
        "10K<n<100K",
        "100K<n<1M",
    ]


def test_unknown_format_is_refused_and_writes_nothing(tiny_4dir, tmp_path):
    with pytest.raises(ExportError, match=r"format: 'csv' is not one of \['parquet', 'jsonl'"):
        export_dataset(tiny_4dir, "csv", tmp_path / "exports" / "x", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_nothing_behind(tiny_4dir, tmp_path, monkeypatch):
    def full_disk(dataset: Any, folder: Path, bar: Any) -> list[Any]:
        (folder / "train.parquet").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setitem(WRITERS, "parquet", full_disk)
    target = tmp_path / "deep" / "exports" / "x"
    with pytest.raises(ExportError, match=r"No space left on device\. Free some space"):
        export_dataset(tiny_4dir, "parquet", target, progress=False)
    assert list(tmp_path.iterdir()) == []  # the folders it made are gone too


def test_an_earlier_export_is_replaced_and_a_foreign_folder_is_not(tiny_4dir, tmp_path):
    target = default_export_dir(tmp_path, tiny_4dir.path.name, "parquet")
    first = export_dataset(tiny_4dir, "parquet", target, progress=False)
    (target / "stale.txt").write_text("from the earlier export", encoding="utf-8")
    second = export_dataset(tiny_4dir, "jsonl", target, progress=False)
    assert not first.replaced and second.replaced
    assert sorted(p.name for p in target.iterdir()) == sorted(
        ["README.md", *(f"{split}.jsonl" for split in tiny_4dir)]
    )
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporaries left
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(ExportError, match="already exists and is not a storyqa data export"):
        export_dataset(tiny_4dir, "parquet", mine, progress=False)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_the_version_folder_is_never_a_target(tiny_4dir):
    before = sorted(p.name for p in tiny_4dir.path.iterdir())
    with pytest.raises(ExportError, match="where dataset versions live"):
        export_dataset(tiny_4dir, "parquet", tiny_4dir.path / "export", progress=False)
    assert sorted(p.name for p in tiny_4dir.path.iterdir()) == before


def test_a_target_that_cannot_be_created_is_refused_before_writing(tmp_path):
    (tmp_path / "file").write_text("", encoding="utf-8")
    with pytest.raises(ExportError, match=r"file is not a folder\. Choose a writable folder"):
        check_target(tmp_path / "file" / "export")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]
    if os.geteuid() == 0:
        pytest.skip("running as root: permission bits do not stop root")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        with pytest.raises(
            ExportError, match=r"Permission denied\. .*\(paths\.output_dir=\.\.\.\)"
        ):
            check_target(locked / "sub" / "export", key="paths.output_dir")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_storyqa_reads_an_export_back_as_the_generated_rows(tiny_4dir, exports, fmt):
    """``train.py data.path=<export>`` reads the folder with ``load_dataset``: the same splits,
    columns, dtypes and rows as the version it came from."""
    from stories.dataset import load_dataset

    read = load_dataset(exports[fmt].folder)
    assert read.manifest["source"] == "user"
    assert list(read) == list(tiny_4dir)
    for split in tiny_4dir:
        generated = tiny_4dir[split]
        assert list(read[split].columns) == list(generated.columns)
        pd.testing.assert_frame_equal(read[split], generated)
    sources = read.manifest["noun_count_sources"]
    assert sources == {s: {"given": len(tiny_4dir[s]), "computed": 0, "unknown": 0} for s in read}


def test_an_export_of_another_version_is_kept_and_an_empty_folder_is_taken(
    tiny_4dir, tiny_2dir, tmp_path
):
    target = tmp_path / "export"
    export_dataset(tiny_2dir, "parquet", target, progress=False)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    with pytest.raises(
        ExportError,
        match=rf"out: .*export holds the export of version {tiny_2dir.path.name}, not "
        rf"{tiny_4dir.path.name}; choose a new folder, or delete it first",
    ):
        export_dataset(tiny_4dir, "parquet", target, progress=False)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    check_target(target)  # without a version, any earlier export may be replaced
    empty = tmp_path / "empty"
    empty.mkdir()
    done = export_dataset(tiny_4dir, "jsonl", empty, progress=False)
    assert not done.replaced and (empty / "train.jsonl").is_file()
