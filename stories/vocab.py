"""Word-level vocabulary, built from the training split only.

Text is lower-cased and punctuation is split off as its own token, so ``"Ava walks north."``
becomes ``["ava", "walks", "north", "."]``. Ids 0-3 are reserved.

Example:
    >>> vocab = Vocabulary.build(["Ava walks north. Ben follows Ava."])
    >>> vocab.encode("Ben walks north.")
    [6, 9, 8, 4]
    >>> vocab.encode("Zed walks.")[0] == UNK_ID
    True

A run's vocabulary is its training split's (saved as the run's ``vocab.json``), so stories from
elsewhere may hold words it never saw; :func:`unknown_words` finds them, row by row, before a
model reads them all as the one ``[UNK]`` token.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

PAD: Final = "[PAD]"
UNK: Final = "[UNK]"
CLS: Final = "[CLS]"
SEP: Final = "[SEP]"
RESERVED: Final[tuple[str, ...]] = (PAD, UNK, CLS, SEP)
PAD_ID: Final = 0
UNK_ID: Final = 1
CLS_ID: Final = 2
SEP_ID: Final = 3

TOKEN_PATTERN: Final = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lower-case ``text`` and split it into words and single punctuation marks.

    Example:
        >>> tokenize("Is Ava going north?")
        ['is', 'ava', 'going', 'north', '?']
    """
    return TOKEN_PATTERN.findall(text.lower())


@dataclass(frozen=True)
class Vocabulary:
    """An ordered token list; a token's id is its position.

    Attributes:
        tokens: Reserved tokens first, then the corpus tokens sorted alphabetically.
    """

    tokens: tuple[str, ...]
    _ids: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.tokens[: len(RESERVED)] != RESERVED:
            raise ValueError(f"a vocabulary must start with the reserved tokens {RESERVED}")
        object.__setattr__(self, "_ids", {token: i for i, token in enumerate(self.tokens)})

    @classmethod
    def build(cls, texts: Iterable[str]) -> Vocabulary:
        """Collect every token of ``texts`` (deterministic: sorted, reserved first)."""
        seen: set[str] = set()
        for text in texts:
            seen.update(tokenize(text))
        return cls.from_tokens(seen)

    @classmethod
    def from_tokens(cls, tokens: Iterable[str]) -> Vocabulary:
        """The vocabulary of a set of tokens (as :meth:`build` makes it from their texts)."""
        return cls(RESERVED + tuple(sorted(set(tokens).difference(RESERVED))))

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._ids

    @property
    def hash(self) -> str:
        """sha256 of the token list: encoded arrays are cached under it."""
        return hashlib.sha256("\n".join(self.tokens).encode()).hexdigest()

    def id_of(self, token: str) -> int:
        """The id of ``token``, or ``UNK_ID``."""
        return self._ids.get(token, UNK_ID)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (unknown tokens map to ``UNK_ID``)."""
        ids = self._ids
        return [ids.get(token, UNK_ID) for token in tokenize(text)]

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Tokens of ``ids``, padding dropped."""
        return [self.tokens[i] for i in ids if i != PAD_ID]

    def save(self, path: Path) -> None:
        """Write the token list as JSON."""
        path.write_text(
            json.dumps({"tokens": list(self.tokens)}, indent=0) + "\n", encoding="utf-8"
        )

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`."""
        return cls(tuple(json.loads(path.read_text(encoding="utf-8"))["tokens"]))


@dataclass(frozen=True)
class UnknownWords:
    """Words of some texts that a vocabulary does not have, and the rows they are on.

    Attributes:
        rows: Word -> the positions (from 0) of the texts it is in; words in the order they
            first appear.
        occurrences: How often unknown words occur, in all.
    """

    rows: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    occurrences: int = 0

    def __bool__(self) -> bool:
        return bool(self.rows)

    @property
    def words(self) -> tuple[str, ...]:
        """The unknown words, in the order they first appear."""
        return tuple(self.rows)

    @property
    def row_count(self) -> int:
        """How many texts hold at least one unknown word."""
        return len({row for rows in self.rows.values() for row in rows})

    def describe(self, max_words: int = 5, max_rows: int = 5) -> str:
        """Each word with its rows, counted from 1: ``'zoë' (rows 1, 2), 'west' (row 2)``;
        longer lists end with how many more there are.

        Example:
            >>> UnknownWords({"zoë": (0, 1, 2), "max": (4,)}).describe(max_rows=2)
            "'zoë' (rows 1, 2 and 1 more), 'max' (row 5)"
        """
        parts = [
            f"{word!r} ({_rows_text(rows, max_rows)})"
            for word, rows in list(self.rows.items())[:max_words]
        ]
        left = len(self.rows) - max_words
        return ", ".join(parts) + (f" and {left} more words" if left > 0 else "")


def _rows_text(rows: Sequence[int], limit: int) -> str:
    shown = ", ".join(str(row + 1) for row in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def unknown_words(texts: Iterable[str], vocab: Vocabulary) -> UnknownWords:
    """The words of ``texts`` (one text per row, tokenized as :meth:`Vocabulary.encode` does)
    that ``vocab`` does not have, each with the rows it is on.

    Example:
        >>> vocab = Vocabulary.build(["Ava walks north."])
        >>> found = unknown_words(["Zoë walks north.", "Ava walks west. Zoë too."], vocab)
        >>> found.describe(), found.occurrences, found.row_count
        ("'zoë' (rows 1, 2), 'west' (row 2), 'too' (row 2)", 4, 2)
    """
    rows: dict[str, list[int]] = {}
    occurrences = 0
    for row, text in enumerate(texts):
        for token in tokenize(text):
            if token in vocab:
                continue
            occurrences += 1
            where = rows.setdefault(token, [])
            if not where or where[-1] != row:
                where.append(row)
    return UnknownWords({word: tuple(found) for word, found in rows.items()}, occurrences)
