"""``.keras`` and TensorFlow SavedModel exports of a Keras run model (see
:mod:`trainers.runs.export`).

Both keep the model's own inputs (``story`` and ``question``, or ``input_ids``; ``int32
[batch, length]``) and its output: the probability of ``yes``, ``float32 [batch, 1]``.

* ``.keras`` stores the layers by class name and rebuilds them on load: a layer whose class is
  not Keras' own (a custom layer) cannot be rebuilt without its code, so such a model is
  refused.
* The SavedModel is a TensorFlow graph (``model.export(format="tf_saved_model")``), loaded with
  ``tf.saved_model.load`` and called through its ``serve`` endpoint; it needs no Python code
  of the model, and is written from the TensorFlow backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import numpy as np

KERAS_FILE: Final = "model.keras"
SAVED_MODEL_DIR: Final = "saved_model"


class ExportFailure(Exception):
    """The model cannot be written in this format (the message says why)."""


def custom_layers(model: Any) -> list[str]:
    """``module.Class`` of every layer (and the model itself) that is not Keras' own."""
    found: dict[str, None] = {}
    for layer in [model, *model._flatten_layers(include_self=False)]:
        cls = type(layer)
        if not cls.__module__.startswith("keras"):
            found.setdefault(f"{cls.__module__}.{cls.__qualname__}", None)
    return list(found)


def export_keras(model: Any, folder: Path) -> list[str]:
    """Write ``model.keras``.

    Raises:
        ExportFailure: The model has a custom layer, or Keras cannot save it.
    """
    custom = custom_layers(model)
    if custom:
        raise ExportFailure(
            f"the model has layers that are not Keras' own ({', '.join(custom)}): "
            "keras.saving.load_model rebuilds layers from their class names and cannot rebuild "
            "these without importing their code"
        )
    try:
        model.save(str(folder / KERAS_FILE))
    except Exception as error:
        raise ExportFailure(f"{type(error).__name__}: {str(error).strip()[:300]}") from None
    return []


def export_saved_model(model: Any, folder: Path) -> list[str]:
    """Write the SavedModel folder.

    Raises:
        ExportFailure: Not on the TensorFlow backend, or TensorFlow cannot trace the model.
    """
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ExportFailure(
            f"a SavedModel is written from Keras' TensorFlow backend, and this process runs "
            f"{backend}"
        )
    try:
        model.export(str(folder / SAVED_MODEL_DIR), format="tf_saved_model", verbose=False)
    except Exception as error:
        raise ExportFailure(f"{type(error).__name__}: {str(error).strip()[:300]}") from None
    return []


def keras_runner(folder: Path) -> Any:
    """Probabilities of a batch from the written ``.keras`` file (``keras.saving.load_model``)."""
    import keras

    loaded = keras.saving.load_model(str(folder / KERAS_FILE), compile=False)

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        out = loaded.predict_on_batch(_model_inputs(batch))
        return np.asarray(out, dtype=np.float64).reshape(-1)

    return run


def saved_model_runner(folder: Path) -> Any:
    """Probabilities of a batch from the written SavedModel (``tf.saved_model.load``)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(folder / SAVED_MODEL_DIR))

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        out = loaded.serve(_model_inputs(batch))
        return np.asarray(out, dtype=np.float64).reshape(-1)

    return run


def _model_inputs(batch: dict[str, np.ndarray]) -> Any:
    inputs = {name: ids.astype(np.int32) for name, ids in batch.items()}
    return inputs["input_ids"] if set(inputs) == {"input_ids"} else inputs
