"""The direction-following story generator (the grammar and categories of docs/data.md).

Stories introduce every actor walking in a random direction, then apply events in text order:

* ``X turns left.`` / ``X turns right.`` / ``X turns around.`` — right is clockwise
  (north -> east -> south -> west), left anticlockwise, around 180 degrees;
* ``X follows Y.`` — X takes Y's *current* direction;
* ``X goes in the opposite direction of Y.`` — X takes the opposite of Y's current direction.

The question ``Is A going in the same direction as B?`` is answered ``yes`` iff the final
directions of A and B are equal. Events are simulated exactly in the order they are printed.

Work is split by actor count: stories with different actor counts can never be equal, so each
:class:`CellTask` group (one noun count, every split and category that uses it) deduplicates on
its own, is seeded from ``(seed, noun_count)`` alone, and the result does not depend on how many
worker processes run the groups. This module uses only the standard library so workers start
fast.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

#: Direction words, indexed clockwise. Two-direction stories use indices 0 and 2 only.
DIRECTION_WORDS: Final[tuple[str, ...]] = ("north", "east", "south", "west")
#: Turn words and their clockwise quarter-turn deltas.
TURN_WORDS: Final[tuple[str, ...]] = ("left", "right", "around")
TURN_DELTAS: Final[tuple[int, ...]] = (3, 1, 2)
AROUND: Final = 2

FOLLOWS: Final = 0
OPPOSITE: Final = 1
TURN: Final = 2

SIMPLE_EVENT_RANGES: Final[dict[str, tuple[int, int]]] = {"simple": (1, 2), "deeper": (2, 4)}
"""Event count of ``simple``/``deeper`` is uniform in ``[lo*n, hi*n]``."""


@dataclass(frozen=True)
class GeneratorParams:
    """The generation parameters a worker needs (plain values, cheap to pickle)."""

    directions: int
    names: tuple[str, ...]
    max_events: int
    two_actor_prob: float
    follow_prob: float
    dense_turn_factors: tuple[tuple[str, int], ...]
    stall_limit: int


@dataclass(frozen=True)
class Cell:
    """One (split, category, noun_count) cell and how many examples it needs (even)."""

    split: str
    category: str
    noun_count: int
    requested: int


@dataclass(frozen=True)
class CellTask:
    """All cells of one noun count, generated in order with one shared dedup set."""

    noun_count: int
    cells: tuple[Cell, ...]
    seed: int
    params: GeneratorParams


@dataclass(frozen=True)
class CellResult:
    """How many draws of each answer one cell accepted, in draw order (``no``, ``yes``).

    The cell's examples are the first :attr:`kept` accepted draws of each answer, alternating
    ``yes``, ``no``, ``yes``, ... (see :func:`generate_cells`).
    """

    cell: Cell
    accepted: tuple[int, int]

    @property
    def kept(self) -> int:
        """Examples kept of each answer: ``min(no, yes)``."""
        return min(self.accepted)

    @property
    def generated(self) -> int:
        """Examples of the cell: ``2 * kept``."""
        return 2 * self.kept

    @property
    def shortfall(self) -> int:
        return self.cell.requested - self.generated


#: Receives each accepted draw of a cell, its answer's label and its record (without ``id``),
#: in draw order.
Accept = Callable[[Cell, int, dict[str, object]], None]


def derive_seed(*parts: object) -> int:
    """A 64-bit seed derived from ``parts`` (stable across processes and Python versions)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


@lru_cache(maxsize=64)
def _pairs(n: int) -> tuple[tuple[int, int], ...]:
    return tuple((i, j) for i in range(n) for j in range(i + 1, n))


