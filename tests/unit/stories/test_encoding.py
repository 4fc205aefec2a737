"""Vocabulary and encodings: reserved ids, masks, no truncation, memory-mapped cache."""

from __future__ import annotations

import numpy as np

from stories import Vocabulary, encode_lstm, encode_transformer, tokenize
from stories.encoding import cache_key
from stories.vocab import CLS_ID, PAD_ID, RESERVED, SEP_ID, UNK_ID


def test_tokenizer_splits_punctuation_and_lowercases():
    assert tokenize("Ava walks north. Is Ben going?") == [
        "ava",
        "walks",
        "north",
        ".",
        "is",
        "ben",
        "going",
        "?",
    ]


def test_vocabulary_comes_from_train_only_with_reserved_ids(tiny_4dir):
    vocab = tiny_4dir.vocab
    assert vocab.tokens[:4] == RESERVED and (PAD_ID, UNK_ID, CLS_ID, SEP_ID) == (0, 1, 2, 3)
    train_tokens = {t for s in tiny_4dir["train"]["story"] for t in tokenize(s)}
    train_tokens |= {t for q in tiny_4dir["train"]["question"] for t in tokenize(q)}
    assert set(vocab.tokens[4:]) == train_tokens
    assert Vocabulary.build(["b a", "a c"]).hash != Vocabulary.build(["b a"]).hash


def test_transformer_input_is_cls_story_sep_question_with_a_real_mask(tiny_4dir):
    frame = tiny_4dir["test"]
    inputs = tiny_4dir.encode_transformer("test")
    vocab = tiny_4dir.vocab
    assert inputs.input_ids.shape[0] == len(frame) == len(inputs)
    longest = max(
        len(tokenize(s)) + len(tokenize(q)) + 2
        for s, q in zip(frame.story, frame.question, strict=True)
    )
    assert inputs.input_ids.shape[1] == longest  # as wide as the longest row: never truncated
    for row in range(len(frame)):
        length = int(inputs.lengths[row])
        ids = np.asarray(inputs.input_ids[row])
        tokens = vocab.decode(ids[:length].tolist())
        assert tokens[0] == "[CLS]"
        assert tokens[1:].index("[SEP]") == len(tokenize(frame.story.iloc[row]))
        assert tokens[-1] == "?"  # the question survives at the end
        assert inputs.attention_mask[row].sum() == length
        assert (ids[length:] == PAD_ID).all() and inputs.key_padding_mask[row, length:].all()
    np.testing.assert_array_equal(inputs.labels, frame["label"].to_numpy())


def test_lstm_inputs_keep_story_and_question_apart(tiny_4dir):
    frame = tiny_4dir["valid_a"]
    inputs = tiny_4dir.encode_lstm("valid_a")
    first_question = tiny_4dir.vocab.decode(np.asarray(inputs.question_ids[0]).tolist())
    assert first_question == tokenize(frame.question.iloc[0])
    assert (inputs.story_mask.sum(axis=1) == inputs.story_lengths).all()
    assert (inputs.question_mask.sum(axis=1) == inputs.question_lengths).all()


def test_encoded_arrays_are_cached_by_vocab_hash_and_memory_mapped(tiny_4dir):
    first = tiny_4dir.encode_transformer("valid_comp")
    cache = tiny_4dir.path / "encoded" / cache_key(tiny_4dir.vocab)
    files = sorted(p.name for p in cache.glob("valid_comp.transformer.*.npy"))
    assert files == [
        "valid_comp.transformer.input_ids.npy",
        "valid_comp.transformer.labels.npy",
        "valid_comp.transformer.lengths.npy",
    ]
    mtimes = {p: p.stat().st_mtime_ns for p in cache.iterdir()}
    second = tiny_4dir.encode_transformer("valid_comp")
    assert isinstance(second.input_ids, np.memmap)
    np.testing.assert_array_equal(first.input_ids, second.input_ids)
    assert {p: p.stat().st_mtime_ns for p in cache.iterdir()} == mtimes


def test_unknown_tokens_map_to_unk_without_a_cache():
    vocab = Vocabulary.build(["Ava walks north."])
    import pandas as pd

    frame = pd.DataFrame({"story": ["Zed walks north."], "question": ["Is Zed?"], "label": [0]})
    lstm = encode_lstm(frame, vocab)
    assert lstm.story_ids[0, 0] == UNK_ID and lstm.story_ids[0, 1] == vocab.id_of("walks")
    assert encode_transformer(frame, vocab).input_ids[0, 0] == CLS_ID


def test_unwritable_cache_falls_back_to_memory_with_a_warning(tmp_path):
    import pandas as pd
    import pytest

    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    vocab = Vocabulary.build(["Ava walks north."])
    frame = pd.DataFrame({"story": ["Ava walks north."], "question": ["Is Ava?"], "label": [1]})
    with pytest.warns(RuntimeWarning, match="not cached"):
        inputs = encode_lstm(frame, vocab, cache_dir=blocker / "sub")
    assert inputs.story_ids.tolist() == [
        [vocab.id_of("ava"), vocab.id_of("walks"), vocab.id_of("north"), 4]
    ]


def test_a_cache_write_that_fails_leaves_no_empty_cache_folder(tmp_path, monkeypatch):
    import pandas as pd
    import pytest

    from stories import encoding

    def full_disk(path, array):
        raise OSError(27, "File too large")

    monkeypatch.setattr(encoding, "_save_atomic", full_disk)
    vocab = Vocabulary.build(["Ava walks north."])
    frame = pd.DataFrame({"story": ["Ava walks north."], "question": ["Is Ava?"], "label": [1]})
    with pytest.warns(RuntimeWarning, match="not cached.*File too large"):
        inputs = encode_lstm(frame, vocab, cache_dir=tmp_path / "encoded" / "hash")
    assert inputs.story_ids.shape == (1, 4)
    assert list(tmp_path.iterdir()) == []


def test_changed_encoding_code_is_a_new_cache_folder(tiny_4dir, monkeypatch):
    import stories.encoding

    before = tiny_4dir._cache_for(tiny_4dir.vocab)
    tiny_4dir.encode_lstm("test")
    assert any(before.glob("test.lstm.*.npy"))
    monkeypatch.setattr(stories.encoding, "code_hash", lambda: "f" * 64)
    after = tiny_4dir._cache_for(tiny_4dir.vocab)
    assert after != before and after.name.endswith("-ffffffff")
    assert not after.exists()  # nothing encoded by the old code is reused
