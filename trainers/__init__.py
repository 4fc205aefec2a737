"""storyqa trainers: the shared checkpoint policy and tracking layer (and, later, the Lightning
and Keras trainers built on them).

Importing ``trainers`` is cheap: no ML framework, no tracking client. Names are loaded on first
access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainers.checkpoints import CheckpointFiles, CheckpointManager, TopKPolicy
    from trainers.tracking import EpochRoutine, Tracker, TrackerConfig

_LAZY = {
    "CheckpointFiles": "trainers.checkpoints",
    "CheckpointManager": "trainers.checkpoints",
    "TopKPolicy": "trainers.checkpoints",
    "EpochRoutine": "trainers.tracking",
    "Tracker": "trainers.tracking",
    "TrackerConfig": "trainers.tracking",
}

__all__ = [
    "CheckpointFiles",
    "CheckpointManager",
    "EpochRoutine",
    "TopKPolicy",
    "Tracker",
    "TrackerConfig",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
