"""Evaluating with the Keras trainer shows a progress bar naming the split, on stderr, and
nothing when ``trainer.progress`` is off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .conftest import HP


def test_evaluation_shows_a_bar_naming_the_split_only_when_progress_is_on(
    make_trainer: Callable[..., Any], splits: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    val, meta_val = splits["valid_a"]
    for progress in (True, False):
        trainer = make_trainer(str(progress), progress=progress)
        model = trainer.build_model(HP, vocab_size=splits["vocab_size"])
        capsys.readouterr()
        trainer.evaluate(model, val, meta_val, "valid_a", report=False, save=False)
        err = capsys.readouterr().err
        if progress:
            assert "evaluating valid_a" in err and f"/{len(val)}" in err
        else:
            assert err == ""


def test_predict_reports_every_row_batch_by_batch(
    make_trainer: Callable[..., Any], splits: dict[str, Any]
) -> None:
    val, _ = splits["valid_a"]
    trainer = make_trainer(eval_batch_size=64)
    model = trainer.build_model(HP, vocab_size=splits["vocab_size"])
    done: list[int] = []
    trainer.predict(model, val, progress=done.append)
    assert done == [64, 64, len(val) - 128] and sum(done) == len(val)
