"""``TransformerConfig``: the architecture settings of the Transformer, with their defaults and
checks (framework-free: reading or checking them imports no PyTorch).

Example:
    >>> TransformerConfig(d_model=32, nhead=2).d_hid
    128
    >>> TransformerConfig(d_model=30, nhead=4)
    Traceback (most recent call last):
    ...
    models.settings.SettingsError: model.d_model: 30 must be divisible by model.nhead (4)
"""

from __future__ import annotations

from dataclasses import dataclass

from models.settings import ModelSettings


@dataclass(frozen=True)
class TransformerConfig(ModelSettings):
    """The Transformer encoder (:class:`~models.transformer.network.StoryTransformer`).

    Attributes:
        d_model: Embedding and hidden width; divisible by ``nhead``.
        nhead: Attention heads per layer.
        d_hid: Feed-forward width of each layer.
        nlayers: Encoder layers.
        dropout: Dropout inside the encoder and after the positional encoding (note: on CPU,
            dropout > 0 costs throughput).
        norm_first: Pre-layer-norm encoder layers (more stable to train) instead of post-norm.
    """

    d_model: int = 64
    nhead: int = 4
    d_hid: int = 128
    nlayers: int = 2
    dropout: float = 0.0
    norm_first: bool = True

    def check(self) -> None:
        self.require_positive("d_model", "nhead", "d_hid", "nlayers")
        if self.d_model % self.nhead:
            self.fail("d_model", f"{self.d_model} must be divisible by model.nhead ({self.nhead})")
        if not 0.0 <= self.dropout < 1.0:
            self.fail("dropout", f"must be in [0, 1), got {self.dropout}")
