"""The end-to-end flow of one run, for notebooks and for ``scripts/train.py``.

``run_pipeline`` validates the whole config before anything is built, builds (or reuses) the
dataset version, trains, evaluates the best checkpoint on every requested split, writes
``report.html``, registers the run and returns the results::

    from trainers.runs.pipeline import run_pipeline
    out = run_pipeline({"model": "lstm", "data": {"name": "all_4dir", "size": "tiny"},
                        "trainer": {"max_epochs": 2}, "output_dir": "models_out"})
    out["evaluations"]["test"].accuracy
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from models.settings import SettingsError
from stories import DatasetConfig, StoryDataset, build_dataset
from trainers.base import ModelTrainer
from trainers.config import PRESETS, Hyperparams, TrainerConfig, model_preset
from trainers.records.manifest import RunManifest
from trainers.records.registry import Registry
from trainers.records.run import DatasetInfo, new_run_id
from trainers.results import TrainingResult
from trainers.runs.logs import run_log
from trainers.tracking import TrackerConfig

#: Framework -> "module:class" of its trainer (imported only when used).
TRAINERS: Mapping[str, str] = {
    "lightning": "trainers.lightning.trainer:LightningTrainer",
    "keras": "trainers.keras.trainer:KerasTrainer",
}
SPLITS: tuple[str, ...] = ("train", "valid_a", "valid_comp", "test")
#: Trainer settings a resumed run may change (to train longer).
RESUME_EXTENSIONS: tuple[str, ...] = ("max_epochs", "max_minutes")
#: The run's copy of its training vocabulary.
VOCAB_FILE = "vocab.json"
#: The run's HTML report (evaluation of the best checkpoint on every split).
REPORT_FILE = "report.html"
#: Columns of a split kept with each misclassified or diagnosed example.
EXAMPLE_COLUMNS: tuple[str, ...] = ("id", "story", "question", "category", "noun_count")


def trainer_class(framework: str) -> type[ModelTrainer]:
    """The trainer of ``framework`` (imports that framework only)."""
    if framework not in TRAINERS:
        raise SettingsError(f"model.framework: {framework!r} is not one of {sorted(TRAINERS)}")
    module, name = TRAINERS[framework].split(":")
    cls: type[ModelTrainer] = getattr(importlib.import_module(module), name)
    return cls


@dataclass(frozen=True)
class PipelineConfig:
    """A whole run, validated.

    Attributes:
        model: Model hyperparameters (the framework follows from their type).
        data: Dataset config.
        trainer: Trainer settings.
        tracker: Tracker settings.
        output_dir: Output root.
        seed: Training seed (weights, data order).
        data_seed: Dataset generator seed (the same data across training seeds).
        run_id: Run id; default ``<model>-<dataset>-<time>-<hex>``.
        evaluate_splits: Splits the best checkpoint is evaluated on.
    """

    KEYS: ClassVar[tuple[str, ...]] = (
        "model",
        "data",
        "trainer",
        "tracker",
        "output_dir",
        "seed",
        "data_seed",
        "run_id",
        "evaluate_splits",
    )

    model: Hyperparams
    data: DatasetConfig
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    output_dir: Path = Path("models_out")
    seed: int = 0
    data_seed: int = 0
    run_id: str | None = None
    evaluate_splits: tuple[str, ...] = SPLITS

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> PipelineConfig:
        """Validate a plain config (e.g. Hydra's, as a dict); errors name the key.

        ``model`` is a preset name or a mapping with ``framework`` (or ``name`` of a preset)
        and any hyperparameters to override; ``data`` a preset name or a mapping.
        """
        unknown = sorted(set(config) - set(cls.KEYS))
        if unknown:
            raise SettingsError(f"{unknown[0]}: unknown key; valid keys are {list(cls.KEYS)}")
        data = config.get("data", "all_4dir")
        data_config = (
            DatasetConfig.preset(data)
            if isinstance(data, str)
            else DatasetConfig.from_mapping(data)
        )
        splits = tuple(config.get("evaluate_splits", SPLITS))
        for split in splits:
            if split not in SPLITS:
                raise SettingsError(f"evaluate_splits: {split!r} is not one of {list(SPLITS)}")
        return cls(
            model=resolve_model(config.get("model", "transformer")),
            data=data_config,
            trainer=TrainerConfig.from_mapping(config.get("trainer") or {}),
            tracker=TrackerConfig.from_mapping(config.get("tracker") or {}),
            output_dir=Path(config.get("output_dir", "models_out")),
            seed=_non_negative(config.get("seed", 0), "seed"),
            data_seed=_non_negative(config.get("data_seed", 0), "data_seed"),
            run_id=config.get("run_id"),
            evaluate_splits=splits,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain config (what the manifest and the tracker record)."""
        return {
            "model": self.model.describe(),
            "data": dataclasses.asdict(self.data),
            "trainer": self.trainer.to_dict(),
            "tracker": {
                key: list(value) if isinstance(value, tuple) else value
                for key, value in dataclasses.asdict(self.tracker).items()
            },
            "output_dir": str(self.output_dir),
            "seed": self.seed,
            "data_seed": self.data_seed,
            "evaluate_splits": list(self.evaluate_splits),
        }


def _non_negative(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SettingsError(f"{key}: must be a non-negative integer, got {value!r}")
    return value


def resolve_model(model: str | Mapping[str, Any] | Hyperparams) -> Hyperparams:
    """Hyperparameters from a preset name, a mapping (preset ``name`` plus overrides, or
    ``framework`` plus values) or a ready dataclass."""
    if isinstance(model, Hyperparams):
        return model
    if isinstance(model, str):
        return model_preset(model)
    values = dict(model)
    framework = values.pop("framework", None)
    architecture = values.pop("architecture", None)
    name = values.get("name")
    if framework is None and architecture is None and name is None:
        raise SettingsError("model: give a preset name (model=transformer) or model.framework")
    preset = model_preset(name) if isinstance(name, str) and name in PRESETS else None
    if preset is not None and framework not in (None, preset.framework):
        raise SettingsError(
            f"model.framework: model {name!r} is trained by the {preset.framework} trainer, "
            f"not {framework}; pick a {framework} model (e.g. "
            f"model={'lstm' if framework == 'keras' else 'transformer'})"
        )
    if preset is not None and architecture not in (None, preset.architecture):
        raise SettingsError(
            f"model.architecture: model {name!r} is a {preset.architecture}, not "
            f"{architecture}; drop model.name or pick a {architecture} preset"
        )
    if preset is not None:
        return preset.replace(**values)
    return Hyperparams.from_mapping(
        {**values, "framework": framework, "architecture": architecture}
    )


def run_pipeline(
    config: PipelineConfig | Mapping[str, Any],
    *,
    run_dir: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    extend: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build data, train, evaluate the best checkpoint, write the report, register the run.

    Args:
        config: The run config (validated first).
        run_dir: Where the run goes; default ``<output_dir>/runs/<run_id>``.
        resume: A run directory to continue (its own saved config is used).
        progress: Progress bars while generating data; ``False`` also hides the training bars
            of a resumed run (a new run takes them from ``config``'s trainer settings).
        extend: With ``resume``, trainer settings that may change to train longer:
            ``max_epochs`` and ``max_minutes``.

    Returns:
        ``run_id``, ``run_dir``, ``training`` (:class:`~trainers.results.TrainingResult`),
        ``evaluations`` (split -> :class:`~metrics.EvaluationResult`), ``report`` (path),
        ``registry_entry``.
    """
    if resume is not None:
        run_dir = Path(resume).expanduser().resolve()
        saved = load_run_manifest(run_dir, "resume").config
        if not saved:
            raise SettingsError(f"resume: {run_dir} has no saved config; it cannot be resumed")
        changes = dict(extend or {})
        unknown = sorted(set(changes) - set(RESUME_EXTENSIONS))
        if unknown:
            raise SettingsError(
                f"resume: only {list(RESUME_EXTENSIONS)} may change on resume, not {unknown}"
            )
        config = {**saved, "trainer": {**saved.get("trainer", {}), **changes}}
        if not progress:  # a display setting: a resume without bars hides the training bars too
            config["trainer"]["progress"] = False
    resolved = config if isinstance(config, PipelineConfig) else PipelineConfig.from_mapping(config)
    output_root = resolved.output_dir.expanduser().resolve()
    dataset = build_dataset(
        resolved.data, seed=resolved.data_seed, output_dir=output_root, progress=progress
    )
    if run_dir is None:
        run_id = resolved.run_id or new_run_id(resolved.model.name, resolved.data.name)
        run_dir = output_root / "runs" / run_id
    trainer = trainer_class(resolved.model.framework)(
        run_dir,
        config=resolved.trainer,
        tracker=resolved.tracker,
        seed=resolved.seed,
        dataset=dataset,
        output_root=output_root,
        run_config=resolved.to_dict(),
    )
    with run_log(trainer.run_dir, enabled=trainer.is_global_zero), trainer:
        resumed = resume is not None
        evaluate_only = resumed and not extend and _left_after_training(trainer, resolved)
        return _train_and_evaluate(trainer, dataset, resolved, resumed, evaluate_only)


def load_run_manifest(run_dir: Path, key: str) -> RunManifest:
    """The manifest of the run folder given as ``key`` on the command line.

    Raises:
        SettingsError: No manifest, or a damaged one, naming the folder.
    """
    try:
        return RunManifest.load(run_dir)
    except FileNotFoundError:
        raise SettingsError(
            f"{key}: {run_dir} is not a run (no {RunManifest.FILENAME}); give a run folder "
            "(python scripts/registry.py list shows them)"
        ) from None
    except ValueError as error:
        raise SettingsError(f"{key}: {error}") from None


def _first_line(text: str, limit: int = 300) -> str:
    """The first line of an error message, at most ``limit`` characters (for one-line
    manifest errors and messages)."""
    lines = text.strip().splitlines()
    return lines[0][:limit] if lines else ""


def _mark_failed_after_training(run_dir: Path, error: BaseException) -> None:
    """Training finished but evaluation, report or registration did not: the manifest must
    not say ``finished`` (later commands would take the run for a complete one)."""
    try:
        manifest = RunManifest.load(run_dir)
        if manifest.status == "finished":
            manifest.finish(
                "failed",
                f"{RunManifest.AFTER_TRAINING_ERROR}: {type(error).__name__}: "
                f"{_first_line(str(error))}; resume "
                "the run to evaluate it again",
            )
    except (OSError, ValueError):  # the manifest cannot be read or written: it is not finished
        pass


def _left_after_training(trainer: ModelTrainer, config: PipelineConfig) -> bool:
    """Whether a run's training is done but its evaluation, report or registration is not (it
    was killed, or failed, after training): resuming it then only does those."""
    manifest = RunManifest.load(trainer.run_dir)
    if not manifest.training_done:
        return False
    complete = (
        manifest.status == "finished"
        and set(config.evaluate_splits) <= set(manifest.evaluation)
        and (trainer.run_dir / REPORT_FILE).is_file()
        and bool(Registry(trainer.output_root).list(run_id=manifest.run_id))
    )
    return not complete


def _train_and_evaluate(
    trainer: ModelTrainer,
    dataset: StoryDataset,
    config: PipelineConfig,
    resumed: bool,
    evaluate_only: bool = False,
) -> dict[str, Any]:
    assert dataset.vocab is not None
    trainer.run_dir.mkdir(parents=True, exist_ok=True)
    dataset.vocab.save(trainer.run_dir / VOCAB_FILE)  # the run is self-contained
    model = trainer.build_model(config.model, tokens=dataset.vocab.tokens)
    training = trainer.completed_training() if evaluate_only else None
    if training is None:
        training = trainer.train(
            model,
            trainer.encode(dataset, "train"),
            trainer.encode(dataset, "valid_a"),
            dataset.metadata("train"),
            dataset.metadata("valid_a"),
            config.model,
            resume_from=trainer.run_dir if resumed else None,
        )
    if not trainer.is_global_zero:  # a DDP worker: rank zero evaluates, reports, registers
        return {"run_id": trainer.run_dir.name, "run_dir": trainer.run_dir, "training": training}
    try:
        return _evaluate_report_register(trainer, model, dataset, config, training)
    except BaseException as error:
        _mark_failed_after_training(trainer.run_dir, error)
        raise


def _evaluate_report_register(
    trainer: ModelTrainer,
    model: Any,
    dataset: StoryDataset,
    config: PipelineConfig,
    training: TrainingResult,
) -> dict[str, Any]:
    from metrics.report import write_run_report

    if training.best_checkpoint is not None:
        trainer.load_checkpoint(model, training.best_checkpoint)
    evaluations = evaluate_splits(trainer, model, dataset, config.evaluate_splits)
    manifest = RunManifest.load(trainer.run_dir)
    report = write_run_report(
        trainer.run_dir / REPORT_FILE,
        evaluations,
        summary={
            "run id": manifest.run_id,
            "framework": manifest.framework,
            "model": manifest.model,
            "dataset": manifest.dataset.get("version"),
            "dataset hash": str(manifest.dataset.get("hash", ""))[:12],
            "seed": manifest.seed,
            "best epoch": training.best_epoch,
            "best val accuracy": f"{training.best_val_accuracy:.4f}",
            "epochs": training.epochs_completed,
            "device": manifest.device,
        },
        learning_curve=trainer.run_dir / "metrics.jsonl",
        title=f"storyqa run {manifest.run_id}",
    )
    entry = Registry(trainer.output_root).register_run(trainer.run_dir)
    return {
        "run_id": trainer.run_dir.name,
        "run_dir": trainer.run_dir,
        "training": training,
        "evaluations": evaluations,
        "report": report,
        "registry_entry": entry,
    }


def evaluate_splits(
    trainer: ModelTrainer, model: Any, dataset: StoryDataset, splits: tuple[str, ...]
) -> dict[str, Any]:
    """Evaluate ``model`` on each split (console report, ``eval/<split>/``, tracker)."""
    return {
        split: trainer.evaluate(
            model,
            trainer.encode(dataset, split),
            dataset.metadata(split),
            split,
            examples=_examples(dataset, split),
        )
        for split in splits
    }


def _examples(dataset: StoryDataset, split: str) -> Any:
    frame = dataset[split]
    return frame[[c for c in EXAMPLE_COLUMNS if c in frame.columns]]


def open_run(
    run_dir: str | Path,
    data_path: str | Path | None = None,
    *,
    splits: tuple[str, ...] = (),
    splits_key: str = "splits",
) -> tuple[ModelTrainer, Any, StoryDataset, PipelineConfig]:
    """A finished run ready to predict: its trainer, its best model and a dataset encoded
    with the run's vocabulary (the run's own data, or ``data_path``: a user JSONL file or
    folder).

    Args:
        run_dir: The run directory.
        data_path: A user JSONL file or folder instead of the run's own data.
        splits: Splits that must be in the data (checked before the model is loaded).
        splits_key: The command-line key that named ``splits``, for the error.

    Raises:
        SettingsError: No manifest, a damaged one, no saved config, a run that is not
            ``finished``, or a split of ``splits`` that is not in the data.
        trainers.errors.CheckpointError: The best checkpoint is missing or damaged.
    """
    from stories import load_dataset
    from stories.vocab import Vocabulary
    from trainers.errors import CheckpointError

    run_dir = Path(run_dir).resolve()
    manifest = load_run_manifest(run_dir, "run")
    if not manifest.config:
        raise SettingsError(f"run: {run_dir} has no saved config; it cannot be re-evaluated")
    config = PipelineConfig.from_mapping(manifest.config)
    if manifest.status != "finished":
        why = f": {_first_line(manifest.error)}" if manifest.error else ""
        raise SettingsError(
            f"run: {manifest.run_id} is {manifest.status}, not finished{why}; resume it "
            f"(python scripts/train.py resume={run_dir}) or start a new run"
        )
    best = manifest.checkpoints.get("best")
    if not best:
        raise CheckpointError(
            f"run {manifest.run_id} has no best checkpoint (status {manifest.status}); "
            f"resume it first: python scripts/train.py resume={run_dir}"
        )
    if not (run_dir / best).is_file():
        raise CheckpointError(
            f"run {manifest.run_id}: its best checkpoint {run_dir / best} is missing; restore "
            "the file, or train the run again"
        )
    output_root = run_dir.parent.parent
    if data_path is None:
        dataset = build_dataset(
            config.data, seed=config.data_seed, output_dir=output_root, progress=False
        )
    else:
        dataset = load_dataset(data_path)
    missing = [split for split in splits if split not in dataset.splits]
    if missing:
        raise SettingsError(
            f"{splits_key}: {', '.join(map(repr, missing))} not in the data; it has "
            f"{list(dataset.splits)}"
        )
    vocab_path = run_dir / VOCAB_FILE
    if vocab_path.exists():
        dataset = dataset.with_vocab(Vocabulary.load(vocab_path))
    trainer = trainer_class(config.model.framework)(
        run_dir,
        config=config.trainer.replace(progress=False),
        tracker=config.tracker,
        seed=config.seed,
        dataset=DatasetInfo.from_dict(manifest.dataset, ModelTrainer.DEFAULT_DATASET_NAME),
        output_root=output_root,
        run_config=manifest.config,
    )
    assert dataset.vocab is not None
    model = trainer.build_model(config.model, tokens=dataset.vocab.tokens)
    trainer.load_checkpoint(model, run_dir / best)
    return trainer, model, dataset, config


def evaluate_run(
    run_dir: str | Path,
    splits: tuple[str, ...] | None = None,
    data_path: str | Path | None = None,
) -> dict[str, Any]:
    """Re-evaluate a run's best checkpoint with its own saved config.

    Args:
        run_dir: The run directory.
        splits: Splits to evaluate; default every split of the data.
        data_path: Evaluate on a user JSONL file or folder instead (splits named after files).

    Returns:
        Split -> :class:`~metrics.EvaluationResult` (also saved in ``eval/<split>/``, logged,
        recorded in the manifest and the registry).
    """
    trainer, model, dataset, _ = open_run(run_dir, data_path, splits=tuple(splits or ()))
    chosen = tuple(dataset) if splits is None else tuple(splits)
    with trainer:
        results = evaluate_splits(trainer, model, dataset, chosen)
    Registry(trainer.output_root).register_run(trainer.run_dir)
    return results


#: Where :func:`diagnose_run` writes, inside the run directory.
DIAGNOSE_DIR = "diagnose"


def diagnose_run(
    run_dir: str | Path, split: str = "test", data_path: str | Path | None = None
) -> Path:
    """Write per-example predictions of a run's best checkpoint for error analysis.

    Files in ``<run_dir>/diagnose/<split>/``: ``predictions.jsonl`` (id, story, question,
    label, probability, prediction, correct, category, noun_count, loss; one line per
    example, in split order), ``index.json`` (per category and noun count: examples,
    accuracy and the line numbers of the errors) and ``model_summary.txt``.

    Returns:
        The folder written.
    """
    import json

    import numpy as np

    trainer, model, dataset, _ = open_run(run_dir, data_path, splits=(split,), splits_key="split")
    with trainer:
        probabilities, losses = trainer.predict(model, trainer.encode(dataset, split))
    frame = dataset[split].reset_index(drop=True)
    labels = frame["label"].to_numpy()
    predictions = (np.asarray(probabilities) > trainer.processor.threshold).astype(int)
    folder = trainer.run_dir / DIAGNOSE_DIR / split
    folder.mkdir(parents=True, exist_ok=True)
    index: dict[str, dict[str, Any]] = {}
    with (folder / "predictions.jsonl").open("w", encoding="utf-8") as out:
        for row, (example, probability, prediction, loss) in enumerate(
            zip(frame.to_dict("records"), probabilities, predictions, losses, strict=True)
        ):
            correct = bool(prediction == labels[row])
            record = {
                **{c: example[c] for c in EXAMPLE_COLUMNS if c in example},
                "label": int(labels[row]),
                "probability": round(float(probability), 6),
                "prediction": int(prediction),
                "correct": correct,
                "loss": round(float(loss), 6),
            }
            out.write(json.dumps(record, default=str) + "\n")
            key = f"{example.get('category', 'all')}/noun_{example.get('noun_count', 0)}"
            group = index.setdefault(key, {"examples": 0, "correct": 0, "error_lines": []})
            group["examples"] += 1
            group["correct"] += int(correct)
            if not correct:
                group["error_lines"].append(row + 1)
    for group in index.values():
        group["accuracy"] = round(group["correct"] / group["examples"], 6)
    summary = {
        "run_id": trainer.run_dir.name,
        "split": split,
        "examples": len(frame),
        "accuracy": round(float((predictions == labels).mean()), 6),
        "groups": dict(sorted(index.items())),
    }
    (folder / "index.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    (folder / "model_summary.txt").write_text(
        trainer.describe_model(model) + "\n", encoding="utf-8"
    )
    return folder
