"""The entity-memory model through the Lightning trainer: state loss, determinism, checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stories.encoding import TransformerInputs
from trainers import LightningTrainer, TrainerConfig
from trainers.config import Hyperparams
from trainers.errors import TrainerInputError

from .conftest import Small, make_trainer


def memory_hp(**overrides: Any) -> Hyperparams:
    settings: dict[str, Any] = {"d_model": 16, "batch_size": 16, "lr": 3e-3}
    settings.update(overrides)
    return Hyperparams.of("entity_memory", **settings)


def fit_memory(trainer: LightningTrainer, small: Small, hp: Hyperparams) -> Any:
    model = trainer.build_model(hp, tokens=small.dataset.vocab.tokens)
    return model, trainer.train(model, small.train, small.val, small.meta_train, small.meta_val, hp)


@pytest.mark.parametrize("state_loss_weight", [0.0, 1.0])
def test_same_seed_same_history_and_the_best_checkpoint_reloads(
    tmp_path: Path, small: Small, state_loss_weight: float
) -> None:
    hp = memory_hp(state_loss_weight=state_loss_weight)
    histories = []
    for attempt in ("a", "b"):
        trainer = make_trainer(tmp_path / attempt, small, max_epochs=2)
        _, result = fit_memory(trainer, small, hp)
        trainer.close()
        histories.append(result.learning_curve())
    assert histories[0].equals(histories[1])
    fresh = make_trainer(tmp_path / "c", small)
    model = fresh.build_model(hp, tokens=small.dataset.vocab.tokens)
    before, _ = fresh.predict(model, small.val)
    assert result.best_checkpoint is not None
    fresh.load_checkpoint(model, result.best_checkpoint)
    after, _ = fresh.predict(model, small.val)
    assert not np.allclose(before, after)


def test_the_state_loss_changes_training(tmp_path: Path, small: Small) -> None:
    losses = {}
    for weight in (0.0, 1.0):
        trainer = make_trainer(tmp_path / str(weight), small, max_epochs=1)
        _, result = fit_memory(trainer, small, memory_hp(state_loss_weight=weight))
        trainer.close()
        losses[weight] = result.best_val_loss
    assert losses[0.0] != losses[1.0]


def test_build_model_needs_the_vocabulary(tmp_path: Path, small: Small) -> None:
    trainer = make_trainer(tmp_path / "run", small)
    with pytest.raises(TrainerInputError, match=r"tokens=dataset\.vocab\.tokens"):
        trainer.build_model(memory_hp(), small.vocab_size)
    with pytest.raises(TrainerInputError, match="tokens has"):
        trainer.build_model(memory_hp(), small.vocab_size + 1, tokens=small.dataset.vocab.tokens)


def test_the_state_loss_refuses_stories_it_cannot_read(tmp_path: Path, small: Small) -> None:
    vocab = small.dataset.vocab
    ids = np.array(small.train.input_ids, copy=True)
    ids[:, 2] = vocab.id_of("is")  # "<name> is north ." is no story sentence
    unreadable = TransformerInputs(ids, small.train.lengths, small.train.labels)
    trainer = make_trainer(tmp_path / "run", small)
    hp = memory_hp(state_loss_weight=1.0)
    model = trainer.build_model(hp, tokens=vocab.tokens)
    with pytest.raises(TrainerInputError, match=r"row 0: sentence 1 .*state_loss_weight=0"):
        trainer.train(model, unreadable, small.val, small.meta_train, small.meta_val, hp)
    trainer.close()


@pytest.mark.slow
def test_with_the_state_loss_it_learns_the_tiny_dataset(tmp_path: Path, tiny_4dir: Any) -> None:
    """Near-perfect on valid_a and on the longer stories of valid_comp and test (9-30 actors)."""
    hp = memory_hp(d_model=32, state_loss_weight=1.0, batch_size=32)
    trainer = LightningTrainer(
        tmp_path / "run", dataset=tiny_4dir, seed=0, echo=lambda line: None,
        # One thread: on a machine shared with another test worker, a thread pool of two
        # spins against it (20x slower in `make test`'s two workers).
        config=TrainerConfig(max_epochs=12, progress=False, num_threads=1),
    )  # fmt: skip
    model = trainer.build_model(hp, tokens=tiny_4dir.vocab.tokens)
    result = trainer.train(
        model, tiny_4dir.encode_transformer("train"), tiny_4dir.encode_transformer("valid_a"),
        tiny_4dir.metadata("train"), tiny_4dir.metadata("valid_a"), hp,
    )  # fmt: skip
    assert result.best_checkpoint is not None
    trainer.load_checkpoint(model, result.best_checkpoint)
    accuracy = {"valid_a": result.best_val_accuracy}
    for split in ("valid_comp", "test"):
        evaluation = trainer.evaluate(
            model, tiny_4dir.encode_transformer(split), tiny_4dir.metadata(split), split
        )
        accuracy[split] = evaluation.accuracy
    trainer.close()
    assert min(accuracy.values()) >= 0.9, accuracy
