"""An answer checker written independently of the generator.

It parses story text with its own regular expressions and re-simulates it with compass vectors
(not the generator's modular arithmetic), so a bug in either shows up as a disagreement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME = r"([A-Z][a-z]+)"
INTRO = re.compile(rf"^{NAME} walks (north|east|south|west)$")
FOLLOWS = re.compile(rf"^{NAME} follows {NAME}$")
OPPOSITE = re.compile(rf"^{NAME} goes in the opposite direction of {NAME}$")
TURNS = re.compile(rf"^{NAME} turns (left|right|around)$")
QUESTION = re.compile(rf"^Is {NAME} going in the same direction as {NAME}\?$")

VECTORS = {"north": (0, 1), "east": (1, 0), "south": (0, -1), "west": (-1, 0)}


def _turn(vector: tuple[int, int], how: str) -> tuple[int, int]:
    x, y = vector
    if how == "right":  # clockwise: north -> east
        return (y, -x)
    if how == "left":
        return (-y, x)
    return (-x, -y)


@dataclass
class ParsedStory:
    actors: list[str]
    initial: dict[str, str]
    events: list[tuple[str, ...]]
    final: dict[str, tuple[int, int]]


def parse_and_simulate(story: str) -> ParsedStory:
    """Parse ``story`` (raising AssertionError on any grammar violation) and simulate it."""
    assert story.endswith("."), story
    assert "  " not in story, story
    sentences = story[:-1].split(". ")
    actors: list[str] = []
    initial: dict[str, str] = {}
    state: dict[str, tuple[int, int]] = {}
    events: list[tuple[str, ...]] = []
    for sentence in sentences:
        if match := INTRO.match(sentence):
            name, direction = match.groups()
            assert not events, f"introduction after an event: {sentence!r}"
            assert name not in state, f"{name} introduced twice"
            actors.append(name)
            initial[name] = direction
            state[name] = VECTORS[direction]
            continue
        if match := FOLLOWS.match(sentence):
            x, y = match.groups()
            assert x != y
            state[x] = state[y]
            events.append(("follows", x, y))
        elif match := OPPOSITE.match(sentence):
            x, y = match.groups()
            assert x != y
            state[x] = (-state[y][0], -state[y][1])
            events.append(("opposite", x, y))
        elif match := TURNS.match(sentence):
            x, how = match.groups()
            state[x] = _turn(state[x], how)
            events.append(("turn", x, how))
        else:
            raise AssertionError(f"sentence outside the grammar: {sentence!r}")
        assert all(name in initial for name in events[-1][1:] if name[0].isupper()), sentence
    return ParsedStory(actors, initial, events, dict(state))


def expected_answer(story: str, question: str) -> str:
    """``yes``/``no`` from the text alone."""
    parsed = parse_and_simulate(story)
    match = QUESTION.match(question)
    assert match, f"question outside the grammar: {question!r}"
    a, b = match.groups()
    assert a != b and a in parsed.final and b in parsed.final, question
    return "yes" if parsed.final[a] == parsed.final[b] else "no"
