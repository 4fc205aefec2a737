"""Direction-following stories: generator, dataset versions, vocabulary and encoding.

Example::

    from stories import build_dataset, load_dataset
    ds = build_dataset("all_4dir", size="tiny", seed=0)
    print(ds.summary())
"""

from stories.config import CATEGORIES, PRESETS, SIZES, SPLITS, DatasetConfig
from stories.dataset import StoryDataset, build_dataset, load_dataset, open_dataset, version_of
from stories.encoding import LSTMInputs, TransformerInputs, encode_lstm, encode_transformer
from stories.errors import (
    DataFileError,
    DatasetConfigError,
    DatasetIntegrityError,
    OutputDirError,
    StoriesError,
)
from stories.vocab import UnknownWords, Vocabulary, tokenize, unknown_words

__all__ = [
    "CATEGORIES",
    "PRESETS",
    "SIZES",
    "SPLITS",
    "DataFileError",
    "DatasetConfig",
    "DatasetConfigError",
    "DatasetIntegrityError",
    "LSTMInputs",
    "OutputDirError",
    "StoriesError",
    "StoryDataset",
    "TransformerInputs",
    "UnknownWords",
    "Vocabulary",
    "build_dataset",
    "encode_lstm",
    "encode_transformer",
    "load_dataset",
    "open_dataset",
    "tokenize",
    "unknown_words",
    "version_of",
]
