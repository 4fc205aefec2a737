"""Which encoded inputs a trained model reads, as its trainer decides: one ``input_ids`` array
(``[CLS] story [SEP] question``, the ``transformer`` encoding) or the ``story`` and
``question`` arrays (the ``lstm`` encoding). Shared by prediction, export and serving.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from stories import StoryDataset
    from trainers.base import ModelTrainer


def input_encoding(trainer: ModelTrainer, model: Any) -> str:
    """``transformer`` or ``lstm``: the encoding ``trainer`` feeds ``model``."""
    chooser: Callable[..., str] | None = getattr(trainer, "input_encoding", None)
    if chooser is not None:
        return str(chooser(model))
    return "lstm" if trainer.FRAMEWORK == "keras" else "transformer"


def encode_for(trainer: ModelTrainer, dataset: StoryDataset, split: str, model: Any) -> Any:
    """``trainer.encode`` of ``split`` for ``model`` (the encoding it reads)."""
    try:
        return trainer.encode(dataset, split, model)
    except TypeError:  # a trainer whose encode takes no model: one encoding per framework
        return trainer.encode(dataset, split)


def input_arrays(data: Any) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The encoded rows by the model's input names (``input_ids``, or ``story`` and
    ``question``) and each row's length (what prediction batches sort by)."""

    if hasattr(data, "input_ids"):
        return {"input_ids": data.input_ids}, np.asarray(data.lengths, dtype=np.int64)
    lengths = np.asarray(data.story_lengths, dtype=np.int64) + data.question_lengths
    return {"story": data.story_ids, "question": data.question_ids}, lengths


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Row indices sorted by length (stable), cut into batches (as the trainers predict).

    Example:
        >>> [b.tolist() for b in sorted_batches(np.array([5, 2, 9]), 2)]
        [[1, 0], [2]]
    """
    order = np.argsort(lengths, kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def cut_batch(inputs: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """The rows of each input, cut to the batch's longest row (padding is id 0, and only
    padding: every token has a non-zero id)."""
    batch = {}
    for name, ids in inputs.items():
        taken = ids[rows]
        width = max(1, int(np.count_nonzero(taken, axis=1).max()))
        batch[name] = np.ascontiguousarray(taken[:, :width])
    return batch
