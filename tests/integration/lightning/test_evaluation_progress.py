"""Evaluating with the Lightning trainer shows a progress bar naming the split, on stderr, and
nothing when ``trainer.progress`` is off (Transformer and entity memory alike)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trainers.config import Hyperparams

from .conftest import Small, hyperparams, make_trainer

MODELS = {
    "transformer": hyperparams(),
    "entity_memory": Hyperparams.of("entity_memory", d_model=16, batch_size=16),
}


def build(trainer: Any, small: Small, name: str) -> Any:
    return trainer.build_model(MODELS[name], tokens=small.dataset.vocab.tokens)


@pytest.mark.parametrize("name", list(MODELS))
def test_evaluation_shows_a_bar_naming_the_split_only_when_progress_is_on(
    tmp_path: Path, small: Small, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for progress in (True, False):
        trainer = make_trainer(tmp_path / str(progress), small, progress=progress)
        model = build(trainer, small, name)
        capsys.readouterr()
        trainer.evaluate(model, small.val, small.meta_val, "test", report=False, save=False)
        err = capsys.readouterr().err
        if progress:
            assert "evaluating test" in err and f"/{len(small.val)}" in err
        else:
            assert err == ""


def test_predict_reports_every_row_batch_by_batch(tmp_path: Path, small: Small) -> None:
    trainer = make_trainer(tmp_path, small, eval_batch_size=16)
    model = build(trainer, small, "transformer")
    done: list[int] = []
    trainer.predict(model, small.val, progress=done.append)
    assert done == [16, 16, 16] and sum(done) == len(small.val)


def test_predict_with_bar_names_its_work_and_returns_what_predict_does(
    tmp_path: Path, small: Small, capsys: pytest.CaptureFixture[str]
) -> None:
    trainer = make_trainer(tmp_path, small, progress=True)
    model = build(trainer, small, "transformer")
    capsys.readouterr()
    probabilities, losses = trainer.predict_with_bar(model, small.val, "diagnosing test")
    assert "diagnosing test" in capsys.readouterr().err
    expected = trainer.predict(model, small.val)
    assert (probabilities == expected[0]).all() and (losses == expected[1]).all()
