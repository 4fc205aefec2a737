"""The dual-encoder LSTM that answers yes/no questions about stories (Keras 3).

Two inputs, ``story`` and ``question`` (token ids, right-padded with ``[PAD]`` = 0; see
:func:`stories.encode_lstm`). Each is embedded (``mask_zero=True``, so padding is skipped)
and read by its own LSTM; the two final states are concatenated and pass through a ReLU
dense layer (L1/L2 penalty on its kernel), dropout and one sigmoid unit: the probability of
``yes``. Sequences may have any length; padding never changes the output.

:func:`build_lstm` returns an uncompiled model; the Keras trainer compiles it with its loss,
metrics, learning-rate schedule and gradient clipping.

Example (not run as a doctest: it builds a Keras model)::

    model = build_lstm(vocab_size=60, hidden=16)
    probabilities = model.predict_on_batch({"story": story_ids, "question": question_ids})
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from models.lstm.config import LSTMConfig
from models.lstm.inputs import QUESTION_INPUT, STORY_INPUT


def _encoder(name: str, vocab_size: int, hp: LSTMConfig) -> tuple[keras.KerasTensor, ...]:
    tokens = keras.Input(shape=(None,), dtype="int32", name=name)
    embedded = layers.Embedding(
        vocab_size, hp.embedding_dim, mask_zero=True, name=f"{name}_embedding"
    )(tokens)
    encoded = layers.LSTM(hp.hidden, dropout=hp.dropout, name=f"{name}_lstm")(embedded)
    return tokens, encoded


def build_lstm(vocab_size: int, *, name: str = "lstm", **settings: Any) -> keras.Model:
    """The dual-encoder LSTM for a vocabulary of ``vocab_size`` ids.

    Args:
        vocab_size: Number of token ids (the vocabulary's length, ``[PAD]`` included).
        name: The Keras model's name.
        **settings: :class:`~models.lstm.config.LSTMConfig`'s fields (its defaults for those
            left out): sizes, dropout, L1/L2 penalty.

    Returns:
        A functional ``keras.Model`` with inputs ``story`` and ``question`` (``int32``,
        ``[batch, length]``) and output ``[batch, 1]`` probabilities (``float32`` even under
        a mixed-precision policy).

    Raises:
        models.settings.SettingsError: A bad setting, naming its ``model.`` key.
        ValueError: ``vocab_size`` is not a positive integer.
    """
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size: must be a positive integer, got {vocab_size!r}")
    hp = LSTMConfig.from_mapping(settings)
    story, story_state = _encoder(STORY_INPUT, vocab_size, hp)
    question, question_state = _encoder(QUESTION_INPUT, vocab_size, hp)
    joined = layers.Concatenate(name="joined")([story_state, question_state])
    hidden = layers.Dense(
        hp.hidden,
        activation="relu",
        kernel_regularizer=keras.regularizers.L1L2(l1=hp.l1, l2=hp.l2),
        name="dense",
    )(joined)
    hidden = layers.Dropout(hp.dropout, name="dropout")(hidden)
    output = layers.Dense(1, activation="sigmoid", dtype="float32", name="answer")(hidden)
    return keras.Model({STORY_INPUT: story, QUESTION_INPUT: question}, output, name=name)


#: The settings :func:`build_lstm` takes, checked before any data is built.
build_lstm.Settings = LSTMConfig  # type: ignore[attr-defined]
