"""The entity-memory network: :mod:`~.config` (its settings, framework-free) and
:mod:`~.network` (the PyTorch module, loaded on first use of its names)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from models.entity_memory.config import EntityMemoryConfig

if TYPE_CHECKING:
    from models.entity_memory.network import DIRECTIONS, EntityMemoryNetwork, masked_softmax

_NETWORK = ("DIRECTIONS", "EntityMemoryNetwork", "masked_softmax")

__all__ = [
    "DIRECTIONS",
    "EntityMemoryConfig",
    "EntityMemoryNetwork",
    "masked_softmax",
]


def __getattr__(name: str) -> Any:
    if name in _NETWORK:
        return getattr(importlib.import_module("models.entity_memory.network"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
