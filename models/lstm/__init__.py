"""The dual-encoder LSTM: :mod:`~.config` (its settings) and :mod:`~.inputs` (the names of its
two inputs), both framework-free, and :mod:`~.network` (the Keras model, loaded on
first use of its names)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from models.lstm.config import LSTMConfig
from models.lstm.inputs import QUESTION_INPUT, STORY_INPUT

if TYPE_CHECKING:
    from models.lstm.network import build_lstm

_NETWORK = ("build_lstm",)

__all__ = [
    "QUESTION_INPUT",
    "STORY_INPUT",
    "LSTMConfig",
    "build_lstm",
]


def __getattr__(name: str) -> Any:
    if name in _NETWORK:
        return getattr(importlib.import_module("models.lstm.network"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
