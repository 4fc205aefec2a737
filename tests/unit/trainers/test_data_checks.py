"""The checks a dataset passes before a run trains on it: refusals name file and row,
warnings name the split."""

from __future__ import annotations

import pandas as pd
import pytest

from stories import DataFileError, load_dataset
from trainers.config import Hyperparams
from trainers.runs.data_checks import check_training_data, leakage

LSTM = Hyperparams.of("lstm", hidden=8, embedding_dim=8)


def rows(n: int, answer: str, actor: str = "Ava") -> list[dict[str, str]]:
    """``n`` distinct rows with ``answer``."""
    return [
        {
            "story": f"{actor} walks north. Ben walks {'north' if i % 2 else 'south'}."
            + " Ben turns left." * i,
            "question": f"Is {actor} going in the same direction as Ben?",
            "answer": answer,
        }
        for i in range(n)
    ]


def write(folder, **splits: list[dict[str, str]]):
    folder.mkdir(exist_ok=True)
    for split, split_rows in splits.items():
        pd.DataFrame(split_rows).to_json(folder / f"{split}.jsonl", orient="records", lines=True)
    return load_dataset(folder, cache_root=folder.parent / "cache")


def test_clean_data_passes_without_warnings(tmp_path):
    dataset = write(
        tmp_path / "d",
        train=rows(4, "yes") + rows(4, "no", "Cy"),
        valid=rows(2, "yes", "Dee") + rows(2, "no", "Eve"),
    )
    assert check_training_data(dataset, "valid", LSTM, ("train", "valid")) == []


def test_no_train_split_is_refused(tmp_path):
    dataset = write(tmp_path / "d", valid=rows(2, "yes") + rows(2, "no", "Cy"))
    with pytest.raises(DataFileError, match=r"no train split to train on; it has \['valid'\]"):
        check_training_data(dataset, "valid", LSTM, ("valid",))


def test_a_one_class_train_or_test_split_is_refused_naming_its_file(tmp_path):
    dataset = write(
        tmp_path / "d",
        train=rows(4, "yes") + rows(4, "no", "Cy"),
        valid=rows(2, "yes", "Dee") + rows(2, "no", "Eve"),
        test=rows(3, "no", "Fay"),
    )
    with pytest.raises(DataFileError, match=r"test\.jsonl: split 'test' has only 'no' answers"):
        check_training_data(dataset, "valid", LSTM, ("train", "valid", "test"))


def test_a_one_class_validation_split_is_a_warning(tmp_path):
    dataset = write(
        tmp_path / "d", train=rows(4, "yes") + rows(4, "no", "Cy"), valid=rows(3, "yes", "Dee")
    )
    (warning,) = check_training_data(dataset, "valid", LSTM, ("train", "valid"))
    assert "split 'valid' has only 'yes' answers (3 rows)" in warning


def test_a_row_beyond_the_models_limit_is_refused_naming_file_and_row(tmp_path):
    train = rows(4, "yes") + rows(4, "no", "Cy")
    dataset = write(tmp_path / "d", train=train, valid=rows(2, "yes", "Dee") + rows(2, "no", "Eve"))
    model = Hyperparams.of("entity_memory", max_sentence_tokens=4)
    with pytest.raises(
        DataFileError, match=r"train\.jsonl: row 1: .*more than model\.max_sentence_tokens=4"
    ):
        check_training_data(dataset, "valid", model, ("train", "valid"))
    # The LSTM reads any length: the same data passes.
    assert check_training_data(dataset, "valid", LSTM, ("train", "valid")) == []


def test_rows_shared_with_train_are_reported_per_split(tmp_path):
    train = rows(4, "yes") + rows(4, "no", "Cy")
    dataset = write(
        tmp_path / "d",
        train=train,
        valid=train[:2] + rows(2, "no", "Eve"),
        test=rows(2, "yes", "Fay") + rows(2, "no", "Gus"),
    )
    (warning,) = leakage(dataset, "valid")
    assert "2 of 4 rows of 'valid' (the validation split) are also in train" in warning
