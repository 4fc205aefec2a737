"""Model hyperparameters by architecture: every preset round-trips through its description,
and a mapping picks the right class or says why it cannot."""

from __future__ import annotations

import pytest

from trainers.hyperparams import (
    EntityMemoryHyperparams,
    LSTMHyperparams,
    TransformerHyperparams,
    hyperparams_from_mapping,
)
from trainers.pipeline import resolve_model
from trainers.presets import PRESETS
from trainers.settings import SettingsError


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_round_trips_through_its_description(name: str) -> None:
    preset = PRESETS[name]
    description = preset.describe()
    assert description["framework"] == preset.framework
    assert description["architecture"] == preset.architecture
    assert hyperparams_from_mapping(description) == preset
    assert resolve_model(description) == preset


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"framework": "lightning"}, TransformerHyperparams),
        ({"framework": "keras"}, LSTMHyperparams),
        ({"architecture": "entity_memory", "d_model": 8}, EntityMemoryHyperparams),
        ({"framework": "lightning", "architecture": "entity_memory"}, EntityMemoryHyperparams),
    ],
)
def test_the_architecture_picks_the_class_and_the_framework_its_default(values, expected):
    assert type(hyperparams_from_mapping(values)) is expected
    assert type(resolve_model(values)) is expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"architecture": "rnn"}, r"model\.architecture: 'rnn' is not one of \['transformer', "),
        ({"framework": "keras", "architecture": "entity_memory"}, r"trained by the lightning"),
        ({"framework": "jax"}, r"model\.framework: 'jax' is not one of \['keras', 'lightning'\]"),
        ({"architecture": "entity_memory", "nhead": 2}, r"model\.nhead: unknown key"),
        ({"architecture": "entity_memory", "state_loss_weight": -1}, r"state_loss_weight: must"),
    ],
)
def test_bad_architectures_name_the_key(values, message):
    with pytest.raises(SettingsError, match=message):
        hyperparams_from_mapping(values)


def test_a_preset_name_with_another_architecture_is_refused():
    with pytest.raises(SettingsError, match=r"model 'transformer' is a transformer, not entity_m"):
        resolve_model({"name": "transformer", "architecture": "entity_memory"})
