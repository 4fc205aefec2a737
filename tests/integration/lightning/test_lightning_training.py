"""LightningTrainer end to end on a small slice: files, records, resume, interrupts, errors."""

from __future__ import annotations

import json
import signal
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from metrics import namespaces as ns
from tests.clocks import TickingClock
from trainers.errors import CheckpointError, NonFiniteLossError, ResumeError
from trainers.lightning.module import StoryModule
from trainers.records.manifest import RunManifest

from .conftest import Small, fit, hyperparams, make_trainer, series, timeless


def _epoch_files(directory: Path) -> set[str]:
    return {p.name for p in directory.glob("lightning-*.ckpt")}


def test_training_keeps_the_policy_files_and_logs_each_epoch_once(
    tmp_path: Path, small: Small
) -> None:
    run_dir = tmp_path / "run"
    trainer = make_trainer(run_dir, small, top_k=2, max_epochs=3)
    _, result = fit(trainer, small, hyperparams())
    trainer.close()

    directory = run_dir / "checkpoints"
    assert _epoch_files(directory) == {entry.filename for entry in result.top_k}
    assert result.best_checkpoint == directory / "best.ckpt"
    best_epoch_file = directory / result.top_k[0].filename
    assert result.best_checkpoint.read_bytes() == best_epoch_file.read_bytes()
    assert (directory / "last.ckpt").is_file()
    assert result.epochs_completed == 3 and not result.stopped_early

    values = series(run_dir)
    epochs = {step for (_, step) in values}
    assert epochs == {0, 1, 2}
    names = {name for (name, step) in values if step == 0}
    assert {ns.epoch_metric("train", "loss"), ns.epoch_metric("val", "accuracy")} <= names
    assert all((name, step) in values for name in names for step in epochs)
    assert values[(ns.epoch_metric("val", "accuracy"), result.best_epoch)] == pytest.approx(
        result.best_val_accuracy
    )

    manifest = RunManifest.load(run_dir)
    assert manifest.status == "finished"
    assert manifest.device == "cpu" and manifest.precision == "32-true"


def test_resumed_run_ends_exactly_like_an_uninterrupted_one(
    tmp_path: Path, small: Small, monkeypatch: pytest.MonkeyPatch
) -> None:
    hp = hyperparams(dropout=0.1, lr_schedule="cosine", warmup_steps=3)
    whole = make_trainer(tmp_path / "whole", small, top_k=1, max_epochs=3)
    _, expected = fit(whole, small, hp)
    whole.close()

    original = StoryModule.on_train_epoch_start

    at_interrupt: list[RunManifest] = []

    def interrupt_at_epoch_two(self: StoryModule) -> None:
        if self.current_epoch == 2:
            at_interrupt.append(RunManifest.load(run_dir))  # what a SIGKILL here would leave
            raise KeyboardInterrupt
        original(self)

    run_dir = tmp_path / "resumed"
    first = make_trainer(run_dir, small, top_k=1, max_epochs=3)
    # A known Ctrl-C handler (a background process may start with SIGINT ignored).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    monkeypatch.setattr(StoryModule, "on_train_epoch_start", interrupt_at_epoch_two)
    try:
        with pytest.raises(KeyboardInterrupt):
            fit(first, small, hp)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    finally:
        signal.signal(signal.SIGINT, previous)
    monkeypatch.undo()
    # Each saved epoch is in the manifest at once: a run killed there says how far it got.
    assert [(m.status, m.epochs_completed) for m in at_interrupt] == [("running", 2)]
    stopped = RunManifest.load(run_dir)
    assert stopped.status == "interrupted"
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    # The manifest says how far the run got, as a resume will find it.
    assert stopped.epochs_completed == 2
    assert (stopped.device, stopped.precision) == ("cpu", "32-true")
    scores = series(run_dir)
    best_epoch = max((0, 1), key=lambda e: scores[(ns.epoch_metric("val", "accuracy"), e)])
    assert stopped.best["epoch"] == best_epoch
    assert stopped.checkpoints["last"] == "checkpoints/last.ckpt"
    assert all((run_dir / path).is_file() for path in stopped.checkpoints["top_k"])
    assert stopped.durations["train"] > 0

    second = make_trainer(run_dir, small, top_k=1, max_epochs=3)
    started = time.perf_counter()
    _, result = fit(second, small, hp, resume_from=run_dir)
    second.close()
    # Training time adds up over the attempts, each counted once.
    spent = RunManifest.load(run_dir).durations["train"]
    first = stopped.durations["train"]
    assert first < spent <= first + time.perf_counter() - started + 0.01

    assert timeless(series(run_dir)) == timeless(series(tmp_path / "whole"))
    assert _epoch_files(run_dir / "checkpoints") == _epoch_files(tmp_path / "whole" / "checkpoints")
    assert (result.best_epoch, result.best_val_accuracy) == (
        expected.best_epoch,
        expected.best_val_accuracy,
    )
    assert RunManifest.load(run_dir).status == "finished"


