"""The generated data obeys the grammar of docs/data.md, checked from the text by an
independent checker."""

from __future__ import annotations

import random
from itertools import pairwise

import pandas as pd
import pytest

from stories.build import plan_tasks
from stories.config import CATEGORIES, DEFAULT_NOUN_RANGES, SPLITS, DatasetConfig
from stories.generator import StoryGenerator
from tests.unit.stories.story_checker import expected_answer, parse_and_simulate


def all_rows(dataset) -> pd.DataFrame:
    return pd.concat([dataset[split] for split in SPLITS], ignore_index=True)


@pytest.mark.parametrize("fixture", ["tiny_4dir", "tiny_2dir"])
def test_every_answer_matches_an_independent_simulation(fixture, request):
    dataset = request.getfixturevalue(fixture)
    rows = all_rows(dataset)
    assert len(rows) > 1000
    for row in rows.itertuples():
        assert expected_answer(row.story, row.question) == row.answer, row.id
        assert row.label == (1 if row.answer == "yes" else 0)


@pytest.mark.parametrize("fixture", ["tiny_4dir", "tiny_2dir"])
def test_rows_describe_their_story(fixture, request):
    dataset = request.getfixturevalue(fixture)
    directions = 4 if fixture == "tiny_4dir" else 2
    for row in all_rows(dataset).itertuples():
        parsed = parse_and_simulate(row.story)
        assert len(parsed.actors) == row.noun_count
        assert len(parsed.events) == row.num_events <= 120
        assert row.directions == directions
        if directions == 2:
            assert set(parsed.initial.values()) <= {"north", "south"}
            assert all(e[2] == "around" for e in parsed.events if e[0] == "turn")


def test_split_noun_ranges_and_ids(tiny_4dir):
    for split in SPLITS:
        frame = tiny_4dir[split]
        low, high = DEFAULT_NOUN_RANGES[split]
        assert set(frame["noun_count"]) == set(range(low, high + 1))
        assert set(frame["split"]) == {split}
        assert frame["id"].is_unique and frame["id"].str.startswith(f"{split}-").all()
        assert set(frame["category"]) == set(CATEGORIES)


@pytest.mark.parametrize("fixture", ["tiny_4dir", "tiny_2dir"])
def test_each_cell_is_exactly_balanced_at_the_requested_size(fixture, request):
    dataset = request.getfixturevalue(fixture)
    per_cell = DatasetConfig(size="tiny").examples_per_cell()
    for split in SPLITS:
        cells = dataset[split].groupby(["category", "noun_count"])["label"].agg(["sum", "size"])
        assert (cells["size"] == per_cell[split]).all(), split
        assert (cells["sum"] * 2 == cells["size"]).all(), split


@pytest.mark.parametrize("fixture", ["tiny_4dir", "tiny_2dir"])
def test_no_story_question_pair_appears_twice_in_the_whole_dataset(fixture, request):
    rows = all_rows(request.getfixturevalue(fixture))
    assert not rows.duplicated(["story", "question"]).any()


def test_every_test_actor_also_appears_in_train(tiny_4dir):
    def actors(frame: pd.DataFrame) -> set[str]:
        return {name for story in frame["story"] for name in parse_and_simulate(story).actors}

    assert actors(tiny_4dir["test"]) <= actors(tiny_4dir["train"])


def _events_by_category(category: str, n: int, draws: int = 300, directions: int = 4):
    config = DatasetConfig(directions=directions, categories=[category], size="tiny")
    params = plan_tasks(config, seed=1)[0].params
    generator = StoryGenerator(params, random.Random(5))
    return [parse_and_simulate(generator.draw(category, n)[0]).events for _ in range(draws)]


@pytest.mark.parametrize(("category", "low", "high"), [("simple", 1, 2), ("deeper", 2, 4)])
def test_iid_categories_event_counts_and_no_immediate_repeat(category, low, high):
    n = 5
    stories = _events_by_category(category, n)
    counts = [len(events) for events in stories]
    assert min(counts) >= low * n and max(counts) <= high * n
    assert len(set(counts)) > (high - low) * n // 2  # the range is actually covered
    two_actor = [e for events in stories for e in events if e[0] != "turn"]
    share = len(two_actor) / sum(counts)
    assert 0.6 < share < 0.8  # p = 0.7
    follows = sum(e[0] == "follows" for e in two_actor) / len(two_actor)
    assert 0.4 < follows < 0.6
    for events in stories:
        for first, second in pairwise(events):
            assert not (first == second and first[0] != "turn"), events


@pytest.mark.parametrize(
    ("category", "turn_factor"), [("less_dense", 2), ("dense", 1), ("superdense", 0)]
)
def test_pool_categories_use_each_pair_at_most_once(category, turn_factor):
    n = 6
    pool = n * (n - 1) // 2 + turn_factor * n
    stories = _events_by_category(category, n)
    for events in stories:
        assert min(n, pool) <= len(events) <= pool
        pairs = [frozenset(e[1:]) for e in events if e[0] != "turn"]
        assert len(pairs) == len(set(pairs))
        turns = [e for e in events if e[0] == "turn"]
        assert len(turns) <= turn_factor * n
    if turn_factor == 0:
        assert all(e[0] != "turn" for events in stories for e in events)


def test_max_events_caps_every_category():
    config = DatasetConfig(max_events=10, size="tiny")
    params = plan_tasks(config, seed=1)[0].params
    generator = StoryGenerator(params, random.Random(3))
    for category in CATEGORIES:
        for _ in range(50):
            _, _, _, num_events = generator.draw(category, 12)
            assert num_events <= 10
