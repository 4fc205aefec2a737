"""Any PyTorch model of the contract trains, resumes, loads its checkpoint and evaluates from
Python, passed to the trainer as an object (not built by storyqa), with only its training
settings in a ``Hyperparams``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.e2e.user_models import MeanEmbedding, TwoLogits
from tests.integration.lightning.conftest import Small, make_trainer, series, timeless
from trainers import Hyperparams, TrainingSettings
from trainers.errors import TrainerInputError

HP = Hyperparams("mean_embedding", "lightning", training=TrainingSettings(lr=3e-3, batch_size=16))


def _model(trainer, small: Small) -> MeanEmbedding:  # type: ignore[no-untyped-def]
    trainer.seed_everything()  # the same seed, the same initial weights
    return MeanEmbedding(small.vocab_size, width=8)


def _train(trainer, small: Small, model, **kwargs):  # type: ignore[no-untyped-def]
    return trainer.train(model, small.train, small.val, small.meta_train, small.meta_val, HP,
                         **kwargs)  # fmt: skip


@pytest.mark.slow
def test_a_model_object_trains_resumes_and_evaluates_like_a_built_one(
    tmp_path: Path, small: Small
) -> None:
    whole = make_trainer(tmp_path / "runs" / "whole", small)
    whole_result = _train(whole, small, _model(whole, small))
    whole.close()

    first = make_trainer(tmp_path / "runs" / "split", small, max_epochs=2)
    _train(first, small, _model(first, small))
    first.close()
    second = make_trainer(tmp_path / "runs" / "split", small)
    model = _model(second, small)
    result = _train(second, small, model, resume_from=second.run_dir)
    assert result.best_epoch == whole_result.best_epoch
    assert result.best_val_accuracy == whole_result.best_val_accuracy
    assert timeless(series(second.run_dir)) == timeless(series(whole.run_dir))

    second.load_checkpoint(model, result.best_checkpoint)
    evaluation = second.evaluate(model, small.val, small.meta_val, "valid_a", report=False)
    assert evaluation.accuracy == pytest.approx(result.best_val_accuracy)
    second.close()
    saved = torch.load(result.best_checkpoint, weights_only=True)
    assert saved["hyper_parameters"]["model"] == {"_target_": None, "vocab_size": small.vocab_size}


def test_a_model_with_the_wrong_output_shape_is_refused_before_training(
    tmp_path: Path, small: Small
) -> None:
    trainer = make_trainer(tmp_path / "runs" / "bad", small)
    with pytest.raises(TrainerInputError, match=r"got Tensor of shape \[2, 2\]"):
        _train(trainer, small, TwoLogits(small.vocab_size))
    assert not (trainer.run_dir / "manifest.json").exists()
    trainer.close()
