"""Encode story splits into the arrays each model family consumes.

* LSTM: story ids and question ids separately, each right-padded with ``[PAD]`` (id 0).
* Transformer: ``[CLS] story [SEP] question``, right-padded, with a padding mask.

Nothing is ever truncated: arrays are as wide as the longest example of the split, so the
question (at the end) always survives. Arrays can be cached as ``.npy`` files, in a folder
named by :func:`cache_key` (the vocabulary's hash and the encoding code's), and are then loaded
memory-mapped.

Example:
    >>> import pandas as pd
    >>> from stories.vocab import Vocabulary
    >>> frame = pd.DataFrame({"story": ["Ava walks north.", "Ben walks south. Ben turns around."],
    ...                       "question": ["Is Ava going north?"] * 2, "label": [1, 0]})
    >>> vocab = Vocabulary.build(frame.story.tolist() + frame.question.tolist())
    >>> inputs = encode_transformer(frame, vocab)
    >>> inputs.input_ids.shape, inputs.lengths.tolist()
    ((2, 15), [11, 15])
    >>> bool(inputs.attention_mask[0, 10]), bool(inputs.attention_mask[0, 11])
    (True, False)
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from stories import vocab as vocabulary
from stories.vocab import CLS_ID, PAD_ID, SEP_ID, UNK_ID, Vocabulary

ID_DTYPE: Final = np.int32


@dataclass(frozen=True)
class TransformerInputs:
    """Arrays for the Transformer.

    Attributes:
        input_ids: ``int32 [N, L]``: ``[CLS] story [SEP] question`` then ``[PAD]``.
        lengths: ``int32 [N]``: real (unpadded) length of each row.
        labels: ``int8 [N]``: 1 for yes, 0 for no.
    """

    input_ids: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray

    @property
    def attention_mask(self) -> np.ndarray:
        """``bool [N, L]``: True on real tokens, False on padding."""
        return np.asarray(self.input_ids != PAD_ID)

    @property
    def key_padding_mask(self) -> np.ndarray:
        """``bool [N, L]``: True on padding (PyTorch's ``src_key_padding_mask`` convention)."""
        return np.asarray(self.input_ids == PAD_ID)

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class LSTMInputs:
    """Arrays for the dual-encoder LSTM.

    Attributes:
        story_ids: ``int32 [N, Ls]``, right-padded with ``[PAD]``.
        question_ids: ``int32 [N, Lq]``, right-padded with ``[PAD]``.
        story_lengths: ``int32 [N]``.
        question_lengths: ``int32 [N]``.
        labels: ``int8 [N]``.
    """

    story_ids: np.ndarray
    question_ids: np.ndarray
    story_lengths: np.ndarray
    question_lengths: np.ndarray
    labels: np.ndarray

    @property
    def story_mask(self) -> np.ndarray:
        """``bool [N, Ls]``: True on real story tokens."""
        return np.asarray(self.story_ids != PAD_ID)

    @property
    def question_mask(self) -> np.ndarray:
        """``bool [N, Lq]``: True on real question tokens."""
        return np.asarray(self.question_ids != PAD_ID)

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@functools.cache
def code_hash() -> str:
    """sha256 of the code that turns rows into arrays (this module and the tokenizer's): a
    change to it is a new cache folder, never stale arrays."""
    digest = hashlib.sha256()
    for module in (__file__, vocabulary.__file__):
        digest.update(Path(module).read_bytes())
    return digest.hexdigest()


def cache_key(vocab: Vocabulary) -> str:
    """The folder name of the arrays encoded with ``vocab`` by this code:
    ``<vocab hash[:16]>-<code hash[:8]>``.

    Example:
        >>> key = cache_key(Vocabulary.build(["Ava walks north."]))
        >>> [len(part) for part in key.split("-")]
        [16, 8]
    """
    return f"{vocab.hash[:16]}-{code_hash()[:8]}"


def _pad(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter((len(r) for r in rows), dtype=ID_DTYPE, count=len(rows))
    width = int(lengths.max()) if len(rows) else 0
    ids = np.full((len(rows), width), PAD_ID, dtype=ID_DTYPE)
    if len(rows):
        flat = np.fromiter((t for r in rows for t in r), dtype=ID_DTYPE, count=int(lengths.sum()))
        ids[np.arange(width) < lengths[:, None]] = flat
    return ids, lengths


def _labels(frame: pd.DataFrame) -> np.ndarray:
    return frame["label"].to_numpy(dtype=np.int8)


def _encode_column(texts: Sequence[str], vocab: Vocabulary) -> list[list[int]]:
    # Identical texts (questions repeat a lot) are encoded once.
    cache: dict[str, list[int]] = {}
    encoded = []
    for text in texts:
        ids = cache.get(text)
        if ids is None:
            ids = cache[text] = vocab.encode(text)
        encoded.append(ids)
    return encoded


def _build_transformer(frame: pd.DataFrame, vocab: Vocabulary) -> TransformerInputs:
    stories = _encode_column(frame["story"].tolist(), vocab)
    questions = _encode_column(frame["question"].tolist(), vocab)
    rows = [[CLS_ID, *s, SEP_ID, *q] for s, q in zip(stories, questions, strict=True)]
    ids, lengths = _pad(rows)
    return TransformerInputs(ids, lengths, _labels(frame))


def _build_lstm(frame: pd.DataFrame, vocab: Vocabulary) -> LSTMInputs:
    story_ids, story_lengths = _pad(_encode_column(frame["story"].tolist(), vocab))
    question_ids, question_lengths = _pad(_encode_column(frame["question"].tolist(), vocab))
    return LSTMInputs(story_ids, question_ids, story_lengths, question_lengths, _labels(frame))


def _save_atomic(path: Path, array: np.ndarray) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            np.save(out, np.ascontiguousarray(array))
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _load_cached(
    names: list[str], cache_dir: Path, key: str, family: str, rows: int
) -> dict[str, np.ndarray] | None:
    paths = {name: cache_dir / f"{key}.{family}.{name}.npy" for name in names}
    if not all(p.is_file() for p in paths.values()):
        return None
    arrays = {name: np.load(p, mmap_mode="r", allow_pickle=False) for name, p in paths.items()}
    if any(a.shape[0] != rows for a in arrays.values()):
        return None
    return arrays


def _store_cached(
    arrays: dict[str, np.ndarray], cache_dir: Path, key: str, family: str
) -> dict[str, np.ndarray]:
    """Write ``arrays`` to the cache and return them memory-mapped.

    A cache that cannot be written (read-only data folder, full disk) is not an error: the
    arrays are returned from memory and a warning says why they were not cached.
    """
    created = [cache_dir, *cache_dir.parents]
    created = created[: next(i for i, folder in enumerate(created) if folder.exists())]
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        for name, array in arrays.items():
            _save_atomic(cache_dir / f"{key}.{family}.{name}.npy", array)
    except OSError as error:
        for folder in created:  # the folders made here, innermost first, if left empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        warnings.warn(
            f"encoded arrays not cached in {cache_dir}: {error.strerror or error}",
            RuntimeWarning,
            stacklevel=3,
        )
        return arrays
    return {
        name: np.load(cache_dir / f"{key}.{family}.{name}.npy", mmap_mode="r", allow_pickle=False)
        for name in arrays
    }


def encode_transformer(
    frame: pd.DataFrame, vocab: Vocabulary, *, cache_dir: Path | None = None, key: str = "split"
) -> TransformerInputs:
    """Encode ``frame`` (columns ``story``, ``question``, ``label``) for the Transformer.

    Args:
        frame: The split's rows.
        vocab: Vocabulary built from the training split.
        cache_dir: Folder for ``.npy`` files (callers key it by the vocabulary hash); arrays
            found there are loaded memory-mapped instead of being re-encoded.
        key: File name prefix inside ``cache_dir`` (usually the split name).
    """
    names = [f.name for f in fields(TransformerInputs)]
    if cache_dir is not None and (
        hit := _load_cached(names, cache_dir, key, "transformer", len(frame))
    ):
        return TransformerInputs(**hit)
    built = _build_transformer(frame, vocab)
    if cache_dir is None:
        return built
    return TransformerInputs(**_store_cached(vars(built), cache_dir, key, "transformer"))


def encode_lstm(
    frame: pd.DataFrame, vocab: Vocabulary, *, cache_dir: Path | None = None, key: str = "split"
) -> LSTMInputs:
    """Encode ``frame`` (columns ``story``, ``question``, ``label``) for the LSTM.

    Arguments as in :func:`encode_transformer`.
    """
    names = [f.name for f in fields(LSTMInputs)]
    if cache_dir is not None and (hit := _load_cached(names, cache_dir, key, "lstm", len(frame))):
        return LSTMInputs(**hit)
    built = _build_lstm(frame, vocab)
    if cache_dir is None:
        return built
    return LSTMInputs(**_store_cached(vars(built), cache_dir, key, "lstm"))


def oov_rate(ids: np.ndarray) -> float:
    """Share of real (non-padding) tokens that are ``[UNK]``."""
    real = int(np.count_nonzero(ids != PAD_ID))
    return float(np.count_nonzero(ids == UNK_ID)) / real if real else 0.0
