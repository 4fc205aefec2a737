"""Reading stories back: per-sentence directions agree with the generator's answers."""

from __future__ import annotations

import random

import numpy as np
import pytest

from stories.generator import GeneratorParams, StoryGenerator
from stories.names import ACTOR_NAMES
from stories.semantics import NO_SENTENCE, StoryReadError, sentence_states, state_targets
from stories.vocab import Vocabulary, tokenize


def final_directions(story: str) -> dict[str, int]:
    """Each actor's direction after the story, from the per-sentence states."""
    tokens = tokenize(story)
    subjects = [s.split()[0].lower() for s in story.split(". ")]
    return dict(zip(subjects, sentence_states(tokens), strict=True))


@pytest.mark.parametrize("directions", [2, 4])
@pytest.mark.parametrize("category", ["simple", "deeper", "less_dense", "dense", "superdense"])
def test_replayed_directions_give_the_generators_answer(directions: int, category: str) -> None:
    dense_turns = (("less_dense", 2), ("dense", 1), ("superdense", 0))
    params = GeneratorParams(directions, ACTOR_NAMES, 120, 0.7, 0.5, dense_turns, 1000)
    generator = StoryGenerator(params, random.Random(directions))
    for n in (2, 5, 12, 25):
        for _ in range(20):
            story, question, label, _ = generator.draw(category, n)
            words = question.rstrip("?").split()
            a, b = words[1].lower(), words[-1].lower()
            final = final_directions(story)
            assert int(final[a] == final[b]) == label, (story, question)


def test_sentences_outside_the_language_are_named() -> None:
    with pytest.raises(StoryReadError, match=r"sentence 2 \('ava jumps \.'\) is not a story"):
        sentence_states(tokenize("Ava walks north. Ava jumps."))
    with pytest.raises(StoryReadError, match="uses ben before any sentence"):
        sentence_states(tokenize("Ava walks north. Ava follows Ben."))


def test_state_targets_pad_with_no_sentence_and_name_the_bad_row() -> None:
    stories = ["Ava walks north. Ava turns right.", "Ben walks west."]
    vocab = Vocabulary.build([*stories, "Is Ava going?"])
    width = 16
    rows = [[2, *vocab.encode(s), 3, *vocab.encode("Is Ava going?")] for s in stories]
    ids = np.array([r + [0] * (width - len(r)) for r in rows])
    targets = state_targets(ids, vocab.tokens)
    assert targets.tolist() == [[0, 1], [3, NO_SENTENCE]]
    bad = ids.copy()
    bad[1, 2] = vocab.id_of("turns")  # "ben turns west ."
    with pytest.raises(StoryReadError, match=r"row 1: sentence 1"):
        state_targets(bad, vocab.tokens)
