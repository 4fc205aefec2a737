"""The model presets: ``transformer``, ``transformer_paper``, ``entity_memory``,
``entity_memory_state``, ``lstm``, ``lstm_paper`` — values only.

The one place their values live: Hydra's ``model`` group and notebooks both read them here.
Each is a model config like any user's (``docs/models.md``): the ``_target_`` that builds the
network, its ``framework``, constructor arguments and training keys, as the flat ``model.*``
mapping :meth:`~trainers.config.model.Hyperparams.from_mapping` reads; a key left out keeps the
default of the network's settings (in :mod:`models`) or of the training settings
(:class:`~trainers.config.model.TrainingSettings`). Reading them imports nothing; a preset is
checked (and its network's module imported) when :func:`model_preset` asks for it.

- ``transformer`` and ``lstm`` are sized for a 2-core CPU: length-bucketed batches (about 3x
  the examples per second of random batches for the Transformer), a 4-layer Transformer with
  learning-rate warm-up, an LSTM with batch 256 and lr 3e-3 (about 1.6x the examples per
  second of batch 64). See docs/results-summary.md ("Learning in 10 minutes")
  for what they reach in 10 minutes.
- ``transformer_paper`` and ``lstm_paper`` follow the published hyperparameters.
- ``entity_memory`` is storyqa's state-tracking model (:mod:`models.entity_memory`), trained
  on answers alone like the others; ``entity_memory_state`` adds the auxiliary per-sentence
  state loss, whose targets are ground-truth directions computed by a rule-based reading of
  the grammar (:func:`stories.semantics.sentence_states`); with it the model learns from the
  1k training stories of the ``paper`` size.

Example:
    >>> PRESETS["lstm_paper"]["hidden"]
    74
    >>> model_preset("lstm", hidden=32).arguments["hidden"]
    32
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.settings import SettingsError
from trainers.config.model import BUILT_IN, TARGET_KEY, Hyperparams, TrainingSettings

_TRANSFORMER = {"_target_": "models.transformer.StoryTransformer", "framework": "lightning"}
_LSTM = {"_target_": "models.lstm.build_lstm", "framework": "keras"}
_ENTITY_MEMORY: Mapping[str, Any] = {
    "_target_": "models.entity_memory.EntityMemoryNetwork",
    "framework": "lightning",
    "name": "entity_memory",
    "d_model": 64,
    "lr": 1e-3,
    "batch_size": 64,
}

#: Each preset's model config (``model.*`` values), by preset name.
PRESETS: Mapping[str, Mapping[str, Any]] = {
    "transformer": {
        **_TRANSFORMER,
        "name": "transformer",
        "d_model": 64,
        "nhead": 4,
        "d_hid": 128,
        "nlayers": 4,
        "dropout": 0.0,
        "lr": 1e-3,
        "batch_size": 64,
        "warmup_steps": 200,
    },
    "transformer_paper": {
        **_TRANSFORMER,
        "name": "transformer_paper",
        "d_model": 256,
        "nhead": 2,
        "d_hid": 569,
        "nlayers": 4,
        "dropout": 0.413,
        "lr": 1e-4,
        "batch_size": 32,
    },
    "entity_memory": _ENTITY_MEMORY,
    "entity_memory_state": {
        **_ENTITY_MEMORY,
        "name": "entity_memory_state",
        "state_loss_weight": 1.0,
    },
    "lstm": {
        **_LSTM,
        "name": "lstm",
        "hidden": 64,
        "dropout": 0.2,
        "lr": 3e-3,
        "batch_size": 256,
    },
    "lstm_paper": {
        **_LSTM,
        "name": "lstm_paper",
        "hidden": 74,
        "dropout": 0.39,
        "l1": 5e-5,
        "l2": 3e-5,
        "lr": 1e-3,
        "batch_size": 128,
    },
}


def preset_config(name: str) -> dict[str, Any]:
    """Preset ``name``'s whole model config: its values over the defaults of its network's
    settings and of the training settings (every key a command line may override). Imports
    no framework.

    Example:
        >>> config = preset_config("transformer")
        >>> config["_target_"], config["nlayers"], config["norm_first"], config["lr_schedule"]
        ('models.transformer.StoryTransformer', 4, True, 'constant')
    """
    values = PRESETS[name]
    settings = next(b.settings for b in BUILT_IN.values() if b.target == values[TARGET_KEY])
    defaults = {**TrainingSettings().to_dict(), **settings().to_dict()}
    head = {key: values[key] for key in (TARGET_KEY, "framework", "name")}
    return {**head, **defaults, **values}


def model_preset(name: str, **overrides: Any) -> Hyperparams:
    """The hyperparameters of preset ``name``, with ``overrides`` applied (validated).

    Raises:
        SettingsError: Unknown preset or bad override, naming the key.
    """
    if name not in PRESETS:
        raise SettingsError(f"model: unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return Hyperparams.from_mapping({**PRESETS[name], **overrides})
