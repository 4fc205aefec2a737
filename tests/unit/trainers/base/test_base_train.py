"""ModelTrainer's shared flow, exercised through a framework-free trainer."""

from __future__ import annotations

import json

import pytest

from metrics import EvaluationResult
from metrics.history import read_metrics_jsonl
from models.settings import SettingsError
from trainers.config import Hyperparams, TrainerConfig
from trainers.errors import ResumeError, TrainerInputError
from trainers.records.manifest import RunManifest

from .fake_trainer import HP, FakeTrainer


@pytest.fixture
def splits(tiny_4dir):
    return {s: (tiny_4dir.encode_lstm(s), tiny_4dir.metadata(s)) for s in ("train", "valid_a")}


def make(tmp_path, tiny_4dir, **kwargs):
    lines: list[str] = []
    trainer = FakeTrainer(
        tmp_path / "runs" / "r1",
        dataset=tiny_4dir,
        config=TrainerConfig(max_epochs=4, top_k=2, progress=False),
        echo=lines.append,
        **kwargs,
    )
    return trainer, lines


def fit(trainer, splits, **kwargs):
    model = trainer.build_model(HP, vocab_size=10)
    (train, meta_train), (val, meta_val) = splits["train"], splits["valid_a"]
    return model, trainer.train(model, train, val, meta_train, meta_val, HP, **kwargs)


def test_train_records_result_manifest_and_tracker_fields(tmp_path, tiny_4dir, splits):
    trainer, lines = make(tmp_path, tiny_4dir)
    _, result = fit(trainer, splits)
    trainer.close()

    accuracies = result.history["metrics/val/accuracy"]
    assert result.best_epoch == int(accuracies.idxmax())  # idxmax: earliest of ties
    assert result.best_val_accuracy == pytest.approx(accuracies.max())
    assert result.best_val_loss == pytest.approx(
        result.history["metrics/val/loss"][result.best_epoch]
    )
    assert result.epochs_completed == 4 and len(result.history) == 4
    assert result.best_checkpoint is not None and result.best_checkpoint.name == "best.weights.h5"
    assert len(result.top_k_checkpoints) == 2 and all(p.exists() for p in result.top_k_checkpoints)
    assert len([line for line in lines if line.startswith("epoch ")]) == 4

    manifest = RunManifest.load(trainer.run_dir)
    assert manifest.status == "finished" and manifest.ended_at is not None
    assert manifest.dataset["name"] == "all_4dir" and manifest.dataset["hash"] == tiny_4dir.hash
    assert manifest.best["epoch"] == result.best_epoch
    assert manifest.checkpoints["top_k"] == [
        str(p.relative_to(trainer.run_dir)) for p in result.top_k_checkpoints
    ]
    assert manifest.hyperparams["hidden"] == 8 and manifest.trainer["top_k"] == 2

    names = {r.name for r in read_metrics_jsonl(trainer.run_dir / "metrics.jsonl")}
    assert {"parameters/model/hidden", "parameters/seed", "data/hash", "data/train/size"} <= names
    assert trainer.output_root == tmp_path  # the folder above runs/


def test_same_seed_gives_the_same_history(tmp_path, tiny_4dir, splits):
    first, _ = make(tmp_path / "a", tiny_4dir)
    second, _ = make(tmp_path / "b", tiny_4dir)
    _, one = fit(first, splits)
    _, two = fit(second, splits)
    first.close()
    second.close()
    assert one.history.equals(two.history)


