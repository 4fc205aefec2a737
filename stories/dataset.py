"""The dataset object and the two entry points, :func:`build_dataset` and :func:`load_dataset`.

Example::

    ds = build_dataset("all_4dir", size="tiny", seed=0)
    ds["train"].head()                   # a pandas DataFrame, read on first access
    ds.metadata("train")                 # category and noun_count only, without the text
    inputs = ds.encode_transformer("test")  # memory-mapped, cached .npy

A generated version's split frames are read only when asked for (``ds[split]``): its
metadata, row counts and encoded arrays come from the split files chunk by chunk, so what a
training run holds does not grow with the stories' text (see :mod:`stories.splitfile`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pandas as pd

from stories.build import (
    DATASETS_DIR,
    MANIFEST,
    VOCAB,
    build_version,
    read_manifest,
    verify_files,
)
from stories.config import SPLITS, DatasetConfig
from stories.encoding import (
    LSTMInputs,
    TransformerInputs,
    cache_key,
    encode_lstm,
    encode_lstm_chunks,
    encode_transformer,
    encode_transformer_chunks,
)
from stories.errors import DataFileError
from stories.splitfile import SplitFile, SplitFrames, split_frame
from stories.vocab import Vocabulary

#: Columns every split frame has (user files may add more).
METADATA_COLUMNS: Final[tuple[str, ...]] = ("category", "noun_count")
#: The columns without text, read from a split file together and then kept (about 30 bytes
#: of memory a row): what the metadata, the checks and the summary read.
SMALL_COLUMNS: Final[tuple[str, ...]] = ("label", *METADATA_COLUMNS)
#: Columns the encoded arrays are made from.
ENCODED_COLUMNS: Final[tuple[str, ...]] = ("story", "question", "label")
ENCODED_DIR: Final = "encoded"
TRAIN_SPLIT: Final = "train"
#: The split that picks the best epoch when ``data.valid_split`` does not name one, in order.
VALIDATION_SPLITS: Final[tuple[str, ...]] = ("valid_a", "valid")
USER_CACHE_DIR: Final = ".storyqa-cache"
#: Under ``<output_dir>/datasets/``: the encoded arrays of users' datasets, per version.
USER_DATASETS_DIR: Final = "user"


@dataclass
class StoryDataset:
    """Splits of one dataset, its manifest and its vocabulary.

    Attributes:
        name: Dataset name (the version folder name for generated datasets).
        path: Dataset folder, or the user's JSONL file.
        splits: Split name -> DataFrame with at least ``story``, ``question``, ``answer``,
            ``label``, ``category``, ``noun_count``: a :class:`~stories.splitfile.SplitFrames`
            that reads each on first access (a plain mapping of frames is taken as loaded).
        manifest: ``manifest.json`` of a generated dataset; a small description for user data.
        vocab: Vocabulary of the ``train`` split (``None`` for user data without one until a
            model's vocabulary is attached with :meth:`with_vocab`).
        cache_dir: Where encoded arrays are cached (``None``: not cached).
        files: The split files of a generated version, which :meth:`columns`,
            :meth:`chunks`, :meth:`num_rows` and the encoders read instead of a split's frame
            while it is not loaded (empty for user data, held in memory).
    """

    name: str
    path: Path
    splits: Mapping[str, pd.DataFrame]
    manifest: dict[str, Any]
    vocab: Vocabulary | None
    cache_dir: Path | None = field(default=None, repr=False)
    files: Mapping[str, SplitFile] = field(default_factory=dict, repr=False)
    _small: dict[str, pd.DataFrame] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.splits, SplitFrames):
            self.splits = SplitFrames.of(self.splits)

    def __getitem__(self, split: str) -> pd.DataFrame:
        self._check_split(split)
        return self.splits[split]

    def _check_split(self, split: str) -> None:
        if split not in self.splits:
            raise KeyError(
                f"dataset {self.name} has no split {split!r}; it has {list(self.splits)}"
            )

    def _file(self, split: str) -> SplitFile | None:
        """The file to read ``split`` from in chunks: ``None`` once its frame is loaded (or
        for user data)."""
        self._check_split(split)
        lazy = isinstance(self.splits, SplitFrames) and self.splits.loaded(split) is None
        return self.files.get(split) if lazy else None

    def __iter__(self) -> Iterator[str]:
        return iter(self.splits)

    def __len__(self) -> int:
        return len(self.splits)

    @property
    def hash(self) -> str:
        """Content hash of the dataset (the manifest's, or of the user files)."""
        return str(self.manifest["hash"])

    def num_rows(self, split: str) -> int:
        """The row count of ``split`` (a generated split's from the manifest: nothing read)."""
        file = self._file(split)
        return file.rows if file is not None else len(self[split])

    def columns(self, split: str, names: Sequence[str]) -> pd.DataFrame:
        """The columns ``names`` of ``split``, as ``self[split][list(names)]`` gives them; a
        generated split whose frame is not loaded is read chunk by chunk, keeping only them
        (and, for any of :data:`SMALL_COLUMNS`, all of those, kept for the next call).

        Raises:
            KeyError: No such split, or no such column.
        """
        file = self._file(split)
        if file is None:
            return self[split][list(names)]
        if not set(names) <= set(SMALL_COLUMNS):
            return file.columns(names)
        if split not in self._small:
            self._small[split] = file.columns(SMALL_COLUMNS)
        return self._small[split][list(names)]

    def chunks(self, split: str, names: Sequence[str]) -> Iterator[pd.DataFrame]:
        """The rows of ``split`` in order, with the columns ``names``, a chunk at a time
        (:data:`stories.splitfile.CHUNK_ROWS` rows; one chunk when the frame is loaded)."""
        file = self._file(split)
        if file is None:
            yield self[split][list(names)]
        else:
            yield from file.chunks(names)

    def metadata(self, split: str) -> pd.DataFrame:
        """The metadata columns of ``split`` (what the metrics break down by), without its
        text."""
        return self.columns(split, METADATA_COLUMNS)

    def validation_split(self, requested: str | None = None) -> str:
        """The split that picks the best epoch: ``requested``, else ``valid_a``, else
        ``valid``.

        Raises:
            DataFileError: ``requested`` is not a split, or neither default is.
        """
        if requested is not None:
            if requested not in self.splits or requested == TRAIN_SPLIT:
                raise DataFileError(
                    f"data.valid_split: {requested!r} is not a validation split of {self.path}; "
                    f"it has {list(self.splits)}"
                )
            return requested
        for split in VALIDATION_SPLITS:
            if split in self.splits:
                return split
        raise DataFileError(
            f"{self.path}: no validation split ({' or '.join(VALIDATION_SPLITS)}) to pick the "
            f"best epoch; it has {list(self.splits)}: add valid.jsonl (or .csv, .parquet) or "
            "name one with data.valid_split=<split>"
        )

    def with_vocab(self, vocab: Vocabulary) -> StoryDataset:
        """The same splits encoded with another vocabulary (e.g. a trained model's)."""
        return StoryDataset(
            self.name, self.path, self.splits, self.manifest, vocab, self.cache_dir, self.files
        )

    def _require_vocab(self) -> Vocabulary:
        if self.vocab is None:
            raise ValueError(
                f"dataset {self.name} has no train split to build a vocabulary from; "
                "attach the model's vocabulary with dataset.with_vocab(vocab)"
            )
        return self.vocab

    def _cache_for(self, vocab: Vocabulary) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / cache_key(vocab)

    def encode_transformer(self, split: str) -> TransformerInputs:
        """Transformer arrays of ``split`` (cached as memory-mapped ``.npy``, encoded chunk
        by chunk)."""
        vocab = self._require_vocab()
        cache = self._cache_for(vocab)
        if cache is None:
            return encode_transformer(self[split], vocab)
        return encode_transformer_chunks(
            lambda: self.chunks(split, ENCODED_COLUMNS),
            self.num_rows(split),
            vocab,
            cache_dir=cache,
            key=split,
        )

    def encode_lstm(self, split: str) -> LSTMInputs:
        """LSTM arrays of ``split`` (cached as memory-mapped ``.npy``, encoded chunk by
        chunk)."""
        vocab = self._require_vocab()
        cache = self._cache_for(vocab)
        if cache is None:
            return encode_lstm(self[split], vocab)
        return encode_lstm_chunks(
            lambda: self.chunks(split, ENCODED_COLUMNS),
            self.num_rows(split),
            vocab,
            cache_dir=cache,
            key=split,
        )

    def summary(self) -> Any:
        """A :class:`stories.summary.DatasetSummary` (printable)."""
        from stories.summary import summarize

        return summarize(self)


def build_dataset(
    config: DatasetConfig | Mapping[str, Any] | str = "all_4dir",
    *,
    size: str | None = None,
    seed: int = 0,
    output_dir: str | Path = "models_out",
    progress: bool = True,
) -> StoryDataset:
    """Generate a dataset version (or reuse the cached one) and load it.

    Args:
        config: A :class:`DatasetConfig`, a mapping of its fields, or a preset name.
        size: Size override (``tiny``, ``default``, ``paper``, ``large``).
        seed: Generator seed; a different seed gives a different version.
        output_dir: Output root; the version goes to ``<output_dir>/datasets/``.
        progress: Show a progress bar while generating.

    Raises:
        stories.errors.StoriesError: On an invalid config, an unwritable output directory
            or a cached version that no longer matches its manifest.
    """
    if isinstance(config, str):
        resolved = DatasetConfig.preset(config, size=size or "default")
    elif isinstance(config, DatasetConfig):
        resolved = config.replace(size=size) if size else config.replace()
    else:
        resolved = DatasetConfig.from_mapping({**config, **({"size": size} if size else {})})
    folder, _ = build_version(resolved, seed, Path(output_dir), progress=progress)
    return _load_generated(folder, verified=True)


def _load_generated(folder: Path, verified: bool = False) -> StoryDataset:
    """The version in ``folder``; no split's rows are read until asked for."""
    manifest = read_manifest(folder)
    if not verified:
        verify_files(folder, manifest)
    files = {
        split: SplitFile(folder / f"{split}.jsonl", int(manifest["totals"][split]))
        for split in SPLITS
    }
    splits = SplitFrames({split: file.frame for split, file in files.items()})
    vocab = Vocabulary.load(folder / VOCAB)
    return StoryDataset(folder.name, folder, splits, manifest, vocab, folder / ENCODED_DIR, files)


def open_dataset(
    config: DatasetConfig,
    *,
    seed: int = 0,
    output_dir: str | Path = "models_out",
    progress: bool = True,
) -> StoryDataset:
    """The dataset ``config`` names: the user's folder when ``config.path`` is set (its
    encoded arrays cached under ``<output_dir>/datasets/user/``), else the generated version
    (built when missing, see :func:`build_dataset`).

    Raises:
        stories.errors.StoriesError: As :func:`build_dataset` or :func:`load_dataset`.
    """
    if config.path is None:
        return build_dataset(config, seed=seed, output_dir=output_dir, progress=progress)
    from stories.userdata import user_split_names

    path = Path(config.path).expanduser()
    user_split_names(path)  # a folder with split files, else one clear error
    return load_dataset(path, cache_root=Path(output_dir) / DATASETS_DIR / USER_DATASETS_DIR)


def split_names(config: DatasetConfig) -> tuple[str, ...]:
    """The splits of the dataset ``config`` names, in order: :data:`SPLITS`, or a user
    folder's (from its file names, no row read).

    Raises:
        DataFileError: A user folder that is missing or holds no split files.
    """
    from stories.userdata import user_split_names

    return SPLITS if config.path is None else user_split_names(Path(config.path).expanduser())


def version_of(config: DatasetConfig, seed: int = 0) -> str:
    """The version ``config`` names (a user folder's from its files' hash), without building
    or reading it.

    Raises:
        stories.errors.StoriesError: A user folder that is missing or holds no split files.
    """
    from stories.build import dataset_version
    from stories.userdata import user_version

    if config.path is None:
        return dataset_version(config, seed)
    return user_version(Path(config.path).expanduser())


def load_dataset(path: str | Path, *, cache_root: str | Path | None = None) -> StoryDataset:
    """Load a generated dataset folder, a user's dataset folder or one user split file.

    * A folder with ``manifest.json`` is a generated version: its files are checked against
      the manifest's sha256 first, and each split's frame is read on first access.
    * A folder without one holds a user's splits: one ``<split>.jsonl``, ``.csv`` or
      ``.parquet`` file each (one format per folder), or a Hugging Face ``DatasetDict`` saved
      with ``save_to_disk`` (see :mod:`stories.userdata`).
    * A ``.jsonl``, ``.csv`` or ``.parquet`` file: one split named after the file stem.

    User rows are validated row by row (see :func:`stories.jsonl.validate_row`); their version
    is ``<name>-<hash8>``, the hash covering the files' names and bytes. The vocabulary comes
    from a ``train`` split when there is one.

    Args:
        path: The folder or file.
        cache_root: Where a user dataset's encoded arrays are cached, in a folder named after
            its version; default ``.storyqa-cache/`` beside the data (a changed file has a new
            hash, hence a new version and a new cache).

    Raises:
        DataFileError: A missing path, a folder without split files, mixed formats, an
            unreadable file or an invalid row (naming file, row and field).
        DatasetIntegrityError: A generated folder that does not match its manifest.
    """
    from stories.userdata import manifest_for, ordered, read_user_file, read_user_splits

    path = Path(path)
    if path.is_dir() and (path / MANIFEST).exists():
        return _load_generated(path)
    if path.is_dir():
        user, name = read_user_splits(path), path.resolve().name
        default_cache = path / USER_CACHE_DIR
    elif path.is_file():
        user, name = read_user_file(path), path.stem
        default_cache = path.parent / USER_CACHE_DIR / path.stem
    else:
        raise DataFileError(
            f"{path}: no such file or folder; give a dataset folder or a split file"
        )
    frames = {split: split_frame(user.records[split]) for split in ordered(list(user.records))}
    manifest = manifest_for(name, path, user)
    vocab = None
    if "train" in frames:
        train = frames["train"]
        vocab = Vocabulary.build([*train["story"], *train["question"]])
    root = Path(cache_root) if cache_root is not None else default_cache
    splits = SplitFrames.of(frames)
    return StoryDataset(name, path, splits, manifest, vocab, root / manifest["version"])
