"""The names of the dual-encoder LSTM's two inputs (framework-free, so the Keras trainer's
batching can name them without building a model)."""

from __future__ import annotations

from typing import Final

STORY_INPUT: Final = "story"
QUESTION_INPUT: Final = "question"
