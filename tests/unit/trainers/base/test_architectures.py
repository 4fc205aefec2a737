"""Model hyperparameters by architecture: every preset round-trips through its description,
and a mapping picks the right network settings or says why it cannot."""

from __future__ import annotations

import pytest

from models import EntityMemoryConfig, LSTMConfig, TransformerConfig
from models.settings import SettingsError
from trainers.config import PRESETS, Hyperparams
from trainers.runs.pipeline import resolve_model


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_round_trips_through_its_description(name: str) -> None:
    preset = PRESETS[name]
    description = preset.describe()
    assert description["framework"] == preset.framework
    assert description["architecture"] == preset.architecture
    assert Hyperparams.from_mapping(description) == preset
    assert resolve_model(description) == preset


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"framework": "lightning"}, TransformerConfig),
        ({"framework": "keras"}, LSTMConfig),
        ({"architecture": "entity_memory", "d_model": 8}, EntityMemoryConfig),
        ({"framework": "lightning", "architecture": "entity_memory"}, EntityMemoryConfig),
    ],
)
def test_the_architecture_picks_the_class_and_the_framework_its_default(values, expected):
    assert type(Hyperparams.from_mapping(values).network) is expected
    assert type(resolve_model(values).network) is expected


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
        Hyperparams.from_mapping(values)


def test_a_preset_name_with_another_architecture_is_refused():
    with pytest.raises(SettingsError, match=r"model 'transformer' is a transformer, not entity_m"):
        resolve_model({"name": "transformer", "architecture": "entity_memory"})


def test_each_architecture_defines_its_settings_once_and_training_keys_are_shared() -> None:
    from models import ARCHITECTURES
    from trainers.config import TrainingSettings

    training = set(TrainingSettings.keys())
    for architecture, settings in ARCHITECTURES.items():
        hp = Hyperparams.of(architecture)
        assert hp.network == settings() and hp.training == TrainingSettings()
        assert not training & set(settings.keys()), architecture
        assert set(hp.describe()) == {"framework", "architecture", "name"} | training | set(
            settings.keys()
        )
