"""Checks a dataset against the run about to train on it, before anything is written.

A user's dataset (``data.path``) can hold what storyqa's generator never writes: no training
split, a split with one answer only, rows the model cannot read, stories the training split
shares with a test split. :func:`check_training_data` refuses the first three with one
:class:`~stories.errors.DataFileError` naming file, row and field, and returns warnings for
what only weakens the numbers (a one-class validation split, leakage).

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"story": ["a.", "b."], "question": ["q?", "q?"], "label": [1, 0]})
    >>> one_class(frame.iloc[:1])
    'yes'
    >>> one_class(frame) is None
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from stories.dataset import TRAIN_SPLIT
from stories.errors import DataFileError

if TYPE_CHECKING:
    import pandas as pd

    from stories import StoryDataset
    from trainers.config import Hyperparams

#: The columns that make two rows the same example.
EXAMPLE_KEY: tuple[str, ...] = ("story", "question")


def check_training_data(
    dataset: StoryDataset, valid_split: str, model: Hyperparams, splits: tuple[str, ...]
) -> list[str]:
    """Refuse a dataset the run cannot train on; the warnings for one it can.

    Args:
        dataset: The run's dataset.
        valid_split: The split that picks the best epoch.
        model: The run's model (its settings may limit what it reads).
        splits: The splits the run evaluates.

    Returns:
        Warnings for the console and the run's log.

    Raises:
        DataFileError: No train split, a split (but the validation one) with one answer only,
            or a row the model cannot read, naming the file and row.
    """
    if TRAIN_SPLIT not in dataset.splits:
        raise DataFileError(
            f"{dataset.path}: no {TRAIN_SPLIT} split to train on; it has {list(dataset.splits)}: "
            "add train.jsonl (or .csv, .parquet), one file per split"
        )
    warnings = []
    for split in dict.fromkeys((TRAIN_SPLIT, valid_split, *splits)):
        answer = one_class(dataset.columns(split, ["label"]))
        if answer is None:
            continue
        message = (
            f"{source(dataset, split)}: split {split!r} has only {answer!r} answers "
            f"({dataset.num_rows(split)} rows)"
        )
        if split != valid_split:
            raise DataFileError(
                f"{message}; a yes/no model needs both answers in every split it trains or is "
                "scored on: add rows with the other answer"
            )
        warnings.append(f"{message}: its accuracy picks the best epoch but says little")
    check_input_limits(dataset, model, (TRAIN_SPLIT, valid_split, *splits))
    if dataset.manifest.get("source") == "user":
        warnings += leakage(dataset, valid_split)
    return warnings


def source(dataset: StoryDataset, split: str) -> Path:
    """The file of ``split`` (the dataset's path where splits share one)."""
    files = [Path(name) for name in dataset.manifest.get("files", ())]
    matches = [path for path in files if path.stem == split]
    return matches[0] if len(matches) == 1 else dataset.path


def one_class(frame: pd.DataFrame) -> str | None:
    """``'yes'`` or ``'no'`` when every row of ``frame`` has that answer, else ``None``."""
    labels = set(frame["label"].tolist())
    if len(labels) != 1:
        return None
    return "yes" if labels == {1} else "no"


def check_input_limits(dataset: StoryDataset, model: Hyperparams, splits: tuple[str, ...]) -> None:
    """Refuse the first row the model cannot read (its settings' ``input_problem``), reading
    each split chunk by chunk.

    Raises:
        DataFileError: Naming the file, the row (counted from 1) and the limit.
    """
    from models.settings import ModelSettings
    from stories.vocab import tokenize

    settings = model.settings()
    if settings is None or type(settings).input_problem is ModelSettings.input_problem:
        return  # the network reads any length
    for split in dict.fromkeys(splits):
        chunks = dataset.chunks(split, ["story", "question"])
        pairs = (
            pair for chunk in chunks for pair in zip(chunk["story"], chunk["question"], strict=True)
        )
        for row, (story, question) in enumerate(pairs, 1):
            problem = settings.input_problem(tokenize(story), tokenize(question))
            if problem is not None:
                raise DataFileError(
                    f"{source(dataset, split)}: row {row}: {problem} (model {model.name}); "
                    "raise that setting or shorten the row"
                )


def leakage(dataset: StoryDataset, valid_split: str) -> list[str]:
    """A warning per split (but train) that shares examples (same story and question) with
    the train split: a model scored on them may have learnt them by heart."""
    train = dataset[TRAIN_SPLIT]
    seen = set(zip(*(train[column] for column in EXAMPLE_KEY), strict=True))
    warnings = []
    for split in dataset.splits:
        if split == TRAIN_SPLIT:
            continue
        frame = dataset[split]
        shared = sum(key in seen for key in zip(*(frame[c] for c in EXAMPLE_KEY), strict=True))
        if shared:
            role = "the validation split" if split == valid_split else "a test split"
            warnings.append(
                f"{source(dataset, split)}: {shared} of {len(frame)} rows of {split!r} ("
                f"{role}) are also in train (same story and question): leakage, its "
                "accuracy overstates what the model learnt"
            )
    return warnings
