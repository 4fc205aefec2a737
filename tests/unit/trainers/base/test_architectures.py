"""Model configs: every preset round-trips through its description; a config's target, its
arguments and its framework are checked before anything is built, naming the key."""

from __future__ import annotations

import pytest

from models.settings import SettingsError
from trainers.config import PRESETS, Hyperparams, TrainingSettings, model_preset, preset_config
from trainers.config.model import BUILT_IN
from trainers.runs.pipeline import resolve_model


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_round_trips_through_its_description(name: str) -> None:
    preset = model_preset(name)
    description = preset.describe()
    assert description["_target_"] == PRESETS[name]["_target_"]
    assert description["framework"] == PRESETS[name]["framework"]
    assert Hyperparams.from_mapping(description) == preset
    assert resolve_model(description) == preset
    assert set(description) == set(preset_config(name))  # every key the CLI may override


@pytest.mark.parametrize(
    ("values", "target"),
    [
        ({"framework": "lightning"}, "models.transformer.StoryTransformer"),
        ({"framework": "keras"}, "models.lstm.build_lstm"),
        (
            {"architecture": "entity_memory", "d_model": 8},
            "models.entity_memory.EntityMemoryNetwork",
        ),
        ({"name": "lstm_paper", "hidden": 8}, "models.lstm.build_lstm"),
    ],
)
def test_old_run_configs_and_preset_names_resolve_to_a_target(values, target):
    assert resolve_model(values).target == target


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"architecture": "rnn"}, r"model\.architecture: 'rnn' is not one of \['transformer', "),
        ({"framework": "keras", "architecture": "entity_memory"}, r"trained by the lightning"),
        ({"framework": "jax"}, r"model\.framework: 'jax' is not one of \['lightning', 'keras'\]"),
        ({"architecture": "entity_memory", "nhead": 2}, r"model\.nhead: unknown key"),
        ({"architecture": "entity_memory", "state_loss_weight": -1}, r"state_loss_weight: must"),
        (
            {"_target_": "no_such_module.Model", "framework": "lightning"},
            r"model\._target_: cannot import 'no_such_module\.Model' \(ModuleNotFoundError",
        ),
        (
            {"_target_": "math.pi", "framework": "lightning"},
            r"model\._target_: math\.pi is not callable",
        ),
        (
            {"_target_": "models.lstm_torch.DualLSTM", "framework": "lightning", "hiden": 8},
            r"model\.hiden: models\.lstm_torch\.DualLSTM takes no argument 'hiden'; it takes \[",
        ),
        (
            {"_target_": "models.lstm_torch.DualLSTM", "framework": "lightning", "vocab_size": 8},
            r"model\.vocab_size: storyqa passes it from the data",
        ),
        (
            {"_target_": "models.transformer.StoryTransformer", "framework": "keras"},
            r"model\.framework: transformer .* is trained by the lightning trainer, not keras",
        ),
        ({"_target_": "collections.OrderedDict", "framework": "lightning"}, None),
    ],
)
def test_bad_model_configs_name_the_key(values, message):
    if message is None:  # a callable that takes anything: checked when built, not before
        assert Hyperparams.from_mapping(values).target == "collections.OrderedDict"
        return
    with pytest.raises(SettingsError, match=message):
        Hyperparams.from_mapping(values)


def test_a_required_argument_without_a_value_is_named() -> None:
    with pytest.raises(SettingsError, match=r"model\.width: required by .*; give model\.width="):
        Hyperparams.from_mapping({"_target_": f"{__name__}.needs_width", "framework": "lightning"})
    hp = Hyperparams.from_mapping(
        {"_target_": f"{__name__}.needs_width", "framework": "lightning", "width": 3, "lr": 0.1}
    )
    assert hp.arguments == {"width": 3} and hp.training.lr == 0.1 and hp.name == "needs_width"
    assert hp.build(vocab_size=7) == (7, 3)


def needs_width(vocab_size: int, width: int) -> tuple[int, int]:
    return vocab_size, width


def test_training_keys_are_shared_and_arguments_get_their_settings_defaults() -> None:
    training = set(TrainingSettings.keys())
    for network, built_in in BUILT_IN.items():
        hp = Hyperparams.of(network)
        assert dict(hp.arguments) == built_in.settings().to_dict()
        assert hp.training == TrainingSettings()
        assert not training & set(hp.arguments), network
