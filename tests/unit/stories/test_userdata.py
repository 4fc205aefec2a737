"""A user's dataset folder: every format reads to the same rows, noun counts are given,
computed or unknown, the version follows the files, and bad folders get one clear error."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from stories import DataFileError, load_dataset
from stories.config import DatasetConfig
from stories.dataset import open_dataset, split_names, version_of
from tests.data_files import COLUMNS, SPLITS, write_hf, write_splits


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet", "hf"])
def test_every_format_reads_to_the_generated_rows(tiny_4dir, tmp_path, suffix):
    folder = tmp_path / "mine"
    if suffix == "hf":
        write_hf(tiny_4dir, folder)
    else:
        write_splits(tiny_4dir, folder, suffix)
    dataset = load_dataset(folder, cache_root=tmp_path / "cache")
    assert tuple(dataset) == SPLITS
    for split in SPLITS:
        expected = tiny_4dir[split][[*COLUMNS, "label"]].reset_index(drop=True)
        pd.testing.assert_frame_equal(dataset[split][[*COLUMNS, "label"]], expected)
        assert dataset.manifest["noun_count_sources"][split] == {
            "given": len(expected), "computed": 0, "unknown": 0
        }  # fmt: skip
    assert dataset.manifest["source"] == "user"
    assert dataset.name == "mine"
    assert dataset.cache_dir.parent == tmp_path / "cache"
    assert dataset.cache_dir.name.startswith("mine-")


def test_missing_noun_counts_are_computed_from_the_story_or_left_unknown(tiny_4dir, tmp_path):
    folder = write_splits(tiny_4dir, tmp_path / "mine", ".csv", ["story", "question", "answer"])
    odd = pd.DataFrame(
        [{"story": "The cat sat on the mat.", "question": "Is it?", "answer": "no"}] * 2
    )
    odd.to_csv(folder / "odd.csv", index=False)
    dataset = load_dataset(folder)
    for split in SPLITS:
        assert dataset[split]["noun_count"].tolist() == tiny_4dir[split]["noun_count"].tolist()
        assert dataset[split]["category"].eq("unknown").all()
    assert dataset["odd"]["noun_count"].tolist() == [0, 0]
    sources = dataset.manifest["noun_count_sources"]
    assert sources["train"] == {"given": 0, "computed": len(tiny_4dir["train"]), "unknown": 0}
    assert sources["odd"] == {"given": 0, "computed": 0, "unknown": 2}
    text = dataset.summary().format()
    assert "odd: noun_count given 0, computed from the story 0, unknown 2" in text


def test_a_changed_file_is_a_new_version_and_a_new_cache(tiny_4dir, tmp_path):
    folder = write_splits(tiny_4dir, tmp_path / "mine", ".jsonl")
    config = DatasetConfig.preset("all_4dir", size="tiny").replace(path=str(folder))
    first = open_dataset(config, output_dir=tmp_path / "out", progress=False)
    assert version_of(config) == first.manifest["version"]
    first.encode_lstm("test")
    assert any(first.cache_dir.iterdir())

    frame = tiny_4dir["test"][COLUMNS].iloc[:5]
    frame.to_json(folder / "test.jsonl", orient="records", lines=True)
    second = open_dataset(config, output_dir=tmp_path / "out", progress=False)
    assert second.manifest["version"] != first.manifest["version"]
    assert version_of(config) == second.manifest["version"]
    assert second.cache_dir != first.cache_dir
    assert second.encode_lstm("test").story_ids.shape[0] == 5


def test_split_names_come_from_the_files_in_storyqas_order(tiny_4dir, tmp_path):
    folder = write_splits(tiny_4dir, tmp_path / "mine", ".parquet")
    tiny_4dir["test"][COLUMNS].to_parquet(folder / "hard.parquet", index=False)
    config = DatasetConfig.preset("all_4dir", size="tiny").replace(path=str(folder))
    assert split_names(config) == ("train", "valid_a", "test", "hard")


def test_a_hugging_face_single_dataset_is_refused(tiny_4dir, tmp_path):
    import datasets

    frame = tiny_4dir["test"][COLUMNS]
    datasets.Dataset.from_pandas(frame, preserve_index=False).save_to_disk(str(tmp_path / "one"))
    with pytest.raises(DataFileError, match="holds one Hugging Face Dataset, not a DatasetDict"):
        load_dataset(tmp_path / "one")
    # A DatasetDict's marker file over a single Dataset: read, then refused the same way.
    (tmp_path / "one" / "dataset_dict.json").write_text(json.dumps({"splits": ["test"]}))
    with pytest.raises(DataFileError, match="holds one Hugging Face Dataset, not a DatasetDict"):
        load_dataset(tmp_path / "one")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"train.jsonl": "GOOD", "test.csv": "GOOD_CSV"}, r"mixed formats \(CSV and JSONL"),
        ({"notes.txt": "hello"}, r"no split files"),
        ({"train.csv": "story,question,answer\n"}, r"train\.csv: the split is empty"),
        ({"train.parquet": "not parquet"}, r"train\.parquet: cannot be read as Parquet"),
        (
            {"train.csv": "story,question,answer\nAva walks north.,Is it?,maybe\n"},
            r"train\.csv: row 1: .*answer",
        ),
    ],
)
def test_bad_folders_get_one_clear_error(tmp_path, files, message):
    good = {"story": "Ava walks north.", "question": "Is Ava going north?", "answer": "yes"}
    contents = {
        "GOOD": json.dumps(good) + "\n",
        "GOOD_CSV": "story,question,answer\nAva walks north.,Is Ava going north?,yes\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(contents.get(text, text))
    with pytest.raises(DataFileError, match=message):
        load_dataset(tmp_path)
