"""Through the real per-epoch routine: the checkpoint files on disk are exactly the top-k,
and best/top_epochs fields, console marks and outcomes agree with them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metrics import namespaces as ns
from trainers.checkpoints import TopKPolicy
from trainers.tracking import TrackerConfig, open_tracker

from .simulation import read_jsonl, start, train

# Accuracies on 60 examples (exact multiples of 1/60), k=3. Epochs 0-2 fill the top-3 (all
# 0.70); epoch 3 only ties the worst kept value: not kept, the earlier epochs win. Epoch 4
# (0.75) evicts the latest of the tied worst (epoch 2), so the earlier epochs win again;
# epoch 5 (0.80) evicts epoch 1; epoch 6 (0.70) ties the worst kept (epoch 0): not kept.
ACCURACIES = [42 / 60, 42 / 60, 42 / 60, 42 / 60, 45 / 60, 48 / 60, 42 / 60]


def checkpoint_files(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir() if p.suffix == ".h5"}


def test_topk_files_best_and_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "runs" / "r"
    with open_tracker(TrackerConfig(sinks=()), tmp_path, run_dir) as tracker:
        run = start(tracker, run_dir, TopKPolicy(k=3))
        run.routine.echo = print
        train(run, range(len(ACCURACIES)), ACCURACIES)
    files = run.files
    expected = {files.epoch_filename(e, ACCURACIES[e]) for e in (0, 4, 5)}
    assert checkpoint_files(files.directory) == expected | {
        files.best_filename,
        files.last_filename,
    }
    assert json.loads((files.directory / files.best_filename).read_text()) == {
        "weights_of_epoch": 5
    }
    assert json.loads((files.directory / files.last_filename).read_text()) == {
        "weights_of_epoch": 6
    }

    outcomes = run.outcomes
    assert [o.top_k_rank for o in outcomes] == [1, 2, 3, None, 1, 1, None]
    assert [o.is_new_best for o in outcomes] == [True, False, False, False, True, True, False]
    assert outcomes[4].delete == (files.epoch_filename(2, 0.7),)
    assert outcomes[5].delete == (files.epoch_filename(1, 0.7),)
    assert outcomes[3].checkpoint is None and outcomes[5].checkpoint == files.epoch_filename(5, 0.8)

    fields = read_jsonl(run_dir).fields
    assert fields[ns.best("epoch")] == 5
    assert fields[ns.best("checkpoint")] == files.epoch_filename(5, 0.8)
    ranked = [
        (fields[ns.top_epoch(r, "epoch")], fields[ns.top_epoch(r, "checkpoint")]) for r in (1, 2, 3)
    ]
    assert ranked == [
        (5, files.epoch_filename(5, 0.8)),
        (4, files.epoch_filename(4, 0.75)),
        (0, files.epoch_filename(0, 0.7)),
    ]

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(ACCURACIES)
    assert (
        lines[5].startswith("epoch 005") and "* new best" in lines[5] and "+ top-3 #1" in lines[5]
    )
    assert "new best" not in lines[3] and "top-3" not in lines[3]
    assert "new best" not in lines[1] and "+ top-3 #2" in lines[1]
