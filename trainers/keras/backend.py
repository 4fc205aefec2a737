"""Keras backend selection, seeding, threads, precision and device: set once per process.

Keras reads ``KERAS_BACKEND`` when it is first imported, so the backend must be chosen before
that and cannot change afterwards in the same process.

Example:
    >>> use_backend("nope")
    Traceback (most recent call last):
    ...
    ValueError: unknown Keras backend 'nope'; expected one of ['tensorflow', 'jax', 'torch']
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import ClassVar, Final

from trainers.config import TrainerConfig
from trainers.keras.startup_log import quiet_tensorflow_start

BACKENDS: Final = ("tensorflow", "jax", "torch")
logger = logging.getLogger(__name__)
ENV_VAR: Final = "KERAS_BACKEND"


class BackendError(RuntimeError):
    """Keras is already running on another backend in this process."""


def use_backend(backend: str) -> None:
    """Make ``backend`` the Keras backend of this process.

    Sets ``KERAS_BACKEND`` when Keras is not imported yet (and keeps TensorFlow's start-up log
    off the console: :func:`trainers.keras.startup_log.quiet_tensorflow_start`); otherwise
    checks that the running backend is the requested one.

    Args:
        backend: ``tensorflow``, ``jax`` or ``torch``.

    Raises:
        ValueError: Unknown backend.
        BackendError: Keras already runs on another backend (start a new process).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown Keras backend {backend!r}; expected one of {list(BACKENDS)}")
    if "keras" not in sys.modules:
        os.environ[ENV_VAR] = backend
        quiet_tensorflow_start()
        return
    import keras

    running = keras.config.backend()
    if running != backend:
        raise BackendError(
            f"trainer.keras_backend={backend!r}, but Keras is already imported in this process "
            f"with the {running!r} backend; the backend is fixed per process: start a new "
            f"process (or set {ENV_VAR}={backend} before anything imports keras)"
        )


def seed_and_configure(seed: int, deterministic: bool, num_threads: int | None) -> None:
    """Seed Keras (and the backend's RNGs), make TensorFlow deterministic, set CPU threads.

    Args:
        seed: The run's seed.
        deterministic: Enable TensorFlow's op determinism (the other backends are
            deterministic on CPU).
        num_threads: CPU threads of the backend's kernels; ``None`` leaves the default. The
            jax backend sizes its own thread pool: there it is not applied, with a warning.
    """
    import keras

    backend = keras.config.backend()
    if backend == "jax" and num_threads is not None:
        logger.warning(
            "trainer.num_threads=%d is not applied: the Keras jax backend (XLA) sizes its own "
            "thread pool to the machine's cores; use trainer.keras_backend=tensorflow or torch "
            "to limit the threads",
            num_threads,
        )
    if backend == "tensorflow":
        import tensorflow as tf

        if deterministic:
            tf.config.experimental.enable_op_determinism()
        if num_threads is not None:
            _set_tf_threads(tf, num_threads)
    elif backend == "torch" and num_threads is not None:
        import torch

        torch.set_num_threads(num_threads)
    keras.utils.set_random_seed(seed)


def _set_tf_threads(tf: object, num_threads: int) -> None:
    threading = tf.config.threading  # type: ignore[attr-defined]
    try:
        threading.set_intra_op_parallelism_threads(num_threads)
        threading.set_inter_op_parallelism_threads(num_threads)
    except RuntimeError:
        # The runtime is already initialised (an earlier run in this process); it keeps the
        # threads it started with.
        pass


@dataclass(frozen=True)
class Placement:
    """Where and how precisely the model trains.

    Attributes:
        device: ``cpu`` or ``gpu:0 (<name>)``.
        precision: ``32``, ``16-mixed`` or ``bf16-mixed`` (the trainer's vocabulary).
        policy: The Keras dtype policy (``float32``, ``mixed_float16``, ``mixed_bfloat16``).
    """

    device: str
    precision: str
    policy: str

    POLICIES: ClassVar[dict[str, str]] = {
        "32": "float32",
        "16-mixed": "mixed_float16",
        "bf16-mixed": "mixed_bfloat16",
    }

    @classmethod
    def resolve(cls, accelerator: str, precision: str) -> Placement:
        """Mixed float16 on a visible GPU (``precision`` ``auto``/``16-mixed``; ``bf16-mixed``
        on request), float32 on CPU whatever was asked.

        Args:
            accelerator: ``trainer.accelerator`` (``cpu`` keeps float32 even with a GPU).
            precision: ``trainer.precision``.
        """
        gpu = None if accelerator == "cpu" else gpu_name()
        if gpu is None:
            return cls("cpu", "32", cls.POLICIES["32"])
        chosen = "16-mixed" if precision == "auto" else precision
        return cls(f"gpu:0 ({gpu})", chosen, cls.POLICIES[chosen])

    def apply(self) -> None:
        """Set the Keras global dtype policy (before building the model)."""
        import keras

        keras.mixed_precision.set_global_policy(self.policy)


def gpu_name() -> str | None:
    """Name of the first GPU the Keras backend sees, ``None`` without one."""
    import keras

    return backend_gpu(keras.config.backend())


def backend_gpu(backend: str) -> str | None:
    """Name of the first GPU that ``backend``'s library sees, ``None`` without one (imports
    that library, not Keras)."""
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return gpus[0].name if gpus else None
    if backend == "jax":
        import jax

        devices = [d for d in jax.devices() if d.platform == "gpu"]
        return str(devices[0].device_kind) if devices else None
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def versions() -> dict[str, str]:
    """Versions of Keras and of the backend library in use."""
    import keras

    backend = keras.config.backend()
    library = __import__(backend)
    return {"keras": keras.__version__, backend: str(library.__version__), "backend": backend}


def check_placement(config: TrainerConfig) -> None:
    """Refuse, before anything is built, the placement keys the Keras trainer cannot honour:
    those of another framework (:meth:`TrainerConfig.check_framework`), a GPU that the backend
    does not see (``accelerator=gpu``), and mixed precision on CPU (the trainer trains in
    float32 there).

    Selects the backend (:func:`use_backend`) and imports its library only when
    ``accelerator`` asks for a GPU or ``precision`` for mixed precision.

    Raises:
        models.settings.SettingsError: Naming the key, what this machine has, and the fix.
    """
    config.check_framework("keras")
    wants_gpu = config.accelerator in ("gpu", "cuda")
    mixed = config.precision in ("16-mixed", "bf16-mixed")
    if not wants_gpu and not mixed:
        return
    backend = config.keras_backend
    use_backend(backend)
    gpu = None if config.accelerator == "cpu" else backend_gpu(backend)
    if gpu is not None:
        return
    sees = f"the Keras {backend} backend sees no GPU on this machine"
    if backend == "tensorflow":
        sees += " (the tensorflow-cpu package has no GPU support)"
    if wants_gpu:
        TrainerConfig.fail(
            "accelerator",
            f"{config.accelerator!r} asked for, but {sees}; use trainer.accelerator=cpu, or "
            "auto (a GPU when there is one)",
        )
    why = "trainer.accelerator=cpu" if config.accelerator == "cpu" else sees
    TrainerConfig.fail(
        "precision",
        f"{config.precision!r} asked for, but the Keras trainer trains in float32 on CPU "
        f"(mixed precision only on a GPU), and {why}; use trainer.precision=32 or auto",
    )
