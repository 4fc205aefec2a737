"""The ``transformer`` preset's encoder written in Keras, for the framework-parity check.

It is added the way a user adds a model (``conf/model/transformer_keras.yaml`` names
:func:`build_transformer` as its ``_target_``; nothing in the trainers knows it) and trained
by the Keras trainer on ``input_ids`` (one input: ``[CLS] story [SEP] question``, 0-padded).

The architecture follows :class:`models.transformer.network.StoryTransformer` (PyTorch):
token embeddings scaled by ``sqrt(d_model)`` plus the sinusoidal positional encoding, a stack
of pre- or post-norm encoder layers (multi-head self-attention over the unpadded tokens, a
ReLU feed-forward block, layer norms with epsilon 1e-5, dropout), a final layer norm after a
pre-norm stack, and one sigmoid unit on the ``[CLS]`` position. Initialisation follows
PyTorch's defaults for those layers (embeddings normal(0, 1); dense kernels and biases uniform
in ±1/sqrt(fan_in); attention projections uniform in ±sqrt(1.5/d_model), PyTorch's Glorot bound
for its joint query-key-value projection, with zero biases), so both frameworks start from
nearly the same distribution (Keras' one initializer covers the attention's output projection
too, which PyTorch draws in ±1/sqrt(d_model)). It computes every position of the last layer
(the PyTorch model computes only ``[CLS]`` there: the same output, more work).

Example (not run as a doctest: it builds a Keras model)::

    model = build_transformer(vocab_size=40, d_model=16, nhead=2, d_hid=32, nlayers=1)
    probabilities = model.predict_on_batch(input_ids)   # [batch, 1]
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import layers, ops

PAD_ID = 0
INPUT_NAME = "input_ids"
#: Layer-norm epsilon of PyTorch's ``TransformerEncoderLayer``.
NORM_EPSILON = 1e-5


def _check(d_model: int, nhead: int, d_hid: int, nlayers: int, dropout: float) -> None:
    for name, value in (("d_model", d_model), ("nhead", nhead), ("d_hid", d_hid)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"model.{name}: must be a positive integer, got {value!r}")
    if isinstance(nlayers, bool) or not isinstance(nlayers, int) or nlayers < 1:
        raise ValueError(f"model.nlayers: must be a positive integer, got {nlayers!r}")
    if d_model % nhead:
        raise ValueError(f"model.d_model: {d_model} must be divisible by model.nhead ({nhead})")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"model.dropout: must be in [0, 1), got {dropout!r}")


def _uniform(bound: float) -> keras.initializers.Initializer:
    """A fresh uniform initializer in ±``bound`` (one per weight: an unseeded instance used
    twice would give both weights the same values)."""
    return keras.initializers.RandomUniform(-bound, bound)


def _torch_dense(units: int, fan_in: int, name: str, activation: str | None = None) -> Any:
    """A dense layer initialised as PyTorch's ``nn.Linear`` (kernel and bias uniform in
    ±1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return layers.Dense(
        units,
        activation=activation,
        kernel_initializer=_uniform(bound),
        bias_initializer=_uniform(bound),
        name=name,
    )


@keras.saving.register_keras_serializable(package="storyqa")
class PaddingMask(layers.Layer):
    """``bool [B, 1, L]``: which keys each query may attend to (the unpadded tokens)."""

    def call(self, input_ids: Any) -> Any:
        return ops.expand_dims(ops.not_equal(input_ids, PAD_ID), 1)

    def compute_output_spec(self, input_ids: Any) -> Any:
        shape = (input_ids.shape[0], 1, input_ids.shape[1])
        return keras.KerasTensor(shape, dtype="bool")


@keras.saving.register_keras_serializable(package="storyqa")
class FirstPosition(layers.Layer):
    """The ``[CLS]`` position's state: ``[B, D]`` from ``[B, L, D]``."""

    def call(self, states: Any) -> Any:
        return states[:, 0]


