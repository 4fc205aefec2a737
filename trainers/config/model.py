"""``Hyperparams``: everything the ``model.*`` keys say — which callable builds the network
(``_target_``), for which trainer (``framework``), with which constructor arguments, trained
how.

A model config is flat, as in a ``conf/model/*.yaml`` file::

    _target_: models.transformer.StoryTransformer   # any importable callable
    framework: lightning                            # or keras
    d_model: 64                                     # its constructor arguments ...
    lr: 1e-3                                        # ... and the shared training keys

The training keys (:class:`TrainingSettings`: ``lr``, ``batch_size``, ``lr_schedule``,
``warmup_steps``, ``weight_decay``, ``bucket_by_length``) are the trainers', the same for every
model; every other key is a constructor argument. storyqa calls the target with the arguments
plus what it knows about the data: ``vocab_size`` always, ``tokens`` (the vocabulary, in id
order) when the target has a parameter of that name (see ``docs/models.md``).

The arguments are checked before any data is built: against the target's ``Settings``
dataclass when it names one (storyqa's own networks do, and are checked without importing
them), else against its signature. Checking a user's target imports its module (and so its
framework); nothing else here imports one.

Example:
    >>> hp = Hyperparams.of("transformer", d_model=32, nhead=2, lr=3e-4)
    >>> hp.framework, hp.target, hp.arguments["d_model"], hp.training.lr
    ('lightning', 'models.transformer.StoryTransformer', 32, 0.0003)
    >>> Hyperparams.of("lstm", hidden=-1)
    Traceback (most recent call last):
    ...
    models.settings.SettingsError: model.hidden: must be > 0, got -1
    >>> Hyperparams.from_mapping({"_target_": "collections.OrderedDict", "framework": "jax"})
    Traceback (most recent call last):
    ...
    models.settings.SettingsError: model.framework: 'jax' is not one of ['lightning', 'keras']
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from models.entity_memory.config import EntityMemoryConfig
from models.lstm.config import LSTMConfig
from models.settings import FRAMEWORKS, Framework, ModelSettings, Settings, SettingsError
from models.transformer.config import TransformerConfig

LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine", "linear")
#: The key naming the callable that builds the network (Hydra's convention).
TARGET_KEY = "_target_"
#: The keys of :meth:`Hyperparams.describe` that are neither training keys nor arguments.
DESCRIPTION_KEYS: tuple[str, ...] = (TARGET_KEY, "framework", "name")
#: What storyqa passes the target itself, from the data.
DATA_ARGUMENTS: tuple[str, ...] = ("vocab_size", "tokens")


@dataclass(frozen=True)
class BuiltIn:
    """One of storyqa's own networks.

    Attributes:
        target: The callable that builds it.
        framework: The trainer it needs.
        settings: Its ``Settings`` class (framework-free: read without importing the network).
    """

    target: str
    framework: Framework
    settings: type[ModelSettings]


#: storyqa's own networks by their short name (``Hyperparams.of``, the presets, and the
#: ``architecture`` key of run configs written before ``_target_`` existed).
BUILT_IN: Mapping[str, BuiltIn] = {
    "transformer": BuiltIn("models.transformer.StoryTransformer", "lightning", TransformerConfig),
    "entity_memory": BuiltIn(
        "models.entity_memory.EntityMemoryNetwork", "lightning", EntityMemoryConfig
    ),
    "lstm": BuiltIn("models.lstm.build_lstm", "keras", LSTMConfig),
}


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


def import_target(path: str) -> Callable[..., Any]:
    """The callable at the dotted ``path`` (``package.module.Name`` or
    ``package.module.Class.method``).

    Raises:
        SettingsError: It cannot be imported or is not callable, naming ``model._target_``.
    """
    if not isinstance(path, str) or not path.strip():
        raise SettingsError(f"model.{TARGET_KEY}: give the dotted name of a callable, got {path!r}")
    parts = path.split(".")
    error: BaseException | None = None
    for split in range(len(parts) - 1, 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError as missing:
            if missing.name and not ".".join(parts[:split]).startswith(missing.name):
                error = missing  # the module exists but imports something missing
                break
            error = missing
            continue
        except Exception as failure:  # the module itself fails on import
            error = failure
            break
        try:
            for name in parts[split:]:
                found = getattr(found, name)
        except AttributeError as absent:
            error = absent
            break
        if not callable(found):
            raise SettingsError(f"model.{TARGET_KEY}: {path} is not callable")
        return cast(Callable[..., Any], found)
    raise SettingsError(
        f"model.{TARGET_KEY}: cannot import {path!r} ({type(error).__name__}: {error}); check "
        "the name, and that its folder is on PYTHONPATH (e.g. PYTHONPATH=. when it is here)"
    )


def _parameters(target: Callable[..., Any]) -> Mapping[str, inspect.Parameter]:
    try:
        return inspect.signature(target).parameters
    except (TypeError, ValueError):  # a builtin without a signature: take anything
        return {"kwargs": inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)}


def check_arguments(path: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """``arguments`` checked against the callable at ``path``: all of its ``Settings`` fields
    when it names a settings class (defaults filled in), else the names in its signature.
    storyqa's own networks are checked against their settings without importing them (no
    framework is loaded); any other target is imported.

    Raises:
        SettingsError: The target cannot be imported, or an unknown, missing or bad argument,
            naming its ``model.`` key.
    """
    for name in DATA_ARGUMENTS:
        if name in arguments:
            raise SettingsError(f"model.{name}: storyqa passes it from the data; remove it")
    built_in = next((b for b in BUILT_IN.values() if b.target == path), None)
    if built_in is not None:
        return built_in.settings.from_mapping(arguments).to_dict()
    target = import_target(path)
    settings = getattr(target, "Settings", None)
    if isinstance(settings, type) and issubclass(settings, Settings):
        return settings.from_mapping(arguments).to_dict()
    parameters = _parameters(target)
    kinds = {p.kind for p in parameters.values()}
    named = [
        n
        for n, p in parameters.items()
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if inspect.Parameter.VAR_KEYWORD not in kinds:
        if "vocab_size" not in parameters:
            raise SettingsError(
                f"model.{TARGET_KEY}: {path} takes no vocab_size; storyqa calls it with "
                "vocab_size=<number of token ids> (see docs/models.md)"
            )
        for key in arguments:
            if key not in parameters:
                takes = sorted(set(named) - set(DATA_ARGUMENTS))
                raise SettingsError(
                    f"model.{key}: {path} takes no argument {key!r}; it takes {takes}"
                )
    for name, parameter in parameters.items():
        required = parameter.default is inspect.Parameter.empty and parameter.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        )
        if required and name not in arguments and name not in DATA_ARGUMENTS:
            raise SettingsError(f"model.{name}: required by {path}; give model.{name}=<value>")
    return dict(arguments)


@dataclass(frozen=True)
class Hyperparams:
    """A named model: the callable that builds it, its arguments, and how it is trained.

    Build one with :meth:`from_mapping` (a model config) or :meth:`of` (a built-in network),
    which check the target and its arguments. Constructed directly with no ``target``, it
    describes a model built outside storyqa (passed to ``trainer.train`` as an object): it
    trains and evaluates, but commands that rebuild a run's model from its config cannot.

    Example:
        >>> hp = Hyperparams("my_gru", "lightning", training=TrainingSettings(lr=3e-3))
        >>> hp.describe()["_target_"] is None, hp.training.lr
        (True, 0.003)

    Attributes:
        name: The model's name (e.g. the preset, ``transformer_paper``), used in run ids.
        framework: The trainer it needs: ``lightning`` (a ``torch.nn.Module``) or ``keras``.
        target: The dotted name of the callable that builds the network, or ``None``.
        arguments: Its constructor arguments (with the defaults of its ``Settings``, if any).
        training: The training settings.
    """

    KEY_PREFIX: ClassVar[str] = "model"

    name: str
    framework: Framework
    target: str | None = None
    arguments: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    training: TrainingSettings = dataclasses.field(default_factory=TrainingSettings)

    def __post_init__(self) -> None:
        if self.framework not in FRAMEWORKS:
            raise SettingsError(
                f"model.framework: {self.framework!r} is not one of {list(FRAMEWORKS)}"
            )
        if not isinstance(self.name, str) or not self.name:
            raise SettingsError(f"model.name: must be a non-empty text, got {self.name!r}")

    @classmethod
    def of(cls, network: str, name: str | None = None, **values: Any) -> Hyperparams:
        """A built-in network (``transformer``, ``entity_memory``, ``lstm``) with ``values``
        (training keys or arguments) set.

        Raises:
            SettingsError: Unknown network or key, or a bad value, naming the key.
        """
        if network not in BUILT_IN:
            raise SettingsError(f"model: unknown network {network!r}; one of {list(BUILT_IN)}")
        built_in = BUILT_IN[network]
        return cls.from_mapping(
            {
                **values,
                TARGET_KEY: built_in.target,
                "framework": built_in.framework,
                "name": name or network,
            }
        )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], framework: str | None = None) -> Hyperparams:
        """Read a flat model config (:meth:`describe`'s form) and check it.

        Without ``_target_``, an ``architecture`` key (run configs written before
        ``_target_`` existed) or ``framework`` alone picks a built-in network.

        Raises:
            SettingsError: Unknown framework, a target that cannot be imported, or an unknown,
                missing or bad argument or training key, naming the key.
        """
        values = dict(values)
        framework = values.pop("framework", framework)
        architecture = values.pop("architecture", None)
        if TARGET_KEY in values and values[TARGET_KEY] is None:
            raise SettingsError(
                f"model.{TARGET_KEY}: this model was built outside storyqa (its config names "
                "no callable), so it cannot be rebuilt from the config; build it in Python and "
                "use the trainer's load_checkpoint and evaluate"
            )
        target_path = values.pop(TARGET_KEY, None)
        if target_path is None:
            target_path, framework = _built_in(architecture, framework)
        if framework not in FRAMEWORKS:
            raise SettingsError(f"model.framework: {framework!r} is not one of {list(FRAMEWORKS)}")
        name = values.pop("name", None) or str(target_path).rsplit(".", 1)[-1].lower()
        training_keys = set(TrainingSettings.keys())
        training = TrainingSettings.from_mapping(
            {k: v for k, v in values.items() if k in training_keys}
        )
        _check_built_in_framework(target_path, framework)
        arguments = {k: v for k, v in values.items() if k not in training_keys}
        return cls(
            name=str(name),
            framework=cast(Framework, framework),
            target=target_path,
            arguments=check_arguments(target_path, arguments),
            training=training,
        )

    def settings(self) -> ModelSettings | None:
        """The network's checked ``Settings`` when its target names a settings class (storyqa's
        own are read without importing the network), else ``None``.

        Example:
            >>> Hyperparams.of("entity_memory").settings().max_sentence_tokens
            16
        """
        if self.target is None:
            return None
        built_in = next((b for b in BUILT_IN.values() if b.target == self.target), None)
        settings = (
            built_in.settings if built_in else getattr(import_target(self.target), "Settings", None)
        )
        if isinstance(settings, type) and issubclass(settings, ModelSettings):
            return settings.from_mapping(self.arguments)
        return None

    def describe(self) -> dict[str, Any]:
        """The flat model config: ``_target_``, ``framework``, ``name``, the training keys and
        the arguments (what Hydra, manifests and trackers record; :meth:`from_mapping` reads
        it back)."""
        return {TARGET_KEY: self.target, "framework": self.framework, **self.to_dict()}

    def to_dict(self) -> dict[str, Any]:
        """``name``, every training key and every argument, flat (JSON- and YAML-ready)."""
        return {"name": self.name, **self.training.to_dict(), **self.arguments}

    def replace(self, **changes: Any) -> Hyperparams:
        """A checked copy with some keys (training keys or arguments) changed.

        Raises:
            SettingsError: An unknown key or a bad value, naming the key.
        """
        return Hyperparams.from_mapping({**self.describe(), **changes})

    def build(self, vocab_size: int, tokens: Sequence[str] | None = None) -> Any:
        """A fresh network: the target called with the arguments, ``vocab_size``, and
        ``tokens`` when it takes them.

        Raises:
            SettingsError: ``tokens`` is needed but not given.
            Exception: Whatever the target raises (the trainer reports it).
        """
        if self.target is None:
            raise SettingsError(
                f"model.{TARGET_KEY}: none given for model {self.name!r}; build the model "
                "yourself and pass it to the trainer"
            )
        target = import_target(self.target)
        parameters = _parameters(target)
        data: dict[str, Any] = {"vocab_size": vocab_size}
        if "tokens" in parameters:
            if tokens is None:
                raise SettingsError(
                    f"model.{TARGET_KEY}: {self.target} reads the vocabulary: build it with "
                    "tokens=dataset.vocab.tokens"
                )
            data["tokens"] = tuple(tokens)
        return target(**self.arguments, **data)


def _check_built_in_framework(target: str, framework: str) -> None:
    """Refuse a built-in network paired with the other framework (known without building it)."""
    for name, built_in in BUILT_IN.items():
        if target == built_in.target and framework != built_in.framework:
            other = next(n for n, b in BUILT_IN.items() if b.framework == framework)
            raise SettingsError(
                f"model.framework: {name} ({target}) is trained by the {built_in.framework} "
                f"trainer, not {framework}; pick a {framework} model (e.g. model={other})"
            )


def _built_in(architecture: str | None, framework: str | None) -> tuple[str, str | None]:
    """The target of a built-in network named by ``architecture``, or the first one of
    ``framework``."""
    if architecture is None:
        for built_in in BUILT_IN.values():
            if framework == built_in.framework:
                return built_in.target, framework
        if framework in FRAMEWORKS or framework is None:
            raise SettingsError(
                f"model.{TARGET_KEY}: required; give the callable that builds the model "
                "(e.g. model=transformer, or a model config with _target_)"
            )
        raise SettingsError(f"model.framework: {framework!r} is not one of {list(FRAMEWORKS)}")
    if architecture not in BUILT_IN:
        raise SettingsError(f"model.architecture: {architecture!r} is not one of {list(BUILT_IN)}")
    built_in = BUILT_IN[architecture]
    if framework is not None and framework != built_in.framework:
        raise SettingsError(
            f"model.architecture: {architecture} is trained by the {built_in.framework} "
            f"trainer, not {framework}"
        )
    return built_in.target, built_in.framework
