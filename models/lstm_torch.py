"""The ``lstm`` preset's dual-encoder LSTM written in PyTorch, for the framework-parity check.

It is added the way a user adds a model (``conf/model/lstm_torch.yaml`` names this class as its
``_target_``; nothing in the trainers knows it) and trained by the Lightning trainer on the
same ``input_ids`` as every PyTorch model: ``[CLS] story [SEP] question``, 0-padded. It splits
each row at ``[SEP]`` itself, so it asks storyqa for the vocabulary (``tokens``).

The architecture and initialisation follow :func:`models.lstm.network.build_lstm` (Keras): a
story encoder and a question encoder, each an embedding (uniform in ±0.05) and an LSTM
(Glorot-uniform input weights, orthogonal recurrent weights, forget-gate bias 1) whose input
dropout mask is drawn once per sequence; their last states, concatenated, pass through a ReLU
dense layer, dropout and one output unit (Glorot-uniform kernels, zero biases). Each LSTM runs
over its right-padded batch, cut to the batch's longest sequence, and the state is read after
each row's last real token: as the LSTM reads left to right, padding never changes the output.
(Packed sequences give the same states but leave oneDNN's fused CPU kernel: forward and backward
of a 256 x 300 batch on one thread took 9.6 s packed against 0.27 s padded.) Keras' optional
L1/L2 penalty on the dense kernel is not reproduced (the ``lstm`` preset has none).

Example:
    >>> import torch
    >>> tokens = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", ".", "?", "ava", "walks", "north")
    >>> model = DualLSTM(vocab_size=len(tokens), tokens=tokens, hidden=8, embedding_dim=8)
    >>> ids = torch.tensor([[2, 6, 7, 8, 4, 3, 6, 5], [2, 6, 7, 4, 3, 6, 5, 0]])
    >>> model(ids).shape
    torch.Size([2])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

PAD_ID = 0
SEPARATOR = "[SEP]"


def _check(hidden: int, embedding_dim: int, dropout: float) -> None:
    for name, value in (("hidden", hidden), ("embedding_dim", embedding_dim)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"model.{name}: must be a positive integer, got {value!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"model.dropout: must be in [0, 1), got {dropout!r}")


class SequenceEncoder(nn.Module):
    """Embedding and one LSTM; the state after each row's last real token: ``[B, hidden]``.

    Args:
        vocab_size: Number of token ids.
        embedding_dim: Embedding width.
        hidden: LSTM units.
        dropout: Input dropout, one mask per sequence (Keras' ``LSTM(dropout=...)``).
    """

    def __init__(self, vocab_size: int, embedding_dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID)
        self.lstm = nn.LSTM(embedding_dim, hidden, batch_first=True)
        self.dropout = dropout
        nn.init.uniform_(self.embedding.weight, -0.05, 0.05)
        # As Keras: one Glorot-uniform and one orthogonal matrix over the four gates, zero
        # biases but 1 for the forget gate (PyTorch's second gate).
        for name, parameter in self.lstm.named_parameters():
            if name.startswith("weight_ih"):
                nn.init.xavier_uniform_(parameter)
            elif name.startswith("weight_hh"):
                nn.init.orthogonal_(parameter)
            else:
                nn.init.zeros_(parameter)
                if name.startswith("bias_ih"):
                    with torch.no_grad():
                        parameter[hidden : 2 * hidden] = 1.0

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The state after each row's last real token of ``ids`` ``[B, L]`` (right-padded;
        ``lengths`` ``[B]`` counts the real tokens)."""
        last = lengths.clamp(min=1) - 1
        embedded = self.embedding(ids[:, : int(last.max()) + 1])
        if self.training and self.dropout > 0:
            keep = torch.full_like(embedded[:, :1], 1.0 - self.dropout)
            embedded = embedded * torch.bernoulli(keep) / (1.0 - self.dropout)
        outputs, _ = self.lstm(embedded)
        return outputs[torch.arange(len(ids), device=ids.device), last]


class DualLSTM(nn.Module):
    """Reads the story and the question with their own LSTMs; one logit per row.

    Args:
        vocab_size: Number of token ids (given by storyqa).
        tokens: The vocabulary in id order (given by storyqa; used to find ``[SEP]``).
        embedding_dim: Token embedding width of each encoder.
        hidden: LSTM units and width of the dense layer.
        dropout: Dropout on the LSTM inputs and after the dense layer.

    Raises:
        ValueError: A bad setting (naming the ``model.`` key), or no ``[SEP]`` in ``tokens``.
    """

    def __init__(
        self,
        vocab_size: int,
        tokens: Sequence[str],
        embedding_dim: int = 64,
        hidden: int = 64,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        _check(hidden, embedding_dim, dropout)
        if SEPARATOR not in tokens:
            raise ValueError(f"tokens: no {SEPARATOR!r} in the vocabulary")
        self.separator_id = list(tokens).index(SEPARATOR)
        self.story = SequenceEncoder(vocab_size, embedding_dim, hidden, dropout)
        self.question = SequenceEncoder(vocab_size, embedding_dim, hidden, dropout)
        self.dense = nn.Linear(2 * hidden, hidden)
        self.drop = nn.Dropout(dropout)
        self.answer = nn.Linear(hidden, 1)
        for layer in (self.dense, self.answer):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def split(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Story ids, story lengths, question ids and question lengths of each row (the story
        is what lies between ``[CLS]`` and ``[SEP]``, the question what follows ``[SEP]``)."""
        batch, width = input_ids.shape
        position = torch.arange(width, device=input_ids.device).expand(batch, width)
        separator = (input_ids == self.separator_id).int().argmax(1, keepdim=True)
        real = input_ids != PAD_ID
        story_mask = (position >= 1) & (position < separator)
        question_mask = (position > separator) & real
        story_lengths = story_mask.sum(1)
        question_lengths = question_mask.sum(1)
        story = torch.zeros_like(input_ids)
        question = torch.zeros_like(input_ids)
        story[story_mask.sum(1, keepdim=True) > position] = input_ids[story_mask]
        question[question_mask.sum(1, keepdim=True) > position] = input_ids[question_mask]
        return story, story_lengths, question, question_lengths

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits ``[B]`` for ``input_ids`` ``[B, L]``."""
        story, story_lengths, question, question_lengths = self.split(input_ids)
        states = torch.cat(
            [self.story(story, story_lengths), self.question(question, question_lengths)], -1
        )
        return self.answer(self.drop(torch.relu(self.dense(states)))).squeeze(-1)
