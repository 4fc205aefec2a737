"""KerasTrainer end to end on the tiny dataset (TensorFlow backend, CPU)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from metrics import EvaluationResult
from metrics import namespaces as ns
from metrics.history import read_metrics_jsonl
from tests.clocks import TickingClock
from trainers.errors import CheckpointError, NonFiniteLossError, ResumeError
from trainers.keras.backup import AtomicBackupAndRestore
from trainers.records.manifest import RunManifest

from .conftest import HP, fit


def timeless(values: dict[tuple[str, int], float]) -> dict[tuple[str, int], float]:
    """Every series but those that measure time (they differ between identical runs)."""
    return {key: v for key, v in values.items() if key[0] not in ns.wall_clock_series()}


def series(run_dir) -> dict[tuple[str, int], float]:
    return {
        (r.name, r.step): r.value
        for r in read_metrics_jsonl(run_dir / "metrics.jsonl")
        if r.step is not None
    }


@pytest.mark.slow
def test_train_logs_checkpoints_and_evaluates(make_trainer, splits) -> None:
    trainer = make_trainer()
    model, result = fit(trainer, splits)
    names = {name for name, _ in series(trainer.run_dir)}
    assert {"metrics/train/loss", "metrics/val/accuracy"} <= names
    assert any(n.startswith("metrics/val/by_category_noun/") for n in names)
    history = result.history
    assert list(history.index) == [0, 1]
    assert result.best_val_accuracy == history["metrics/val/accuracy"].max()

    files = sorted(p.name for p in (trainer.run_dir / "checkpoints").glob("*.weights.h5"))
    assert "best.weights.h5" in files and "last.weights.h5" in files
    assert len(files) == 2 + 2  # top-2 epoch files + best + last
    manifest = RunManifest.load(trainer.run_dir)
    assert (manifest.status, manifest.device, manifest.precision) == ("finished", "cpu", "32")
    assert manifest.libraries["backend"] == "tensorflow" and "keras" in manifest.libraries

    val, meta_val = splits["valid_a"]
    trainer.load_checkpoint(model, result.best_checkpoint)
    evaluation = trainer.evaluate(model, val, meta_val, "valid_a", report=False, save=False)
    trainer.close()
    assert isinstance(evaluation, EvaluationResult)
    # The best checkpoint reproduces the best epoch's validation scores.
    assert evaluation.accuracy == pytest.approx(result.best_val_accuracy)
    assert evaluation.loss == pytest.approx(result.best_val_loss, rel=1e-5)


class StopAfter(keras.callbacks.Callback):
    """Ctrl-C at the end of ``epoch``; keeps the manifest as a SIGKILL there would leave it."""

    def __init__(self, epoch: int, run_dir: Path):
        super().__init__()
        self.epoch = epoch
        self.run_dir = run_dir
        self.manifest_at_stop: RunManifest | None = None

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.manifest_at_stop = RunManifest.load(self.run_dir)
            raise KeyboardInterrupt


@pytest.mark.slow
def test_resume_ends_with_exactly_the_metrics_of_an_uninterrupted_run(make_trainer, splits) -> None:
    hp = HP.replace(lr_schedule="cosine", warmup_steps=5)
    straight = make_trainer("straight", max_epochs=3)
    fit(straight, splits, hp)
    straight.close()

    broken = make_trainer("broken", max_epochs=3)
    stop = StopAfter(1, broken.run_dir)
    broken.extra_callbacks.append(stop)
    with pytest.raises(KeyboardInterrupt):
        fit(broken, splits, hp)
    # Each saved epoch is in the manifest at once: a run killed there says how far it got.
    assert stop.manifest_at_stop is not None
    assert (stop.manifest_at_stop.status, stop.manifest_at_stop.epochs_completed) == ("running", 2)
    manifest = RunManifest.load(broken.run_dir)
    assert manifest.status == "interrupted"
    assert (broken.run_dir / "checkpoints" / "last.weights.h5").is_file()
    assert {step for _, step in series(broken.run_dir)} == {0, 1}
    # The manifest says how far the run got, as a resume will find it.
    assert (manifest.epochs_completed, manifest.device, manifest.precision) == (2, "cpu", "32")
    assert manifest.best["epoch"] in (0, 1)
    assert manifest.checkpoints["last"] == "checkpoints/last.weights.h5"
    assert all((broken.run_dir / path).is_file() for path in manifest.checkpoints["top_k"])

    resumed = make_trainer("broken", max_epochs=3)
    started = time.perf_counter()
    _, result = fit(resumed, splits, hp, resume_from=resumed.run_dir)
    resumed.close()
    assert result.epochs_completed == 3
    # Training time adds up over the attempts, each counted once.
    spent = RunManifest.load(resumed.run_dir).durations["train"]
    first = manifest.durations["train"]
    assert first < spent <= first + time.perf_counter() - started + 0.01
    assert timeless(series(resumed.run_dir)) == timeless(series(straight.run_dir))  # exact
    kept = {p.name for p in (straight.run_dir / "checkpoints").glob("*.h5")}
    assert {p.name for p in (resumed.run_dir / "checkpoints").glob("*.h5")} == kept
    assert RunManifest.load(resumed.run_dir).status == "finished"


def test_resume_without_a_finished_epoch_is_refused(make_trainer, splits) -> None:
    trainer = make_trainer()
    trainer.extra_callbacks.append(StopAfter(-1, trainer.run_dir))
    RunManifest.start(trainer.run_dir, framework="keras", model="lstm", seed=0)
    with pytest.raises(ResumeError, match="nothing to resume"):
        fit(trainer, splits, resume_from=trainer.run_dir)


def test_load_checkpoint_names_the_file_for_every_failure(make_trainer, splits, tmp_path) -> None:
    trainer = make_trainer()
    model, result = fit(trainer, splits)
    trainer.close()
    good = result.best_checkpoint
    truncated = tmp_path / "cut.weights.h5"
    truncated.write_bytes(good.read_bytes()[:200])
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"torch")
    cases = {
        tmp_path / "missing.weights.h5": "no such checkpoint",
        truncated: "corrupt or truncated",
        ckpt: "Lightning checkpoint",
    }
    for path, message in cases.items():
        with pytest.raises(CheckpointError, match=message) as error:
            trainer.load_checkpoint(model, path)
        assert str(path) in str(error.value)
    other = trainer.build_model(HP, vocab_size=splits["vocab_size"] + 5)
    with pytest.raises(CheckpointError, match="another vocabulary size") as error:
        trainer.load_checkpoint(other, good)
    assert good.name in str(error.value)


def test_non_finite_loss_stops_with_a_clear_error(make_trainer, splits) -> None:
    trainer = make_trainer(max_epochs=3)
    hp = HP.replace(lr=1e30, l2=1.0)  # the L2 penalty overflows float32
    with pytest.raises(NonFiniteLossError, match=r"training loss is (nan|inf)"):
        fit(trainer, splits, hp)
    assert RunManifest.load(trainer.run_dir).status == "failed"
    assert not (trainer.run_dir / "checkpoints" / "last.weights.h5").exists()


def test_early_stopping_on_validation_accuracy(make_trainer, splits) -> None:
    trainer = make_trainer(max_epochs=6, early_stopping=True, patience=1)
    _, result = fit(trainer, splits, HP.replace(lr=1e-12, dropout=0.0))
    trainer.close()
    accuracies = result.history["metrics/val/accuracy"].to_numpy()
    assert result.stopped_early and result.epochs_completed == 2
    assert np.all(accuracies == accuracies[0])  # no improvement after epoch 0
    assert json.loads((trainer.run_dir / "manifest.json").read_text())["stopped_early"]


def test_time_budget_stops_after_the_epoch_that_spends_it(make_trainer, splits) -> None:
    trainer = make_trainer(max_epochs=4, max_minutes=1e-6)
    _, result = fit(trainer, splits)
    trainer.close()
    assert result.stopped_early and result.epochs_completed == 1
    assert list(result.history.index) == [0]


def test_time_budget_stops_after_the_step_that_spends_it(make_trainer, splits, caplog) -> None:
    trainer = make_trainer(max_epochs=3, max_minutes=3 / 60)
    trainer.budget_clock = TickingClock()  # spent at the third step's check (of 11)
    model, result = fit(trainer, splits)
    assert result.stopped_early and result.epochs_completed == 1
    assert list(result.history.index) == [0]  # the partial epoch, validated and logged
    assert "epoch 000 after 3 of 11 steps" in caplog.text
    assert int(model.optimizer.iterations.numpy()) == 3
    assert AtomicBackupAndRestore.read(trainer.backup_dir)[0] == 1  # a resume starts epoch 1
    assert result.best_epoch == 0 and result.best_checkpoint is not None
    val, meta_val = splits["valid_a"]
    trainer.load_checkpoint(model, result.best_checkpoint)
    evaluation = trainer.evaluate(model, val, meta_val, "valid_a", report=False)
    trainer.close()
    assert evaluation.accuracy == pytest.approx(result.best_val_accuracy)
    assert RunManifest.load(trainer.run_dir).epochs_completed == 1

    # The partial epoch counts as an epoch: a resume trains the next one, whole.
    resumed = make_trainer(max_epochs=2)
    model, after = fit(resumed, splits, resume_from=resumed.run_dir)
    resumed.close()
    assert int(model.optimizer.iterations.numpy()) == 3 + 11
    assert after.epochs_completed == 2 and list(after.history.index) == [0, 1]
    records = read_metrics_jsonl(resumed.run_dir / "metrics.jsonl")
    logged = [r.step for r in records if r.name == ns.epoch_metric("val", "accuracy")]
    assert logged == [0, 1]  # each epoch once
