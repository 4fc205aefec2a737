"""The MLflow model of a storyqa run: a DataFrame with ``story`` and ``question`` in,
``probability`` (of ``yes``) and ``answer`` (``yes``/``no``) out.

:class:`StoryQAModel` is an ``mlflow.pyfunc.PythonModel``; its artifact folder holds the
network saved with MLflow's own flavour for its framework (``mlflow.pytorch`` or
``mlflow.keras``), the run's vocabulary and :data:`SETTINGS_FILE` (framework, encoding,
threshold, batch size). It needs only the network's framework and storyqa's ``stories``
package (tokenisation, encoding and the row checks), not the training stack, and predicts as
the trainers do: rows sorted by length, batches cut to their longest row. A row the model
cannot answer (an empty story, an unknown word, a question about an actor the story does not
name) is refused with an ``MlflowException`` naming the row, which ``mlflow models serve``
answers with HTTP 400. The ``allow_unknown_words`` parameter reads unknown words as
``[UNK]`` instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

#: The artifact key of the model's folder.
ARTIFACT: Final = "storyqa"
#: Inside it: the settings, the vocabulary and the framework model.
SETTINGS_FILE: Final = "settings.json"
VOCAB_FILE: Final = "vocab.json"
NETWORK_DIR: Final = "network"
#: The parameter that reads unknown words as ``[UNK]``.
ALLOW_UNKNOWN_PARAM: Final = "allow_unknown_words"


class StoryQAModel(PythonModel):
    """A storyqa run's model as an MLflow python model (see the module)."""

    def load_context(self, context: Any) -> None:
        """Load the settings, the vocabulary and the network from the artifact folder."""
        from stories.vocab import Vocabulary

        folder = Path(context.artifacts[ARTIFACT])
        self.settings = json.loads((folder / SETTINGS_FILE).read_text(encoding="utf-8"))
        self.vocab = Vocabulary.load(folder / VOCAB_FILE)
        self.network = load_network(folder / NETWORK_DIR, self.settings["framework"])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """``probability`` and ``answer`` for each row of ``model_input``.

        Raises:
            mlflow.exceptions.MlflowException: A row the model cannot answer
                (``INVALID_PARAMETER_VALUE``: HTTP 400 when served).
        """
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        from stories.rows import RowError, check_rows

        frame = pd.DataFrame(model_input)
        allow = bool((params or {}).get(ALLOW_UNKNOWN_PARAM, False))
        try:
            for name in ("story", "question"):
                if name not in frame.columns:
                    raise RowError(f"no {name!r} column; give story and question")
            check_rows(
                frame["story"].tolist(),
                frame["question"].tolist(),
                self.vocab,
                allow_unknown_words=allow,
                vocabulary_source=self.settings.get("vocabulary_source", ""),
            )
        except RowError as error:
            message = str(error).replace(
                f"{ALLOW_UNKNOWN_PARAM}=true", f'params {{"{ALLOW_UNKNOWN_PARAM}": true}}'
            )
            raise MlflowException(message, error_code=INVALID_PARAMETER_VALUE) from None
        probabilities = self.probabilities(frame["story"].tolist(), frame["question"].tolist())
        threshold = float(self.settings["threshold"])
        answers = np.where(probabilities > threshold, "yes", "no")
        return pd.DataFrame({"probability": probabilities, "answer": answers})

    def probabilities(self, stories: list[str], questions: list[str]) -> np.ndarray:
        """``float64 [N]``: the probability of ``yes`` of each row, in row order."""
        from trainers.runs.inputs import cut_batch, sorted_batches

        inputs, lengths = encode_rows(stories, questions, self.vocab, self.settings["encoding"])
        out = np.empty(len(stories), dtype=np.float64)
        for rows in sorted_batches(lengths, int(self.settings["batch_size"])):
            batch = cut_batch(inputs, rows)
            out[rows] = run_network(self.network, batch, self.settings["framework"])
        return out


def encode_rows(
    stories: list[str], questions: list[str], vocab: Any, encoding: str
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The rows' ids by input name (``input_ids``, or ``story`` and ``question``) with their
    lengths, as :mod:`stories.encoding` encodes them."""
    from stories.encoding import encode_lstm, encode_transformer

    frame = pd.DataFrame(
        {"story": stories, "question": questions, "label": np.zeros(len(stories), np.int8)}
    )
    if encoding == "lstm":
        lstm = encode_lstm(frame, vocab)
        lengths = np.asarray(lstm.story_lengths, np.int64) + lstm.question_lengths
        return {"story": lstm.story_ids, "question": lstm.question_ids}, lengths
    transformer = encode_transformer(frame, vocab)
    return {"input_ids": transformer.input_ids}, np.asarray(transformer.lengths, np.int64)


def load_network(folder: Path, framework: str) -> Any:
    """The network saved in ``folder`` with MLflow's flavour for ``framework``."""
    if framework == "keras":
        from trainers.keras.startup_log import quiet_tensorflow_start

        quiet_tensorflow_start()
        import mlflow.keras

        return mlflow.keras.load_model(str(folder))
    import mlflow.pytorch

    network = mlflow.pytorch.load_model(str(folder), map_location="cpu")
    network.eval()
    return network


def run_network(network: Any, batch: dict[str, np.ndarray], framework: str) -> np.ndarray:
    """Probabilities of one batch: a Keras model's output, or the sigmoid of a PyTorch
    model's logits."""
    if framework == "keras":
        inputs: Any = batch["input_ids"] if set(batch) == {"input_ids"} else batch
        if isinstance(inputs, dict):
            inputs = {name: ids.astype(np.int32) for name, ids in inputs.items()}
        else:
            inputs = inputs.astype(np.int32)
        return np.asarray(network.predict_on_batch(inputs), dtype=np.float64).reshape(-1)
    import torch

    device = next(network.parameters()).device
    with torch.inference_mode():
        arguments = [torch.from_numpy(ids.astype(np.int64)).to(device) for ids in batch.values()]
        logits = network(*arguments).float()
        return torch.sigmoid(logits).cpu().numpy().astype(np.float64).reshape(-1)
