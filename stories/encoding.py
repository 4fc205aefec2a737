"""Encode story splits into the arrays each model family consumes.

* LSTM: story ids and question ids separately, each right-padded with ``[PAD]`` (id 0).
* Transformer: ``[CLS] story [SEP] question``, right-padded, with a padding mask.

Nothing is ever truncated: arrays are as wide as the longest example of the split, so the
question (at the end) always survives. Arrays can be cached as ``.npy`` files, in a folder
named by :func:`cache_key` (the vocabulary's hash and the encoding code's), and are then loaded
memory-mapped. They are written chunk by chunk of rows (:func:`encode_transformer_chunks`):
encoding a split into the cache holds one chunk's rows, not the split's.

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
import mmap
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

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


#: Array name -> the rows of ids that go into it, unpadded.
Ragged = dict[str, list[list[int]]]
#: A fresh pass over a split's rows, chunk by chunk (columns ``story``, ``question``,
#: ``label``).
ChunkReader = Callable[[], Iterable[pd.DataFrame]]


def _lengths(rows: Sequence[Sequence[int]]) -> np.ndarray:
    return np.fromiter((len(r) for r in rows), dtype=ID_DTYPE, count=len(rows))


def _flat(rows: Sequence[Sequence[int]], lengths: np.ndarray) -> np.ndarray:
    return np.fromiter((t for r in rows for t in r), dtype=ID_DTYPE, count=int(lengths.sum()))


def _pad(flat: np.ndarray, lengths: np.ndarray, width: int) -> np.ndarray:
    """The rows ``flat`` holds end to end (``lengths`` long), right-padded to ``width``."""
    ids = np.full((len(lengths), width), PAD_ID, dtype=ID_DTYPE)
    ids[np.arange(width) < lengths[:, None]] = flat
    return ids


def _width(lengths: np.ndarray) -> int:
    return int(lengths.max()) if len(lengths) else 0


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


def _transformer_rows(frame: pd.DataFrame, vocab: Vocabulary) -> Ragged:
    stories = _encode_column(frame["story"].tolist(), vocab)
    questions = _encode_column(frame["question"].tolist(), vocab)
    return {
        "input_ids": [[CLS_ID, *s, SEP_ID, *q] for s, q in zip(stories, questions, strict=True)]
    }


def _lstm_rows(frame: pd.DataFrame, vocab: Vocabulary) -> Ragged:
    return {
        "story_ids": _encode_column(frame["story"].tolist(), vocab),
        "question_ids": _encode_column(frame["question"].tolist(), vocab),
    }


@dataclass(frozen=True)
class _Family:
    """How one model family's arrays are made: its rows of ids per array, and the name of
    each ids array's lengths."""

    name: str
    rows: Callable[[pd.DataFrame, Vocabulary], Ragged]
    lengths: dict[str, str]

    @property
    def arrays(self) -> list[str]:
        return [*self.lengths, *self.lengths.values(), "labels"]


TRANSFORMER: Final = _Family("transformer", _transformer_rows, {"input_ids": "lengths"})
LSTM: Final = _Family(
    "lstm", _lstm_rows, {"story_ids": "story_lengths", "question_ids": "question_lengths"}
)


def _build(family: _Family, frame: pd.DataFrame, vocab: Vocabulary) -> dict[str, np.ndarray]:
    """The arrays of ``frame``, in memory."""
    arrays = {}
    for name, rows in family.rows(frame, vocab).items():
        lengths = _lengths(rows)
        arrays[name] = _pad(_flat(rows, lengths), lengths, _width(lengths))
        arrays[family.lengths[name]] = lengths
    arrays["labels"] = _labels(frame)
    return arrays


