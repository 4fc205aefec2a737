"""Model hyperparameters (the ``model.*`` keys): architecture and optimisation of each model.

They are plain, framework-free dataclasses, so a notebook or a config file can build them
without importing torch or Keras. Each declares the framework that trains it.

Example:
    >>> hp = TransformerHyperparams(d_model=32, nhead=2)
    >>> hp.framework, hp.batch_size
    ('lightning', 64)
    >>> LSTMHyperparams.from_mapping({"hidden": -1})
    Traceback (most recent call last):
    ...
    trainers.settings.SettingsError: model.hidden: must be > 0, got -1
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from trainers.checkpoints import Framework
from trainers.settings import Settings, SettingsError

LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine", "linear")


@dataclass(frozen=True)
class Hyperparams(Settings):
    """What every model's hyperparameters have.

    Attributes:
        name: Model preset name (``transformer``, ``lstm_paper``...), used in run ids.
        lr: Peak learning rate of Adam.
        batch_size: Training batch size.
        lr_schedule: ``constant``, ``cosine`` or ``linear`` decay to 0 over the run, after
            ``warmup_steps`` of linear warm-up.
        warmup_steps: Optimizer steps of linear warm-up from 0 to ``lr``.
        bucket_by_length: Batch examples of similar length together (shuffled buckets), so
            little time is spent on padding.
    """

    KEY_PREFIX: ClassVar[str] = "model"
    FRAMEWORK: ClassVar[Framework]
    ARCHITECTURE: ClassVar[str]

    name: str = ""
    lr: float = 1e-3
    batch_size: int = 64
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    bucket_by_length: bool = True

    @property
    def framework(self) -> Framework:
        """``lightning`` or ``keras``: the trainer this model needs."""
        return self.FRAMEWORK

    @property
    def architecture(self) -> str:
        """The network these hyperparameters build (``transformer``, ``entity_memory``,
        ``lstm``)."""
        return self.ARCHITECTURE

    def describe(self) -> dict[str, Any]:
        """The plain config of the model: ``framework``, ``architecture`` and every field (what
        Hydra, manifests and trackers record; :func:`hyperparams_from_mapping` reads it back)."""
        return {"framework": self.framework, "architecture": self.architecture, **self.to_dict()}

    def check(self) -> None:
        self.require_positive("lr", "batch_size")
        self.require_choice("lr_schedule", LR_SCHEDULES)
        self.require_non_negative("warmup_steps")


@dataclass(frozen=True)
class TransformerHyperparams(Hyperparams):
    """The Transformer encoder (see :mod:`models.transformer`) and its optimiser.

    Attributes:
        d_model: Embedding and hidden width; divisible by ``nhead``.
        nhead: Attention heads per layer.
        d_hid: Feed-forward width of each layer.
        nlayers: Encoder layers.
        dropout: Dropout inside the encoder (note: on CPU, dropout > 0 costs throughput).
        norm_first: Pre-layer-norm layers.
        weight_decay: AdamW weight decay (0 gives plain Adam).
    """

    FRAMEWORK: ClassVar[Framework] = "lightning"
    ARCHITECTURE: ClassVar[str] = "transformer"

    name: str = "transformer"
    d_model: int = 64
    nhead: int = 4
    d_hid: int = 128
    nlayers: int = 2
    dropout: float = 0.0
    norm_first: bool = True
    weight_decay: float = 0.0

    def check(self) -> None:
        super().check()
        self.require_positive("d_model", "nhead", "d_hid", "nlayers")
        if self.d_model % self.nhead:
            self.fail("d_model", f"{self.d_model} must be divisible by model.nhead ({self.nhead})")
        if not 0.0 <= self.dropout < 1.0:
            self.fail("dropout", f"must be in [0, 1), got {self.dropout}")
        self.require_non_negative("weight_decay")


@dataclass(frozen=True)
class EntityMemoryHyperparams(Hyperparams):
    """The entity-memory network (see :mod:`models.entity_memory`) and its optimiser.

    Attributes:
        d_model: Width of embeddings and memory states.
        max_sentence_tokens: Longest sentence or question, in tokens.
        state_loss_weight: Weight of the auxiliary loss that asks each sentence's new state
            for its subject's direction (read from the story text by
            :func:`stories.semantics.sentence_states`); 0 trains on answers alone.
        weight_decay: AdamW weight decay (0 gives plain Adam).
    """

    FRAMEWORK: ClassVar[Framework] = "lightning"
    ARCHITECTURE: ClassVar[str] = "entity_memory"

    name: str = "entity_memory"
    d_model: int = 64
    max_sentence_tokens: int = 16
    state_loss_weight: float = 0.0
    weight_decay: float = 0.0

    def check(self) -> None:
        super().check()
        self.require_positive("d_model", "max_sentence_tokens")
        self.require_non_negative("state_loss_weight", "weight_decay")


@dataclass(frozen=True)
class LSTMHyperparams(Hyperparams):
    """The dual-encoder LSTM (see :mod:`models.lstm`) and its optimiser.

    Attributes:
        embedding_dim: Token embedding width of each encoder.
        hidden: LSTM units and width of the dense layer.
        dropout: Dropout on the LSTM inputs and after the dense layer.
        l1: L1 penalty on the dense layer's kernel.
        l2: L2 penalty on the dense layer's kernel.
    """

    FRAMEWORK: ClassVar[Framework] = "keras"
    ARCHITECTURE: ClassVar[str] = "lstm"

    name: str = "lstm"
    embedding_dim: int = 64
    hidden: int = 64
    dropout: float = 0.2
    l1: float = 0.0
    l2: float = 0.0

    def check(self) -> None:
        super().check()
        self.require_positive("embedding_dim", "hidden")
        if not 0.0 <= self.dropout < 1.0:
            self.fail("dropout", f"must be in [0, 1), got {self.dropout}")
        self.require_non_negative("l1", "l2")


#: Each architecture's hyperparameters; the first of a framework is its default.
HYPERPARAMS_BY_ARCHITECTURE: dict[str, type[Hyperparams]] = {
    "transformer": TransformerHyperparams,
    "entity_memory": EntityMemoryHyperparams,
    "lstm": LSTMHyperparams,
}
#: The keys of :meth:`Hyperparams.describe` that are not fields.
DESCRIPTION_KEYS: tuple[str, ...] = ("framework", "architecture")


def hyperparams_class(framework: str | None, architecture: str | None) -> type[Hyperparams]:
    """The hyperparameter class of ``architecture`` (default: ``framework``'s first).

    Raises:
        SettingsError: Unknown framework or architecture, or one the framework does not train.
    """
    if architecture is None:
        for cls in HYPERPARAMS_BY_ARCHITECTURE.values():
            if framework == cls.FRAMEWORK:
                return cls
        frameworks = sorted({cls.FRAMEWORK for cls in HYPERPARAMS_BY_ARCHITECTURE.values()})
        raise SettingsError(f"model.framework: {framework!r} is not one of {frameworks}")
    if architecture not in HYPERPARAMS_BY_ARCHITECTURE:
        raise SettingsError(
            f"model.architecture: {architecture!r} is not one of "
            f"{list(HYPERPARAMS_BY_ARCHITECTURE)}"
        )
    cls = HYPERPARAMS_BY_ARCHITECTURE[architecture]
    if framework is not None and framework != cls.FRAMEWORK:
        raise SettingsError(
            f"model.architecture: {architecture} is trained by the {cls.FRAMEWORK} trainer, "
            f"not {framework}"
        )
    return cls


def hyperparams_from_mapping(
    values: Mapping[str, Any], framework: str | None = None
) -> Hyperparams:
    """Hyperparameters from a :meth:`Hyperparams.describe` mapping (``architecture`` picks
    the class; without it, ``framework``'s default architecture).

    Raises:
        SettingsError: Unknown architecture, key or bad value, naming the key.
    """
    framework = values.get("framework", framework)
    cls = hyperparams_class(framework, values.get("architecture"))
    return cls.from_mapping(values, ignore=DESCRIPTION_KEYS)
