"""``ModelTrainer``: the interface and the shared set-up of both trainers.

A trainer owns one run directory. :meth:`ModelTrainer.train` seeds everything from one seed,
writes the manifest, opens the tracker, logs the parameters and the dataset version, and hands
the framework a :class:`FitRequest` holding the shared per-epoch routine (metrics breakdowns,
tracker names, top-k bookkeeping, console marks). :meth:`ModelTrainer.evaluate` scores a model
on any split, prints the console report, saves the evaluation under ``eval/<split>/`` and logs
``eval/<split>/...``. Subclasses only supply the framework: building a model, fitting,
predicting, loading checkpoints.

Example (any subclass; plain Python objects, no Hydra)::

    ds = build_dataset("all_4dir", size="tiny")
    trainer = LightningTrainer("models_out/runs/demo", dataset=ds, seed=0,
                               config=TrainerConfig(max_epochs=2))
    hp = model_preset("transformer")
    model = trainer.build_model(hp, vocab_size=len(ds.vocab))
    result = trainer.train(model, ds.encode_transformer("train"), ds.encode_transformer("valid_a"),
                           ds.metadata("train"), ds.metadata("valid_a"), hp)
    trainer.load_checkpoint(model, result.best_checkpoint)
    evaluation = trainer.evaluate(model, ds.encode_transformer("test"), ds.metadata("test"), "test")
    trainer.close()
"""

from __future__ import annotations

import math
import os
import random
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd

from metrics import EvaluationResult, MetricsProcessor
from metrics import namespaces as ns
from metrics.history import epoch_history
from models.settings import SettingsError
from trainers.batching import steps_per_epoch
from trainers.budget import Clock, TimeBudget
from trainers.checkpoints import CheckpointFiles, Framework, TopKPolicy, TopKStateStore
from trainers.config import Hyperparams, TrainerConfig
from trainers.config.model import TARGET_KEY
from trainers.errors import CheckpointError, ResumeError, TrainerInputError
from trainers.periods import ValidationSchedule
from trainers.records.manifest import ManifestStatus, RunManifest
from trainers.records.run import DatasetInfo
from trainers.results import FitRequest, FitSummary, ResumePoint, TrainingResult
from trainers.signals import termination_as_interrupt
from trainers.tracking import (
    DatasetInput,
    Invocation,
    RunContext,
    RunStatus,
    SecretFilter,
    Tracker,
    TrackerConfig,
    open_tracker,
)

if TYPE_CHECKING:
    from tqdm import tqdm

    from stories import StoryDataset


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and hashing (frameworks add their own seeding)."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)


#: The model's layer table, kept as ``artifacts/model/model_summary.txt``.
MODEL_SUMMARY_FILE = "model_summary.txt"
#: A split's evaluation files recorded as ``artifacts/eval/<split>-<file>``.
EVAL_ARTIFACTS: tuple[str, ...] = ("evaluation.json", "breakdown.csv")

#: How a manifest status maps to the tracker's run status.
TRACKER_STATUS: Mapping[ManifestStatus, RunStatus] = {
    "running": "finished",
    "finished": "finished",
    "interrupted": "killed",
    "failed": "failed",
}

#: The two encodings a model may read: ``input_ids`` (``[CLS] story [SEP] question``) or the
#: story and the question apart.
Encoding = Literal["transformer", "lstm"]
#: Per encoding: the encoded-input class and the :class:`~stories.StoryDataset` method that
#: makes it.
INPUTS: Mapping[Encoding, tuple[str, str]] = {
    "transformer": ("TransformerInputs", "encode_transformer"),
    "lstm": ("LSTMInputs", "encode_lstm"),
}


