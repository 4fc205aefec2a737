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

from dataclasses import dataclass
from typing import ClassVar

from trainers.checkpoints import Framework
from trainers.settings import Settings

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

    def check(self) -> None:
        self.require_positive("lr", "batch_size")
        self.require_choice("lr_schedule", LR_SCHEDULES)
        if self.warmup_steps < 0:
            self.fail("warmup_steps", f"must be >= 0, got {self.warmup_steps}")


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
        if self.weight_decay < 0:
            self.fail("weight_decay", f"must be >= 0, got {self.weight_decay}")


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
        for name in ("l1", "l2"):
            if getattr(self, name) < 0:
                self.fail(name, f"must be >= 0, got {getattr(self, name)}")


HYPERPARAMS_BY_FRAMEWORK: dict[str, type[Hyperparams]] = {
    "lightning": TransformerHyperparams,
    "keras": LSTMHyperparams,
}
