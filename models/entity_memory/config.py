"""``EntityMemoryConfig``: the settings of the entity-memory network, with their defaults and
checks (framework-free: reading or checking them imports no PyTorch).

Example:
    >>> EntityMemoryConfig(d_model=32).max_sentence_tokens
    16
    >>> EntityMemoryConfig(state_loss_weight=-1)
    Traceback (most recent call last):
    ...
    models.settings.SettingsError: model.state_loss_weight: must be >= 0, got -1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from models.settings import ModelSettings


@dataclass(frozen=True)
class EntityMemoryConfig(ModelSettings):
    """The entity-memory network (:class:`~models.entity_memory.network.EntityMemoryNetwork`).

    Attributes:
        d_model: Width of embeddings and memory states.
        max_sentence_tokens: Longest sentence or question, in tokens, the positional
            embeddings cover.
        state_loss_weight: Weight of the auxiliary loss that asks each sentence's new state
            for its subject's direction. The targets are per-sentence ground-truth
            supervision computed by a rule-based reading of the grammar
            (:func:`stories.semantics.sentence_states`); 0 trains on answers alone.
    """

    #: The token that ends a sentence.
    SENTENCE_END: ClassVar[str] = "."
    #: The token that separates the story from the question.
    QUESTION_START: ClassVar[str] = "[SEP]"

    d_model: int = 64
    max_sentence_tokens: int = 16
    state_loss_weight: float = 0.0

    def check(self) -> None:
        self.require_positive("d_model", "max_sentence_tokens")
        self.require_non_negative("state_loss_weight")

    def input_problem(self, story: Sequence[str], question: Sequence[str]) -> str | None:
        """A sentence or question longer than :attr:`max_sentence_tokens`, or ``None``.

        Example:
            >>> config = EntityMemoryConfig(max_sentence_tokens=4)
            >>> config.input_problem(["ava", "walks", "north", "."], ["is", "ava", "?"])
            >>> config.input_problem(["ava", "walks", "far", "north", "."], ["is", "ava"])
            'sentence 1 has 5 tokens, more than model.max_sentence_tokens=4'
        """
        limit = self.max_sentence_tokens
        length, number = 0, 1
        for token in story:
            length += 1
            if length > limit:
                return (
                    f"sentence {number} has {_sentence_length(story, number)} tokens, more "
                    f"than model.max_sentence_tokens={limit}"
                )
            if token == self.SENTENCE_END:
                length, number = 0, number + 1
        if len(question) > limit:
            return (
                f"the question has {len(question)} tokens, more than "
                f"model.max_sentence_tokens={limit}"
            )
        return None

    def check_vocabulary(self, tokens: Sequence[str]) -> None:
        """Fail unless ``tokens`` hold the sentence-end and question-start tokens.

        Raises:
            SettingsError: One is missing, naming the key.
        """
        for name, token in (
            ("sentence_end", self.SENTENCE_END),
            ("question_start", self.QUESTION_START),
        ):
            if token not in tokens:
                self.fail(
                    name,
                    f"{token!r} is not in the vocabulary; the entity memory reads stories of "
                    "sentences ending in it",
                )


def _sentence_length(story: Sequence[str], number: int) -> int:
    """The token count of sentence ``number`` (1-based, its end token included)."""
    count, current = 0, 1
    for token in story:
        if current == number:
            count += 1
        if token == EntityMemoryConfig.SENTENCE_END:
            if current == number:
                return count
            current += 1
    return count
