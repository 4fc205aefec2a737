"""The PyTorch dual LSTM (``models/lstm_torch.py``): padding never changes its answer."""

from __future__ import annotations

import torch
from torch import nn

from models.lstm_torch import DualLSTM, SequenceEncoder

TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", ".", "?", "ava", "walks", "north", "ben")


def test_the_encoder_reads_the_state_after_each_rows_last_token() -> None:
    torch.manual_seed(0)
    encoder = SequenceEncoder(vocab_size=10, embedding_dim=6, hidden=5, dropout=0.0).eval()
    ids = torch.tensor([[6, 7, 8, 4, 0, 0], [9, 7, 4, 0, 0, 0], [6, 7, 8, 9, 7, 4]])
    lengths = (ids != 0).sum(1)
    got = encoder(ids, lengths)
    packed = nn.utils.rnn.pack_padded_sequence(
        encoder.embedding(ids), lengths, batch_first=True, enforce_sorted=False
    )
    _, (state, _) = encoder.lstm(packed)
    torch.testing.assert_close(got, state[-1])
    # More padding, same states.
    wider = torch.cat([ids, torch.zeros(3, 4, dtype=ids.dtype)], 1)
    torch.testing.assert_close(encoder(wider, lengths), got)


def test_the_answer_does_not_depend_on_the_rows_padding() -> None:
    torch.manual_seed(0)
    model = DualLSTM(vocab_size=len(TOKENS), tokens=TOKENS, hidden=8, embedding_dim=8).eval()
    row = [2, 6, 7, 8, 4, 9, 7, 4, 3, 9, 5]  # [CLS] story [SEP] question
    alone = model(torch.tensor([row]))
    padded = model(torch.tensor([row + [0] * 7, [2, 6, 7, 4, 3, 6, 5] + [0] * 11]))
    torch.testing.assert_close(padded[:1], alone)
    assert padded.shape == (2,)
