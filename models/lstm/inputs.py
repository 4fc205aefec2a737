"""The names of the dual-encoder LSTM's inputs and of the metrics compiled into it
(framework-free, so the Keras trainer's batching can name the inputs without building a model).
"""

from __future__ import annotations

from typing import Final

STORY_INPUT: Final = "story"
QUESTION_INPUT: Final = "question"
#: Metric names compiled into the model: accuracy and binary cross-entropy without the
#: regularisation penalty (the ``loss`` Keras logs includes it).
ACCURACY_METRIC: Final = "accuracy"
BCE_METRIC: Final = "bce"
