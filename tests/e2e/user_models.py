"""Small models that break the model contract (docs/models.md) in one way each, for the
bad-input rows of ``test_bad_inputs.py`` and the service's tests; named as ``_target_`` like a
user's module."""

from __future__ import annotations

import time

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


class Crashes(MeanEmbedding):
    """Breaks the contract once it trains: the check's two rows pass, a training batch
    raises."""

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[0] > 2:
            raise RuntimeError("boom in the forward pass")
        return super().forward(input_ids)


class Stubborn(MeanEmbedding):
    """Ignores every stop request once it trains (it swallows the interrupt)."""

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        while self.training and input_ids.shape[0] > 2:
            try:
                time.sleep(10)
            except KeyboardInterrupt:
                continue
        return super().forward(input_ids)
