"""The meaning of story sentences: who faces which way after each one.

:func:`sentence_states` re-reads a tokenized story with the generator's rules (see
:mod:`stories.generator`) and gives, for every sentence, the direction its subject faces after
it (0 north, 1 east, 2 south, 3 west). :func:`state_targets` does it for encoded
Transformer inputs; the per-sentence directions are the targets of the entity-memory model's
optional auxiliary state loss.

Example:
    >>> from stories.vocab import tokenize
    >>> sentence_states(tokenize("Ava walks north. Ben follows Ava. Ava turns left."))
    [0, 0, 3]
    >>> sentence_states(tokenize("Ava follows Ben."))
    Traceback (most recent call last):
    ...
    stories.semantics.StoryReadError: sentence 1 ('ava follows ben .') uses ben before any ...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np

from stories.generator import AROUND, DIRECTION_WORDS, TURN_DELTAS, TURN_WORDS
from stories.vocab import PAD_ID, SEP_ID, tokenize

SENTENCE_END: Final = "."
#: Target value of positions that are not sentences (ignored by the loss).
NO_SENTENCE: Final = -1

_DIRECTION: Final = {word: index for index, word in enumerate(DIRECTION_WORDS)}
_TURN: Final = dict(zip(TURN_WORDS, TURN_DELTAS, strict=True))


class StoryReadError(ValueError):
    """A sentence is not one of the story language's forms, or uses an actor too early."""


def sentence_states(tokens: Sequence[str]) -> list[int]:
    """The direction of each sentence's subject after that sentence.

    Args:
        tokens: A tokenized story (:func:`stories.vocab.tokenize`); sentences end with ``.``.

    Raises:
        StoryReadError: A sentence is not ``X walks D``, ``X turns left|right|around``,
            ``X follows Y`` or ``X goes in the opposite direction of Y``, or uses an actor
            whose direction is not known yet.
    """
    return _read(tokens)[0]


def actor_count(story: str) -> int | None:
    """The number of distinct actors of a story in the story language, or ``None`` when it
    does not read as one (a user's story in another wording).

    Example:
        >>> actor_count("Ava walks north. Ben follows Ava. Cy walks east.")
        3
        >>> actor_count("Ava and Ben walk north.") is None
        True
    """
    try:
        states, facing = _read(tokenize(story))
    except StoryReadError:
        return None
    return len(facing) if states else None


def _read(tokens: Sequence[str]) -> tuple[list[int], dict[str, int]]:
    """Each sentence's subject direction, and every actor's last direction."""
    facing: dict[str, int] = {}
    states: list[int] = []
    sentence: list[str] = []
    for token in tokens:
        sentence.append(token)
        if token == SENTENCE_END:
            states.append(_apply(sentence, facing, len(states) + 1))
            sentence = []
    if sentence:
        states.append(_apply(sentence, facing, len(states) + 1))
    return states, facing


def _apply(sentence: list[str], facing: dict[str, int], number: int) -> int:
    words = sentence[:-1] if sentence[-1] == SENTENCE_END else sentence
    subject, rest = (words[0], words[1:]) if words else ("", [])

    def known(actor: str) -> int:
        if actor not in facing:
            raise StoryReadError(
                f"sentence {number} ({' '.join(sentence)!r}) uses {actor} before any sentence "
                f"gives {actor} a direction"
            )
        return facing[actor]

    if len(rest) == 2 and rest[0] == "walks" and rest[1] in _DIRECTION:
        facing[subject] = _DIRECTION[rest[1]]
    elif len(rest) == 2 and rest[0] == "turns" and rest[1] in _TURN:
        facing[subject] = (known(subject) + _TURN[rest[1]]) % 4
    elif len(rest) == 2 and rest[0] == "follows":
        facing[subject] = known(rest[1])
    elif rest[:-1] == ["goes", "in", "the", "opposite", "direction", "of"]:
        facing[subject] = (known(rest[-1]) + AROUND) % 4
    else:
        raise StoryReadError(
            f"sentence {number} ({' '.join(sentence)!r}) is not a story sentence: expected "
            "'X walks D', 'X turns left|right|around', 'X follows Y' or 'X goes in the "
            "opposite direction of Y'"
        )
    return facing[subject]


def state_targets(input_ids: np.ndarray, tokens: Sequence[str]) -> np.ndarray:
    """Per-sentence subject directions of encoded Transformer inputs.

    Args:
        input_ids: ``[N, L]`` rows of ``[CLS] story [SEP] question`` then ``[PAD]``.
        tokens: The vocabulary the ids index, in id order.

    Returns:
        ``int8 [N, S]``: row ``i``'s sentence directions, then :data:`NO_SENTENCE`; ``S`` is
        the most sentences of any row.

    Raises:
        StoryReadError: A story does not read as the story language (naming the row).
    """
    ids = np.asarray(input_ids)
    per_row: list[list[int]] = []
    for row, encoded in enumerate(ids):
        story = encoded[1 : int(np.argmax(encoded == SEP_ID))]
        words = [tokens[i] for i in story if i != PAD_ID]
        try:
            per_row.append(sentence_states(words))
        except StoryReadError as error:
            raise StoryReadError(f"row {row}: {error}") from None
    targets = np.full((len(per_row), max(map(len, per_row), default=0)), NO_SENTENCE, np.int8)
    for row, states in enumerate(per_row):
        targets[row, : len(states)] = states
    return targets
