"""``Hyperparams``: everything the ``model.*`` keys say — which network, with which
architecture settings (defined next to the network, in :mod:`models`), trained how.

The training settings (:class:`TrainingSettings`: learning rate, batch size, schedule,
warm-up, weight decay, bucketing) are the trainers' and the same keys for every model. The
architecture settings belong to the model (:class:`models.settings.ModelSettings`
subclasses, e.g. :class:`models.transformer.TransformerConfig`). On the command line and in
manifests both are one flat mapping (``model.lr``, ``model.d_model``), as
:meth:`Hyperparams.describe` writes it and :meth:`Hyperparams.from_mapping` reads it.

Framework-free: nothing here imports PyTorch or Keras.

Example:
    >>> hp = Hyperparams.of("transformer", d_model=32, nhead=2, lr=3e-4)
    >>> hp.framework, hp.network.d_model, hp.training.lr, hp.training.batch_size
    ('lightning', 32, 0.0003, 64)
    >>> Hyperparams.of("lstm", hidden=-1)
    Traceback (most recent call last):
    ...
    models.settings.SettingsError: model.hidden: must be > 0, got -1
    >>> Hyperparams.of("lstm", d_model=8)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    models.settings.SettingsError: model.d_model: unknown key; valid keys are [...]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from models import architecture_settings
from models.settings import Framework, ModelSettings, Settings, SettingsError

LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine", "linear")
#: The keys of :meth:`Hyperparams.describe` that name rather than set: ``framework``,
#: ``architecture`` and ``name``.
DESCRIPTION_KEYS: tuple[str, ...] = ("framework", "architecture", "name")


@dataclass(frozen=True)
class TrainingSettings(Settings):
    """How a model is optimised: the same ``model.*`` keys for every model and framework.

    Attributes:
        lr: Peak learning rate of Adam.
        batch_size: Training batch size.
        lr_schedule: ``constant``, ``cosine`` or ``linear`` decay to 0 over the run, after
            ``warmup_steps`` of linear warm-up.
        warmup_steps: Optimizer steps of linear warm-up from 0 to ``lr``.
        bucket_by_length: Batch examples of similar length together (shuffled buckets), so
            little time is spent on padding.
        weight_decay: Decoupled weight decay (AdamW); 0 gives plain Adam.
    """

    KEY_PREFIX: ClassVar[str] = "model"

    lr: float = 1e-3
    batch_size: int = 64
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    bucket_by_length: bool = True
    weight_decay: float = 0.0

    def check(self) -> None:
        self.require_positive("lr", "batch_size")
        self.require_choice("lr_schedule", LR_SCHEDULES)
        self.require_non_negative("warmup_steps", "weight_decay")


@dataclass(frozen=True)
class Hyperparams:
    """A named model: its network's settings and how it is trained.

    Attributes:
        name: The model's name (the preset, e.g. ``transformer_paper``), used in run ids.
        network: The architecture settings (a :class:`~models.settings.ModelSettings`).
        training: The training settings.
    """

    KEY_PREFIX: ClassVar[str] = "model"

    name: str
    network: ModelSettings
    training: TrainingSettings = dataclasses.field(default_factory=TrainingSettings)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise SettingsError(f"model.name: expected str, got {self.name!r}")
        if not isinstance(self.network, ModelSettings):
            raise SettingsError(f"model: expected model settings, got {self.network!r}")

    @property
    def framework(self) -> Framework:
        """``lightning`` or ``keras``: the trainer this model needs."""
        return self.network.FRAMEWORK

    @property
    def architecture(self) -> str:
        """The network these settings build (``transformer``, ``entity_memory``, ``lstm``)."""
        return self.network.ARCHITECTURE

    @classmethod
    def of(cls, architecture: str, name: str | None = None, **values: Any) -> Hyperparams:
        """``architecture``'s defaults with ``values`` (training or architecture keys) set.

        Raises:
            SettingsError: Unknown architecture or key, or a bad value, naming the key.
        """
        return cls.from_mapping({**values, "architecture": architecture, "name": name})

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], framework: str | None = None) -> Hyperparams:
        """Read a flat :meth:`describe` mapping back (``architecture`` picks the network;
        without it, ``framework``'s default network; ``name`` defaults to the architecture).

        Raises:
            SettingsError: Unknown architecture or key, or a bad value, naming the key.
        """
        framework = values.get("framework", framework)
        settings = architecture_settings(values.get("architecture"), framework)
        own = set(settings.keys())
        training_keys = set(TrainingSettings.keys())
        valid = sorted(own | training_keys | set(DESCRIPTION_KEYS))
        for key in values:
            if key not in valid:
                raise SettingsError(f"model.{key}: unknown key; valid keys are {valid}")
        name = values.get("name") or settings.ARCHITECTURE
        return cls(
            name=name,
            network=settings(**{k: v for k, v in values.items() if k in own}),
            training=TrainingSettings(**{k: v for k, v in values.items() if k in training_keys}),
        )

    def describe(self) -> dict[str, Any]:
        """The flat config of the model: ``framework``, ``architecture``, ``name``, the
        training and the architecture settings (what Hydra, manifests and trackers record)."""
        return {"framework": self.framework, "architecture": self.architecture, **self.to_dict()}

    def to_dict(self) -> dict[str, Any]:
        """``name`` and every training and architecture setting, flat (JSON- and YAML-ready)."""
        return {"name": self.name, **self.training.to_dict(), **self.network.to_dict()}

    def keys(self) -> list[str]:
        """The keys :meth:`replace` takes, sorted."""
        return sorted({"name", *self.training.keys(), *self.network.keys()})

    def replace(self, **changes: Any) -> Hyperparams:
        """A validated copy with some keys (training or architecture) changed.

        Raises:
            SettingsError: An unknown key or a bad value, naming the key.
        """
        unknown = sorted(set(changes) - set(self.keys()))
        if unknown:
            raise SettingsError(f"model.{unknown[0]}: unknown key; valid keys are {self.keys()}")
        training_keys, network_keys = set(self.training.keys()), set(self.network.keys())
        training = {k: v for k, v in changes.items() if k in training_keys}
        network = {k: v for k, v in changes.items() if k in network_keys}
        return Hyperparams(
            name=changes.get("name", self.name),
            network=self.network.replace(**network) if network else self.network,
            training=self.training.replace(**training) if training else self.training,
        )
