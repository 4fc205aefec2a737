"""Shared fixtures: random predictions with story-like metadata."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

CATEGORIES = ("simple", "deeper", "less_dense", "dense", "superdense")


@dataclass
class Predictions:
    y_true: np.ndarray
    y_prob: np.ndarray
    metadata: pd.DataFrame
    examples: pd.DataFrame


def make_predictions(n: int, seed: int, noun_counts: range = range(2, 31)) -> Predictions:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, n)
    # Rounded probabilities give many ties, including exact 0.5 values.
    y_prob = np.clip(rng.normal(0.3 + 0.4 * y_true, 0.25), 0.0, 1.0).round(2)
    metadata = pd.DataFrame(
        {
            "category": np.array(CATEGORIES)[rng.integers(0, len(CATEGORIES), n)],
            "noun_count": rng.integers(noun_counts.start, noun_counts.stop, n),
            "directions": rng.choice([2, 4], n),
        }
    )
    examples = pd.DataFrame(
        {
            "story": [f"story {i}" for i in range(n)],
            "question": [f"question {i}" for i in range(n)],
        }
    )
    return Predictions(y_true, y_prob, metadata, examples)


@pytest.fixture(scope="session")
def predictions() -> Predictions:
    """3000 predictions over 5 categories x 29 noun counts (some cells sparse)."""
    return make_predictions(3000, seed=7)


@pytest.fixture(scope="session")
def small() -> Predictions:
    """40 predictions: many (category, noun_count) cells empty, exercising the sparse path."""
    return make_predictions(40, seed=3)


@pytest.fixture(scope="session")
def make() -> Callable[..., Predictions]:
    """``make(n, seed)``: predictions of any size, for tests that need their own."""
    return make_predictions
