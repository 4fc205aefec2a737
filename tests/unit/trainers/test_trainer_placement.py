"""The ``trainer.*`` placement keys (accelerator, devices, num_nodes, strategy, precision):
refused for the framework that cannot honour them, and checked against this machine."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

from models.settings import SettingsError
from trainers.config import TrainerConfig
from trainers.runs.pipeline import PipelineConfig


def test_only_changed_placement_keys_are_overrides() -> None:
    assert TrainerConfig().placement_overrides() == ()
    assert TrainerConfig(max_epochs=3, num_threads=2).placement_overrides() == ()
    changed = TrainerConfig(accelerator="cpu", devices="auto", precision="32")
    assert changed.placement_overrides() == ("accelerator", "devices", "precision")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"devices": 2}, "trainer.devices: 2 asked for, but the Keras trainer trains on one"),
        ({"devices": "auto"}, "trainer.devices: auto asked for, but the Keras trainer"),
        ({"num_nodes": 2}, "trainer.num_nodes: 2 asked for, but the Keras trainer trains on one"),
        ({"strategy": "mirrored"}, "trainer.strategy: 'mirrored' asked for, but the Keras"),
        ({"accelerator": "mps"}, "trainer.accelerator: 'mps' asked for, but the Keras trainer"),
    ],
)
def test_the_keras_trainer_refuses_what_it_cannot_honour(
    settings: dict[str, Any], message: str
) -> None:
    config = TrainerConfig(**settings)
    config.check_framework("lightning")  # Lightning honours every one of them
    with pytest.raises(SettingsError, match=re.escape(message)):
        config.check_framework("keras")


def test_the_keras_trainer_takes_its_own_keys() -> None:
    TrainerConfig(accelerator="cpu", precision="32", num_threads=1).check_framework("keras")


def test_a_pipeline_refuses_a_keras_strategy_before_importing_a_framework() -> None:
    config = PipelineConfig.from_mapping(
        {"model": "lstm", "data": "all_4dir", "trainer": {"strategy": "ddp", "devices": 2}}
    )
    with pytest.raises(SettingsError, match=r"trainer\.devices: 2 asked for"):
        config.check_trainer()


# --- the Lightning side: this machine (a fake GPU count where it matters) ------------------


def test_more_gpus_than_the_machine_has_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from trainers.lightning.devices import check_placement

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(SettingsError, match="3 asked for, and this machine has 2 CUDA GPUs"):
        check_placement(TrainerConfig(accelerator="gpu", devices=3))


def test_cpu_devices_are_processes_at_most_one_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    from trainers.lightning import devices

    monkeypatch.setattr(devices, "cpu_cores", lambda: 2)
    devices.check_placement(TrainerConfig(accelerator="cpu", devices=2, strategy="ddp"))
    with pytest.raises(SettingsError, match=r"3 asked for on CPU.*has 2 CPU cores"):
        devices.check_placement(TrainerConfig(accelerator="cpu", devices=3))


def test_several_nodes_need_a_multi_node_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    from trainers.lightning.devices import check_placement

    for name in ("MASTER_ADDR", "NODE_RANK", "SLURM_NTASKS", "TORCHELASTIC_RUN_ID", "LSB_JOBID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SettingsError, match="would wait for the other nodes forever"):
        check_placement(TrainerConfig(num_nodes=2))
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("NODE_RANK", "0")
    check_placement(TrainerConfig(num_nodes=2))  # one node of a job started by hand


def test_a_ddp_worker_does_not_check_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from trainers.lightning.devices import check_placement

    monkeypatch.setenv("LOCAL_RANK", "1")
    check_placement(TrainerConfig(strategy="not-a-strategy"))  # rank zero checked it


# --- the Keras side: the backend's GPU, faked --------------------------------------------


@pytest.fixture
def keras_gpu(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """What the Keras backend sees: set ``keras_gpu[0]`` to a GPU name or ``None``."""
    from trainers.keras import backend

    seen: list[str | None] = [None]
    monkeypatch.setattr(backend, "use_backend", lambda name: None)
    monkeypatch.setattr(backend, "backend_gpu", lambda name: seen[0])
    return seen


def test_keras_needs_a_gpu_its_backend_sees(keras_gpu: list[str | None]) -> None:
    from trainers.keras.backend import check_placement

    config = TrainerConfig(accelerator="gpu", keras_backend="jax")
    with pytest.raises(SettingsError, match="the Keras jax backend sees no GPU"):
        check_placement(config)
    keras_gpu[0] = "NVIDIA H200"
    check_placement(config)
    check_placement(config.replace(precision="bf16-mixed"))


def test_keras_takes_mixed_precision_on_a_gpu_only(keras_gpu: list[str | None]) -> None:
    from trainers.keras.backend import check_placement

    with pytest.raises(SettingsError, match="trains in float32 on CPU"):
        check_placement(TrainerConfig(precision="16-mixed"))
    keras_gpu[0] = "NVIDIA H200"
    check_placement(TrainerConfig(precision="16-mixed"))
    with pytest.raises(SettingsError, match=r"float32 on CPU .*, and trainer.accelerator=cpu"):
        check_placement(TrainerConfig(accelerator="cpu", precision="16-mixed"))


def test_keras_training_from_python_refuses_several_devices_too() -> None:
    """``KerasTrainer`` used directly (no pipeline): its fit refuses, it does not ignore."""
    from trainers.keras.fit import KerasFit

    with pytest.raises(SettingsError, match=r"trainer\.devices: 2 asked for"):
        KerasFit(
            None,  # type: ignore[arg-type]  # refused before the request is read
            config=TrainerConfig(devices=2),
            seed=0,
            backup_dir=Path("backup"),
            width_multiple=1,
            run_dir=Path("run"),
        )


def test_keras_on_jax_warns_that_it_does_not_limit_threads(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import keras

    from trainers.keras.backend import seed_and_configure

    monkeypatch.setattr(keras.config, "backend", lambda: "jax")
    monkeypatch.setattr(keras.utils, "set_random_seed", lambda seed: None)
    with caplog.at_level(logging.WARNING, logger="trainers.keras.backend"):
        seed_and_configure(0, True, None)
        assert caplog.text == ""
        seed_and_configure(0, True, 1)
    assert "trainer.num_threads=1 is not applied: the Keras jax backend" in caplog.text
