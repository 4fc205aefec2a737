"""The point of the project: both trainers, same data, same everything that is not the model.

One or two epochs of each trainer on the tiny dataset with jsonl + Neptune (offline) + MLflow,
then: identical tracker names in every sink, the same console report shape, the same
checkpoint naming and count, the same manifest fields, the same evaluation type.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from metrics import EvaluationResult
from trainers.config import Hyperparams, TrainerConfig
from trainers.runs.pipeline import trainer_class
from trainers.tracking import TrackerConfig

from .tracking.simulation import neptune_containers, read_jsonl, read_mlflow, read_neptune

pytestmark = pytest.mark.slow  # trains both frameworks (about a minute)

NEPTUNE_ENV = ("NEPTUNE_API_TOKEN", "NEPTUNE_PROJECT", "NEPTUNE_MODE", "NEPTUNE_DATA_DIRECTORY")
EPOCHS = 2
MODELS = {
    "lightning": Hyperparams.of(
        "transformer", d_model=16, nhead=2, d_hid=32, nlayers=1, batch_size=64
    ),
    "keras": Hyperparams.of("lstm", hidden=8, embedding_dim=8, batch_size=64),
}


@pytest.fixture(scope="module")
def runs(tiny_4dir: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("align") / "models_out"
    out: dict[str, dict[str, Any]] = {}
    with pytest.MonkeyPatch.context() as patch:
        for name in NEPTUNE_ENV:
            patch.delenv(name, raising=False)
        patch.chdir(root.parent)
        for framework, hp in MODELS.items():
            cls = trainer_class(framework)
            trainer = cls(
                root / "runs" / f"{framework}-align",
                dataset=tiny_4dir,
                seed=0,
                config=TrainerConfig(max_epochs=EPOCHS, top_k=1, progress=False),
                tracker=TrackerConfig(sinks=("jsonl", "neptune", "mlflow")),
                echo=lambda line: None,
            )
            train, val = trainer.encode(tiny_4dir, "train"), trainer.encode(tiny_4dir, "valid_a")
            model = trainer.build_model(hp, vocab_size=len(tiny_4dir.vocab))
            result = trainer.train(
                model, train, val, tiny_4dir.metadata("train"), tiny_4dir.metadata("valid_a"), hp
            )
            trainer.load_checkpoint(model, result.best_checkpoint)
            evaluation = trainer.evaluate(model, val, tiny_4dir.metadata("valid_a"), "valid_a")
            trainer.close()
            out[framework] = {"trainer": trainer, "result": result, "evaluation": evaluation}
    return out


def stores(run: dict[str, Any]) -> dict[str, Any]:
    trainer = run["trainer"]
    jsonl = read_jsonl(trainer.run_dir)
    [operations] = neptune_containers(trainer.output_root / ".neptune", trainer.run_dir.name)
    uri = f"sqlite:///{trainer.output_root.as_posix()}/mlflow.db"
    series = {name for name, _ in jsonl.series}
    return {
        "jsonl": jsonl,
        "neptune": read_neptune(operations),
        "mlflow": read_mlflow(uri, trainer.run_dir.name, series),
    }


def normalise(name: str, framework: str) -> str:
    """A file or artifact name with what legitimately differs masked: framework, extension,
    which epoch was best and its accuracy."""
    name = name.replace(framework, "<fw>")
    name = re.sub(r"\.(ckpt|weights\.h5)$", ".<ext>", name)
    name = re.sub(r"epoch=\d{3}", "epoch=<NNN>", name)
    return re.sub(r"val_acc=\d\.\d{4}", "val_acc=<acc>", name)


def names(stored: Any, framework: str) -> set[str]:
    """Every tracker name except ``parameters/...`` (the model presets differ by design)."""
    every = {n for n, _ in stored.series} | set(stored.fields) | stored.artifacts
    return {normalise(n, framework) for n in every if not n.startswith("parameters/")}


def test_tracker_names_are_identical_in_every_sink(runs: dict[str, dict[str, Any]]) -> None:
    per_framework = {fw: stores(run) for fw, run in runs.items()}
    for sink in ("jsonl", "neptune", "mlflow"):
        keras_names = names(per_framework["keras"][sink], "keras")
        lightning_names = names(per_framework["lightning"][sink], "lightning")
        assert keras_names == lightning_names, (sink, keras_names ^ lightning_names)
    assert any(n.startswith("metrics/val/by_category_noun/") for n in keras_names)


def test_console_reports_have_the_same_shape(runs: dict[str, dict[str, Any]]) -> None:
    shapes = {
        fw: re.sub(r"\d+\.\d+", "#", run["evaluation"].console_report()) for fw, run in runs.items()
    }
    assert shapes["keras"] == shapes["lightning"]
    for run in runs.values():
        assert isinstance(run["evaluation"], EvaluationResult)


def test_checkpoint_folders_follow_the_same_naming(runs: dict[str, dict[str, Any]]) -> None:
    folders = {
        fw: sorted(
            normalise(p.name, fw)
            for p in Path(run["trainer"].run_dir / "checkpoints").iterdir()
            if p.suffix in (".ckpt", ".h5")
        )
        for fw, run in runs.items()
    }
    assert folders["keras"] == folders["lightning"]
    assert len(folders["keras"]) == 3  # top-1 epoch file, best, last


def test_manifests_and_results_have_the_same_fields(runs: dict[str, dict[str, Any]]) -> None:
    import json

    manifests = {
        fw: json.loads((run["trainer"].run_dir / "manifest.json").read_text())
        for fw, run in runs.items()
    }
    assert set(manifests["keras"]) == set(manifests["lightning"])
    assert {m["status"] for m in manifests.values()} == {"finished"}
    assert set(manifests["keras"]["evaluation"]) == set(manifests["lightning"]["evaluation"])
    results = {fw: run["result"] for fw, run in runs.items()}
    assert type(results["keras"]) is type(results["lightning"])
    assert results["keras"].epochs_completed == results["lightning"].epochs_completed == EPOCHS


def scheduled_lr(hp: Hyperparams, run: dict[str, Any]) -> list[float]:
    """The shared schedule's learning rate after each epoch's last optimizer step."""
    from trainers.batching import lr_multiplier, steps_per_epoch

    training = hp.training
    rows = run["trainer"].dataset.split_sizes["train"]
    per_epoch = steps_per_epoch(rows, training.batch_size)
    total = per_epoch * EPOCHS
    return [
        training.lr
        * lr_multiplier((epoch + 1) * per_epoch, total, training.warmup_steps, training.lr_schedule)
        for epoch in range(EPOCHS)
    ]


def test_both_log_learning_rate_timing_and_the_model(runs: dict[str, dict[str, Any]]) -> None:
    from metrics import namespaces as ns

    per_epoch = (
        ns.train_stat("learning_rate"),
        ns.train_stat("examples_per_second"),
        ns.epoch_seconds(),
    )
    for framework, run in runs.items():
        trainer = run["trainer"]
        stored = read_jsonl(trainer.run_dir)
        for name in per_epoch:
            values = [stored.series[(name, epoch)] for epoch in range(EPOCHS)]
            assert all(value > 0 for value in values), (framework, name, values)
        lr = [stored.series[(per_epoch[0], epoch)] for epoch in range(EPOCHS)]
        assert lr == pytest.approx(scheduled_lr(MODELS[framework], run), rel=1e-5), framework
        assert stored.fields[ns.model_field("parameters")] > 0
        summary = (trainer.run_dir / "artifacts" / "model" / "model_summary.txt").read_text()
        assert len(summary.splitlines()) > 5, (framework, summary)
        assert ns.artifact("model", "model_summary.txt") in stored.artifacts
