"""On a CUDA machine: the ``trainer.*`` placement keys that ask for the GPUs it has pass the
check made before a run starts, more GPUs than it has are refused naming how many it has, and
the Keras trainer is refused several devices there too (it trains on one).

Skipped without a CUDA GPU (``pytest -m cuda`` on a GPU machine).
"""

from __future__ import annotations

import pytest
import torch

from models.settings import SettingsError
from trainers.config import TrainerConfig
from trainers.lightning.devices import check_placement
from trainers.runs.pipeline import PipelineConfig

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def test_the_gpus_the_machine_has_are_accepted() -> None:
    count = torch.cuda.device_count()
    check_placement(TrainerConfig(accelerator="gpu", devices=count))
    check_placement(TrainerConfig(accelerator="cuda", devices="auto", precision="16-mixed"))
    check_placement(TrainerConfig(devices=count))  # auto picks the GPUs


def test_more_gpus_than_the_machine_has_are_refused() -> None:
    count = torch.cuda.device_count()
    wanted = count + 1
    with pytest.raises(SettingsError, match=f"{wanted} asked for, and this machine has {count} "):
        check_placement(TrainerConfig(accelerator="gpu", devices=wanted))


def test_the_keras_trainer_is_refused_several_gpus() -> None:
    config = PipelineConfig.from_mapping(
        {
            "model": "lstm",
            "data": "all_4dir",
            "trainer": {"accelerator": "gpu", "devices": 2, "keras_backend": "jax"},
        }
    )
    with pytest.raises(SettingsError, match="the Keras trainer trains on one device"):
        config.check_trainer()