def _whole(chunks: Iterable[pd.DataFrame]) -> pd.DataFrame:
    parts = list(chunks)
    return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def _joined(parts: list[np.ndarray], dtype: type[np.generic]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _cache_file(cache_dir: Path, key: str, family: str, name: str) -> Path:
    return cache_dir / f"{key}.{family}.{name}.npy"


@contextlib.contextmanager
def _atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A binary file that becomes ``path`` only once written in full."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _save_atomic(path: Path, array: np.ndarray) -> None:
    with _atomic_file(path) as out:
        np.save(out, np.ascontiguousarray(array))


def _save_padded(path: Path, scratch: BinaryIO, parts: list[np.ndarray], width: int) -> None:
    """Write as ``.npy`` (the bytes ``np.save`` writes) the rows ``scratch`` holds end to
    end, chunk by chunk (``parts``: each chunk's row lengths), right-padded to ``width``."""
    rows = sum(len(part) for part in parts)
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(ID_DTYPE)), "fortran_order": False}
    scratch.seek(0)
    with _atomic_file(path) as out:
        np.lib.format.write_array_header_1_0(out, {**header, "shape": (rows, width)})
        for lengths in parts:
            data = scratch.read(int(lengths.sum()) * np.dtype(ID_DTYPE).itemsize)
            out.write(_pad(np.frombuffer(data, dtype=ID_DTYPE), lengths, width).data)


def _load_cached(
    names: list[str], cache_dir: Path, key: str, family: str, rows: int
) -> dict[str, np.ndarray] | None:
    paths = {name: _cache_file(cache_dir, key, family, name) for name in names}
    if not all(p.is_file() for p in paths.values()):
        return None
    arrays = {name: np.load(p, mmap_mode="r", allow_pickle=False) for name, p in paths.items()}
    if any(a.shape[0] != rows for a in arrays.values()):
        return None
    return arrays


def _stream_to_cache(
    family: _Family, chunks: Iterable[pd.DataFrame], vocab: Vocabulary, cache_dir: Path, key: str
) -> None:
    """Encode ``chunks`` one at a time into ``cache_dir``: each ids array's rows go unpadded
    to a scratch file, then, once the longest row is known, padded into its ``.npy``."""
    lengths: dict[str, list[np.ndarray]] = {name: [] for name in family.lengths}
    labels = []
    with contextlib.ExitStack() as stack:
        scratch = {
            name: stack.enter_context(tempfile.TemporaryFile(dir=cache_dir))
            for name in family.lengths
        }
        for chunk in chunks:
            for name, rows in family.rows(chunk, vocab).items():
                lengths[name].append(_lengths(rows))
                scratch[name].write(_flat(rows, lengths[name][-1]).data)
            labels.append(_labels(chunk))
        for name, parts in lengths.items():
            joined = _joined(parts, ID_DTYPE)
            path = _cache_file(cache_dir, key, family.name, name)
            _save_padded(path, scratch[name], parts, _width(joined))
            _save_atomic(_cache_file(cache_dir, key, family.name, family.lengths[name]), joined)
    _save_atomic(_cache_file(cache_dir, key, family.name, "labels"), _joined(labels, np.int8))


