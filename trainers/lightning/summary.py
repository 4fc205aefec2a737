"""A PyTorch network's layer table and parameter counts, for the run's
``artifacts/model/model_summary.txt`` and ``model/...`` fields.

The table is Lightning's own :class:`~lightning.pytorch.utilities.model_summary.ModelSummary`
(name, type, parameters per module, ``max_depth`` levels deep) of the network.
"""

from __future__ import annotations

from typing import ClassVar

import lightning.pytorch as pl
from lightning.pytorch.utilities.model_summary import ModelSummary
from torch import nn


class _Holder(pl.LightningModule):
    """Holds a network so that Lightning's summary can read it (the network is not changed)."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network


class NetworkSummary:
    """Summaries of plain ``nn.Module`` networks.

    Example:
        >>> NetworkSummary.parameter_counts(nn.Linear(3, 2))
        (8, 8)
    """

    MAX_DEPTH: ClassVar[int] = 4

    @classmethod
    def describe(cls, network: nn.Module) -> str:
        """The layer table of ``network`` and its parameter totals."""
        holder = _Holder(network)
        try:
            return str(ModelSummary(holder, max_depth=cls.MAX_DEPTH))
        finally:
            del holder.network  # leave the network as it was

    @staticmethod
    def parameter_counts(network: nn.Module) -> tuple[int, int]:
        """``(all parameters, trainable parameters)`` of ``network``."""
        parameters = list(network.parameters())
        total = sum(p.numel() for p in parameters)
        return total, sum(p.numel() for p in parameters if p.requires_grad)
