"""User JSONL: accepted shapes and one clear error naming file, line and field."""

from __future__ import annotations

import json

import pytest

from stories import DataFileError, load_dataset


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


GOOD = {
    "story": "Ava walks north. Ben walks north.",
    "question": "Is Ava going in the same direction as Ben?",
}


def test_single_file_loads_with_normalised_answers_and_defaults(tmp_path):
    rows = [
        json.dumps({**GOOD, "answer": "Yes"}),
        "",
        json.dumps({**GOOD, "answer": False, "category": "mine", "noun_count": 2, "extra": 1}),
        json.dumps({**GOOD, "answer": "1"}),
    ]
    dataset = load_dataset(write_lines(tmp_path / "my_eval.jsonl", rows))
    frame = dataset["my_eval"]
    assert frame["answer"].tolist() == ["yes", "no", "yes"]
    assert frame["label"].tolist() == [1, 0, 1]
    assert frame["category"].tolist() == ["unknown", "mine", "unknown"]
    # The story follows the grammar: its actor count fills in where a row gives none.
    assert frame["noun_count"].tolist() == [2, 2, 2]
    assert dataset.manifest["noun_count_sources"]["my_eval"] == {
        "given": 1, "computed": 2, "unknown": 0
    }  # fmt: skip
    assert dataset.vocab is None  # no train split: the model's vocabulary must be attached


def test_folder_of_user_files_builds_a_vocabulary_from_train(tmp_path):
    write_lines(tmp_path / "train.jsonl", [json.dumps({**GOOD, "answer": "no"})])
    write_lines(
        tmp_path / "test.jsonl", [json.dumps({**GOOD, "story": "Zed walks east.", "answer": "no"})]
    )
    dataset = load_dataset(tmp_path)
    assert set(dataset) == {"train", "test"}
    assert "ava" in dataset.vocab and "zed" not in dataset.vocab
    assert dataset.summary().oov["test"] > 0
    inputs = dataset.encode_lstm("test")
    assert inputs.story_ids.shape[0] == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"story": "x", ', r"bad\.jsonl:2: malformed JSON"),
        ('["story"]', r"bad\.jsonl:2: expected a JSON object"),
        (json.dumps({"story": "x", "question": "y"}), r"bad\.jsonl:2: field 'answer' is missing"),
        (json.dumps({"question": "y", "answer": "no"}), r"bad\.jsonl:2: field 'story' is missing"),
        (
            json.dumps({**GOOD, "answer": "maybe"}),
            r"bad\.jsonl:2: field 'answer' has unknown value 'maybe'",
        ),
        (
            json.dumps({**GOOD, "answer": "no", "noun_count": "five"}),
            r"bad\.jsonl:2: field 'noun_count'",
        ),
        (json.dumps({**GOOD, "story": "", "answer": "no"}), r"bad\.jsonl:2: field 'story' must be"),
        (json.dumps({**GOOD, "answer": "no", "category": 3}), r"bad\.jsonl:2: field 'category'"),
    ],
)
def test_bad_line_names_file_line_and_field(tmp_path, line, message):
    path = write_lines(tmp_path / "bad.jsonl", [json.dumps({**GOOD, "answer": "yes"}), line])
    with pytest.raises(DataFileError, match=message):
        load_dataset(path)


def test_empty_file_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(DataFileError, match="empty"):
        load_dataset(write_lines(tmp_path / "empty.jsonl", ["", "  "]))
    with pytest.raises(DataFileError, match="no such file"):
        load_dataset(tmp_path / "nope.jsonl")
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataFileError, match=r"folder: no split files"):
        load_dataset(tmp_path / "folder")


def test_a_byte_order_mark_is_read_as_utf8(tmp_path):
    path = tmp_path / "windows.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({**GOOD, "answer": "yes"}).encode() + b"\r\n")
    assert load_dataset(path)["windows"]["answer"].tolist() == ["yes"]
