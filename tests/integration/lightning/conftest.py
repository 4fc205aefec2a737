"""Fixtures for the Lightning trainer tests: a small slice of the tiny dataset, small models."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from stories.encoding import TransformerInputs
from trainers import Hyperparams, LightningTrainer, TrainerConfig

N_TRAIN = 64
N_VAL = 48


@dataclass(frozen=True)
class Small:
    """A slice of tiny_4dir: training and validation inputs with their metadata."""

    train: TransformerInputs
    val: TransformerInputs
    meta_train: pd.DataFrame
    meta_val: pd.DataFrame
    vocab_size: int
    dataset: Any


def _slice(data: TransformerInputs, rows: np.ndarray) -> TransformerInputs:
    return TransformerInputs(data.input_ids[rows], data.lengths[rows], data.labels[rows])


def _rows(metadata: pd.DataFrame, n: int) -> np.ndarray:
    return np.sort(np.random.default_rng(0).choice(len(metadata), n, replace=False))


@pytest.fixture(scope="session")
def small(tiny_4dir: Any) -> Small:
    ds = tiny_4dir
    train, val = ds.encode_transformer("train"), ds.encode_transformer("valid_a")
    meta_train, meta_val = ds.metadata("train"), ds.metadata("valid_a")
    rows_t, rows_v = _rows(meta_train, N_TRAIN), _rows(meta_val, N_VAL)
    return Small(
        _slice(train, rows_t),
        _slice(val, rows_v),
        meta_train.iloc[rows_t].reset_index(drop=True),
        meta_val.iloc[rows_v].reset_index(drop=True),
        len(ds.vocab),
        ds,
    )


def hyperparams(**overrides: Any) -> Hyperparams:
    """A model that trains in well under a second per epoch on :data:`N_TRAIN` rows."""
    settings: dict[str, Any] = {
        "d_model": 16,
        "nhead": 2,
        "d_hid": 32,
        "nlayers": 1,
        "batch_size": 16,
        "lr": 3e-3,
    }
    settings.update(overrides)
    return Hyperparams.of("transformer", **settings)


def make_trainer(run_dir: Path, small: Small, **config: Any) -> LightningTrainer:
    settings: dict[str, Any] = {"max_epochs": 3, "progress": False, "top_k": 2}
    settings.update(config)
    return LightningTrainer(
        run_dir,
        dataset=small.dataset,
        seed=0,
        config=TrainerConfig(**settings),
        echo=lambda line: None,
    )


def fit(trainer: LightningTrainer, small: Small, hp: Hyperparams, **kwargs: Any) -> Any:
    model = trainer.build_model(hp, small.vocab_size)
    return model, trainer.train(
        model, small.train, small.val, small.meta_train, small.meta_val, hp, **kwargs
    )


def timeless(values: dict[tuple[str, int], float]) -> dict[tuple[str, int], float]:
    """Every series but those that measure time (they differ between identical runs)."""
    from metrics import namespaces as ns

    return {key: v for key, v in values.items() if key[0] not in ns.wall_clock_series()}


def series(run_dir: Path) -> dict[tuple[str, int], float]:
    """``metrics.jsonl`` series as ``{(name, step): value}``; a repeated key fails."""
    import json

    values: dict[tuple[str, int], float] = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("kind") == "series":
            key = (record["name"], record["step"])
            assert key not in values, f"{key} logged twice"
            values[key] = record["value"]
    return values
