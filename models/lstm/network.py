"""The dual-encoder LSTM that answers yes/no questions about stories (Keras 3).

Two inputs, ``story`` and ``question`` (token ids, right-padded with ``[PAD]`` = 0; see
:func:`stories.encode_lstm`). Each is embedded (``mask_zero=True``, so padding is skipped)
and read by its own LSTM; the two final states are concatenated and pass through a ReLU
dense layer (L1/L2 penalty on its kernel), dropout and one sigmoid unit: the probability of
``yes``. Sequences may have any length; padding never changes the output.

:func:`build_lstm` with ``lr`` returns a *compiled* model (Adam at ``lr``, binary
cross-entropy, ``accuracy`` and ``bce`` metrics), ready for a plain ``model.fit``. The Keras
trainer compiles it with its learning-rate schedule and gradient clipping.

Example (not run as a doctest: it builds a Keras model)::

    from models.lstm import LSTMConfig
    model = build_lstm(LSTMConfig(hidden=16), vocab_size=60, lr=1e-3)
    probabilities = model.predict_on_batch({"story": story_ids, "question": question_ids})
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
from keras import layers

from models.lstm.inputs import ACCURACY_METRIC, BCE_METRIC, QUESTION_INPUT, STORY_INPUT

if TYPE_CHECKING:
    from models.lstm.config import LSTMConfig


def _encoder(name: str, vocab_size: int, hp: LSTMConfig) -> tuple[keras.KerasTensor, ...]:
    tokens = keras.Input(shape=(None,), dtype="int32", name=name)
    embedded = layers.Embedding(
        vocab_size, hp.embedding_dim, mask_zero=True, name=f"{name}_embedding"
    )(tokens)
    encoded = layers.LSTM(hp.hidden, dropout=hp.dropout, name=f"{name}_lstm")(embedded)
    return tokens, encoded


def build_lstm(
    hp: LSTMConfig, vocab_size: int, *, name: str = "lstm", lr: float | None = None
) -> keras.Model:
    """The dual-encoder LSTM for ``hp`` and a vocabulary of ``vocab_size`` ids.

    Args:
        hp: Sizes (``embedding_dim``, ``hidden``), ``dropout``, ``l1``/``l2``.
        vocab_size: Number of token ids (the vocabulary's length, ``[PAD]`` included).
        name: The Keras model's name.
        lr: When given, compile with Adam at this learning rate, binary cross-entropy and
            the ``accuracy`` and ``bce`` metrics (:func:`compile_lstm`).

    Returns:
        A functional ``keras.Model`` with inputs ``story`` and ``question`` (``int32``,
        ``[batch, length]``) and output ``[batch, 1]`` probabilities (``float32`` even under
        a mixed-precision policy).

    Raises:
        ValueError: ``vocab_size`` is not a positive integer.
    """
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size: must be a positive integer, got {vocab_size!r}")
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
    model = keras.Model({STORY_INPUT: story, QUESTION_INPUT: question}, output, name=name)
    if lr is not None:
        compile_lstm(model, keras.optimizers.Adam(learning_rate=lr))
    return model


def compile_lstm(model: keras.Model, optimizer: keras.optimizers.Optimizer) -> keras.Model:
    """Compile ``model`` with ``optimizer``, binary cross-entropy and the two metrics.

    Args:
        model: A model from :func:`build_lstm`.
        optimizer: The optimizer (Adam, possibly with a schedule and clipping).

    Returns:
        ``model`` itself.
    """
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[
            keras.metrics.BinaryAccuracy(name=ACCURACY_METRIC),
            keras.metrics.BinaryCrossentropy(name=BCE_METRIC),
        ],
    )
    return model
