"""Trainer settings, model hyperparameters, the run manifest and the shared batch order."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models import LSTMConfig, TransformerConfig
from models.settings import SettingsError
from trainers.batching import epoch_batches, lr_multiplier, steps_per_epoch
from trainers.config import Hyperparams, TrainerConfig, TrainingSettings
from trainers.records.manifest import RunManifest


@pytest.mark.parametrize(
    ("cls", "values", "message"),
    [
        (TrainerConfig, {"max_epochs": "ten"}, r"trainer\.max_epochs: expected int, got 'ten'"),
        (TrainerConfig, {"max_epochs": True}, r"trainer\.max_epochs: expected int"),
        (TrainerConfig, {"top_k": -2}, r"trainer\.top_k: must be -1"),
        (TrainerConfig, {"precision": "8"}, r"trainer\.precision: '8' is not one of"),
        (TrainerConfig, {"devices": "two"}, r"trainer\.devices: must be a positive integer"),
        (TrainerConfig, {"keras_backend": "mxnet"}, r"trainer\.keras_backend"),
        (TrainerConfig, {"epochs": 3}, r"trainer\.epochs: unknown key; valid keys are"),
        (TransformerConfig, {"d_model": 30, "nhead": 4}, r"model\.d_model: 30 must be"),
        (TrainingSettings, {"lr": 0}, r"model\.lr: must be > 0"),
        (TrainingSettings, {"lr_schedule": "step"}, r"model\.lr_schedule: 'step'"),
        (TransformerConfig, {"dropout": 1.0}, r"model\.dropout: must be in \[0, 1\)"),
        (LSTMConfig, {"l2": -1e-3}, r"model\.l2: must be >= 0"),
        (LSTMConfig, {"hidden": 64.5}, r"model\.hidden: expected int, got 64\.5"),
        (Hyperparams, {"architecture": "lstm", "hidden": 64.5}, r"model\.hidden: expected int"),
        (Hyperparams, {"architecture": "transformer", "lr": 0}, r"model\.lr: must be > 0"),
    ],
)
def test_bad_settings_name_the_key(cls, values, message):
    with pytest.raises(SettingsError, match=message):
        cls.from_mapping(values)


def test_settings_accept_ints_for_floats_and_round_trip():
    config = TrainerConfig.from_mapping({"min_delta": 0, "devices": "auto"})
    assert config.min_delta == 0.0 and isinstance(config.min_delta, float)
    hp = Hyperparams.from_mapping({"hidden": 32, "framework": "keras"})
    assert Hyperparams.from_mapping(hp.describe()) == hp
    assert hp.replace(hidden=16).arguments["hidden"] == 16
    assert hp.replace(lr=0.5).training.lr == 0.5
    with pytest.raises(SettingsError, match=r"model\.hiden"):
        hp.replace(hiden=16)
    assert Hyperparams.of("transformer").framework == "lightning" and hp.framework == "keras"


def test_manifest_round_trips_and_rejects_damage(tmp_path):
    manifest = RunManifest.start(tmp_path, framework="lightning", model="transformer", seed=3)
    manifest.update(best={"epoch": 2})
    manifest.finish("failed", "RuntimeError: x")
    loaded = RunManifest.load(tmp_path)
    assert loaded.to_dict() == manifest.to_dict()
    assert loaded.status == "failed" and loaded.hardware["cpu_count"] >= 1
    with pytest.raises(AttributeError, match="no field 'bets'"):
        loaded.update(bets={})
    (tmp_path / "manifest.json").write_text("{truncated")
    with pytest.raises(ValueError, match="not valid JSON"):
        RunManifest.load(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"run_id": "x"}))
    with pytest.raises(ValueError, match="not a run manifest"):
        RunManifest.load(tmp_path)


def test_epoch_batches_cover_every_row_once_and_vary_by_epoch():
    lengths = np.random.default_rng(1).integers(5, 300, size=1003)
    first = epoch_batches(lengths, 64, seed=0, epoch=0)
    assert sorted(np.concatenate(first).tolist()) == list(range(1003))
    assert len(first) == steps_per_epoch(1003, 64)
    again = epoch_batches(lengths, 64, seed=0, epoch=0)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    other = epoch_batches(lengths, 64, seed=0, epoch=1)
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_bucketing_cuts_padding():
    lengths = np.random.default_rng(2).integers(5, 300, size=6400)

    def padded(batches):
        return sum(len(b) * int(lengths[b].max()) for b in batches)

    bucketed = epoch_batches(lengths, 64, seed=0, epoch=0)
    plain = epoch_batches(lengths, 64, seed=0, epoch=0, bucket_by_length=False)
    assert padded(bucketed) < 0.7 * padded(plain)


def test_lr_schedules():
    assert [lr_multiplier(s, 10, 2, "constant") for s in (0, 1, 5)] == [0.5, 1.0, 1.0]
    assert lr_multiplier(2, 10, 2, "cosine") == pytest.approx(1.0)
    assert lr_multiplier(6, 10, 2, "cosine") == pytest.approx(0.5)
    assert lr_multiplier(10, 10, 2, "linear") == pytest.approx(0.0)
    with pytest.raises(ValueError, match="unknown lr schedule"):
        lr_multiplier(5, 10, 0, "step")


def test_pipeline_config_round_trips_through_its_plain_form():
    from trainers.runs.pipeline import PipelineConfig

    config = PipelineConfig.from_mapping(
        {"model": "lstm", "data": {"name": "all_2dir", "directions": 2, "size": "tiny"}}
    )
    again = PipelineConfig.from_mapping(config.to_dict())
    assert again.to_dict() == config.to_dict() and again == config
