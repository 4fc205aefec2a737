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

import contextlib
import dataclasses
import importlib
import logging
import shutil
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from models.settings import SettingsError
from stories import DatasetConfig, StoryDataset, open_dataset
from stories.dataset import split_names
from stories.errors import StoriesError
from trainers.base import ModelTrainer
from trainers.config import PRESETS, Hyperparams, TrainerConfig, model_preset
from trainers.config.model import TARGET_KEY
from trainers.errors import TrainerError
from trainers.records.manifest import RunManifest
from trainers.records.registry import Registry, RegistryError, output_root_of
from trainers.records.run import DatasetInfo, new_run_id
from trainers.results import TrainingResult
from trainers.runs.data_checks import check_training_data
from trainers.runs.logs import RUN_LOG_FILE, run_log
from trainers.tracking import Invocation, TrackerConfig, TrackerConfigError

logger = logging.getLogger(__name__)

#: Framework -> "module:class" of its trainer (imported only when used).
TRAINERS: Mapping[str, str] = {
    "lightning": "trainers.lightning.trainer:LightningTrainer",
    "keras": "trainers.keras.trainer:KerasTrainer",
}
#: Framework -> "module:function" that checks the ``trainer.*`` placement keys against this
#: machine (imported only when one of them is set).
PLACEMENT_CHECKS: Mapping[str, str] = {
    "lightning": "trainers.lightning.devices:check_placement",
    "keras": "trainers.keras.backend:check_placement",
}
SPLITS: tuple[str, ...] = ("train", "valid_a", "valid_comp", "test")
#: Errors that are the user's to fix (a config, a data file, a run folder, a tracker setting):
#: the command line prints them as one ``error:`` line (exit code 2); the service fails the
#: run with that line and does not retry it.
USER_ERRORS: tuple[type[Exception], ...] = (
    StoriesError,
    SettingsError,
    TrackerConfigError,
    TrainerError,
    RegistryError,
)
#: Trainer settings a resumed run may change (to train longer).
RESUME_EXTENSIONS: tuple[str, ...] = ("max_epochs", "max_minutes")
#: The run's copy of its training vocabulary.
VOCAB_FILE = "vocab.json"
#: The run's HTML report (evaluation of the best checkpoint on every split).
REPORT_FILE = "report.html"
#: Hydra's composed config, in the run folder (``train.py`` runs).
HYDRA_CONFIG = Path(".hydra") / "config.yaml"
#: The learning-curve plot, kept as ``artifacts/plots/learning_curve.png``.
LEARNING_CURVE_FILE = "learning_curve.png"
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
        evaluate_splits: Splits the best checkpoint is evaluated on (default: every split of
            the data, for a user's folder its files).
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

        ``model`` is a preset name, a model config (``_target_``, ``framework``, arguments and
        training keys) or a mapping naming a preset with keys to override; ``data`` a preset
        name or a mapping.
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
        if data_config.path is not None:  # the run records where the data is, wherever it runs
            data_config = data_config.replace(
                path=str(Path(data_config.path).expanduser().resolve())
            )
        splits = tuple(config.get("evaluate_splits") or split_names(data_config))
        if data_config.path is None:  # a user folder's splits are checked once it is read
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

    def check_trainer(self) -> None:
        """Refuse ``trainer.*`` keys the model's framework cannot honour, and placement keys
        (``accelerator``, ``devices``, ``num_nodes``, ``strategy``, ``precision``) this machine
        cannot run: before anything is built. The framework is imported only when a placement
        key differs from its default.

        Raises:
            SettingsError: Naming the key, what this machine has, and the fix.
        """
        self.trainer.check_framework(self.model.framework)
        if not self.trainer.placement_overrides():
            return
        module, name = PLACEMENT_CHECKS[self.model.framework].split(":")
        getattr(importlib.import_module(module), name)(self.trainer)

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
    """Hyperparameters from a preset name, a model config (with ``_target_``), a mapping that
    names a preset (``name``) with keys to override, or a ready :class:`Hyperparams`.

    Raises:
        SettingsError: An unknown preset, a target that cannot be imported, or a bad key,
            naming the key.
    """
    if isinstance(model, Hyperparams):
        return model
    if isinstance(model, str):
        return model_preset(model)
    values = dict(model)
    name = values.get("name")
    if TARGET_KEY not in values and isinstance(name, str) and name in PRESETS:
        return model_preset(name, **{k: v for k, v in values.items() if k != "name"})
    if TARGET_KEY not in values and "framework" not in values and "architecture" not in values:
        raise SettingsError(
            "model: give a preset name (model=transformer) or a model config with _target_ "
            "and framework (docs/models.md)"
        )
    return Hyperparams.from_mapping(values)


def run_pipeline(
    config: PipelineConfig | Mapping[str, Any],
    *,
    run_dir: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    extend: Mapping[str, Any] | None = None,
    invocation: Invocation | None = None,
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
        invocation: How the run was started (command line, sweep, composed config), for its
            recorded context; default this process' command line.

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
    resolved.check_trainer()
    # A resumed run stays in its own output root, wherever it is run from (its saved
    # output_dir may be relative to where it started).
    output_root = (
        output_root_of(Path(run_dir))
        if resume is not None and run_dir is not None
        else resolved.output_dir.expanduser().resolve()
    )
    dataset = open_dataset(
        resolved.data, seed=resolved.data_seed, output_dir=output_root, progress=progress
    )
    resumed_run = Path(run_dir) if resume is not None and run_dir is not None else None
    valid_split, data_notes = _check_data(dataset, resolved, resumed_run)
    if run_dir is None:
        run_id = resolved.run_id or new_run_id(resolved.model.name, resolved.data.label)
        run_dir = output_root / "runs" / run_id
    trainer = trainer_class(resolved.model.framework)(
        run_dir,
        config=resolved.trainer,
        tracker=resolved.tracker,
        seed=resolved.seed,
        dataset=dataset,
        output_root=output_root,
        run_config=resolved.to_dict(),
        invocation=invocation,
    )
    resumed = resume is not None
    try:
        with run_log(trainer.run_dir, enabled=trainer.is_global_zero), trainer:
            if trainer.is_global_zero:  # console and run.log, once
                for note in resolved.trainer.ignored_by(resolved.model.framework):
                    logger.warning("%s", note)
                _log_data(trainer, dataset, valid_split, data_notes)
            evaluate_only = resumed and not extend and _left_after_training(trainer, resolved)
            return _train_and_evaluate(
                trainer, dataset, resolved, resumed, evaluate_only, valid_split
            )
    except BaseException:
        if not resumed:
            _discard_unstarted_run(trainer.run_dir)
        raise


def _check_data(
    dataset: StoryDataset, config: PipelineConfig, resumed_run: Path | None
) -> tuple[str, list[str]]:
    """The validation split, and the warnings about the data; refuses data the run cannot
    train on (see :func:`~trainers.runs.data_checks.check_training_data`) and, on resume, a
    user's files that changed since the run started.

    Raises:
        stories.errors.DataFileError: Naming the file, row and field.
        SettingsError: A split to evaluate that the data does not have, or changed data.
    """
    missing = [split for split in config.evaluate_splits if split not in dataset.splits]
    if missing:
        raise SettingsError(
            f"evaluate_splits: {missing[0]!r} is not a split of {dataset.path}; it has "
            f"{list(dataset.splits)}"
        )
    if resumed_run is not None:
        check_same_data(resumed_run, dataset, "resume")
    valid_split = dataset.validation_split(config.data.valid_split)
    return valid_split, check_training_data(
        dataset, valid_split, config.model, config.evaluate_splits
    )


def check_same_data(run_dir: Path, dataset: StoryDataset, key: str) -> None:
    """Refuse a user's dataset whose files changed since the run trained on them.

    Raises:
        SettingsError: Naming both versions and the fix.
    """
    recorded = str(RunManifest.load(run_dir).dataset.get("hash", ""))
    if dataset.manifest.get("source") == "user" and recorded and recorded != dataset.hash:
        raise SettingsError(
            f"{key}: the files of {dataset.path} changed since run {run_dir.name} trained on "
            f"them (version {dataset.manifest['version']}, the run's hash {recorded[:8]}); "
            "restore them, or start a new run on the new version"
        )


def _log_data(
    trainer: ModelTrainer, dataset: StoryDataset, valid_split: str, notes: list[str]
) -> None:
    """Say what a user's dataset holds (its rows, and where each split's noun counts came
    from) on the console and in ``run.log``, then the warnings about it."""
    sources = dataset.manifest.get("noun_count_sources")
    if sources:
        from stories.userdata import describe_sources

        lines = [
            f"data: {dataset.manifest['version']} ({dataset.manifest.get('format', 'user')} "
            f"files in {dataset.path}); the best epoch is picked on {valid_split}"
        ]
        lines += [
            f"  {split}: {dataset.manifest['totals'][split]} rows, {describe_sources(counts)}"
            for split, counts in sources.items()
        ]
        trainer.echo("\n".join(lines))
        logger.info("%s", "\n".join(lines))
    for note in notes:
        logger.warning("data.path: %s", note)


def _discard_unstarted_run(run_dir: Path) -> None:
    """Remove what a new run wrote before it started (its vocabulary and log) when it failed
    before its manifest existed (e.g. a model the trainer refused): no half-made run folder
    is left behind. The folder goes too when nothing else is in it."""
    if RunManifest.path_for(run_dir).exists():
        return
    for name in (VOCAB_FILE, RUN_LOG_FILE):
        (run_dir / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty (e.g. Hydra's dump): the CLI tidies it
        run_dir.rmdir()


def restart_unstarted_run(run_dir: str | Path, keep: Collection[str] = ()) -> bool:
    """Make a run whose earlier attempt finished no epoch (killed during its first one: no
    checkpoint or Keras backup to continue from) ready to be trained again from the start: its
    MLflow run, which will never continue, is closed as ``KILLED``
    (:func:`~trainers.tracking.factory.abandon_tracked_run`) and its folder is emptied but for
    ``run.log`` (the next attempt appends to it) and ``keep``. A sweep job that finds such a
    run (``scripts/train.py``) and the training service (``services/jobs.py``) then train it
    as a new run in the same folder.

    Args:
        run_dir: The run folder.
        keep: Further names in the folder to keep.

    Returns:
        Whether the folder was emptied: ``False`` when it holds no manifest (nothing ran) or
        its run finished an epoch or its training (resume it instead).
    """
    run_dir = Path(run_dir)
    if not RunManifest.path_for(run_dir).is_file():
        return False
    try:
        manifest: RunManifest | None = RunManifest.load(run_dir)
    except (ValueError, TypeError):  # damaged: nothing can be continued from it
        manifest = None
    if manifest is not None and (manifest.saved_progress or manifest.training_done):
        return False
    if manifest is not None and manifest.config:
        from trainers.tracking.factory import abandon_tracked_run

        try:
            tracker = TrackerConfig.from_mapping(manifest.config.get("tracker") or {})
        except TrackerConfigError as error:
            logger.warning("%s: its earlier attempt's tracker settings unread: %s", run_dir, error)
        else:
            abandon_tracked_run(tracker, output_root_of(run_dir), run_dir)
    kept = {RUN_LOG_FILE, *keep}
    for path in run_dir.iterdir():
        if path.name in kept:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return True


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
    valid_split: str = "valid_a",
) -> dict[str, Any]:
    assert dataset.vocab is not None
    trainer.run_dir.mkdir(parents=True, exist_ok=True)
    dataset.vocab.save(trainer.run_dir / VOCAB_FILE)  # the run is self-contained
    model = trainer.build_model(config.model, tokens=dataset.vocab.tokens)
    training = trainer.completed_training() if evaluate_only else None
    if training is None:
        training = trainer.train(
            model,
            trainer.encode(dataset, "train", model),
            trainer.encode(dataset, valid_split, model),
            dataset.metadata("train"),
            dataset.metadata(valid_split),
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
    curve = log_learning_curve(trainer)
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
        learning_curve=curve or trainer.run_dir / "metrics.jsonl",
        title=f"storyqa run {manifest.run_id}",
    )
    entry = Registry(trainer.output_root).register_run(trainer.run_dir)
    log_run_files(trainer)
    from trainers.runs.serving import log_run_model

    valid_split = dataset.validation_split(config.data.valid_split)
    log_run_model(trainer, model, dataset, valid_split)  # the best model as an MLflow model
    return {
        "run_id": trainer.run_dir.name,
        "run_dir": trainer.run_dir,
        "training": training,
        "evaluations": evaluations,
        "report": report,
        "registry_entry": entry,
    }


def log_learning_curve(trainer: ModelTrainer) -> Path | None:
    """Plot the learning curve once, as ``artifacts/plots/learning_curve.png`` (the report
    embeds the same file); ``None`` when there is nothing to plot or no tracker."""
    from metrics.plots import learning_curve_png

    png = learning_curve_png(trainer.run_dir / "metrics.jsonl")
    if png is None or trainer.tracker is None or trainer.tracker.closed:
        return None
    return trainer.tracker.write_artifact("plots", LEARNING_CURVE_FILE, png)


def log_run_files(trainer: ModelTrainer) -> None:
    """Record the run's own files as ``artifacts/run/<file>``: ``report.html``,
    ``manifest.json``, the composed ``config.yaml`` and ``vocab.json`` (those that exist)."""
    tracker = trainer.tracker
    if tracker is None or tracker.closed:
        return
    run_dir = trainer.run_dir
    config = run_dir / HYDRA_CONFIG
    given = trainer.invocation.config_file if trainer.invocation else None
    if not config.is_file() and given is not None:
        config = Path(given)
    files = (run_dir / REPORT_FILE, RunManifest.path_for(run_dir), config, run_dir / VOCAB_FILE)
    for path in files:
        if path.is_file():
            tracker.log_artifact("run", path)
    tracker.flush()


def evaluate_splits(
    trainer: ModelTrainer, model: Any, dataset: StoryDataset, splits: tuple[str, ...]
) -> dict[str, Any]:
    """Evaluate ``model`` on each split (console report, ``eval/<split>/``, tracker)."""
    return {
        split: trainer.evaluate(
            model,
            trainer.encode(dataset, split, model),
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
    allow_unknown_words: bool = False,
) -> tuple[ModelTrainer, Any, StoryDataset, PipelineConfig]:
    """A finished run ready to predict: its trainer, its best model and a dataset encoded
    with the run's vocabulary (the run's own data, or ``data_path``: a user JSONL file or
    folder).

    Args:
        run_dir: The run directory.
        data_path: A user JSONL file or folder instead of the run's own data.
        splits: Splits that must be in the data (checked before the model is loaded); those
            whose words are checked (default: every split of the data).
        splits_key: The command-line key that named ``splits``, for the error.
        allow_unknown_words: Read words of ``data_path`` that the run never saw as ``[UNK]``
            (with a warning that counts them) instead of refusing them.

    Raises:
        SettingsError: No manifest, a damaged one, no saved config, a run that is not
            ``finished``, a split of ``splits`` that is not in the data, or words of
            ``data_path`` that the run's vocabulary does not have (see
            :func:`check_unknown_words`).
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
    output_root = output_root_of(run_dir)
    if data_path is None:
        dataset = open_dataset(
            config.data, seed=config.data_seed, output_dir=output_root, progress=False
        )
        check_same_data(run_dir, dataset, "run")
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
    elif data_path is not None:
        raise SettingsError(
            f"run: {run_dir} has no {VOCAB_FILE} (the vocabulary it was trained with), so it "
            "cannot read other data; leave out data.path to evaluate it on its own data"
        )
    if data_path is not None:
        check_unknown_words(
            dataset, splits or tuple(dataset.splits), vocab_path, allow=allow_unknown_words
        )
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


def check_unknown_words(
    dataset: StoryDataset, splits: tuple[str, ...], vocab_path: Path, *, allow: bool = False
) -> None:
    """Refuse words of ``dataset`` (not the run's own data) that the run's vocabulary, its
    training split's words (``vocab_path``), does not have: a model reads each of them as the
    one ``[UNK]`` token, so on this closed-vocabulary task two unknown names become one actor
    and the accuracy means nothing. With ``allow``, warn instead, counting them.

    Raises:
        SettingsError: Naming the unknown words, their rows and the split's file.
    """
    from stories.vocab import UNK, unknown_words

    vocab = dataset.vocab
    assert vocab is not None
    for split in splits:
        frame = dataset[split]
        found = unknown_words(frame["story"] + " " + frame["question"], vocab)
        if not found:
            continue
        source = dataset.path if dataset.path.is_file() else dataset.path / f"{split}.jsonl"
        words = _count(len(found.words), "word")
        if allow:
            logger.warning(
                "data.path: %s: %s of %d hold %s the run never saw in training (%s, %s in "
                "all), each read as %s (allow_unknown_words=true); the accuracy on those rows "
                "means little",
                source, _count(found.row_count, "row"), len(frame), words,
                found.describe(max_rows=3), _count(found.occurrences, "occurrence"), UNK,
            )  # fmt: skip
            continue
        raise SettingsError(
            f"data.path: {source}: {words} the run never saw in training "
            f"(rows counted from 1): {found.describe()}. The run knows only its training "
            f"split's words ({vocab_path}, {len(vocab)} tokens) and reads any other as {UNK}, "
            "so two unknown names become one actor and the accuracy means nothing; use the "
            "names and words of the training stories, or give allow_unknown_words=true to "
            "evaluate anyway"
        )


def _count(number: int, noun: str) -> str:
    """``1 word``, ``2 words``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def evaluate_run(
    run_dir: str | Path,
    splits: tuple[str, ...] | None = None,
    data_path: str | Path | None = None,
    *,
    allow_unknown_words: bool = False,
) -> dict[str, Any]:
    """Re-evaluate a run's best checkpoint with its own saved config.

    Args:
        run_dir: The run directory.
        splits: Splits to evaluate; default every split of the data.
        data_path: Evaluate on a user JSONL file or folder instead (splits named after files).
        allow_unknown_words: Evaluate ``data_path`` even with words the run never saw (see
            :func:`check_unknown_words`).

    Returns:
        Split -> :class:`~metrics.EvaluationResult` (also saved in ``eval/<split>/``, logged,
        recorded in the manifest and the registry).
    """
    run_dir = Path(run_dir).resolve()
    load_run_manifest(run_dir, "run")  # a run folder, before its log is written to
    with run_log(run_dir, action="evaluation"):
        trainer, model, dataset, _ = open_run(
            run_dir,
            data_path,
            splits=tuple(splits or ()),
            allow_unknown_words=allow_unknown_words,
        )
        chosen = tuple(dataset) if splits is None else tuple(splits)
        with trainer:
            results = evaluate_splits(trainer, model, dataset, chosen)
            log_run_files(trainer)  # the manifest now holds the new scores
        Registry(trainer.output_root).register_run(trainer.run_dir)
    return results


#: Where :func:`diagnose_run` writes, inside the run directory.
DIAGNOSE_DIR = "diagnose"


def diagnose_run(
    run_dir: str | Path,
    split: str = "test",
    data_path: str | Path | None = None,
    *,
    allow_unknown_words: bool = False,
) -> Path:
    """Write per-example predictions of a run's best checkpoint for error analysis.

    Files in ``<run_dir>/diagnose/<split>/``: ``predictions.jsonl`` (id, story, question,
    label, probability, prediction, correct, category, noun_count, loss; one line per
    example, in split order), ``index.json`` (per category and noun count: examples,
    accuracy and the line numbers of the errors) and ``model_summary.txt``. Words of
    ``data_path`` the run never saw are refused unless ``allow_unknown_words`` (see
    :func:`check_unknown_words`).

    Returns:
        The folder written.
    """
    run_dir = Path(run_dir).resolve()
    load_run_manifest(run_dir, "run")  # a run folder, before its log is written to
    with run_log(run_dir, action="diagnosis"):
        return _diagnose(run_dir, split, data_path, allow_unknown_words)


def _diagnose(
    run_dir: Path, split: str, data_path: str | Path | None, allow_unknown_words: bool
) -> Path:
    import json

    import numpy as np

    trainer, model, dataset, _ = open_run(
        run_dir,
        data_path,
        splits=(split,),
        splits_key="split",
        allow_unknown_words=allow_unknown_words,
    )
    with trainer:
        encoded = trainer.encode(dataset, split, model)
        probabilities, losses = trainer.predict_with_bar(model, encoded, f"diagnosing {split}")
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
