"""Word-level vocabulary, built from the training split only.

Text is lower-cased and punctuation is split off as its own token, so ``"Ava walks north."``
becomes ``["ava", "walks", "north", "."]``. Ids 0-3 are reserved.

Example:
    >>> vocab = Vocabulary.build(["Ava walks north. Ben follows Ava."])
    >>> vocab.encode("Ben walks north.")
    [6, 9, 8, 4]
    >>> vocab.encode("Zed walks.")[0] == UNK_ID
    True
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
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
        seen.difference_update(RESERVED)
        return cls(RESERVED + tuple(sorted(seen)))

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
