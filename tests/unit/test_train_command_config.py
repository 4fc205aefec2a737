"""How ``conf/train.yaml`` composes the keys that depend on each other (no training)."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir

from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def compose_train():
    from scripts._cli import register_configs

    register_configs()

    def composed(*overrides: str):
        with initialize_config_dir(str(REPO_ROOT / "conf"), version_base="1.3"):
            return compose("train", overrides=list(overrides))

    return composed


@pytest.mark.parametrize(
    "overrides, data_bars, training_bars",
    [
        ((), True, True),
        (("progress=false",), False, False),
        (("progress=false", "trainer.progress=true"), False, True),
        (("trainer.progress=false",), True, False),
    ],
)
def test_progress_hides_every_bar_unless_the_trainer_says_otherwise(
    compose_train, overrides, data_bars, training_bars
) -> None:
    config = compose_train(*overrides)
    assert config.progress is data_bars
    assert config.trainer.progress is training_bars
