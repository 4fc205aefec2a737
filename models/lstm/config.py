"""``LSTMConfig``: the architecture settings of the dual-encoder LSTM, with their defaults and
checks (framework-free: reading or checking them imports no Keras).

Example:
    >>> LSTMConfig(hidden=32).embedding_dim
    64
    >>> LSTMConfig(hidden=0)
    Traceback (most recent call last):
    ...
    models.settings.SettingsError: model.hidden: must be > 0, got 0
"""

from __future__ import annotations

from dataclasses import dataclass

from models.settings import ModelSettings


@dataclass(frozen=True)
class LSTMConfig(ModelSettings):
    """The dual-encoder LSTM (:func:`~models.lstm.network.build_lstm`).

    Attributes:
        embedding_dim: Token embedding width of each encoder.
        hidden: LSTM units and width of the dense layer.
        dropout: Dropout on the LSTM inputs and after the dense layer.
        l1: L1 penalty on the dense layer's kernel.
        l2: L2 penalty on the dense layer's kernel.
    """

    embedding_dim: int = 64
    hidden: int = 64
    dropout: float = 0.2
    l1: float = 0.0
    l2: float = 0.0

    def check(self) -> None:
        self.require_positive("embedding_dim", "hidden")
        if not 0.0 <= self.dropout < 1.0:
            self.fail("dropout", f"must be in [0, 1), got {self.dropout}")
        self.require_non_negative("l1", "l2")
