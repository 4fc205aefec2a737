"""The Keras schedule equals the shared ``lr_multiplier`` at every step."""

from __future__ import annotations

import pytest

from trainers.batching import lr_multiplier
from trainers.keras.schedule import WarmupDecay


@pytest.mark.parametrize("schedule", ["constant", "cosine", "linear"])
@pytest.mark.parametrize("warmup", [0, 4])
def test_matches_lr_multiplier(schedule: str, warmup: int) -> None:
    decay = WarmupDecay(0.01, total_steps=20, warmup_steps=warmup, schedule=schedule)
    for step in range(0, 24):
        expected = 0.01 * lr_multiplier(step, 20, warmup, schedule)
        assert float(decay(step)) == pytest.approx(expected, abs=1e-8), step


def test_round_trips_its_config_and_rejects_unknown_schedules() -> None:
    decay = WarmupDecay(0.5, 10, 2, "linear")
    assert WarmupDecay.from_config(decay.get_config()).get_config() == decay.get_config()
    with pytest.raises(ValueError, match="unknown lr schedule"):
        WarmupDecay(0.5, 10, 2, "step")
