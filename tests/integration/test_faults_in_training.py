"""Faults inside a training run, for both trainers alike: a tracker sink that fails mid-run and
a checkpoint save that fails (full disk). The run must finish, with ``metrics.jsonl`` whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trainers.config import TrainerConfig
from trainers.records.manifest import RunManifest
from trainers.runs.pipeline import trainer_class
from trainers.tracking import TrackerConfig
from trainers.tracking.sinks.mlflow import MlflowSink

from .test_alignment import MODELS
from .tracking.simulation import read_jsonl

pytestmark = pytest.mark.slow

EPOCHS = 3


def train(framework: str, dataset: Any, run_dir: Path, **config: Any) -> Any:
    hp = MODELS[framework]
    trainer = trainer_class(framework)(
        run_dir,
        dataset=dataset,
        seed=0,
        config=TrainerConfig(max_epochs=EPOCHS, progress=False, **config),
        tracker=TrackerConfig(sinks=("jsonl", "mlflow")),
        echo=lambda line: None,
    )
    with trainer:
        model = trainer.build_model(hp, vocab_size=len(dataset.vocab))
        return trainer, trainer.train(
            model,
            trainer.encode(dataset, "train"),
            trainer.encode(dataset, "valid_a"),
            dataset.metadata("train"),
            dataset.metadata("valid_a"),
            hp,
        )


@pytest.mark.parametrize("framework", ["lightning", "keras"])
def test_a_sink_failing_mid_run_leaves_the_run_and_metrics_jsonl_whole(
    framework: str, tiny_4dir: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_metrics = MlflowSink.log_metrics

    def failing_from_epoch_one(self: MlflowSink, metrics: Any, step: int) -> None:
        if step >= 1:
            raise ConnectionError("tracking server went away")
        log_metrics(self, metrics, step)

    monkeypatch.setattr(MlflowSink, "log_metrics", failing_from_epoch_one)
    trainer, result = train(framework, tiny_4dir, tmp_path / "run")

    assert result.epochs_completed == EPOCHS
    assert RunManifest.load(tmp_path / "run").status == "finished"
    assert set(trainer.tracker.disabled) == {"mlflow"}
    assert "tracking server went away" in trainer.tracker.disabled["mlflow"]
    steps = {step for name, step in read_jsonl(tmp_path / "run").series if "val/accuracy" in name}
    assert steps == set(range(EPOCHS))


def test_a_failed_keras_save_goes_to_the_fallback_directory(
    tiny_4dir: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainers.keras.checkpoint import TopKCheckpoint

    save = TopKCheckpoint._save

    def full_disk_in_epoch_one(self: TopKCheckpoint, path: Path) -> None:
        if path.parent.name == "checkpoints" and "epoch=001" in path.name:
            raise OSError(28, "No space left on device")
        save(self, path)

    monkeypatch.setattr(TopKCheckpoint, "_save", full_disk_in_epoch_one)
    _, result = train("keras", tiny_4dir, tmp_path / "run", top_k=-1)

    assert result.epochs_completed == EPOCHS
    epoch_one = {entry.filename for entry in result.top_k if entry.epoch == 1}
    fallback = tmp_path / "run" / "checkpoints_fallback"
    assert {p.name for p in fallback.iterdir()} == epoch_one
    assert len(result.top_k_checkpoints) == EPOCHS