def _encode(
    family: _Family, read: ChunkReader, rows: int, vocab: Vocabulary, cache_dir: Path, key: str
) -> dict[str, np.ndarray]:
    """The arrays of ``rows`` rows memory-mapped from the cache, encoded into it first when
    missing, one chunk at a time.

    A cache that cannot be written (read-only data folder, full disk) is not an error: the
    arrays are returned from memory and a warning says why they were not cached.
    """
    if hit := _load_cached(family.arrays, cache_dir, key, family.name, rows):
        return hit
    created = [cache_dir, *cache_dir.parents]
    created = created[: next(i for i, folder in enumerate(created) if folder.exists())]
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        _stream_to_cache(family, read(), vocab, cache_dir, key)
    except OSError as error:
        with contextlib.suppress(OSError):
            for name in family.arrays:  # what was written before the failure
                _cache_file(cache_dir, key, family.name, name).unlink(missing_ok=True)
        for folder in created:  # the folders made here, innermost first, if left empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        warnings.warn(
            f"encoded arrays not cached in {cache_dir}: {error.strerror or error}",
            RuntimeWarning,
            stacklevel=4,
        )
        return _build(family, _whole(read()), vocab)
    return {
        name: np.load(
            _cache_file(cache_dir, key, family.name, name), mmap_mode="r", allow_pickle=False
        )
        for name in family.arrays
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
    if cache_dir is None:
        return TransformerInputs(**_build(TRANSFORMER, frame, vocab))
    return encode_transformer_chunks(
        lambda: [frame], len(frame), vocab, cache_dir=cache_dir, key=key
    )


def encode_lstm(
    frame: pd.DataFrame, vocab: Vocabulary, *, cache_dir: Path | None = None, key: str = "split"
) -> LSTMInputs:
    """Encode ``frame`` (columns ``story``, ``question``, ``label``) for the LSTM.

    Arguments as in :func:`encode_transformer`.
    """
    if cache_dir is None:
        return LSTMInputs(**_build(LSTM, frame, vocab))
    return encode_lstm_chunks(lambda: [frame], len(frame), vocab, cache_dir=cache_dir, key=key)


def encode_transformer_chunks(
    read: ChunkReader, rows: int, vocab: Vocabulary, *, cache_dir: Path, key: str = "split"
) -> TransformerInputs:
    """:func:`encode_transformer` of a split read chunk by chunk: only one chunk's rows are
    in memory while the arrays are written to ``cache_dir``, byte for byte as from the whole
    frame.

    Args:
        read: Starts a pass over the split's chunks (called again only when the cache cannot
            be written, to encode in memory).
        rows: The split's row count (a cached array with another is encoded again).
        vocab, cache_dir, key: As in :func:`encode_transformer`.
    """
    return TransformerInputs(**_encode(TRANSFORMER, read, rows, vocab, cache_dir, key))


def encode_lstm_chunks(
    read: ChunkReader, rows: int, vocab: Vocabulary, *, cache_dir: Path, key: str = "split"
) -> LSTMInputs:
    """:func:`encode_lstm` of a split read chunk by chunk (see
    :func:`encode_transformer_chunks`)."""
    return LSTMInputs(**_encode(LSTM, read, rows, vocab, cache_dir, key))


#: Rows of an array read at a time by :func:`oov_rate`.
BLOCK_ROWS: Final = 16_384


def _row_blocks(ids: np.ndarray) -> Iterator[np.ndarray]:
    """``ids`` ``BLOCK_ROWS`` rows at a time; an array memory-mapped whole from a ``.npy``
    file (as the cache returns it) is read through the file, so its pages are not kept
    mapped into this process."""
    if not (isinstance(ids, np.memmap) and isinstance(ids.base, mmap.mmap)):
        yield from (ids[start : start + BLOCK_ROWS] for start in range(0, len(ids), BLOCK_ROWS))
        return
    row_bytes = ids.dtype.itemsize * int(np.prod(ids.shape[1:]))
    with open(str(ids.filename), "rb") as handle:
        handle.seek(ids.offset)
        for start in range(0, len(ids), BLOCK_ROWS):
            rows = min(BLOCK_ROWS, len(ids) - start)
            block = np.frombuffer(handle.read(rows * row_bytes), dtype=ids.dtype)
            yield block.reshape(rows, *ids.shape[1:])


def oov_rate(ids: np.ndarray) -> float:
    """Share of real (non-padding) tokens that are ``[UNK]`` (counted block by block).

    Example:
        >>> oov_rate(np.array([[5, UNK_ID, PAD_ID], [6, 7, 8]], dtype=ID_DTYPE))
        0.2
    """
    real = unknown = 0
    for block in _row_blocks(ids):
        real += int(np.count_nonzero(block != PAD_ID))
        unknown += int(np.count_nonzero(block == UNK_ID))
    return unknown / real if real else 0.0