def test_interrupt_marks_the_run_and_resume_finishes_it_like_an_uninterrupted_run(
    tmp_path, tiny_4dir, splits
):
    reference, _ = make(tmp_path / "ref", tiny_4dir)
    _, expected = fit(reference, splits)
    reference.close()

    trainer, _ = make(tmp_path, tiny_4dir)
    trainer.fail_at = (2, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        fit(trainer, splits)
    manifest = RunManifest.load(trainer.run_dir)
    assert manifest.status == "interrupted" and "resume" in (manifest.error or "")
    assert trainer.tracker is not None and trainer.tracker.closed

    resumed, _ = make(tmp_path, tiny_4dir)
    _, result = fit(resumed, splits, resume_from=resumed.run_dir)
    resumed.close()
    assert result.history.equals(expected.history)
    assert [e.epoch for e in result.top_k] == [e.epoch for e in expected.top_k]
    manifest = RunManifest.load(resumed.run_dir)
    assert manifest.status == "finished" and len(manifest.resumed_at) == 1
    steps = [
        r.step
        for r in read_metrics_jsonl(resumed.run_dir / "metrics.jsonl")
        if r.name == "metrics/val/accuracy"
    ]
    assert steps == [0, 1, 2, 3]  # no epoch logged twice


def test_error_in_training_marks_the_run_failed(tmp_path, tiny_4dir, splits):
    trainer, _ = make(tmp_path, tiny_4dir)
    trainer.fail_at = (1, RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        fit(trainer, splits)
    manifest = RunManifest.load(trainer.run_dir)
    assert manifest.status == "failed" and manifest.error == "RuntimeError: boom"


def test_resume_errors_name_the_problem(tmp_path, tiny_4dir, splits):
    trainer, _ = make(tmp_path, tiny_4dir)
    with pytest.raises(ResumeError, match="does not exist"):
        fit(trainer, splits, resume_from=tmp_path / "nowhere")
    other = tmp_path / "runs" / "other"
    other.mkdir(parents=True)
    with pytest.raises(ResumeError, match="belongs to run"):
        fit(trainer, splits, resume_from=other)
    trainer.run_dir.mkdir(parents=True)
    with pytest.raises(ResumeError, match="not a run"):
        fit(trainer, splits, resume_from=trainer.run_dir)
    fit(trainer, splits)
    trainer.close()
    done, _ = make(tmp_path, tiny_4dir)
    with pytest.raises(ResumeError, match=r"raise trainer\.max_epochs"):
        fit(done, splits, resume_from=done.run_dir)


def test_inputs_that_do_not_fit_are_rejected_before_training(tmp_path, tiny_4dir, splits):
    trainer, _ = make(tmp_path, tiny_4dir)
    model = trainer.build_model(HP, 10)
    (train, meta_train), (val, meta_val) = splits["train"], splits["valid_a"]
    with pytest.raises(TrainerInputError, match=r"dataset.encode_lstm\(split\)"):
        trainer.train(model, tiny_4dir.encode_transformer("train"), val, meta_train, meta_val, HP)
    with pytest.raises(TrainerInputError, match="metadata rows"):
        trainer.train(model, train, val, meta_train, meta_train, HP)
    with pytest.raises(TrainerInputError, match="trained by the lightning trainer"):
        trainer.train(model, train, val, meta_train, meta_val, Hyperparams.of("transformer"))
    with pytest.raises(SettingsError, match=r"model\.hiden: unknown key"):
        trainer.train(model, train, val, meta_train, meta_val, {"hiden": 3})
    with pytest.raises(TrainerInputError, match="epochs"):
        trainer.train(model, train, val, meta_train, meta_val, HP, epochs=0)
    assert not trainer.run_dir.exists()  # nothing written for rejected input


def test_evaluate_reports_saves_and_logs_the_split(tmp_path, tiny_4dir, splits):
    trainer, lines = make(tmp_path, tiny_4dir)
    model, _ = fit(trainer, splits)
    result = trainer.evaluate(
        model, tiny_4dir.encode_lstm("test"), tiny_4dir.metadata("test"), "test"
    )
    trainer.close()
    assert isinstance(result, EvaluationResult) and result.n_samples == len(tiny_4dir["test"])
    assert any("EVALUATION RESULTS BY CATEGORY" in line for line in lines)
    folder = trainer.run_dir / "eval" / "test"
    saved = json.loads((folder / "evaluation.json").read_text())
    assert saved["accuracy"] == pytest.approx(result.accuracy)
    assert RunManifest.load(trainer.run_dir).evaluation["test"]["accuracy"] == pytest.approx(
        result.accuracy
    )
    records = read_metrics_jsonl(trainer.run_dir / "metrics.jsonl")
    by_name = {r.name: r for r in records}
    assert by_name["eval/test/accuracy"].value == pytest.approx(result.accuracy)
    lines = (trainer.run_dir / "metrics.jsonl").read_text().splitlines()
    artifacts = [json.loads(line) for line in lines if '"kind": "artifact"' in line]
    plots = [a for a in artifacts if a["name"].startswith("artifacts/plots/")]
    assert len(plots) >= 2
    for plot in plots:  # split-prefixed, so the plots of several splits do not collide
        assert plot["name"].startswith("artifacts/plots/test-")
        assert (trainer.run_dir / plot["path"]).is_file()
