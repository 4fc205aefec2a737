"""Training on a CUDA GPU: mixed precision, device placement, checkpoints that load on CPU.

These run only where a CUDA GPU is visible (CI has none; there they are skipped). On a GPU
machine: ``pytest -m cuda``. The Keras checks use the jax and torch backends, which find the GPU
through their own CUDA builds (the ``tensorflow-cpu`` wheel storyqa installs has no GPU).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from metrics import namespaces as ns
from trainers import Hyperparams, LightningTrainer, TrainerConfig
from trainers.records.manifest import RunManifest

from ..integration.keras.test_backends import train as train_keras_in_subprocess

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

#: How far a score may move between bf16/fp16 autocast on the GPU and float32 on the CPU.
ACCURACY_TOLERANCE = 0.03
LOSS_TOLERANCE = 0.02


def _hyperparams() -> Hyperparams:
    return Hyperparams.of("transformer", d_model=32, nhead=2, d_hid=64, nlayers=2, batch_size=32)


def _train_transformer(run_dir: Path, ds: Any, **config: Any) -> Any:
    settings: dict[str, Any] = {"max_epochs": 2, "top_k": 2, "progress": False}
    settings.update(config)
    trainer = LightningTrainer(
        run_dir, dataset=ds, seed=0, config=TrainerConfig(**settings), echo=lambda line: None
    )
    hp = _hyperparams()
    model = trainer.build_model(hp, len(ds.vocab))
    result = trainer.train(
        model,
        ds.encode_transformer("train"),
        ds.encode_transformer("valid_a"),
        ds.metadata("train"),
        ds.metadata("valid_a"),
        hp,
    )
    trainer.close()
    return result


def _finite_losses(result: Any) -> bool:
    losses = result.history[[ns.epoch_metric("train", "loss"), ns.epoch_metric("val", "loss")]]
    return all(math.isfinite(v) for v in losses.to_numpy().ravel())


def test_auto_precision_trains_mixed_on_cuda_and_the_checkpoint_scores_alike_on_cpu(
    tmp_path: Path, tiny_4dir: Any
) -> None:
    ds = tiny_4dir
    result = _train_transformer(tmp_path / "gpu", ds)

    manifest = RunManifest.load(tmp_path / "gpu")
    assert manifest.device.startswith("cuda:0 (")
    expected = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    assert manifest.precision == expected
    assert manifest.status == "finished" and result.epochs_completed == 2
    assert _finite_losses(result)

    cpu = LightningTrainer(
        tmp_path / "cpu",
        dataset=ds,
        seed=0,
        config=TrainerConfig(accelerator="cpu", progress=False),
        echo=lambda line: None,
    )
    model = cpu.load_checkpoint(
        cpu.build_model(_hyperparams(), len(ds.vocab)), result.best_checkpoint
    )
    assert next(model.parameters()).device.type == "cpu"
    evaluation = cpu.evaluate(
        model,
        ds.encode_transformer("valid_a"),
        ds.metadata("valid_a"),
        "valid_a",
        report=False,
        save=False,
    )
    cpu.close()
    assert evaluation.accuracy == pytest.approx(result.best_val_accuracy, abs=ACCURACY_TOLERANCE)
    assert evaluation.loss == pytest.approx(result.best_val_loss, rel=LOSS_TOLERANCE)


def test_float16_mixed_precision_trains_with_finite_losses(tmp_path: Path, tiny_4dir: Any) -> None:
    result = _train_transformer(tmp_path / "fp16", tiny_4dir, precision="16-mixed")
    manifest = RunManifest.load(tmp_path / "fp16")
    assert manifest.device.startswith("cuda:0 (") and manifest.precision == "16-mixed"
    assert _finite_losses(result)


def test_accelerator_cpu_keeps_float32_on_a_gpu_machine(tmp_path: Path, tiny_4dir: Any) -> None:
    _train_transformer(tmp_path / "cpu", tiny_4dir, accelerator="cpu", max_epochs=1)
    manifest = RunManifest.load(tmp_path / "cpu")
    assert manifest.device == "cpu" and manifest.precision == "32-true"


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_keras_lstm_trains_in_mixed_float16_on_the_gpu(
    backend: str, tmp_path: Path, tiny_4dir: Any
) -> None:
    run_dir = tmp_path / backend
    summary = train_keras_in_subprocess(backend, Path(tiny_4dir.path), run_dir)
    manifest = RunManifest.load(run_dir)
    assert summary["backend"] == backend
    assert manifest.device.startswith("gpu:0 (") and manifest.precision == "16-mixed"
    assert math.isfinite(summary["best_val_accuracy"])
    assert summary["evaluated_accuracy"] == pytest.approx(
        summary["best_val_accuracy"], abs=ACCURACY_TOLERANCE
    )