class StoryGenerator:
    """Draws stories of one category and actor count from a seeded ``random.Random``.

    Args:
        params: Generation parameters.
        rng: The random source; all draws come from it, in a fixed order.

    Example:
        >>> params = GeneratorParams(4, ("Ava", "Ben", "Cara"), 120, 0.7, 0.5,
        ...                          (("less_dense", 2), ("dense", 1), ("superdense", 0)), 1000)
        >>> generator = StoryGenerator(params, random.Random(0))
        >>> story, question, label, events = generator.draw("simple", 3)
        >>> story.count(" walks ")
        3
    """

    def __init__(self, params: GeneratorParams, rng: random.Random) -> None:
        self.params = params
        self.rng = rng
        self._dense_turns = dict(params.dense_turn_factors)
        self._direction_step = 4 // params.directions  # 1 for four directions, 2 for two

    def draw(self, category: str, n: int) -> tuple[str, str, int, int]:
        """Draw one example: ``(story, question, label, num_events)``."""
        rng = self.rng.random
        names = self.rng.sample(self.params.names, n)
        step = self._direction_step
        count = self.params.directions
        directions = [int(rng() * count) * step for _ in range(n)]
        sentences = [f"{names[i]} walks {DIRECTION_WORDS[d]}." for i, d in enumerate(directions)]
        if category in SIMPLE_EVENT_RANGES:
            events = self._iid_events(category, n)
        else:
            events = self._pool_events(category, n)
        for kind, x, y in events:
            if kind == FOLLOWS:
                directions[x] = directions[y]
                sentences.append(f"{names[x]} follows {names[y]}.")
            elif kind == OPPOSITE:
                directions[x] = (directions[y] + 2) % 4
                sentences.append(f"{names[x]} goes in the opposite direction of {names[y]}.")
            else:
                directions[x] = (directions[x] + TURN_DELTAS[y]) % 4
                sentences.append(f"{names[x]} turns {TURN_WORDS[y]}.")
        a = int(rng() * n)
        b = int(rng() * (n - 1))
        if b >= a:
            b += 1
        question = f"Is {names[a]} going in the same direction as {names[b]}?"
        return " ".join(sentences), question, int(directions[a] == directions[b]), len(events)

    def _turn(self) -> int:
        if self.params.directions == 2:
            return AROUND
        return int(self.rng.random() * 3)

    def _iid_events(self, category: str, n: int) -> list[tuple[int, int, int]]:
        """``simple``/``deeper``: i.i.d. events; no two-actor sentence twice in a row."""
        rng = self.rng.random
        lo_factor, hi_factor = SIMPLE_EVENT_RANGES[category]
        high = min(hi_factor * n, self.params.max_events)
        low = min(lo_factor * n, high)
        count = low + int(rng() * (high - low + 1))
        events: list[tuple[int, int, int]] = []
        previous: tuple[int, int, int] | None = None
        for _ in range(count):
            if rng() < self.params.two_actor_prob:
                while True:
                    x = int(rng() * n)
                    y = int(rng() * (n - 1))
                    if y >= x:
                        y += 1
                    relation = FOLLOWS if rng() < self.params.follow_prob else OPPOSITE
                    event = (relation, x, y)
                    if event != previous:
                        break
            else:
                event = (TURN, int(rng() * n), self._turn())
            events.append(event)
            previous = event
        return events

    def _pool_events(self, category: str, n: int) -> list[tuple[int, int, int]]:
        """Dense categories: every pair once plus ``factor * n`` turns, shuffled, then cut.

        Only the kept prefix of the shuffled pool is materialised: the first ``k`` items of a
        uniform shuffle are a uniform ``k``-sample in random order, and relations, orientations
        and turns are independent per item, so drawing them for kept items alone gives the same
        distribution with far fewer random draws.
        """
        rng = self.rng.random
        pairs = _pairs(n)
        pool_size = len(pairs) + self._dense_turns[category] * n
        limit = min(pool_size, self.params.max_events)
        low = min(n, limit)
        count = low + int(rng() * (limit - low + 1))
        events: list[tuple[int, int, int]] = []
        for index in self.rng.sample(range(pool_size), count):
            if index < len(pairs):
                i, j = pairs[index]
                relation = FOLLOWS if rng() < self.params.follow_prob else OPPOSITE
                events.append((relation, i, j) if rng() < 0.5 else (relation, j, i))
            else:
                events.append((TURN, int(rng() * n), self._turn()))
        return events


def _seen_key(story: str, question: str) -> bytes:
    # A 16-byte digest stands for the pair: a tenth of the memory of the texts, and a collision
    # (which would wrongly reject a new pair) is as likely as guessing a 128-bit key.
    return hashlib.blake2b(f"{story}\n{question}".encode(), digest_size=16).digest()


def generate_cells(task: CellTask, accept: Accept) -> Iterator[CellResult]:
    """Generate every cell of ``task`` by rejection sampling, balanced and without duplicates.

    For each cell, stories are drawn until half the requested examples are ``yes`` and half
    ``no``; a draw whose answer is already full, or whose (story, question) was seen before in
    this noun count, is rejected. After ``stall_limit`` rejections in a row the cell counts as
    exhausted and keeps ``min(yes, no)`` examples of each answer.

    Nothing is held but the seen pairs' digests: each accepted draw goes to ``accept`` at once,
    and each cell's :class:`CellResult` is yielded when the cell is done. The cell's examples
    are its first ``kept`` accepted draws of each answer, paired ``yes``, ``no``, ``yes``, ...
    """
    generator = StoryGenerator(task.params, random.Random(derive_seed(task.seed, task.noun_count)))
    seen: set[bytes] = set()
    for cell in task.cells:
        half = cell.requested // 2
        accepted = [0, 0]
        stalled = 0
        while (accepted[0] < half or accepted[1] < half) and stalled < task.params.stall_limit:
            story, question, label, num_events = generator.draw(cell.category, cell.noun_count)
            key = _seen_key(story, question)
            if accepted[label] >= half or key in seen:
                stalled += 1
                continue
            stalled = 0
            seen.add(key)
            accepted[label] += 1
            accept(
                cell,
                label,
                {
                    "story": story,
                    "question": question,
                    "answer": "yes" if label else "no",
                    "label": label,
                    "category": cell.category,
                    "noun_count": cell.noun_count,
                    "directions": task.params.directions,
                    "num_events": num_events,
                    "split": cell.split,
                },
            )
        yield CellResult(cell, (accepted[0], accepted[1]))
