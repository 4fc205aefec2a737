"""The networks and their settings: one subpackage per built-in network, each with a
framework-free ``config`` module (the architecture settings, their defaults and checks) and a
``network`` module (the PyTorch or Keras code, taking those settings as keyword arguments);
``lstm_torch`` and ``transformer_keras`` are single-module networks added the way a user adds
one (``docs/models.md``).

Importing ``models`` or a network's settings imports no framework; the Transformer path never
loads TensorFlow and the LSTM path never loads PyTorch.

Example:
    >>> from models import TransformerConfig
    >>> TransformerConfig(d_model=32, nhead=2).nlayers
    2
"""

from __future__ import annotations

from models.entity_memory.config import EntityMemoryConfig
from models.lstm.config import LSTMConfig
from models.settings import Framework, ModelSettings, SettingsError
from models.transformer.config import TransformerConfig

__all__ = [
    "EntityMemoryConfig",
    "Framework",
    "LSTMConfig",
    "ModelSettings",
    "SettingsError",
    "TransformerConfig",
]
