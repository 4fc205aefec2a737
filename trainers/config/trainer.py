"""``TrainerConfig``: the ``trainer.*`` keys, with the same meaning for both frameworks.

Example:
    >>> config = TrainerConfig(max_epochs=2, top_k=3)
    >>> config.max_epochs, config.precision
    (2, 'auto')
    >>> TrainerConfig.from_mapping({"max_epochs": 0})
    Traceback (most recent call last):
    ...
    models.settings.SettingsError: trainer.max_epochs: must be > 0, got 0
    >>> TrainerConfig(devices=2, strategy="ddp").placement_overrides()
    ('devices', 'strategy')
    >>> TrainerConfig(devices=2).check_framework("keras")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    models.settings.SettingsError: trainer.devices: 2 asked for, but the Keras trainer ...

Whether this machine can run the placement keys (a GPU for ``accelerator=gpu``, enough
devices, a strategy Lightning knows) is checked by each framework's trainer side, which imports
the framework: ``trainers.lightning.devices`` and ``trainers.keras.backend``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from models.settings import Settings


@dataclass(frozen=True)
class TrainerConfig(Settings):
    """How to train, independent of the model.

    Attributes:
        max_epochs: Epochs to train (a resumed run counts the epochs already done).
        max_minutes: Wall-clock budget of one training call (``None``: no budget), checked
            after every training step and after each epoch's validation: once it is spent,
            training stops after the current step. An epoch stopped before its last step is
            validated, logged, ranked for top-k and checkpointed like any other, and counts
            as an epoch: ``epochs_completed`` includes it, a warning (console and
            ``run.log``) says after how many of its steps it stopped, and a resumed run
            starts with the next epoch (the steps it did not reach are not trained, so such
            a resume does not reproduce an uninterrupted run). The best checkpoint is then
            evaluated as usual. Both frameworks apply it the same way, so equal budgets give
            a fair comparison.
        val_check_interval: Validate within epochs too: every that many training steps (an
            int), or every that fraction of an epoch (a float in ``(0, 1]``, rounded up to
            whole steps), and always at an epoch's end; ``None`` validates once per epoch.
            Each validation is logged (at the step it follows), ranked for top-k,
            checkpointed and resumable after ``kill -9`` like an epoch's end, and early
            stopping's ``patience`` counts validations (see :mod:`trainers.periods`). An
            interval of at least an epoch is the same as ``None``. A resumed run must keep
            the interval it started with.
        top_k: Checkpoints kept by validation accuracy (``-1`` keeps all, ``0`` none).
        early_stopping: Stop when validation accuracy has not improved for ``patience``
            epochs.
        patience: Epochs without improvement before early stopping.
        min_delta: Smallest change in validation accuracy that counts as an improvement.
        gradient_clip_val: Clip the gradient norm to this value; ``None`` for no clipping.
        accelerator: ``auto``, ``cpu``, ``gpu``/``cuda`` or ``mps`` (``mps``: Lightning
            only). A GPU that the machine does not have is refused before the run starts.
        devices: Devices per node (an int, or ``auto``): GPUs, or on CPU training processes
            (at most one per CPU core). Lightning only; the Keras trainer trains on one device.
        num_nodes: Machines (Lightning DDP, started on every node); Keras: 1.
        strategy: A Lightning strategy: ``auto``, ``ddp``, ``ddp_spawn``...; Keras: ``auto``.
        precision: ``auto`` (32-bit on CPU, mixed on CUDA), ``32``, ``16-mixed`` or
            ``bf16-mixed`` (a number is read as its text). ``16-mixed`` needs a GPU; the Keras
            trainer trains in 32-bit on CPU, so it takes mixed precision only on a GPU.
        deterministic: Deterministic algorithms (same config and seed give the same metrics
            on CPU).
        num_threads: CPU threads for the framework's kernels; ``None`` leaves its default (the
            Keras jax backend sizes its own thread pool: not applied there, with a warning).
        eval_batch_size: Batch size of prediction passes (validation and evaluation).
        every_n_epochs: Also keep a periodic checkpoint every N epochs; ``None`` for none.
        progress: Show progress bars.
        keras_backend: Keras backend for the LSTM: ``tensorflow``, ``jax`` or ``torch``.
    """

    KEY_PREFIX: ClassVar[str] = "trainer"
    ACCELERATORS: ClassVar[tuple[str, ...]] = ("auto", "cpu", "gpu", "cuda", "mps")
    PRECISIONS: ClassVar[tuple[str, ...]] = ("auto", "32", "16-mixed", "bf16-mixed")
    KERAS_BACKENDS: ClassVar[tuple[str, ...]] = ("tensorflow", "jax", "torch")
    #: Where and how precisely a model trains: the keys checked against the machine.
    PLACEMENT_KEYS: ClassVar[tuple[str, ...]] = (
        "accelerator",
        "devices",
        "num_nodes",
        "strategy",
        "precision",
    )

    max_epochs: int = 100
    max_minutes: float | None = None
    val_check_interval: int | float | None = None
    top_k: int = 3
    early_stopping: bool = False
    patience: int = 5
    min_delta: float = 0.0
    gradient_clip_val: float | None = 1.0
    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "auto"
    deterministic: bool = True
    num_threads: int | None = None
    eval_batch_size: int = 256
    every_n_epochs: int | None = None
    progress: bool = True
    keras_backend: str = "tensorflow"

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], ignore: Iterable[str] = ()) -> TrainerConfig:
        """As :meth:`Settings.from_mapping`; a numeric precision (the command line reads
        ``trainer.precision=32`` as a number) means its text."""
        values = dict(mapping)
        precision = values.get("precision")
        if isinstance(precision, int) and not isinstance(precision, bool):
            values["precision"] = str(precision)
        return super().from_mapping(values, ignore)

    def check(self) -> None:
        self.require_positive(
            "max_epochs",
            "patience",
            "num_nodes",
            "num_threads",
            "eval_batch_size",
            "every_n_epochs",
            "gradient_clip_val",
            "max_minutes",
        )
        self.check_val_check_interval()
        if self.top_k < -1:
            self.fail(
                "top_k", f"must be -1 (keep all), 0 (none) or a positive count, got {self.top_k}"
            )
        self.require_non_negative("min_delta")
        self.require_choice("accelerator", self.ACCELERATORS)
        self.require_choice("precision", self.PRECISIONS)
        self.require_choice("keras_backend", self.KERAS_BACKENDS)
        if isinstance(self.devices, str) and self.devices != "auto":
            self.fail("devices", f"must be a positive integer or 'auto', got {self.devices!r}")
        if isinstance(self.devices, int) and self.devices < 1:
            self.fail("devices", f"must be a positive integer or 'auto', got {self.devices}")
        if not self.strategy:
            self.fail("strategy", "must be a non-empty strategy name such as 'auto' or 'ddp'")

    def check_val_check_interval(self) -> None:
        """``val_check_interval``: ``None``, a positive number of steps or a fraction of an
        epoch in ``(0, 1]``.

        Example:
            >>> TrainerConfig(val_check_interval=1.5)  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            models.settings.SettingsError: trainer.val_check_interval: a fraction of an epoch ...
        """
        value = self.val_check_interval
        if value is None:
            return
        if isinstance(value, int) and value < 1:
            self.fail(
                "val_check_interval",
                f"must be a positive number of training steps (e.g. 500) or a fraction of an "
                f"epoch in (0, 1] (e.g. 0.25), got {value}",
            )
        if isinstance(value, float) and not 0.0 < value <= 1.0:
            self.fail(
                "val_check_interval",
                f"a fraction of an epoch must be in (0, 1] (e.g. 0.25), got {value}; give a "
                "whole number for a count of training steps",
            )

    def placement_overrides(self) -> tuple[str, ...]:
        """The :attr:`PLACEMENT_KEYS` set to something other than their defaults: only then
        does a framework's machine check run (and import what it needs)."""
        defaults = {item.name: item.default for item in fields(self)}
        return tuple(k for k in self.PLACEMENT_KEYS if getattr(self, k) != defaults[k])

    def ignored_by(self, framework: str) -> tuple[str, ...]:
        """Why each key set for another framework's trainer is not applied by ``framework``'s:
        ``keras_backend`` (other than its default) for a model that is not a Keras model. Such
        a key is a warning, not an error, so that one sweep over models of both frameworks
        can share it.

        Example:
            >>> (why,) = TrainerConfig(keras_backend="jax").ignored_by("lightning")
            >>> why.split(":")[0]
            'trainer.keras_backend=jax is not applied'
            >>> TrainerConfig(keras_backend="jax").ignored_by("keras")
            ()
        """
        default = next(item.default for item in fields(self) if item.name == "keras_backend")
        if framework == "keras" or self.keras_backend == default:
            return ()
        return (
            f"trainer.keras_backend={self.keras_backend} is not applied: it picks the backend of "
            f"Keras models only (e.g. model=lstm), and this run's model is trained by the "
            f"{framework} trainer",
        )

    def check_framework(self, framework: str) -> None:
        """Refuse the keys ``framework``'s trainer cannot honour (rather than ignore them).

        The Keras trainer trains on one device of one machine, without a distribution
        strategy, on the CPU or a CUDA GPU: ``devices``, ``num_nodes``, ``strategy`` and
        ``accelerator=mps`` are Lightning's.

        Raises:
            SettingsError: Naming the key, why, and what to set instead.
        """
        if framework != "keras":
            return
        one_device = (
            "the Keras trainer trains on one device (it has no multi-device training); use "
            "trainer.devices=1 (trainer.num_threads=N gives it more CPU threads), or a "
            "Lightning model (model=transformer) for several devices"
        )
        if self.devices != 1:
            self.fail("devices", f"{self.devices} asked for, but {one_device}")
        if self.num_nodes != 1:
            self.fail(
                "num_nodes",
                f"{self.num_nodes} asked for, but the Keras trainer trains on one machine; use "
                "trainer.num_nodes=1, or a Lightning model (model=transformer) across nodes",
            )
        if self.strategy != "auto":
            self.fail(
                "strategy",
                f"{self.strategy!r} asked for, but the Keras trainer has no distribution "
                "strategies (it trains on one device); use trainer.strategy=auto "
                "(trainer.num_threads=N gives it more CPU threads)",
            )
        if self.accelerator == "mps":
            self.fail(
                "accelerator",
                "'mps' asked for, but the Keras trainer trains on the CPU or a CUDA GPU; use "
                "trainer.accelerator=cpu, gpu or auto",
            )
