"""``LightningTrainer``: the PyTorch models trained with Lightning.

A :class:`~trainers.lightning.module.StoryModule` wraps any PyTorch model of the contract in
``docs/models.md`` (storyqa's Transformer and entity memory, or a user's own; one that reads
the words needs the vocabulary: ``build_model(hp, tokens=ds.vocab.tokens)``); a
:class:`~trainers.lightning.data.StoryDataModule` feeds the shared length-bucketed epoch order;
:class:`~trainers.lightning.callbacks.EpochReporter` runs the shared per-epoch routine on each
epoch's validation predictions; ``ModelCheckpoint`` (as
:class:`~trainers.lightning.callbacks.PolicyCheckpoint`) keeps the shared top-k files,
``best.ckpt`` and ``last.ckpt``; ``EarlyStopping`` watches ``val/accuracy``. Checkpoints hold
only tensors and plain containers and are loaded with ``torch.load(weights_only=True)``.

Example::

    trainer = LightningTrainer("models_out/runs/demo", dataset=ds,
                               config=TrainerConfig(max_epochs=2))
    hp = Hyperparams.of("transformer", d_model=32, nhead=2)
    model = trainer.build_model(hp, vocab_size=len(ds.vocab))
    result = trainer.train(model, ds.encode_transformer("train"), ds.encode_transformer("valid_a"),
                           ds.metadata("train"), ds.metadata("valid_a"), hp)
"""

from __future__ import annotations

import os
import pickle
import signal
import time
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from trainers.base import ModelTrainer
from trainers.checkpoints import Framework
from trainers.config import Hyperparams
from trainers.config.model import TARGET_KEY
from trainers.errors import CheckpointError, ResumeError, TrainerInputError
from trainers.results import FitRequest, FitSummary, ResumePoint, TrainingResult

if TYPE_CHECKING:
    import lightning.pytorch as pl
    import pandas as pd

    from trainers.periods import ValidationSchedule

#: Environment variables that mark a process launched by Lightning for a rank other than zero.
RANK_VARIABLES = ("LOCAL_RANK", "NODE_RANK", "RANK")


def launched_rank() -> int:
    """The global rank Lightning's ``ddp`` launcher gave this process (0 when not launched).

    Example:
        >>> launched_rank() if "LOCAL_RANK" not in os.environ else 0
        0
    """
    return max((int(os.environ.get(name, "0") or 0) for name in RANK_VARIABLES), default=0)


