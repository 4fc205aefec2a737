"""A Keras model's layer table (``model.summary()``, captured) and parameter counts, for the
run's ``artifacts/model/model_summary.txt`` and ``model/...`` fields."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np


class NetworkSummary:
    """Summaries of Keras models."""

    LINE_LENGTH: ClassVar[int] = 100

    @classmethod
    def describe(cls, model: Any) -> str:
        """``model.summary()`` as text (layers, output shapes, parameters); the model's
        ``repr`` when it is not built yet."""
        lines: list[str] = []
        try:
            model.summary(
                line_length=cls.LINE_LENGTH, print_fn=lambda text, **_: lines.append(text)
            )
        except ValueError:  # a subclassed model that has not seen data yet
            return repr(model)
        return "\n".join(line.rstrip("\n") for line in lines)

    @staticmethod
    def parameter_counts(model: Any) -> tuple[int, int]:
        """``(all weights, trainable weights)`` of ``model``, counted in numbers."""

        def count(weights: list[Any]) -> int:
            return int(sum(np.prod(weight.shape) for weight in weights))

        return count(model.weights), count(model.trainable_weights)
