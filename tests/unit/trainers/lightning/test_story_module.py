"""``StoryModule``'s optimiser and per-step schedule; ``RoutineRelay`` pickling."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import pytest
import torch

from trainers.batching import lr_multiplier
from trainers.config import Hyperparams
from trainers.lightning.module import StoryModule
from trainers.lightning.relay import RoutineRelay


def _module(**overrides: object) -> StoryModule:
    hp = Hyperparams.of("transformer", d_model=8, nhead=2, d_hid=16, nlayers=1, **overrides)
    model = hp.build(vocab_size=20)
    module = StoryModule(model, hp, seed=0)
    module._trainer = SimpleNamespace(estimated_stepping_batches=20)  # type: ignore[assignment]
    return module


@pytest.mark.parametrize(
    ("weight_decay", "kind"), [(0.0, torch.optim.Adam), (0.01, torch.optim.AdamW)]
)
def test_adam_or_adamw_by_weight_decay(weight_decay: float, kind: type) -> None:
    optimizer = _module(weight_decay=weight_decay).configure_optimizers()["optimizer"]
    assert type(optimizer) is kind
    assert optimizer.param_groups[0]["weight_decay"] == weight_decay


def test_learning_rate_follows_the_shared_schedule_per_step() -> None:
    setup = _module(lr=0.01, lr_schedule="cosine", warmup_steps=4).configure_optimizers()
    optimizer, scheduler = setup["optimizer"], setup["lr_scheduler"]
    assert scheduler["interval"] == "step"
    seen = []
    for _ in range(20):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler["scheduler"].step()
    expected = [0.01 * lr_multiplier(step, 20, 4, "cosine") for step in range(20)]
    assert seen == pytest.approx(expected)


def test_hyperparameters_are_plain_containers() -> None:
    hparams = dict(_module().hparams)
    assert hparams["model"]["vocab_size"] == 20 and hparams["hyperparams"]["d_model"] == 8
    assert pickle.loads(pickle.dumps(hparams)) == hparams


def test_relay_travels_without_the_routine() -> None:
    class Unpicklable:
        def __reduce__(self) -> object:
            raise TypeError("open file handles")

    relay = RoutineRelay(Unpicklable(), spawn=False)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pickle.dumps(relay.routine)
    copy = pickle.loads(pickle.dumps(relay))
    assert copy.routine is None
