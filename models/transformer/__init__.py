"""The Transformer encoder: :mod:`~.config` (its settings, framework-free) and :mod:`~.network`
(the PyTorch module, loaded on first use of its names)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from models.transformer.config import TransformerConfig

if TYPE_CHECKING:
    from models.transformer.network import (
        PAD_ID,
        SinusoidalPositionalEncoding,
        StoryTransformer,
        cls_layer_output,
    )

_NETWORK = ("PAD_ID", "SinusoidalPositionalEncoding", "StoryTransformer", "cls_layer_output")

__all__ = [
    "PAD_ID",
    "SinusoidalPositionalEncoding",
    "StoryTransformer",
    "TransformerConfig",
    "cls_layer_output",
]


def __getattr__(name: str) -> Any:
    if name in _NETWORK:
        return getattr(importlib.import_module("models.transformer.network"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