class LightningTrainer(ModelTrainer):
    """Trains :class:`~models.transformer.StoryTransformer` and
    :class:`~models.entity_memory.EntityMemoryNetwork` models with Lightning.

    See :class:`~trainers.base.ModelTrainer` for the arguments. Under ``strategy=ddp`` every
    process runs the calling script: only rank zero writes the manifest, the tracker and the
    checkpoints; other ranks train and return the same :class:`TrainingResult` (read from the
    files rank zero wrote). Guard anything else with :attr:`is_global_zero`.
    """

    FRAMEWORK: ClassVar[Framework] = "lightning"
    #: Strategies that start fresh processes and pickle the trainer into them.
    SPAWN_STRATEGIES: ClassVar[tuple[str, ...]] = ("ddp_spawn", "ddp_notebook", "ddp_fork")

    @property
    def is_global_zero(self) -> bool:
        """Whether this process is rank zero (always, except in ``ddp`` worker processes)."""
        return launched_rank() == 0

    # --- model ------------------------------------------------------------------------------

    def check_model_type(self, model: Any, built_by: str = "the model") -> None:
        """Fail unless ``model`` is a ``torch.nn.Module``.

        Raises:
            TrainerInputError: Naming ``model.framework`` and what was built.
        """
        from torch import nn

        if not isinstance(model, nn.Module):
            kind = f"{type(model).__module__}.{type(model).__qualname__}"
            hint = (
                "; it is a Keras model: set model.framework=keras"
                if kind.startswith("keras")
                else ""
            )
            raise TrainerInputError(
                f"model.framework: lightning trains a torch.nn.Module, but {built_by} built a "
                f"{kind}{hint}"
            )

    def check_model(self, model: Any, data: Any) -> None:
        """Fail unless ``model`` is a ``torch.nn.Module`` that returns one logit per example
        (``[B]`` or ``[B, 1]``) for the first two rows of ``data`` (run in eval mode, no
        gradients, so no randomness is drawn).

        Raises:
            TrainerInputError: Naming the key to fix.
        """
        import torch

        self.check_model_type(model)
        rows = min(2, len(data))
        ids = torch.as_tensor(np.asarray(data.input_ids[:rows], dtype=np.int64))
        ids = ids[:, : max(1, int(np.max(data.lengths[:rows])))]
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                output = model(ids.to(next(model.parameters(), torch.empty(0)).device))
        except Exception as error:
            raise TrainerInputError(
                f"model.{TARGET_KEY}: the model failed on input_ids of shape "
                f"{tuple(ids.shape)} ({type(error).__name__}: {error}); see docs/models.md "
                "for the input it gets"
            ) from None
        finally:
            model.train(was_training)
        shape = tuple(getattr(output, "shape", ()))
        if not isinstance(output, torch.Tensor) or shape not in ((rows,), (rows, 1)):
            raise TrainerInputError(
                f"model.{TARGET_KEY}: forward(input_ids) must return one logit per example, "
                f"shape [{rows}] or [{rows}, 1] for {rows} rows; got "
                f"{type(output).__name__} of shape {list(shape)}"
            )

    def predict(
        self, model: Any, data: Any, *, progress: Callable[[int], object] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and per-example losses, in row order (length-sorted batches of
        ``config.eval_batch_size`` on the model's device); ``progress`` gets the rows done
        after each batch."""
        import torch

        from trainers.lightning.data import StoryBatches, prediction_batches
        from trainers.lightning.module import one_logit

        self.check_inputs(data, None, "predict", model)
        batches = StoryBatches(data)
        probabilities = np.empty(len(data), dtype=np.float32)
        losses = np.empty(len(data), dtype=np.float32)
        device = next(model.parameters()).device
        loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                for rows in prediction_batches(data.lengths, self.config.eval_batch_size):
                    input_ids, labels, _ = batches[rows]
                    logits = one_logit(model(input_ids.to(device))).float()
                    probabilities[rows] = torch.sigmoid(logits).cpu().numpy()
                    losses[rows] = loss_fn(logits, labels.to(device)).cpu().numpy()
                    if progress is not None:
                        progress(len(rows))
        finally:
            model.train(was_training)
        return probabilities, losses

    def load_checkpoint(self, model: Any, path: str | Path) -> Any:
        """Load the weights of a Lightning checkpoint (or a plain state dict) into ``model``.

        Raises:
            CheckpointError: The file is missing, corrupt, a Keras file, or made for another
                vocabulary or architecture.
        """
        state = self._load_state(Path(path))
        weights = state.get("state_dict", state)
        prefix = "model."
        if any(key.startswith(prefix) for key in weights):
            weights = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
        self._check_shapes(model, weights, Path(path))
        try:
            model.load_state_dict(weights)
        except RuntimeError as error:
            raise CheckpointError(f"{path}: does not fit the model: {error}") from None
        return model

    def _load_state(self, path: Path) -> dict[str, Any]:
        import torch

        if not path.is_file():
            raise CheckpointError(f"{path}: checkpoint file not found")
        if path.name.endswith(".h5"):
            raise CheckpointError(
                f"{path}: a Keras weights file; the Lightning trainer loads .ckpt files "
                "(use KerasTrainer for LSTM checkpoints)"
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
            raise CheckpointError(
                f"{path}: not a readable PyTorch checkpoint (corrupt or truncated?): {reason}"
            ) from None
        except zipfile.BadZipFile as error:
            raise CheckpointError(f"{path}: corrupt or truncated checkpoint: {error}") from None
        if not isinstance(state, dict):
            raise CheckpointError(f"{path}: holds {type(state).__name__}, not a checkpoint")
        return state

    @staticmethod
    def _check_shapes(model: Any, weights: Mapping[str, Any], path: Path) -> None:
        expected = model.state_dict()
        for name, tensor in weights.items():
            if name in expected and tuple(expected[name].shape) != tuple(tensor.shape):
                if name == "embedding.weight":
                    raise CheckpointError(
                        f"{path}: vocabulary size {tensor.shape[0]} in the checkpoint, but the "
                        f"model has {expected[name].shape[0]}; build the model with the "
                        "vocabulary it was trained with"
                    )
                raise CheckpointError(
                    f"{path}: {name} has shape {tuple(tensor.shape)} in the checkpoint but "
                    f"{tuple(expected[name].shape)} in the model; use the same hyperparameters"
                )

    # --- training ---------------------------------------------------------------------------

    def _seed_framework(self, seed: int) -> None:
        from lightning.fabric.utilities.seed import seed_everything

        seed_everything(seed, workers=True, verbose=False)
        if self.config.num_threads is not None:
            import torch

            torch.set_num_threads(self.config.num_threads)

    def libraries(self) -> dict[str, str]:
        import lightning
        import torch

        return {"torch": torch.__version__, "lightning": lightning.__version__}

    def describe_model(self, model: Any) -> str:
        """Lightning's layer table of the network (see :mod:`trainers.lightning.summary`)."""
        from trainers.lightning.summary import NetworkSummary

        return NetworkSummary.describe(model)

    def parameter_counts(self, model: Any) -> tuple[int, int] | None:
        """``(all, trainable)`` parameters of the network."""
        from trainers.lightning.summary import NetworkSummary

        return NetworkSummary.parameter_counts(model)

    def _resume_point(self) -> ResumePoint:
        for directory in (self.files.directory, self.files.fallback_directory):
            last = directory / self.files.last_filename
            if last.is_file():
                state = self._load_state(last)
                if "epoch" not in state:
                    raise ResumeError(f"{last}: not a Lightning training checkpoint")
                return ResumePoint(last, int(state["epoch"]) + 1)  # Lightning's epochs: periods
        raise ResumeError(
            f"{self.run_dir}: no {self.files.last_filename} in {self.files.directory} or "
            f"{self.files.fallback_directory}; no epoch finished, so there is nothing to "
            "resume: start a new run"
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
        """See :meth:`ModelTrainer.train`; a ``ddp`` worker process (rank > 0) takes part in
        fitting only, and reads its result from the files rank zero wrote."""
        args = (model, train_data, val_data, metadata_train, metadata_val, hyperparams)
        if self.is_global_zero:
            return super().train(*args, epochs=epochs, resume_from=resume_from)
        return self._train_worker(*args, epochs=epochs, resume_from=resume_from)

    def _train_worker(
        self,
        model: Any,
        train_data: Any,
        val_data: Any,
        metadata_train: pd.DataFrame,
        metadata_val: pd.DataFrame,
        hyperparams: Hyperparams | Mapping[str, Any],
        epochs: int | None,
        resume_from: str | Path | None,
    ) -> TrainingResult:
        from trainers.tracking import Tracker

        started = time.perf_counter()
        hp = self.coerce_hyperparams(hyperparams)
        epochs = self.config.max_epochs if epochs is None else epochs
        resume = self._resolve_resume(resume_from)
        schedule = self.validation_schedule(len(train_data), hp)
        self.seed_everything()
        request = self._fit_request(  # its routine is never called here: rank zero runs it
            (model, train_data, val_data, metadata_train, metadata_val),
            hp,
            (epochs, schedule),
            resume,
            Tracker(self.run_dir, []),
            echo=None,
            budget=self.time_budget(),  # every process asks it after each step: all stop at once
        )
        summary = self._fit(request)
        return self._saved_result(summary, time.perf_counter() - started)

    def _fit(self, request: FitRequest) -> FitSummary:
        from trainers.lightning.callbacks import (
            BatchOrder,
            BudgetStop,
            EpochReporter,
            InterruptRecorder,
            PeriodicCheckpoint,
            PolicyCheckpoint,
        )
        from trainers.lightning.data import StoryDataModule
        from trainers.lightning.module import StoryModule
        from trainers.lightning.quiet import quiet_lightning
        from trainers.lightning.relay import RoutineRelay

        hp = request.hyperparams
        schedule = request.schedule
        spawn = self.config.strategy in self.SPAWN_STRATEGIES
        relay = RoutineRelay(request.routine, spawn=spawn)
        reporter = EpochReporter(relay, request.val_data.labels, request.metadata_val, schedule)
        interrupts = InterruptRecorder()
        # A spawned rank zero cannot reach this process's manifest: it is written at the end.
        on_saved = None if spawn else request.on_epoch_saved
        callbacks: list[pl.Callback] = [
            BatchOrder(),
            reporter,
            interrupts,
            PolicyCheckpoint(request.files, request.policy, reporter, on_saved),
        ]
        if self.config.every_n_epochs is not None:
            callbacks.append(PeriodicCheckpoint(self.files, self.config.every_n_epochs, reporter))
        if request.budget is not None:
            callbacks.append(BudgetStop(request.budget, schedule))
        trainer = self._lightning_trainer(schedule.periods(request.epochs), callbacks, schedule)
        self._record_placement(self._device(trainer), str(trainer.precision))
        world_size = trainer.world_size
        total_steps = sum(
            -(-schedule.period(part).length // world_size) for part in range(schedule.parts)
        )
        module = StoryModule(
            request.model,
            hp,
            seed=self.seed,
            state_targets=self._state_targets(request),
            schedule=schedule,
            total_steps=total_steps * request.epochs,
        )
        data = StoryDataModule(
            request.train_data,
            request.val_data,
            batch_size=hp.training.batch_size,
            eval_batch_size=self.config.eval_batch_size,
            seed=self.seed,
            bucket_by_length=hp.training.bucket_by_length,
            schedule=schedule,
        )
        ckpt_path = None if request.resume is None else str(request.resume.checkpoint)
        sigint = signal.getsignal(signal.SIGINT)
        relay.serve()
        try:
            with quiet_lightning():
                trainer.fit(module, datamodule=data, ckpt_path=ckpt_path, weights_only=True)
        except SystemExit:
            if interrupts.interrupt is None:
                raise
            raise interrupts.interrupt from None
        finally:
            relay.close()
            if signal.getsignal(signal.SIGINT) is signal.SIG_IGN and sigint is not None:
                signal.signal(signal.SIGINT, sigint)  # Lightning ignores Ctrl-C on shutdown
        last = relay.last_period  # the main process ran the routine (rank zero or spawn parent)
        if last is None and reporter.verdict is not None:
            last = reporter.verdict.period  # a ddp worker
        start = 0 if request.resume is None else request.resume.period
        completed = start if last is None else last + 1
        return self.fit_summary(
            completed,
            completed < schedule.periods(request.epochs),
            self._device(trainer),
            str(trainer.precision),
        )

    @staticmethod
    def _state_targets(request: FitRequest) -> np.ndarray | None:
        """Per-sentence directions of the training stories, when the state loss is on."""
        weight = float(getattr(request.model, "state_loss_weight", 0.0))
        if weight == 0:
            return None
        from stories.semantics import StoryReadError, state_targets

        try:
            return state_targets(request.train_data.input_ids, request.model.tokens)
        except StoryReadError as error:
            raise TrainerInputError(
                f"model.state_loss_weight={weight} needs stories in the story "
                f"language, but the training split's {error}; set model.state_loss_weight=0"
            ) from None

    def _lightning_trainer(
        self, periods: int, callbacks: list[pl.Callback], schedule: ValidationSchedule
    ) -> pl.Trainer:
        """Lightning's trainer for ``periods`` of its epochs (validation periods); it loads
        the training batches again every epoch when periods differ in length."""
        import lightning.pytorch as pl
        from lightning.pytorch.callbacks import EarlyStopping, TQDMProgressBar

        from metrics import namespaces as ns

        config = self.config
        cuda = self._uses_cuda()
        monitor = ns.monitor_key("val", "accuracy")
        if config.early_stopping:
            callbacks.append(
                EarlyStopping(
                    monitor=monitor,
                    mode="max",
                    patience=config.patience,
                    min_delta=config.min_delta,
                )
            )
        if config.progress:
            callbacks.append(TQDMProgressBar())
        from trainers.lightning.quiet import quiet_lightning

        with quiet_lightning():
            return pl.Trainer(
                accelerator=config.accelerator,
                devices=config.devices,
                num_nodes=config.num_nodes,
                strategy=config.strategy,
                precision=self._precision(cuda),  # type: ignore[arg-type]
                max_epochs=periods,
                reload_dataloaders_every_n_epochs=1 if schedule.parts > 1 else 0,
                callbacks=callbacks,
                gradient_clip_val=config.gradient_clip_val,
                deterministic=config.deterministic
                if not cuda
                else ("warn" if config.deterministic else False),
                num_sanity_val_steps=0,
                logger=False,
                enable_progress_bar=config.progress,
                enable_model_summary=False,
                use_distributed_sampler=False,
                default_root_dir=str(self.run_dir),
            )

    def _uses_cuda(self) -> bool:
        import torch

        accelerator = self.config.accelerator
        return accelerator in ("gpu", "cuda") or (
            accelerator == "auto" and torch.cuda.is_available()
        )

    def _precision(self, cuda: bool) -> str:
        import torch

        precision = self.config.precision
        if precision == "auto":
            if not cuda:
                return "32-true"
            return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
        return "32-true" if precision == "32" else precision

    @staticmethod
    def _device(trainer: pl.Trainer) -> str:
        import torch

        root: torch.device = trainer.strategy.root_device
        name = str(root)
        if root.type == "cuda":
            name = f"{name} ({torch.cuda.get_device_name(root)})"
        if trainer.world_size > 1:
            name = f"{name} x{trainer.world_size} ({type(trainer.strategy).__name__})"
        return name