def test_resume_without_a_finished_epoch_says_so(tmp_path: Path, small: Small) -> None:
    run_dir = tmp_path / "run"
    RunManifest.start(run_dir, framework="lightning", model="transformer", seed=0)
    trainer = make_trainer(run_dir, small)
    with pytest.raises(ResumeError, match=r"no last\.ckpt.*nothing to resume"):
        fit(trainer, small, hyperparams(), resume_from=run_dir)


def test_early_stopping_ends_the_run(tmp_path: Path, small: Small) -> None:
    trainer = make_trainer(
        tmp_path / "run", small, max_epochs=6, early_stopping=True, patience=1, min_delta=0.5
    )
    _, result = fit(trainer, small, hyperparams())
    trainer.close()
    assert result.stopped_early and result.epochs_completed == 2


def test_non_finite_loss_stops_with_a_clear_error(tmp_path: Path, small: Small) -> None:
    import torch

    run_dir = tmp_path / "run"
    trainer = make_trainer(run_dir, small, max_epochs=3)
    hp = hyperparams()
    model = trainer.build_model(hp, small.vocab_size)
    steps_per_epoch = -(-len(small.train) // hp.training.batch_size)
    calls = {"train": 0}

    def nan_from_epoch_one(module: torch.nn.Module, inputs: object, output: torch.Tensor):  # type: ignore[no-untyped-def]
        if module.training:
            calls["train"] += 1
            if calls["train"] > steps_per_epoch:
                return output * float("nan")
        return output

    model.register_forward_hook(nan_from_epoch_one)
    with pytest.raises(NonFiniteLossError, match=rf"epoch 1, step {steps_per_epoch} "):
        trainer.train(model, small.train, small.val, small.meta_train, small.meta_val, hp)
    assert RunManifest.load(run_dir).status == "failed"
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()


def test_predict_returns_row_order(tmp_path: Path, small: Small) -> None:
    trainer = make_trainer(tmp_path / "run", small)
    model = trainer.build_model(hyperparams(), small.vocab_size)
    probabilities, losses = trainer.predict(model, small.val)
    order = np.random.default_rng(1).permutation(len(small.val))
    shuffled = type(small.val)(
        small.val.input_ids[order], small.val.lengths[order], small.val.labels[order]
    )
    probabilities_2, losses_2 = trainer.predict(model, shuffled)
    np.testing.assert_allclose(probabilities_2, probabilities[order], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(losses_2, losses[order], rtol=1e-5, atol=1e-6)
    labels = small.val.labels
    expected = -(labels * np.log(probabilities) + (1 - labels) * np.log(1 - probabilities))
    np.testing.assert_allclose(losses, expected, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, small: Small) -> Path:
    """A best checkpoint of a one-epoch run."""
    trainer = make_trainer(tmp_path_factory.mktemp("trained"), small, max_epochs=1)
    _, result = fit(trainer, small, hyperparams())
    trainer.close()
    assert result.best_checkpoint is not None
    return result.best_checkpoint


def test_load_checkpoint_restores_the_trained_weights(
    tmp_path: Path, small: Small, trained: Path
) -> None:
    import torch

    trainer = make_trainer(tmp_path / "run", small)
    model = trainer.build_model(hyperparams(), small.vocab_size)
    with torch.no_grad():
        model.classifier.bias.fill_(5.0)
    trainer.load_checkpoint(model, trained)
    state = torch.load(trained, weights_only=True)["state_dict"]
    assert torch.equal(model.classifier.bias, state["model.classifier.bias"])


def test_load_checkpoint_errors_name_the_file_and_the_cause(
    tmp_path: Path, small: Small, trained: Path
) -> None:
    trainer = make_trainer(tmp_path / "run", small)
    model = trainer.build_model(hyperparams(), small.vocab_size)
    missing = tmp_path / "missing.ckpt"
    with pytest.raises(CheckpointError, match=r"missing\.ckpt: checkpoint file not found"):
        trainer.load_checkpoint(model, missing)

    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(trained.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match=r"truncated\.ckpt: .*corrupt or truncated"):
        trainer.load_checkpoint(model, truncated)

    keras = tmp_path / "best.weights.h5"
    keras.write_bytes(b"\x89HDF\r\n\x1a\n")
    with pytest.raises(CheckpointError, match=r"best\.weights\.h5: a Keras weights file"):
        trainer.load_checkpoint(model, keras)

    other = trainer.build_model(hyperparams(), small.vocab_size + 7)
    sizes = rf"vocabulary size {small.vocab_size} in the checkpoint.*{small.vocab_size + 7}"
    with pytest.raises(CheckpointError, match=sizes):
        trainer.load_checkpoint(other, trained)

    wider = trainer.build_model(hyperparams(d_hid=64), small.vocab_size)
    with pytest.raises(CheckpointError, match=r"shape \(32, 16\) in the checkpoint"):
        trainer.load_checkpoint(wider, trained)


def test_checkpoints_load_safely_with_plain_containers(small: Small, trained: Path) -> None:
    import torch

    state = torch.load(trained, weights_only=True)
    assert state["hyper_parameters"]["hyperparams"]["d_model"] == 16
    assert state["hyper_parameters"]["model"]["vocab_size"] == small.vocab_size
    assert json.dumps(state["hyper_parameters"])  # plain containers only


def test_a_failed_save_goes_to_the_fallback_directory_and_training_goes_on(
    tmp_path: Path, small: Small, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lightning.pytorch as pl

    save = pl.Trainer.save_checkpoint

    def failing_for_epoch_one(self: pl.Trainer, filepath, *args, **kwargs):  # type: ignore[no-untyped-def]
        path = Path(filepath)
        if path.parent.name == "checkpoints" and self.current_epoch == 1:
            raise OSError(28, "No space left on device")
        return save(self, filepath, *args, **kwargs)

    monkeypatch.setattr(pl.Trainer, "save_checkpoint", failing_for_epoch_one)
    run_dir = tmp_path / "run"
    trainer = make_trainer(run_dir, small, top_k=-1, max_epochs=3)
    _, result = fit(trainer, small, hyperparams())
    trainer.close()
    assert result.epochs_completed == 3
    fallback = run_dir / "checkpoints_fallback"
    epoch_one = [entry.filename for entry in result.top_k if entry.epoch == 1]
    assert {p.name for p in fallback.glob("lightning-*.ckpt")} == set(epoch_one)
    assert len(result.top_k_checkpoints) == 3
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()  # epoch 2 wrote it again


def test_top_k_zero_keeps_best_last_and_periodic_files_only(tmp_path: Path, small: Small) -> None:
    run_dir = tmp_path / "run"
    trainer = make_trainer(run_dir, small, top_k=0, every_n_epochs=2, max_epochs=2)
    _, result = fit(trainer, small, hyperparams())
    trainer.close()
    files = {p.name for p in (run_dir / "checkpoints").iterdir()}
    periodic = trainer.files.periodic_filename(1)
    assert files == {"best.ckpt", "last.ckpt", periodic, "topk_state.json"}
    assert result.top_k == () and result.best_checkpoint is not None
    import torch

    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 1  # written after every epoch, not only after top-k saves


def test_time_budget_stops_after_the_epoch_that_spends_it(tmp_path: Path, small: Small) -> None:
    trainer = make_trainer(tmp_path / "run", small, max_epochs=4, max_minutes=1e-6)
    _, result = fit(trainer, small, hyperparams())
    trainer.close()
    assert result.stopped_early and result.epochs_completed == 1
    assert list(result.history.index) == [0]


def test_time_budget_stops_after_the_step_that_spends_it(
    tmp_path: Path, small: Small, caplog: pytest.LogCaptureFixture
) -> None:
    import torch

    run_dir = tmp_path / "run"
    trainer = make_trainer(run_dir, small, max_epochs=3, max_minutes=2 / 60)
    trainer.budget_clock = TickingClock()  # spent at the second step's check (of 4)
    model, result = fit(trainer, small, hyperparams())
    assert result.stopped_early and result.epochs_completed == 1
    assert list(result.history.index) == [0]  # the partial epoch, validated and logged
    assert "epoch 000 after 2 of 4 steps" in caplog.text
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert (last["epoch"], last["global_step"]) == (0, 2)
    assert result.best_epoch == 0 and result.best_checkpoint is not None
    trainer.load_checkpoint(model, result.best_checkpoint)
    evaluation = trainer.evaluate(model, small.val, small.meta_val, "valid_a", report=False)
    trainer.close()
    assert evaluation.accuracy == pytest.approx(result.best_val_accuracy)
    assert RunManifest.load(run_dir).epochs_completed == 1

    # The partial epoch counts as an epoch: a resume trains the next one, whole.
    resumed = make_trainer(run_dir, small, max_epochs=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, after = fit(resumed, small, hyperparams(), resume_from=run_dir)
    resumed.close()
    assert not [w for w in caught if "before the epoch ended" in str(w.message)]
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert (last["epoch"], last["global_step"]) == (1, 2 + 4)
    assert after.epochs_completed == 2 and list(after.history.index) == [0, 1]
    assert {step for _, step in series(run_dir)} == {0, 1}  # series() fails on a repeat