@keras.saving.register_keras_serializable(package="storyqa")
class ScaledPositionalEmbedding(layers.Layer):
    """Token embeddings times ``sqrt(d_model)`` plus the sinusoidal positional encoding (any
    length).

    Args:
        vocab_size: Number of token ids.
        d_model: Embedding width (even).
    """

    def __init__(self, vocab_size: int, d_model: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.embedding = layers.Embedding(
            vocab_size,
            d_model,
            embeddings_initializer=keras.initializers.RandomNormal(0.0, 1.0),
            name="embedding",
        )

    def call(self, input_ids: Any) -> Any:
        length = ops.shape(input_ids)[1]
        position = ops.cast(ops.arange(length), "float32")[:, None]
        frequencies = ops.exp(
            ops.cast(ops.arange(0, self.d_model, 2), "float32")
            * (-math.log(10_000.0) / self.d_model)
        )
        angles = position * frequencies[None, :]
        table = ops.reshape(ops.stack([ops.sin(angles), ops.cos(angles)], -1), (length, -1))
        embedded = self.embedding(input_ids) * math.sqrt(self.d_model)
        return embedded + ops.cast(table, embedded.dtype)[None]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "vocab_size": self.vocab_size, "d_model": self.d_model}


def _encoder_layer(
    x: Any, mask: Any, index: int, d_model: int, nhead: int, d_hid: int, dropout: float, pre: bool
) -> Any:
    """One encoder layer (PyTorch's ``TransformerEncoderLayer``, ReLU, batch-first)."""
    prefix = f"layer{index}"
    attention = layers.MultiHeadAttention(  # PyTorch: Glorot over the [3d, d] in-projection
        nhead,
        d_model // nhead,
        dropout=dropout,
        kernel_initializer=_uniform(math.sqrt(1.5 / d_model)),
        bias_initializer="zeros",
        name=f"{prefix}_attention",
    )
    norm1 = layers.LayerNormalization(epsilon=NORM_EPSILON, name=f"{prefix}_norm1")
    norm2 = layers.LayerNormalization(epsilon=NORM_EPSILON, name=f"{prefix}_norm2")
    inner = _torch_dense(d_hid, d_model, f"{prefix}_linear1", "relu")
    outer = _torch_dense(d_model, d_hid, f"{prefix}_linear2")

    def attend(h: Any) -> Any:
        out = attention(h, h, attention_mask=mask)
        return layers.Dropout(dropout, name=f"{prefix}_dropout1")(out)

    def feed_forward(h: Any) -> Any:
        h = layers.Dropout(dropout, name=f"{prefix}_dropout")(inner(h))
        return layers.Dropout(dropout, name=f"{prefix}_dropout2")(outer(h))

    if pre:
        x = layers.Add(name=f"{prefix}_add1")([x, attend(norm1(x))])
        return layers.Add(name=f"{prefix}_add2")([x, feed_forward(norm2(x))])
    x = norm1(layers.Add(name=f"{prefix}_add1")([x, attend(x)]))
    return norm2(layers.Add(name=f"{prefix}_add2")([x, feed_forward(x)]))


def build_transformer(
    vocab_size: int,
    d_model: int = 64,
    nhead: int = 4,
    d_hid: int = 128,
    nlayers: int = 2,
    dropout: float = 0.0,
    norm_first: bool = True,
) -> keras.Model:
    """The Transformer encoder as a functional Keras model.

    Args:
        vocab_size: Number of token ids (given by storyqa).
        d_model: Embedding and hidden width; divisible by ``nhead``.
        nhead: Attention heads per layer.
        d_hid: Feed-forward width of each layer.
        nlayers: Encoder layers.
        dropout: Dropout inside the encoder and after the positional encoding.
        norm_first: Pre-layer-norm layers (with a final layer norm) instead of post-norm.

    Returns:
        A model with one input ``input_ids`` (``int32 [batch, length]``) and output
        ``[batch, 1]``: the probability of "yes" (``float32``).

    Raises:
        ValueError: A bad setting, naming its ``model.`` key.
    """
    _check(d_model, nhead, d_hid, nlayers, dropout)
    input_ids = keras.Input(shape=(None,), dtype="int32", name=INPUT_NAME)
    mask = PaddingMask(name="attention_mask")(input_ids)
    x = ScaledPositionalEmbedding(vocab_size, d_model, name="embed")(input_ids)
    x = layers.Dropout(dropout, name="embed_dropout")(x)
    for index in range(nlayers):
        x = _encoder_layer(x, mask, index, d_model, nhead, d_hid, dropout, norm_first)
    if norm_first:
        x = layers.LayerNormalization(epsilon=NORM_EPSILON, name="final_norm")(x)
    cls_state = FirstPosition(name="cls")(x)
    head = _torch_dense(1, d_model, "classifier", "sigmoid")
    output = layers.Activation("linear", dtype="float32", name="answer")(head(cls_state))
    return keras.Model(input_ids, output, name="transformer_keras")
