"""Loading a generated version reads no split frame until asked; its metadata, row counts,
encoded arrays and summary come from the split files chunk by chunk, equal to the frames'."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pandas as pd
import pytest

from stories import load_dataset
from stories import splitfile as splitfile_module
from stories.config import SPLITS
from stories.dataset import ENCODED_COLUMNS, METADATA_COLUMNS, SMALL_COLUMNS
from stories.encoding import (
    LSTM,
    TRANSFORMER,
    _build,
    encode_lstm_chunks,
    encode_transformer_chunks,
    oov_rate,
)
from stories.splitfile import CHUNK_ROWS, SplitFile
from stories.vocab import Vocabulary


@pytest.fixture
def fresh(tiny_4dir, tmp_path, monkeypatch):
    """A copy of the tiny version (no encoded arrays yet), loaded anew, and the list of the
    split files whose frame was read since."""
    folder = tmp_path / tiny_4dir.path.name
    shutil.copytree(tiny_4dir.path, folder, ignore=shutil.ignore_patterns("encoded"))
    reads: list[str] = []
    real = splitfile_module.read_records

    def counting(path):
        reads.append(path.stem)
        return real(path)

    monkeypatch.setattr(splitfile_module, "read_records", counting)
    return load_dataset(folder), reads


def test_loading_reads_no_split_frame_until_one_is_asked_for(fresh):
    dataset, reads = fresh
    assert list(dataset) == list(SPLITS) and reads == []
    for split in SPLITS:
        dataset.metadata(split)
        dataset.num_rows(split)
        dataset.encode_transformer(split)
    dataset.summary()  # counts, balance and the LSTM arrays of every split
    assert reads == []
    assert len(dataset["test"]) == len(dataset["test"]) == dataset.num_rows("test")
    assert reads == ["test"]  # read once, then kept


def test_columns_and_row_counts_match_the_frames(fresh, tiny_4dir):
    dataset, _ = fresh
    for split in SPLITS:
        frame = tiny_4dir[split]
        assert dataset.num_rows(split) == len(frame)
        pd.testing.assert_frame_equal(dataset.metadata(split), frame[list(METADATA_COLUMNS)])
        pd.testing.assert_frame_equal(dataset.columns(split, ["label"]), frame[["label"]])
    assert dataset.metadata("train").dtypes.astype(str).tolist() == ["str", "int64"]


def test_the_small_columns_are_read_in_one_pass_and_kept(fresh, monkeypatch):
    dataset, _ = fresh
    passes = []
    real = SplitFile.chunks

    def counting(self, columns, size=CHUNK_ROWS):
        passes.append((self.path.stem, tuple(columns)))
        return real(self, columns, size)

    monkeypatch.setattr(SplitFile, "chunks", counting)
    assert dataset.columns("train", ["label"]).columns.tolist() == ["label"]
    dataset.metadata("train")
    dataset.columns("train", ["noun_count", "label"])
    assert passes == [("train", SMALL_COLUMNS)]
    dataset.columns("train", ["id"])
    assert passes[1:] == [("train", ("id",))]


def test_chunks_cover_the_rows_in_order(tiny_4dir):
    split = SplitFile(tiny_4dir.path / "valid_a.jsonl", len(tiny_4dir["valid_a"]))
    chunks = list(split.chunks(["id", "noun_count"], size=7))
    assert {len(chunk) for chunk in chunks[:-1]} == {7} and 0 < len(chunks[-1]) <= 7
    together = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(together, tiny_4dir["valid_a"][["id", "noun_count"]])
    with pytest.raises(ValueError, match="positive number of rows"):
        next(split.chunks(["id"], size=0))


def _npy_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, np.ascontiguousarray(array))
    return out.getvalue()


@pytest.mark.parametrize(("family", "encode"), [(TRANSFORMER, encode_transformer_chunks),
                                                 (LSTM, encode_lstm_chunks)])  # fmt: skip
def test_chunked_encoding_writes_the_bytes_of_the_whole_frame(tiny_4dir, tmp_path, family, encode):
    split = SplitFile(tiny_4dir.path / "test.jsonl", len(tiny_4dir["test"]))
    inputs = encode(
        lambda: split.chunks(ENCODED_COLUMNS, size=7),
        split.rows,
        tiny_4dir.vocab,
        cache_dir=tmp_path,
        key="test",
    )
    whole = _build(family, tiny_4dir["test"], tiny_4dir.vocab)
    assert sorted(whole) == sorted(vars(inputs)) == sorted(family.arrays)
    for name, array in whole.items():
        assert isinstance(getattr(inputs, name), np.memmap)
        written = (tmp_path / f"test.{family.name}.{name}.npy").read_bytes()
        assert written == _npy_bytes(array), name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"test.{family.name}.{name}.npy" for name in family.arrays
    )  # no scratch file left


def test_chunked_encoding_of_an_empty_split(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    split = SplitFile(path, 0)
    vocab = Vocabulary.build(["Ava walks north."])
    inputs = encode_transformer_chunks(
        lambda: split.chunks(ENCODED_COLUMNS), 0, vocab, cache_dir=tmp_path / "cache"
    )
    assert inputs.input_ids.shape == (0, 0) and len(inputs) == 0
    empty = _build(TRANSFORMER, split.columns(ENCODED_COLUMNS), vocab)
    for name, array in empty.items():
        assert (tmp_path / "cache" / f"split.transformer.{name}.npy").read_bytes() == _npy_bytes(
            array
        )


def test_oov_rate_of_a_memory_mapped_array_equals_it_in_memory(tiny_4dir):
    small = Vocabulary.build(tiny_4dir["train"]["story"].head(3).tolist())
    ids = tiny_4dir.with_vocab(small).encode_lstm("valid_comp").story_ids
    assert isinstance(ids, np.memmap)
    rate = oov_rate(ids)
    assert 0 < rate < 1 and rate == oov_rate(np.array(ids))
    assert oov_rate(ids[5:]) == oov_rate(np.array(ids[5:]))  # a slice: read from memory


def test_a_dataset_of_frames_in_memory_reads_them(tiny_4dir):
    from stories import StoryDataset

    frame = tiny_4dir["valid_a"].head(5)
    dataset = StoryDataset("rows", tiny_4dir.path, {"rows": frame}, {"hash": ""}, None)
    assert dataset.num_rows("rows") == 5 and dataset["rows"] is frame
    pd.testing.assert_frame_equal(dataset.metadata("rows"), frame[list(METADATA_COLUMNS)])
    with pytest.raises(KeyError, match="no split 'train'"):
        dataset.metadata("train")
