"""Small models that break the model contract (docs/models.md) in one way each, for the
bad-input rows of ``test_bad_inputs.py``; named as ``_target_`` like a user's module."""

from __future__ import annotations

import torch
from torch import nn


class MeanEmbedding(nn.Module):
    """A model of the contract: the mean token embedding, then one logit."""

    def __init__(self, vocab_size: int, width: int = 8) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be positive, got {width}")
        self.embedding = nn.Embedding(vocab_size, width, padding_idx=0)
        self.head = nn.Linear(width, 1)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(input_ids).mean(1)).squeeze(-1)


class TwoLogits(MeanEmbedding):
    """Breaks the contract: two outputs per example."""

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        logit = super().forward(input_ids)
        return torch.stack([logit, -logit], 1)
