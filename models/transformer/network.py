"""The Transformer encoder network (PyTorch) that answers yes/no questions about stories.

Input is ``[CLS] story [SEP] question`` (see :func:`stories.encode_transformer`). Tokens are
embedded and scaled by ``sqrt(d_model)``, a sinusoidal positional encoding (any length) is
added, a stack of ``nn.TransformerEncoder`` layers runs with the padding mask applied, and the
``[CLS]`` position's output gives one logit (train it with ``BCEWithLogitsLoss``).

Only the ``[CLS]`` position of the last layer is read, so the last layer computes that one
position (its query attends to every token, as in the full layer): the same logits for a
fraction of the cost — a quarter less compute for 4 layers, half for 2, in training and in
evaluation alike.

Example:
    >>> import torch
    >>> model = StoryTransformer(vocab_size=50, d_model=16, nhead=2, d_hid=32)
    >>> ids = torch.tensor([[2, 7, 8, 3, 9, 0, 0], [2, 7, 3, 9, 9, 9, 0]])
    >>> model(ids).shape
    torch.Size([2])
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from models.transformer.config import TransformerConfig

PAD_ID = 0
CLS_POSITION = 0


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sine/cosine positional encoding of Vaswani et al. to ``[B, L, D]`` input.

    The table is computed for the longest input seen so far and grown on demand, so any
    length works (the test split's stories are longer than any training story).

    Args:
        d_model: Width of the input.
        dropout: Dropout applied after adding the encoding.
    """

    #: Positions precomputed at construction; the table grows past this when needed.
    INITIAL_LENGTH: ClassVar[int] = 512
    #: Base of the wavelength progression.
    BASE: ClassVar[float] = 10_000.0

    table: torch.Tensor

    def __init__(self, d_model: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.d_model = d_model
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("table", self.encoding(self.INITIAL_LENGTH, d_model), persistent=False)

    @classmethod
    def encoding(cls, length: int, d_model: int) -> torch.Tensor:
        """The ``[length, d_model]`` encoding table."""
        position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
        frequencies = torch.exp(
            torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(cls.BASE) / d_model)
        )
        table = torch.zeros(length, d_model)
        table[:, 0::2] = torch.sin(position * frequencies)
        table[:, 1::2] = torch.cos(position * frequencies[: d_model // 2])
        return table

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.size(1)
        table = self.table
        if length > table.size(0):
            table = self.encoding(max(length, 2 * table.size(0)), self.d_model).to(table.device)
            self.table = table
        return self.dropout(x + table[:length].to(x.dtype))


class StoryTransformer(nn.Module):
    """Transformer encoder with a ``[CLS]`` classification head producing one logit.

    Args:
        vocab_size: Number of token ids (the vocabulary's length).
        **settings: The architecture settings, :class:`TransformerConfig`'s fields (its defaults
            for those left out).

    Raises:
        models.settings.SettingsError: A bad setting, naming its ``model.`` key.
        ValueError: ``vocab_size`` is not a positive integer.
    """

    #: The settings it takes, checked before any data is built.
    Settings: ClassVar[type[TransformerConfig]] = TransformerConfig

    def __init__(self, vocab_size: int, **settings: Any) -> None:
        super().__init__()
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(f"vocab_size: must be a positive integer, got {vocab_size!r}")
        config = TransformerConfig.from_mapping(settings)
        self.config = config
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, config.d_model, padding_idx=PAD_ID)
        self.positional = SinusoidalPositionalEncoding(config.d_model, config.dropout)
        layer = nn.TransformerEncoderLayer(
            d_model=config.d_model,
            nhead=config.nhead,
            dim_feedforward=config.d_hid,
            dropout=config.dropout,
            batch_first=True,
            norm_first=config.norm_first,
        )
        self.encoder = nn.TransformerEncoder(
            layer,
            num_layers=config.nlayers,
            norm=nn.LayerNorm(config.d_model) if config.norm_first else None,
            enable_nested_tensor=False,
        )
        self.classifier = nn.Linear(config.d_model, 1)
        self.scale = math.sqrt(config.d_model)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token embeddings scaled by ``sqrt(d_model)`` plus positions: ``[B, L, D]``."""
        return self.positional(self.embedding(input_ids) * self.scale)

    def forward(
        self, input_ids: torch.Tensor, key_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits ``[B]`` for ``input_ids`` ``[B, L]``.

        Args:
            input_ids: Token ids, ``[CLS]`` first, right-padded with ``[PAD]`` (id 0).
            key_padding_mask: ``bool [B, L]``, True on padding; derived from ``input_ids``
                when omitted.
        """
        if key_padding_mask is None:
            key_padding_mask = input_ids == PAD_ID
        hidden = self.embed(input_ids)
        *lower_layers, last_layer = self.encoder.layers
        for layer in lower_layers:
            hidden = layer(hidden, src_key_padding_mask=key_padding_mask)
        cls_state = cls_layer_output(last_layer, hidden, key_padding_mask)
        if self.encoder.norm is not None:
            cls_state = self.encoder.norm(cls_state)
        return self.classifier(cls_state).squeeze(-1)


def cls_layer_output(
    layer: nn.TransformerEncoderLayer, hidden: torch.Tensor, key_padding_mask: torch.Tensor
) -> torch.Tensor:
    """``layer``'s output at the ``[CLS]`` position alone: ``[B, D]``.

    Equal to ``layer(hidden, src_key_padding_mask=key_padding_mask)[:, CLS_POSITION]``, with
    the ``[CLS]`` query attending to every unmasked token, but without computing the other
    positions' attention and feed-forward outputs, which nothing reads.

    Args:
        layer: A batch-first encoder layer (pre- or post-norm).
        hidden: Its input, ``[B, L, D]``.
        key_padding_mask: ``bool [B, L]``, True on padding.
    """
    cls_input = hidden[:, CLS_POSITION : CLS_POSITION + 1]

    def attend(query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        attended = layer.self_attn(
            query, keys, keys, key_padding_mask=key_padding_mask, need_weights=False
        )[0]
        return layer.dropout1(attended)

    def feed_forward(x: torch.Tensor) -> torch.Tensor:
        inner = layer.dropout(layer.activation(layer.linear1(x)))
        return layer.dropout2(layer.linear2(inner))

    if layer.norm_first:
        keys = layer.norm1(hidden)
        state = cls_input + attend(keys[:, CLS_POSITION : CLS_POSITION + 1], keys)
        state = state + feed_forward(layer.norm2(state))
    else:
        state = layer.norm1(cls_input + attend(cls_input, hidden))
        state = layer.norm2(state + feed_forward(state))
    return state.squeeze(1)
