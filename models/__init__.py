"""The networks and their settings: one subpackage per model, each with a framework-free
``config`` module (the architecture settings, their defaults and checks, and how to build the
network) and a ``network`` module (the PyTorch or Keras code).

Importing ``models`` or a model's settings imports no framework, so validating a config never
loads PyTorch or TensorFlow; the Transformer path never loads TensorFlow and the LSTM path never
loads PyTorch.

Example:
    >>> architecture_settings("lstm").FRAMEWORK
    'keras'
    >>> architecture_settings("gru")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    models.settings.SettingsError: model.architecture: 'gru' is not one of ['transformer', ...]
"""

from __future__ import annotations

from models.entity_memory.config import EntityMemoryConfig
from models.lstm.config import LSTMConfig
from models.settings import Framework, ModelSettings, SettingsError
from models.transformer.config import TransformerConfig

#: Each architecture's settings by name; the first of a framework is its default.
ARCHITECTURES: dict[str, type[ModelSettings]] = {
    cls.ARCHITECTURE: cls for cls in (TransformerConfig, EntityMemoryConfig, LSTMConfig)
}


def architecture_settings(
    architecture: str | None, framework: str | None = None
) -> type[ModelSettings]:
    """The settings class of ``architecture`` (default: ``framework``'s first).

    Raises:
        SettingsError: Unknown framework or architecture, or one the framework does not
            train, naming the key.
    """
    if architecture is None:
        for cls in ARCHITECTURES.values():
            if framework == cls.FRAMEWORK:
                return cls
        frameworks = sorted({cls.FRAMEWORK for cls in ARCHITECTURES.values()})
        raise SettingsError(f"model.framework: {framework!r} is not one of {frameworks}")
    if architecture not in ARCHITECTURES:
        raise SettingsError(
            f"model.architecture: {architecture!r} is not one of {list(ARCHITECTURES)}"
        )
    cls = ARCHITECTURES[architecture]
    if framework is not None and framework != cls.FRAMEWORK:
        raise SettingsError(
            f"model.architecture: {architecture} is trained by the {cls.FRAMEWORK} trainer, "
            f"not {framework}"
        )
    return cls


__all__ = [
    "ARCHITECTURES",
    "EntityMemoryConfig",
    "Framework",
    "LSTMConfig",
    "ModelSettings",
    "SettingsError",
    "TransformerConfig",
    "architecture_settings",
]
