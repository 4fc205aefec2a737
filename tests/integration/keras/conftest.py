"""Shared pieces of the Keras trainer's integration tests: tiny model, tiny data, quiet runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trainers.config import Hyperparams, TrainerConfig

HP = Hyperparams.of(
    "lstm", name="lstm", hidden=8, embedding_dim=8, batch_size=64, dropout=0.2, l2=1e-4
)


@pytest.fixture
def splits(tiny_4dir: Any) -> dict[str, Any]:
    pairs = {s: (tiny_4dir.encode_lstm(s), tiny_4dir.metadata(s)) for s in ("train", "valid_a")}
    return {**pairs, "vocab_size": len(tiny_4dir.vocab)}


@pytest.fixture
def make_trainer(tmp_path: Path, tiny_4dir: Any) -> Callable[..., Any]:
    from trainers.keras.trainer import KerasTrainer

    def make(name: str = "run", **config: Any) -> Any:
        settings = {"max_epochs": 2, "top_k": 2, "progress": False, **config}
        return KerasTrainer(
            tmp_path / "runs" / name,
            dataset=tiny_4dir,
            seed=0,
            config=TrainerConfig(**settings),
            echo=lambda line: None,
        )

    return make


def fit(trainer: Any, splits: dict[str, Any], hp: Hyperparams = HP, **kwargs: Any) -> Any:
    (train, meta_train), (val, meta_val) = splits["train"], splits["valid_a"]
    model = trainer.build_model(hp, vocab_size=splits["vocab_size"])
    return model, trainer.train(model, train, val, meta_train, meta_val, hp, **kwargs)