class ModelTrainer(ABC):
    """Trains and evaluates one framework's models in one run directory.

    Args:
        run_dir: The run directory (``<output_root>/runs/<run_id>``); created if missing.
        config: Trainer settings (``trainer.*``); default :class:`TrainerConfig` ``()``.
        tracker: Tracker settings (``tracker.*``); default ``jsonl`` only.
        seed: The one seed: Python, NumPy, the framework and the data order.
        dataset: The dataset (a :class:`~stories.StoryDataset` or a :class:`DatasetInfo`);
            names the checkpoints and is recorded in the manifest and the tracker.
        output_root: Home of ``mlflow.db`` and ``.neptune``; default the folder above
            ``runs/`` (or the run directory's parent).
        processor: Scorer of validation and evaluation predictions.
        run_config: The full config of the run (e.g. from Hydra), logged as
            ``parameters/...`` and kept in the manifest; default the hyperparameters, the
            trainer settings and the seed.
        echo: Prints console lines (default ``tqdm.write``, safe under progress bars).
        invocation: How the run was started (command line, entry point, sweep), recorded in
            its context; default this process' command line.

    Attributes:
        budget_clock: The clock of ``trainer.max_minutes`` (``time.time``); a test may set a
            deterministic one (see :mod:`trainers.budget`).
    """

    FRAMEWORK: ClassVar[Framework]
    EVAL_DIR: ClassVar[str] = "eval"
    DEFAULT_DATASET_NAME: ClassVar[str] = "dataset"

    def __init__(
        self,
        run_dir: str | Path,
        *,
        config: TrainerConfig | None = None,
        tracker: TrackerConfig | None = None,
        seed: int = 0,
        dataset: StoryDataset | DatasetInfo | None = None,
        output_root: str | Path | None = None,
        processor: MetricsProcessor | None = None,
        run_config: Mapping[str, Any] | None = None,
        echo: Callable[[str], object] | None = None,
        invocation: Invocation | None = None,
    ):
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise TrainerInputError(f"seed: must be a non-negative integer, got {seed!r}")
        self.run_dir = Path(run_dir).expanduser().resolve()
        self.config = TrainerConfig() if config is None else config
        self.tracker_config = TrackerConfig(sinks=("jsonl",)) if tracker is None else tracker
        self.seed = seed
        if dataset is None:
            dataset = DatasetInfo(self.DEFAULT_DATASET_NAME)
        elif not isinstance(dataset, DatasetInfo):
            dataset = DatasetInfo.from_dataset(dataset)
        self.dataset = dataset
        self.output_root = Path(output_root).resolve() if output_root else self._default_root()
        self.processor = MetricsProcessor() if processor is None else processor
        self.run_config = dict(run_config) if run_config is not None else None
        self.echo = echo if echo is not None else _tqdm_write
        self.invocation = invocation
        self.budget_clock: Clock = time.time
        self.files = CheckpointFiles.for_run(self.run_dir, self.FRAMEWORK, dataset.name)
        self.manifest: RunManifest | None = None
        self._earlier_train_s = 0.0  # training seconds of earlier attempts (a resumed run)
        self._schedule: ValidationSchedule | None = None  # the attempt's validation periods
        self.tracker: Tracker | None = None
        self._finalizer: weakref.finalize | None = None
        self._setup()

    def _setup(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Framework set-up at construction (e.g. choosing the Keras backend); nothing here."""

    def _default_root(self) -> Path:
        parent = self.run_dir.parent
        return parent.parent if parent.name == "runs" else parent

    # --- the framework's part --------------------------------------------------------------

    def build_model(
        self,
        hyperparams: Hyperparams | Mapping[str, Any],
        vocab_size: int | None = None,
        *,
        tokens: Sequence[str] | None = None,
    ) -> Any:
        """A fresh model: ``hyperparams``' target called with its arguments and what storyqa
        knows about the data (:meth:`~trainers.config.model.Hyperparams.build`).

        Call after the trainer exists: building seeds the framework, so the same seed gives
        the same initial weights.

        Args:
            hyperparams: The model's hyperparameters (a dataclass or its mapping).
            vocab_size: Number of token ids; may be left out when ``tokens`` is given.
            tokens: The vocabulary itself (``dataset.vocab.tokens``); models that read words
                (a target with a ``tokens`` parameter, e.g. the entity memory) need it.

        Raises:
            TrainerInputError: The hyperparameters belong to the other framework, the target
                rejects its arguments, or it builds something this trainer cannot train.
        """
        vocab_size = self.vocabulary_size(vocab_size, tokens)
        hp = self.coerce_hyperparams(hyperparams)
        self.seed_everything()
        self._setup_build()
        try:
            model = hp.build(vocab_size, tokens)
        except SettingsError as error:
            raise TrainerInputError(str(error)) from None
        except (TypeError, ValueError) as error:
            raise TrainerInputError(
                f"model.{TARGET_KEY}: {hp.target} rejected its arguments "
                f"({type(error).__name__}: {error}); check the model.* keys"
            ) from None
        self.check_model_type(model, hp.target or "the model")
        return self._prepare_model(model, hp)

    def _prepare_model(self, model: Any, hp: Hyperparams) -> Any:
        """Framework set-up of a freshly built model (e.g. compiling); ``model`` unchanged
        here."""
        return model

    def check_model_type(self, model: Any, built_by: str = "the model") -> None:  # noqa: B027
        """Fail clearly when ``model`` is not what this framework trains (nothing here).

        Raises:
            TrainerInputError: Naming ``model.framework`` and what was built.
        """

    def check_model(self, model: Any, data: Any) -> None:
        """Fail clearly, before training starts, when ``model`` is not what this framework
        trains or does not return one value per example on the first rows of ``data``.

        Raises:
            TrainerInputError: Naming the key to fix.
        """
        self.check_model_type(model)

    def _setup_build(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Framework set-up needed before a model is built; nothing here."""

    @staticmethod
    def vocabulary_size(vocab_size: int | None, tokens: Sequence[str] | None) -> int:
        """``vocab_size``, or the length of ``tokens``; checks that they agree.

        Raises:
            TrainerInputError: Neither is given, or they disagree.
        """
        if tokens is not None and vocab_size not in (None, len(tokens)):
            raise TrainerInputError(
                f"vocab_size={vocab_size} but tokens has {len(tokens)} entries; pass one of them"
            )
        if tokens is not None:
            return len(tokens)
        if vocab_size is None:
            raise TrainerInputError("build_model: pass vocab_size or tokens (dataset.vocab.tokens)")
        return vocab_size

    @abstractmethod
    def predict(
        self, model: Any, data: Any, *, progress: Callable[[int], object] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities of ``yes`` and per-example losses, in row order, in one pass.

        Args:
            model: The model.
            data: The encoded rows.
            progress: Called with the number of rows done after each batch (a progress
                bar's ``update``).
        """

    @abstractmethod
    def load_checkpoint(self, model: Any, path: str | Path) -> Any:
        """Load the weights in ``path`` into ``model`` (safely: no code execution).

        Raises:
            CheckpointError: The file is missing, corrupt, or does not fit the model.
        """

    @abstractmethod
    def _seed_framework(self, seed: int) -> None:
        """Seed the framework (and make it deterministic when ``config.deterministic``)."""

    @abstractmethod
    def _fit(self, request: FitRequest) -> FitSummary:
        """Run the epochs, calling ``request.routine`` after each, saving checkpoints by
        ``request.policy``; restore ``request.resume`` first when given."""

    @abstractmethod
    def _resume_point(self) -> ResumePoint:
        """Where this run directory resumes from.

        Raises:
            ResumeError: Nothing to resume from (no finished epoch), naming the folder.
        """

    @abstractmethod
    def libraries(self) -> dict[str, str]:
        """Versions of the libraries this framework trains with."""

    # --- shared -----------------------------------------------------------------------------

    @property
    def is_global_zero(self) -> bool:
        """Whether this process writes the run's files (only rank zero does under DDP)."""
        return True

    def describe_model(self, model: Any) -> str:
        """A readable summary of ``model`` (layers, shapes, parameter counts)."""
        return repr(model)

    def parameter_counts(self, model: Any) -> tuple[int, int] | None:
        """``(all, trainable)`` parameters of ``model``; ``None`` when unknown (here)."""
        return None

    def input_encoding(self, model: Any = None) -> Encoding:
        """The encoding ``model`` reads (here, and without a model: this framework's
        default)."""
        return "lstm" if self.FRAMEWORK == "keras" else "transformer"

    def encode(self, dataset: StoryDataset, split: str, model: Any = None) -> Any:
        """The encoded arrays of ``split`` that ``model`` reads (without a model: those of
        this framework's default encoding)."""
        return getattr(dataset, INPUTS[self.input_encoding(model)][1])(split)

    def seed_everything(self) -> None:
        """Seed Python, NumPy and the framework from :attr:`seed`."""
        seed_everything(self.seed)
        self._seed_framework(self.seed)

    def coerce_hyperparams(self, hyperparams: Hyperparams | Mapping[str, Any]) -> Hyperparams:
        """The hyperparameters as this framework's dataclass.

        Raises:
            TrainerInputError: They belong to the other framework.
            models.settings.SettingsError: A mapping has an unknown key or a bad value.
        """
        if isinstance(hyperparams, Mapping):
            hyperparams = Hyperparams.from_mapping(hyperparams, framework=self.FRAMEWORK)
        if getattr(hyperparams, "framework", None) != self.FRAMEWORK:
            raise TrainerInputError(
                f"model {getattr(hyperparams, 'name', hyperparams)!r} is trained by the "
                f"{getattr(hyperparams, 'framework', '?')} trainer, not {self.FRAMEWORK}; "
                f"pass {self.FRAMEWORK} hyperparameters to {type(self).__name__}"
            )
        assert isinstance(hyperparams, Hyperparams)
        return hyperparams

    def check_inputs(
        self, data: Any, metadata: pd.DataFrame | None, role: str, model: Any = None
    ) -> None:
        """Fail clearly when ``data`` is not the input ``model`` reads or does not match
        ``metadata`` row for row."""
        input_name, encoder = INPUTS[self.input_encoding(model)]
        if type(data).__name__ != input_name:
            reader = "this model" if model is not None else type(self).__name__
            raise TrainerInputError(
                f"{role}: {reader} reads {input_name} "
                f"(trainer.encode(dataset, split, model) or dataset.{encoder}(split)), "
                f"got {type(data).__name__}"
            )
        if len(data) == 0:
            raise TrainerInputError(f"{role}: no examples")
        if metadata is not None and len(metadata) != len(data):
            raise TrainerInputError(
                f"{role}: {len(data)} examples but {len(metadata)} metadata rows; pass the "
                "metadata of the same split (dataset.metadata(split))"
            )

    def train(
        self,
        model: Any,
        train_data: Any,
        val_data: Any,
        metadata_train: pd.DataFrame,
        metadata_val: pd.DataFrame,
        hyperparams: Hyperparams | Mapping[str, Any],
        epochs: int | None = None,
        resume_from: str | Path | None = None,
    ) -> TrainingResult:
        """Train ``model``, keeping the top-k checkpoints by validation accuracy.

        Args:
            model: A model from :meth:`build_model` (or a compatible one).
            train_data: Encoded training split.
            val_data: Encoded validation split (scored after every epoch).
            metadata_train: Training metadata, row-aligned.
            metadata_val: Validation metadata, row-aligned (breakdowns per epoch).
            hyperparams: The model hyperparameters (dataclass or mapping).
            epochs: Total epochs; default ``config.max_epochs``.
            resume_from: This run's directory or its ``last.*`` checkpoint: continue the
                interrupted run (same directory, same tracker run).

        Returns:
            The best epoch, its scores, the checkpoint paths and the history.

        Raises:
            TrainerInputError: Inputs that do not fit this trainer.
            ResumeError: ``resume_from`` is not this run or holds nothing to resume.
        """
        started = time.perf_counter()
        hp = self.coerce_hyperparams(hyperparams)
        epochs = self.config.max_epochs if epochs is None else epochs
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise TrainerInputError(f"epochs: must be a positive integer, got {epochs!r}")
        self.check_inputs(train_data, metadata_train, "train", model)
        self.check_inputs(val_data, metadata_val, "validation", model)
        self.check_model(model, train_data)
        resume = self._resolve_resume(resume_from)
        schedule = self.validation_schedule(len(train_data), hp)
        if resume is not None and resume.period >= schedule.periods(epochs):
            raise ResumeError(
                f"{self.run_dir}: {schedule.epochs_completed(resume.period)} epoch(s) already "
                f"done, nothing left of {epochs}; raise trainer.max_epochs to train longer"
            )

        self.seed_everything()
        self._open(hp, resume)
        assert self.tracker is not None and self.manifest is not None
        if resume is None:
            self._log_run_start(model, len(train_data), len(val_data))
        request = self._fit_request(
            (model, train_data, val_data, metadata_train, metadata_val),
            hp,
            (epochs, schedule),
            resume,
            self.tracker,
            echo=self.echo,
            budget=self.time_budget(),
            on_epoch_saved=lambda periods: self._record_progress(
                time.perf_counter() - started, periods
            ),
        )
        routine = request.routine
        try:
            with termination_as_interrupt():
                summary = self._fit(request)
        except KeyboardInterrupt:
            self._record_progress(time.perf_counter() - started)
            self._end("interrupted", "interrupted (Ctrl-C or SIGTERM); resume with resume_from")
            raise
        except BaseException as error:
            self._record_progress(time.perf_counter() - started)
            self._end("failed", f"{type(error).__name__}: {error}")
            raise
        routine.log_checkpoints()
        result = self._result(routine.policy, summary, time.perf_counter() - started)
        self._record_training(result, summary)
        self.manifest.finish("finished")
        self.tracker.flush()
        return result

    def evaluate(
        self,
        model: Any,
        eval_data: Any,
        metadata_eval: pd.DataFrame,
        eval_set_name: str = "validation",
        *,
        examples: pd.DataFrame | None = None,
        report: bool = True,
        save: bool = True,
    ) -> EvaluationResult:
        """Score ``model`` on one split in one prediction pass.

        Args:
            model: The model (load the best checkpoint first to evaluate it).
            eval_data: Encoded split.
            metadata_eval: Its metadata, row-aligned.
            eval_set_name: Split name in ``eval/<split>/...`` and the folder name.
            examples: Rows with ``story`` and ``question`` for the misclassified table.
            report: Print the console report.
            save: Write ``eval/<split>/`` (evaluation, breakdown, misclassified, plots), log
                ``eval/<split>/...`` and the plots to the tracker, and record the scores in
                the manifest.

        Returns:
            Overall metrics, breakdowns, confusion matrix and misclassified examples.
        """
        self.check_inputs(eval_data, metadata_eval, eval_set_name, model)
        started = time.perf_counter()
        probabilities, losses = self.predict_with_bar(
            model, eval_data, f"evaluating {eval_set_name}"
        )
        result = self.processor.evaluate(
            eval_data.labels, probabilities, metadata_eval, losses=losses, examples=examples
        )
        if report:
            self.echo(f"\n[{self.FRAMEWORK}] {eval_set_name}\n{result.console_report()}")
        if save:
            self._save_evaluation(result, eval_set_name, time.perf_counter() - started)
        return result

    def close(self, status: ManifestStatus = "finished") -> None:
        """Close the tracker (flushing every sink). Idempotent."""
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self.tracker is not None and not self.tracker.closed:
            self.tracker.close(TRACKER_STATUS[status])

    def __enter__(self) -> ModelTrainer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close("finished")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.close("interrupted")
        else:
            self.close("failed")

    # --- internals --------------------------------------------------------------------------

    def completed_training(self) -> TrainingResult | None:
        """This run's training result if its training already ran to the end, else ``None``.

        A run stopped while its best checkpoint was being evaluated (killed, or a full disk)
        has nothing left to train; resuming it only evaluates, reports and registers. The
        result is rebuilt from the run folder: the manifest, ``metrics.jsonl`` and the top-k
        state after the last epoch.
        """
        if not RunManifest.path_for(self.run_dir).is_file():
            return None
        manifest = RunManifest.load(self.run_dir)
        if not manifest.training_done or manifest.epochs_completed < 1:
            return None
        summary = FitSummary(
            manifest.epochs_completed,
            manifest.stopped_early,
            manifest.device,
            manifest.precision,
            manifest.periods_completed,
        )
        manifest.mark_resumed()
        manifest.finish("finished")  # training is done; a failing evaluation says so again
        self.manifest = manifest
        return self._saved_result(summary, 0.0)

    def _resolve_resume(self, resume_from: str | Path | None) -> ResumePoint | None:
        if resume_from is None:
            return None
        source = Path(resume_from).expanduser().resolve()
        if not source.exists():
            raise ResumeError(f"resume_from: {source} does not exist; pass the run directory")
        run_dir = source if source.is_dir() else source.parent.parent
        if run_dir != self.run_dir:
            raise ResumeError(
                f"resume_from: {source} belongs to run {run_dir}, but this trainer writes to "
                f"{self.run_dir}; create the trainer with run_dir={run_dir}"
            )
        if not RunManifest.path_for(run_dir).exists():
            raise ResumeError(f"resume_from: {run_dir} has no {RunManifest.FILENAME}; not a run")
        self._check_same_interval(RunManifest.load(run_dir))
        return self._resume_point()

    def _check_same_interval(self, manifest: RunManifest) -> None:
        """Refuse to resume with another ``trainer.val_check_interval``: the run's periods,
        hence its checkpoints and tracker steps, are cut by the one it started with."""
        started = manifest.trainer.get("val_check_interval")
        now = self.config.val_check_interval
        if started != now:
            raise ResumeError(
                f"resume_from: {self.run_dir} was started with trainer.val_check_interval="
                f"{'null' if started is None else started}, not "
                f"{'null' if now is None else now}; resume it with "
                f"trainer.val_check_interval={'null' if started is None else started}"
            )

    def _open(self, hyperparams: Hyperparams, resume: ResumePoint | None) -> None:
        """Start or reopen the manifest and the tracker for a training attempt."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config = self.run_config or {
            "model": hyperparams.describe(),
            "trainer": self.config.to_dict(),
            "seed": self.seed,
        }
        if resume is None:
            self.manifest = RunManifest.start(
                self.run_dir,
                framework=self.FRAMEWORK,
                model=hyperparams.name,
                seed=self.seed,
                dataset=self.dataset.to_dict(),
                hyperparams=hyperparams.to_dict(),
                trainer=self.config.to_dict(),
                config=config,
                libraries=self.libraries(),
            )
        else:
            self.manifest = RunManifest.load(self.run_dir)
            self.manifest.mark_resumed()
            self.files.discard_partial_writes()
        self._earlier_train_s = float(self.manifest.durations.get("train", 0.0))
        context = self.run_context(hyperparams) if resume is None else None
        resume_step = None
        if resume is not None:
            resume_step = TopKStateStore(self.files.state_path).next_step(resume.period)
        self._open_tracker(resume_step, context)
        assert self.tracker is not None
        if resume is None:
            self.tracker.log_parameters(config)
            self.tracker.log_fields(self.dataset.tracker_fields())

    def run_context(self, hyperparams: Hyperparams) -> RunContext:
        """Where this run comes from: model, framework, dataset, seed, invocation, user, code."""
        return RunContext.collect(
            run_id=self.run_dir.name,
            model=hyperparams.name,
            framework=self.FRAMEWORK,
            dataset=self.dataset.version or self.dataset.name,
            seed=self.seed,
            invocation=self.invocation,
            redact_command=SecretFilter().redact_command,
        )

    def _log_run_start(self, model: Any, train_rows: int, val_rows: int) -> None:
        """Record what a new run starts from: the datasets it reads (MLflow's inputs), the
        model's layer table (``artifacts/model/model_summary.txt``) and parameter counts."""
        assert self.tracker is not None
        self.tracker.log_inputs(
            [
                DatasetInput(
                    name=self.dataset.version or self.dataset.name,
                    digest=f"{self.dataset.hash[:24]}-{role}" if self.dataset.hash else role,
                    context=role,
                    source=self.dataset.path,
                    rows=rows,
                )
                for role, rows in zip(
                    ns.DATASET_INPUT_CONTEXTS, (train_rows, val_rows), strict=True
                )
            ]
        )
        self.tracker.write_artifact("model", MODEL_SUMMARY_FILE, self.describe_model(model) + "\n")
        counts = self.parameter_counts(model)
        if counts is not None:
            self.tracker.log_fields(
                {ns.model_field(f): n for f, n in zip(ns.MODEL_FIELDS, counts, strict=True)}
            )

    def _open_tracker(
        self, resume_step: int | None, context: RunContext | None = None, attach: bool = False
    ) -> None:
        if self.tracker is not None and not self.tracker.closed:
            self.tracker.close("finished")
        self.tracker = open_tracker(
            self.tracker_config,
            self.output_root,
            self.run_dir,
            run_name=self.run_dir.name,
            resume_step=resume_step,
            context=context,
            attach=attach,
        )
        if self._finalizer is not None:
            self._finalizer.detach()
        # Closes the tracker at garbage collection or interpreter exit, whichever comes first.
        self._finalizer = weakref.finalize(self, _close_at_exit, self.tracker)

    def _record_placement(self, device: str, precision: str) -> None:
        """Write where and how precisely the model trains as soon as :meth:`_fit` knows it,
        so that a run stopped before its end still says so."""
        if self.manifest is not None and self.is_global_zero:
            self.manifest.update(device=device, precision=precision)

    def _record_training(self, result: TrainingResult, summary: FitSummary) -> None:
        """Write the outcome of a training attempt to the manifest: epochs, best epoch,
        kept checkpoints, device, precision and the time spent (added to earlier attempts)."""
        assert self.manifest is not None
        durations = dict(self.manifest.durations)
        durations["train"] = round(self._earlier_train_s + result.duration_s, 3)
        self.manifest.update(
            epochs_completed=summary.epochs_completed,
            periods_completed=summary.periods_completed,
            stopped_early=summary.stopped_early,
            device=summary.device,
            precision=summary.precision,
            durations=durations,
            best={
                "epoch": result.best_epoch,
                **({} if result.best_step is None else {"step": result.best_step}),
                "val_accuracy": result.best_val_accuracy,
                "val_loss": result.best_val_loss,
                "checkpoint": self.files.best_filename,
            },
            checkpoints=self._checkpoint_paths(result),
        )

    def _record_progress(self, seconds: float, periods: int | None = None) -> None:
        """Record how far the attempt got, after each saved period (epoch) and when it is
        interrupted or fails: the periods whose checkpoint was saved (``periods``, else read
        from the resume point), the best of them and the files kept. Best effort: the error
        that stopped training is the one the caller raises."""
        if self.manifest is None or not self.is_global_zero or self._schedule is None:
            return
        try:
            periods = self._resume_point().period if periods is None else periods
            manifest = self.manifest
            summary = self.fit_summary(periods, False, manifest.device, manifest.precision)
            self._record_training(self._saved_result(summary, seconds), summary)
        except (ResumeError, CheckpointError, ValueError, OSError):
            pass  # no finished epoch, or the run folder is unreadable: nothing to record

    def predict_with_bar(
        self, model: Any, data: Any, description: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict` under a progress bar named ``description`` (none when
        ``config.progress`` is off)."""
        with self._progress_bar(len(data), description) as bar:
            return self.predict(model, data, progress=bar.update)

    def _progress_bar(self, total: int, description: str) -> tqdm[Any]:
        """A progress bar over ``total`` stories on stderr, named ``description`` and gone
        when done; it prints nothing when ``config.progress`` is off."""
        from tqdm.auto import tqdm

        return tqdm(
            total=total,
            desc=description,
            unit="story",
            disable=not self.config.progress,
            leave=False,
            dynamic_ncols=True,
        )

    def _end(self, status: ManifestStatus, error: str) -> None:
        if self.manifest is not None:
            self.manifest.finish(status, error)
        self.close(status)

    def time_budget(self) -> TimeBudget | None:
        """A budget of ``config.max_minutes`` starting now on :attr:`budget_clock` (``None``
        without one); every training process asks its own."""
        minutes = self.config.max_minutes
        return None if minutes is None else TimeBudget.start(minutes, self.budget_clock)

    def validation_schedule(self, train_rows: int, hp: Hyperparams) -> ValidationSchedule:
        """The validation periods of training on ``train_rows`` examples in batches of
        ``hp.training.batch_size`` (``config.val_check_interval``, :mod:`trainers.periods`);
        kept for the attempt's progress records."""
        steps = steps_per_epoch(train_rows, hp.training.batch_size)
        self._schedule = ValidationSchedule.resolve(self.config.val_check_interval, steps)
        return self._schedule

    def fit_summary(
        self, periods: int, stopped_early: bool, device: str, precision: str
    ) -> FitSummary:
        """The :class:`FitSummary` after ``periods`` validation periods of this attempt's
        schedule (whole epochs among them as ``epochs_completed``)."""
        assert self._schedule is not None, "validation_schedule() first"
        schedule = self._schedule
        return FitSummary(
            schedule.epochs_completed(periods),
            stopped_early,
            device,
            precision,
            periods if schedule.by_step else None,
        )

    def top_k_policy(self) -> TopKPolicy:
        """A fresh top-k policy for ``config.top_k`` (the one place it is built from it)."""
        return TopKPolicy(k=self.config.top_k)

    def _fit_request(
        self,
        data: tuple[Any, Any, Any, pd.DataFrame, pd.DataFrame],
        hp: Hyperparams,
        length: tuple[int, ValidationSchedule],
        resume: ResumePoint | None,
        tracker: Tracker,
        *,
        echo: Callable[[str], object] | None,
        budget: TimeBudget | None = None,
        on_epoch_saved: Callable[[int], None] | None = None,
    ) -> FitRequest:
        """The request of one training attempt: ``data`` (model, training and validation
        arrays, their metadata), its ``length`` (epochs and validation periods) and the shared
        per-epoch routine logging to ``tracker``, with a fresh top-k policy (restored from
        the run folder on resume)."""
        from trainers.epoch import EpochRoutine

        model, train_data, val_data, metadata_train, metadata_val = data
        epochs, schedule = length
        routine = EpochRoutine(
            tracker,
            self.files,
            self.top_k_policy(),
            self.processor,
            resume_epoch=None if resume is None else resume.period,
            echo=echo,
            train_examples=len(train_data),
            schedule=schedule,
        )
        return FitRequest(
            model=model,
            train_data=train_data,
            val_data=val_data,
            metadata_train=metadata_train,
            metadata_val=metadata_val,
            hyperparams=hp,
            epochs=epochs,
            schedule=schedule,
            routine=routine,
            files=self.files,
            policy=routine.policy,
            resume=resume,
            budget=budget,
            on_epoch_saved=on_epoch_saved,
        )

    def _saved_result(self, summary: FitSummary, seconds: float) -> TrainingResult:
        """The result as the run folder holds it after ``summary.periods`` periods (epochs)
        (the top-k state stored then, ``metrics.jsonl``, the checkpoint files)."""
        state = TopKStateStore(self.files.state_path)
        policy = state.load(summary.periods, self.top_k_policy())
        return self._result(policy, summary, seconds)

    def _result(self, policy: TopKPolicy, summary: FitSummary, seconds: float) -> TrainingResult:
        best = policy.best
        if best is None:
            raise CheckpointError(f"{self.run_dir}: no epoch was scored; nothing to report")
        history = epoch_history(self.run_dir / "metrics.jsonl")
        val_loss_name = ns.epoch_metric("val", "loss")
        best_val_loss = math.nan
        if val_loss_name in history and best.position in history.index:
            best_val_loss = float(history[val_loss_name].loc[best.position])
        kept = policy.ranking()
        return TrainingResult(
            run_dir=self.run_dir,
            framework=self.FRAMEWORK,
            best_epoch=best.epoch,
            best_val_accuracy=best.val_accuracy,
            best_val_loss=best_val_loss,
            best_checkpoint=self._locate(self.files.best_filename),
            last_checkpoint=self._locate(self.files.last_filename),
            top_k=kept,
            top_k_checkpoints=tuple(
                path for entry in kept if (path := self._locate(entry.filename)) is not None
            ),
            epochs_completed=summary.epochs_completed,
            stopped_early=summary.stopped_early,
            history=history,
            duration_s=seconds,
            best_step=best.step,
        )

    def _locate(self, filename: str) -> Path | None:
        for directory in (self.files.directory, self.files.fallback_directory):
            if (directory / filename).exists():
                return directory / filename
        return None

    def _checkpoint_paths(self, result: TrainingResult) -> dict[str, Any]:
        def relative(path: Path | None) -> str | None:
            return None if path is None else str(path.relative_to(self.run_dir))

        return {
            "best": relative(result.best_checkpoint),
            "last": relative(result.last_checkpoint),
            "top_k": [relative(path) for path in result.top_k_checkpoints],
        }

    def _save_evaluation(self, result: EvaluationResult, split: str, seconds: float) -> None:
        directory = self.run_dir / self.EVAL_DIR / ns.sanitize(split)
        written = result.save(directory)
        if self.manifest is None and RunManifest.path_for(self.run_dir).exists():
            self.manifest = RunManifest.load(self.run_dir)
        if self.tracker is None or self.tracker.closed:
            resume_step = None
            if self.manifest is not None:
                periods = self.manifest.periods_completed
                periods = self.manifest.epochs_completed if periods is None else periods
                resume_step = TopKStateStore(self.files.state_path).next_step(periods)
            self._open_tracker(resume_step, attach=True)  # the run's recorded end stays
        assert self.tracker is not None
        self.tracker.log_fields(result.as_namespaces(ns.eval_prefix(split)))
        for path in written:
            kind = "plots" if path.suffix == ".png" else "eval"
            if kind == "plots" or path.name in EVAL_ARTIFACTS:
                self.tracker.log_artifact(kind, path, filename=f"{ns.sanitize(split)}-{path.name}")
        self.tracker.flush()
        if self.manifest is not None:
            evaluation = dict(self.manifest.evaluation)
            evaluation[split] = result.scores()
            durations = dict(self.manifest.durations)
            durations["evaluate"] = round(durations.get("evaluate", 0.0) + seconds, 3)
            self.manifest.update(evaluation=evaluation, durations=durations)


def _close_at_exit(tracker: Tracker) -> None:
    if not tracker.closed:
        tracker.close("finished")


def _tqdm_write(line: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(line)
