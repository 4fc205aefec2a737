"""Validated, frozen settings dataclasses built from plain mappings (e.g. a Hydra config group).

:class:`Settings` is the base of each model's architecture settings (:class:`ModelSettings`,
defined next to each model: :mod:`models.transformer.config`, ...) and of the trainers'
settings (``trainers.config``). Every field is checked against its annotation
(``int``, ``float``, ``bool``, ``str``, ``X | None``, ``int | str``) and against the rules a
subclass states in :meth:`Settings.check`; every error names the dotted key the user wrote
(``trainer.max_epochs``, ``model.lr``) and raises :class:`SettingsError`.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Demo(Settings):
    ...     KEY_PREFIX = "demo"
    ...     steps: int = 3
    >>> Demo.from_mapping({"steps": 5}).steps
    5
    >>> Demo.from_mapping({"step": 5})
    Traceback (most recent call last):
    ...
    models.settings.SettingsError: demo.step: unknown key; valid keys are ['steps']
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Literal, TypeVar

SettingsT = TypeVar("SettingsT", bound="Settings")
#: The trainer a model needs: ``lightning`` (a PyTorch ``nn.Module``) or ``keras``.
Framework = Literal["lightning", "keras"]
#: Every framework, in the order configs list them.
FRAMEWORKS: tuple[Framework, ...] = ("lightning", "keras")


class SettingsError(ValueError):
    """A setting is unknown or has a bad value; the message starts with the dotted key."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of the frozen settings dataclasses.

    Subclasses set :attr:`KEY_PREFIX` (the config group, e.g. ``trainer``) and may override
    :meth:`check` for ranges and choices.
    """

    KEY_PREFIX: ClassVar[str] = "settings"

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            coerced = _coerce(value, hints[item.name])
            if coerced is _INVALID:
                self.fail(item.name, f"expected {_describe(hints[item.name])}, got {value!r}")
            object.__setattr__(self, item.name, coerced)
        self.check()

    def check(self) -> None:
        """Check ranges and choices; call :meth:`fail` on a bad value."""

    @classmethod
    def fail(cls, key: str, message: str) -> typing.NoReturn:
        """Raise :class:`SettingsError` for ``<KEY_PREFIX>.<key>``."""
        raise SettingsError(f"{cls.KEY_PREFIX}.{key}: {message}")

    def require_positive(self, *names: str) -> None:
        """Fail unless each named field is > 0 (``None`` allowed)."""
        for name in names:
            value = getattr(self, name)
            if value is not None and value <= 0:
                self.fail(name, f"must be > 0, got {value!r}")

    def require_non_negative(self, *names: str) -> None:
        """Fail unless each named field is >= 0."""
        for name in names:
            value = getattr(self, name)
            if value < 0:
                self.fail(name, f"must be >= 0, got {value!r}")

    def require_choice(self, name: str, choices: Iterable[object]) -> None:
        """Fail unless the named field is one of ``choices``."""
        allowed = list(choices)
        if getattr(self, name) not in allowed:
            self.fail(name, f"{getattr(self, name)!r} is not one of {allowed}")

    @classmethod
    def keys(cls) -> list[str]:
        """The valid keys, sorted."""
        return sorted(item.name for item in dataclasses.fields(cls))

    @classmethod
    def from_mapping(
        cls: type[SettingsT], mapping: Mapping[str, Any], ignore: Iterable[str] = ()
    ) -> SettingsT:
        """Build from a plain mapping, rejecting unknown keys.

        Args:
            mapping: Field values by name (missing fields keep their defaults).
            ignore: Keys that may be present and are skipped (e.g. ``framework``).

        Raises:
            SettingsError: On an unknown key or a bad value, naming the key.
        """
        skipped = set(ignore)
        known = set(cls.keys())
        for key in mapping:
            if key not in known and key not in skipped:
                cls.fail(str(key), f"unknown key; valid keys are {sorted(known)}")
        return cls(**{k: v for k, v in mapping.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        """Plain ``{field: value}`` (JSON- and YAML-ready)."""
        return {item.name: getattr(self, item.name) for item in dataclasses.fields(self)}

    def replace(self: SettingsT, **changes: Any) -> SettingsT:
        """A validated copy with some fields changed."""
        unknown = sorted(set(changes) - set(self.keys()))
        if unknown:
            self.fail(unknown[0], f"unknown key; valid keys are {self.keys()}")
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class ModelSettings(Settings):
    """The architecture settings of one network (the ``model.*`` keys that shape it), with
    their defaults and checks.

    A network class (or function) that takes its settings as keyword arguments names its
    settings class as its ``Settings`` attribute; storyqa then checks the ``model.*`` values
    against it before building any data (see ``docs/models.md``). Training settings (learning
    rate, batch size, schedule) are not here: they are the trainers', the same keys for every
    model.
    """

    KEY_PREFIX: ClassVar[str] = "model"

    def input_problem(self, story: Sequence[str], question: Sequence[str]) -> str | None:
        """What this network cannot read in one example, or ``None``: storyqa checks every
        row of a user's dataset with it before training. Default: no limit.

        Args:
            story: The story's tokens (:func:`stories.vocab.tokenize`).
            question: The question's tokens.
        """
        return None


class _Invalid:
    pass


_INVALID: Any = _Invalid()


def _options(annotation: Any) -> tuple[Any, ...]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return typing.get_args(annotation)
    return (annotation,)


def _coerce(value: Any, annotation: Any) -> Any:
    """``value`` if it fits ``annotation`` (an int is a fine float), else ``_INVALID``."""
    for option in _options(annotation):
        if option is type(None):
            if value is None:
                return None
        elif option is bool:
            if isinstance(value, bool):
                return value
        elif option is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif option is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        elif option is str:
            if isinstance(value, str):
                return value
        elif isinstance(option, type) and isinstance(value, option):
            return value
    return _INVALID


def _describe(annotation: Any) -> str:
    names = []
    for option in _options(annotation):
        names.append("null" if option is type(None) else getattr(option, "__name__", str(option)))
    return " or ".join(names)


__all__ = ["FRAMEWORKS", "Framework", "ModelSettings", "Settings", "SettingsError"]
