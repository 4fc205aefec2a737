"""The model presets: ``transformer``, ``transformer_paper``, ``lstm``, ``lstm_paper``.

The one place their values live: Hydra's ``model`` group and notebooks both read them here.

- ``transformer`` and ``lstm`` are sized for a 2-core CPU: length-bucketed batches (about 3x
  the examples per second of random batches for the Transformer), a 4-layer Transformer with
  learning-rate warm-up, an LSTM with batch 256 and lr 3e-3 (about 1.6x the examples per
  second of batch 64). See the README's learning curves for what they reach in 10 minutes.
- ``transformer_paper`` and ``lstm_paper`` follow the published hyperparameters.

Example:
    >>> model_preset("lstm_paper").hidden
    74
    >>> model_preset("lstm", hidden=32).hidden
    32
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trainers.hyperparams import Hyperparams, LSTMHyperparams, TransformerHyperparams
from trainers.settings import SettingsError

PRESETS: Mapping[str, Hyperparams] = {
    "transformer": TransformerHyperparams(
        name="transformer",
        d_model=64,
        nhead=4,
        d_hid=128,
        nlayers=4,
        dropout=0.0,
        lr=1e-3,
        batch_size=64,
        warmup_steps=200,
    ),
    "transformer_paper": TransformerHyperparams(
        name="transformer_paper",
        d_model=256,
        nhead=2,
        d_hid=569,
        nlayers=4,
        dropout=0.413,
        lr=1e-4,
        batch_size=32,
    ),
    "lstm": LSTMHyperparams(
        name="lstm",
        hidden=64,
        dropout=0.2,
        lr=3e-3,
        batch_size=256,
    ),
    "lstm_paper": LSTMHyperparams(
        name="lstm_paper",
        hidden=74,
        dropout=0.39,
        l1=5e-5,
        l2=3e-5,
        lr=1e-3,
        batch_size=128,
    ),
}


def model_preset(name: str, **overrides: Any) -> Hyperparams:
    """The hyperparameters of preset ``name``, with ``overrides`` applied (validated).

    Raises:
        SettingsError: Unknown preset or bad override, naming the key.
    """
    if name not in PRESETS:
        raise SettingsError(f"model: unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name].replace(**overrides) if overrides else PRESETS[name]
