"""Dataset configuration: presets, sizes and validation.

A :class:`DatasetConfig` says everything that determines a generated dataset's content (with
the seed). Hydra composes it from ``conf/data/<preset>.yaml``; notebooks build it directly::

    >>> cfg = DatasetConfig.preset("all_2dir", size="tiny")
    >>> cfg.directions, cfg.categories[:2]
    (2, ['simple', 'deeper'])
    >>> cfg.examples_per_cell()["train"]
    20
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, ClassVar, Final

from stories.errors import DatasetConfigError
from stories.names import ACTOR_NAMES

CATEGORIES: Final[tuple[str, ...]] = ("simple", "deeper", "less_dense", "dense", "superdense")
SPLITS: Final[tuple[str, ...]] = ("train", "valid_a", "valid_comp", "test")
DIRECTION_CHOICES: Final[tuple[int, ...]] = (2, 4)

#: Actor (noun) count range of each split, inclusive.
DEFAULT_NOUN_RANGES: Final[Mapping[str, tuple[int, int]]] = {
    "train": (2, 8),
    "valid_a": (2, 8),
    "valid_comp": (9, 20),
    "test": (21, 30),
}

#: Approximate number of examples per split for each size. Each (split, category, noun_count)
#: cell gets an equal, even share (half yes, half no), so totals are rounded to fit.
SIZES: Final[Mapping[str, Mapping[str, int]]] = {
    "tiny": {"train": 700, "valid_a": 140, "valid_comp": 120, "test": 100},
    "default": {"train": 30_000, "valid_a": 1_000, "valid_comp": 1_000, "test": 1_000},
    "paper": {"train": 1_000, "valid_a": 200, "valid_comp": 3_000, "test": 2_500},
    "large": {"train": 80_000, "valid_a": 4_000, "valid_comp": 4_000, "test": 4_000},
}

#: Dense categories draw turns in proportion to the actor count: ``turns = factor * n``.
DENSE_TURN_FACTORS: Final[Mapping[str, int]] = {"less_dense": 2, "dense": 1, "superdense": 0}


def _preset_table() -> dict[str, tuple[int, tuple[str, ...]]]:
    table: dict[str, tuple[int, tuple[str, ...]]] = {}
    for directions in DIRECTION_CHOICES:
        table[f"all_{directions}dir"] = (directions, CATEGORIES)
        for category in CATEGORIES:
            table[f"{category}_{directions}dir"] = (directions, (category,))
    return table


#: Data presets: name -> (directions, categories). ``conf/data/<name>.yaml`` mirrors each one.
PRESETS: Final[Mapping[str, tuple[int, tuple[str, ...]]]] = _preset_table()


def _default_noun_ranges() -> dict[str, list[int]]:
    return {split: list(bounds) for split, bounds in DEFAULT_NOUN_RANGES.items()}


@dataclass
class DatasetConfig:
    """Everything (besides the seed) that determines a generated dataset.

    Attributes:
        name: Dataset name, used in the folder name ``<name>-<size>-<hash8>``.
        directions: 4 (north/east/south/west; turns left/right/around) or 2 (north/south;
            the only turn is around).
        categories: Density categories to generate, a subset of :data:`CATEGORIES`.
        size: One of :data:`SIZES` (``tiny``, ``default``, ``paper``, ``large``).
        split_sizes: Approximate examples per split overriding ``size`` split by split
            (e.g. ``data.split_sizes.train=5000``); ``None`` keeps the size's number.
        noun_ranges: Inclusive actor-count range ``[min, max]`` of each split.
        max_events: Cap on the number of events (sentences after the introductions).
        two_actor_prob: In ``simple``/``deeper``, probability that an event involves two
            actors (``follows``/``opposite``) rather than a turn.
        follow_prob: Probability that a two-actor event is ``follows`` (else ``opposite``).
        names: Actor names to draw from; empty means the shipped list of 70 names.
        stall_limit: Consecutive rejected draws after which a cell counts as exhausted (it is
            then filled with what exists, still balanced, and the shortfall is recorded).
        workers: Generation processes; 0 means one per CPU core. Does not change the output.
        path: A folder of the user's own splits (``<split>.jsonl``, ``.csv`` or ``.parquet``,
            or a Hugging Face dataset saved with ``save_to_disk``) to train on instead of a
            generated dataset; the generator's keys are then unused (docs/data.md).
        valid_split: The split whose accuracy picks the best epoch; default ``valid_a``, or
            for a user folder ``valid`` when it has one.
    """

    name: str = "all_4dir"
    directions: int = 4
    categories: list[str] = field(default_factory=lambda: list(CATEGORIES))
    size: str = "default"
    split_sizes: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(SPLITS))
    noun_ranges: dict[str, list[int]] = field(default_factory=_default_noun_ranges)
    max_events: int = 120
    two_actor_prob: float = 0.7
    follow_prob: float = 0.5
    names: list[str] = field(default_factory=list)
    stall_limit: int = 20_000
    workers: int = 0
    path: str | None = None
    valid_split: str | None = None

    #: Fields that do not change the generated content, hence not part of the dataset hash
    #: (a user folder's version is the hash of its files).
    NON_CONTENT_FIELDS: ClassVar[frozenset[str]] = frozenset({"workers", "path", "valid_split"})

    @classmethod
    def preset(cls, preset: str, size: str = "default", **overrides: Any) -> DatasetConfig:
        """Build the config of a named preset (see :data:`PRESETS`)."""
        if preset not in PRESETS:
            raise DatasetConfigError(
                f"data: unknown preset {preset!r}; choose one of {sorted(PRESETS)}"
            )
        directions, categories = PRESETS[preset]
        config = cls(name=preset, directions=directions, categories=list(categories), size=size)
        return config.replace(**overrides)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> DatasetConfig:
        """Build from a plain mapping (e.g. a Hydra ``data`` node), rejecting unknown keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise DatasetConfigError(
                f"data: unknown key(s) {unknown}; valid keys are {sorted(known)}"
            )
        config = cls(**{k: _plain(v) for k, v in values.items()})
        config.validate()
        return config

    def replace(self, **overrides: Any) -> DatasetConfig:
        """A validated copy with some fields changed."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise DatasetConfigError(f"data: unknown key(s) {unknown}")
        config = dataclasses.replace(self, **overrides)
        config.validate()
        return config

    # --- derived values --------------------------------------------------------------

    @property
    def label(self) -> str:
        """The dataset's name in run ids: the user folder's name, else :attr:`name`.

        Example:
            >>> DatasetConfig(path="data/my_stories/").label
            'my_stories'
        """
        if self.path:
            return PurePath(self.path.rstrip("/\\")).name or self.name
        return self.name

    @property
    def actor_names(self) -> tuple[str, ...]:
        """The names actors are drawn from."""
        return tuple(self.names) if self.names else ACTOR_NAMES

    def split_totals(self) -> dict[str, int]:
        """Approximate number of examples requested per split."""
        totals = dict(SIZES[self.size])
        totals.update({split: n for split, n in self.split_sizes.items() if n is not None})
        return totals

    def noun_counts(self, split: str) -> range:
        """The actor counts of ``split``."""
        low, high = self.noun_ranges[split]
        return range(low, high + 1)

    def examples_per_cell(self) -> dict[str, int]:
        """Examples per (category, noun_count) cell of each split: even, at least 2."""
        per_cell = {}
        for split, total in self.split_totals().items():
            cells = len(self.categories) * len(self.noun_counts(split))
            per_cell[split] = 2 * max(1, round(total / cells / 2))
        return per_cell

    def content_dict(self) -> dict[str, Any]:
        """The fields that determine the content, with derived values resolved (hashed)."""
        values = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in self.NON_CONTENT_FIELDS
        }
        values["names"] = list(self.actor_names)
        values["examples_per_cell"] = self.examples_per_cell()
        return values

    # --- validation ------------------------------------------------------------------

    def validate(self) -> None:
        """Raise :class:`DatasetConfigError` naming the first invalid key."""
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise DatasetConfigError(f"data.name: {self.name!r} is not a valid folder name")
        if self.directions not in DIRECTION_CHOICES:
            raise DatasetConfigError(f"data.directions: must be 2 or 4, got {self.directions!r}")
        if not self.categories:
            raise DatasetConfigError("data.categories: at least one category is needed")
        for category in self.categories:
            if category not in CATEGORIES:
                raise DatasetConfigError(
                    f"data.categories: unknown category {category!r}; "
                    f"choose from {list(CATEGORIES)}"
                )
        if len(set(self.categories)) != len(self.categories):
            raise DatasetConfigError(f"data.categories: duplicates in {self.categories}")
        if self.size not in SIZES:
            raise DatasetConfigError(
                f"data.size: unknown size {self.size!r}; choose one of {list(SIZES)}"
            )
        self._validate_splits()
        if not isinstance(self.max_events, int) or self.max_events < 1:
            raise DatasetConfigError(
                f"data.max_events: must be an integer >= 1, got {self.max_events!r}"
            )
        for key in ("two_actor_prob", "follow_prob"):
            value = getattr(self, key)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise DatasetConfigError(
                    f"data.{key}: must be a probability in [0, 1], got {value!r}"
                )
        self._validate_names()
        if not isinstance(self.stall_limit, int) or self.stall_limit < 100:
            raise DatasetConfigError(
                f"data.stall_limit: must be an integer >= 100, got {self.stall_limit!r}"
            )
        if not isinstance(self.workers, int) or self.workers < 0:
            raise DatasetConfigError(
                f"data.workers: must be an integer >= 0 (0 = all cores), got {self.workers!r}"
            )
        for key in ("path", "valid_split"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise DatasetConfigError(f"data.{key}: must be a non-empty string, got {value!r}")

    def _validate_splits(self) -> None:
        if set(self.noun_ranges) != set(SPLITS):
            raise DatasetConfigError(
                f"data.noun_ranges: needs exactly the splits {list(SPLITS)}, "
                f"got {sorted(self.noun_ranges)}"
            )
        for split, bounds in self.noun_ranges.items():
            if len(bounds) != 2 or not all(isinstance(b, int) for b in bounds):
                raise DatasetConfigError(
                    f"data.noun_ranges.{split}: must be [min, max] integers, got {bounds!r}"
                )
            low, high = bounds
            if low < 2:
                raise DatasetConfigError(
                    f"data.noun_ranges.{split}: min must be >= 2 "
                    f"(a question needs two actors), got {low}"
                )
            if low > high:
                raise DatasetConfigError(f"data.noun_ranges.{split}: min {low} > max {high}")
        unknown = sorted(set(self.split_sizes) - set(SPLITS))
        if unknown:
            raise DatasetConfigError(
                f"data.split_sizes: unknown split(s) {unknown}; splits are {list(SPLITS)}"
            )
        for split, total in self.split_totals().items():
            if not isinstance(total, int) or total <= 0:
                raise DatasetConfigError(
                    f"data.split_sizes.{split}: must be a positive integer, got {total!r}"
                )

    def _validate_names(self) -> None:
        names = self.actor_names
        if len(set(names)) != len(names):
            raise DatasetConfigError("data.names: names must be distinct")
        for name in names:
            if not isinstance(name, str) or not name.isalpha() or not name[:1].isupper():
                raise DatasetConfigError(
                    f"data.names: {name!r} is not a single capitalised word of letters"
                )
        most = max(high for _, high in self.noun_ranges.values())
        if most > len(names):
            raise DatasetConfigError(
                f"data.noun_ranges: stories need up to {most} actors but only {len(names)} "
                "names are available; lower the ranges or add data.names"
            )


def _plain(value: Any) -> Any:
    """Turn OmegaConf containers (or any mapping/sequence) into plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
