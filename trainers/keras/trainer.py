"""``KerasTrainer``: the dual-encoder LSTM (:mod:`models.lstm`) trained with Keras 3.

``model.fit`` runs over :class:`~trainers.keras.batches.BucketedBatches` (the shared
``(seed, epoch)`` batch order as one stream, each batch padded to its own longest row), one
Keras epoch per validation period (:mod:`trainers.periods`: the epoch itself unless
``trainer.val_check_interval`` cuts it), with these callbacks, in order:

* :class:`~trainers.keras.rng.EpochRandomState` - dropout randomness from the epoch;
* ``tqdm.keras.TqdmCallback`` - progress bars (``trainer.progress``);
* :class:`~trainers.keras.tracking.EpochTracking` - one validation pass, the shared routine,
  the time budget (``trainer.max_minutes``, asked after every step), the end of a short
  period;
* :class:`~trainers.keras.checkpoint.TopKCheckpoint` - top-k, ``best`` and ``last`` files;
* ``keras.callbacks.EarlyStopping`` on the routine's validation accuracy
  (``trainer.early_stopping``), its state replayed from ``metrics.jsonl`` on resume;
* :class:`~trainers.keras.backup.AtomicBackupAndRestore` in ``<run_dir>/backup`` - weights
  and optimizer state after every epoch, written so that a kill at any instant leaves a
  consistent backup, restored on resume;
* :attr:`KerasTrainer.extra_callbacks`.

The Keras backend (``trainer.keras_backend``) is fixed per process: the trainer sets
``KERAS_BACKEND`` if Keras is not imported yet and refuses another running backend. This
module imports no framework until a method needs it, and never imports Lightning.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from models.lstm.inputs import QUESTION_INPUT, STORY_INPUT
from trainers.base import Encoding, ModelTrainer
from trainers.checkpoints import Framework
from trainers.config import Hyperparams
from trainers.config.model import TARGET_KEY
from trainers.errors import CheckpointError, ResumeError, TrainerInputError
from trainers.keras.backend import Placement, seed_and_configure, use_backend, versions
from trainers.results import FitRequest, FitSummary, ResumePoint

if TYPE_CHECKING:
    import keras


_SHAPE_MISMATCH = re.compile(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))")
_FAILED_OBJECT = re.compile(r"for object <\w+ name=(\w+)")


def _load_failure(error: Exception) -> str:
    """One line for a weights file that Keras could not load into the model."""
    text = str(error)
    shapes = _SHAPE_MISMATCH.search(text)
    if shapes:
        layer = _FAILED_OBJECT.search(text)
        where = f" {layer.group(1)}" if layer else ""
        return (
            f"saved for another vocabulary size or model size: its{where} weights have shape "
            f"{shapes.group(2)}, this model's {shapes.group(1)}; load it with the vocabulary "
            "(the run's vocab.json) and model settings it was trained with"
        )
    first = text.strip().splitlines()[0][:300] if text.strip() else ""
    return (
        f"cannot be loaded into this model ({type(error).__name__}: {first}); the file is "
        "corrupt or truncated, or was saved for another vocabulary size or model size"
    )


class KerasTrainer(ModelTrainer):
    """Trains and evaluates the Keras LSTM (see :class:`~trainers.base.ModelTrainer`).

    Takes the arguments of :class:`~trainers.base.ModelTrainer`.

    Attributes:
        placement: Device, precision and dtype policy (set by :meth:`build_model`).
        extra_callbacks: Keras callbacks appended after the trainer's own.

    Raises:
        trainers.keras.backend.BackendError: Keras already runs on another backend.
    """

    FRAMEWORK: ClassVar[Framework] = "keras"
    BACKUP_DIR: ClassVar[str] = "backup"
    #: Batch widths are rounded up to a multiple of this per backend: JAX compiles one
    #: program per input shape. Padding is masked, so it changes no output.
    WIDTH_MULTIPLE: ClassVar[Mapping[str, int]] = {"tensorflow": 1, "torch": 1, "jax": 32}

    def _setup(self) -> None:
        use_backend(self.config.keras_backend)
        self.placement: Placement | None = None
        self.extra_callbacks: list[keras.callbacks.Callback] = []

    @property
    def backup_dir(self) -> Path:
        """``<run_dir>/backup``: ``BackupAndRestore``'s folder."""
        return self.run_dir / self.BACKUP_DIR

    @property
    def width_multiple(self) -> int:
        """Width rounding of batches for the running backend."""
        return self.WIDTH_MULTIPLE[self.config.keras_backend]

    # --- ModelTrainer ------------------------------------------------------------------------

    def _setup_build(self) -> None:
        """Apply the dtype policy of :attr:`placement` before a model is built."""
        self._placement().apply()

    def _prepare_model(self, model: Any, hp: Hyperparams) -> Any:
        """Compile a fresh model (Adam at ``model.lr``; training recompiles it with the
        schedule), so it can load checkpoints that hold optimizer state."""
        import keras

        from trainers.keras.compile import compile_for_training

        return compile_for_training(model, keras.optimizers.Adam(learning_rate=hp.training.lr))

    def input_encoding(self, model: Any = None) -> Encoding:
        """``lstm`` for a model with the two inputs ``story`` and ``question`` (and without a
        model), else ``transformer`` (one ``input_ids`` input)."""
        if model is None:
            return "lstm"
        inputs = getattr(model, "inputs", None) or []
        names = {str(getattr(tensor, "name", "")).split(":")[0] for tensor in inputs}
        return "lstm" if names == {STORY_INPUT, QUESTION_INPUT} else "transformer"

    def check_model_type(self, model: Any, built_by: str = "the model") -> None:
        """Fail unless ``model`` is a ``keras.Model`` with known inputs.

        Raises:
            TrainerInputError: Naming ``model.framework`` and what was built.
        """
        import keras

        if not isinstance(model, keras.Model):
            kind = f"{type(model).__module__}.{type(model).__qualname__}"
            hint = (
                "; it is a PyTorch module: set model.framework=lightning"
                if (kind.startswith("torch") or hasattr(model, "state_dict"))
                else ""
            )
            raise TrainerInputError(
                f"model.framework: keras trains a keras.Model, but {built_by} built a {kind}{hint}"
            )

    def check_model(self, model: Any, data: Any) -> None:
        """Fail unless ``model`` is a ``keras.Model`` that returns one probability per
        example (``[B]`` or ``[B, 1]``, within [0, 1]) for the first two rows of ``data``.

        Raises:
            TrainerInputError: Naming the key to fix.
        """
        import keras

        from trainers.keras.batches import batch_inputs

        self.check_model_type(model)
        rows = np.arange(min(2, len(data)))
        try:
            output = np.asarray(
                keras.ops.convert_to_numpy(model(batch_inputs(data, rows), training=False))
            )
        except Exception as error:
            raise TrainerInputError(
                f"model.{TARGET_KEY}: the model failed on its first {len(rows)} examples "
                f"({type(error).__name__}: {error}); see docs/models.md for the inputs it gets"
            ) from None
        if output.shape not in ((len(rows),), (len(rows), 1)):
            raise TrainerInputError(
                f"model.{TARGET_KEY}: the model must return one probability per example, "
                f"shape [{len(rows)}] or [{len(rows)}, 1]; got shape {list(output.shape)}"
            )
        if not np.all((output >= 0.0) & (output <= 1.0)):
            raise TrainerInputError(
                f"model.{TARGET_KEY}: the model must return probabilities in [0, 1] (end it "
                f"with a sigmoid); got {output.reshape(-1).tolist()}"
            )

    def predict(
        self, model: Any, data: Any, *, progress: Callable[[int], object] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and per-example binary cross-entropy, in row order (batches of
        ``trainer.eval_batch_size`` sorted by length); ``progress`` gets the rows done after
        each batch."""
        from trainers.keras.batches import Predictor

        predictor = Predictor(self.config.eval_batch_size, self.width_multiple)
        return predictor(model, data, progress=progress)

    def load_checkpoint(self, model: Any, path: str | Path) -> Any:
        """Load a ``.weights.h5`` file into ``model`` (no code execution).

        Raises:
            CheckpointError: Not a ``.weights.h5`` file, missing, corrupt or truncated, or
                saved for another vocabulary or model size.
        """
        path = Path(path).expanduser()
        if not path.name.endswith(".weights.h5"):
            hint = " (a Lightning checkpoint: load it with LightningTrainer)"
            raise CheckpointError(
                f"{path}: KerasTrainer loads Keras weights files (.weights.h5) only"
                f"{hint if path.suffix == '.ckpt' else ''}"
            )
        if not path.is_file():
            raise CheckpointError(f"{path}: no such checkpoint file")
        try:
            optimizer = getattr(model, "optimizer", None)
            if optimizer is not None and not optimizer.built:
                # The file holds the optimizer state too; give it variables to load into.
                optimizer.build(model.trainable_variables)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model.load_weights(str(path))
        except Exception as error:
            # Keras' own message embeds whole weight arrays; keep one line.
            raise CheckpointError(f"{path}: {_load_failure(error)}") from error
        for warning in caught:  # the load worked: pass on what Keras had to say
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
        return model

    def _seed_framework(self, seed: int) -> None:
        seed_and_configure(seed, self.config.deterministic, self.config.num_threads)

    def _resume_point(self) -> ResumePoint:
        from trainers.keras.backup import AtomicBackupAndRestore

        try:
            backup = AtomicBackupAndRestore.read(self.backup_dir)
        except ValueError as error:
            raise ResumeError(f"{self.run_dir}: cannot resume: {error}; start a new run") from None
        if backup is None:
            raise ResumeError(
                f"{self.run_dir}: nothing to resume: no Keras backup in {self.backup_dir} "
                "(no epoch finished, or the run was not trained by KerasTrainer); start a "
                "new run"
            )
        epoch, weights = backup
        if epoch < 1:
            raise ResumeError(f"{self.run_dir}: the backup holds no finished epoch")
        return ResumePoint(weights, epoch)

    def libraries(self) -> dict[str, str]:
        return {**versions(), "numpy": np.__version__}

    def describe_model(self, model: Any) -> str:
        """``model.summary()``, captured (see :mod:`trainers.keras.summary`)."""
        from trainers.keras.summary import NetworkSummary

        return NetworkSummary.describe(model)

    def parameter_counts(self, model: Any) -> tuple[int, int] | None:
        """``(all, trainable)`` weights of the model, counted in numbers."""
        from trainers.keras.summary import NetworkSummary

        return NetworkSummary.parameter_counts(model)

    def _fit(self, request: FitRequest) -> FitSummary:
        from trainers.keras.fit import KerasFit

        placement = self._placement()
        self._record_placement(placement.device, placement.precision)
        if request.resume is None and self.backup_dir.exists():
            KerasFit.clear_backup(self.backup_dir)
        fit = KerasFit(
            request,
            config=self.config,
            seed=self.seed,
            backup_dir=self.backup_dir,
            width_multiple=self.width_multiple,
            run_dir=self.run_dir,
        )
        periods, stopped_early = fit.run(self.extra_callbacks)
        return self.fit_summary(periods, stopped_early, placement.device, placement.precision)

    def _placement(self) -> Placement:
        if self.placement is None:
            self.placement = Placement.resolve(self.config.accelerator, self.config.precision)
        return self.placement
