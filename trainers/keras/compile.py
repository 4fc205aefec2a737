"""How the Keras trainer compiles a model: binary cross-entropy on the probability of "yes",
with the two metrics its per-epoch tracking reads.

Any Keras model of the contract in ``docs/models.md`` (one probability per example) is
compiled the same way, with the optimizer :class:`~trainers.keras.fit.KerasFit` builds.
"""

from __future__ import annotations

from typing import Final

import keras

#: Metric names compiled into the model: accuracy and binary cross-entropy without any
#: regularisation penalty (the ``loss`` Keras logs includes it).
ACCURACY_METRIC: Final = "accuracy"
BCE_METRIC: Final = "bce"


def compile_for_training(model: keras.Model, optimizer: keras.optimizers.Optimizer) -> keras.Model:
    """Compile ``model`` with ``optimizer``, binary cross-entropy and the two metrics.

    Args:
        model: A Keras model returning the probability of "yes" (``[B]`` or ``[B, 1]``).
        optimizer: The optimizer (Adam, possibly with a schedule, clipping, weight decay).

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
