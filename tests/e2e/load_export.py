"""Load an exported storyqa model with its format's own runtime, without storyqa, and print the
probability of ``yes`` for each row of a JSON file (a list of ``{"story", "question"}``).

Run as a script (``python tests/e2e/load_export.py <format> <folder> <rows.json>``); it imports
no storyqa module and checks at the end that none was imported. It tokenises as the model card
says: lower-case, ``\\w+|[^\\w\\s]``, ids from ``vocab.json``, 1 for unknown words.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

STORYQA = ("stories", "trainers", "models", "metrics", "scripts")


def encode(text: str, ids: dict[str, int]) -> list[int]:
    return [ids.get(token, 1) for token in re.findall(r"\w+|[^\w\s]", text.lower())]


def padded(rows: list[list[int]], dtype: type) -> np.ndarray:
    out = np.zeros((len(rows), max(len(r) for r in rows)), dtype=dtype)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def main(name: str, folder: Path, rows_file: Path) -> None:
    tokens = json.loads((folder / "vocab.json").read_text())["tokens"]
    ids = {token: i for i, token in enumerate(tokens)}
    rows = json.loads(rows_file.read_text())
    stories = [encode(r["story"], ids) for r in rows]
    questions = [encode(r["question"], ids) for r in rows]
    joined = [[2, *s, 3, *q] for s, q in zip(stories, questions, strict=True)]
    if name == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(folder / "model.onnx"))
        out = session.run(None, {"input_ids": padded(joined, np.int64)})[0]
    elif name == "torchscript":
        import torch

        model = torch.jit.load(str(folder / "model.pt"))
        with torch.inference_mode():
            out = model(torch.from_numpy(padded(joined, np.int64))).numpy()
    elif name == "keras":
        import keras

        model = keras.saving.load_model(str(folder / "model.keras"), compile=False)
        inputs = {"story": padded(stories, np.int32), "question": padded(questions, np.int32)}
        out = np.asarray(model.predict_on_batch(inputs))
    else:
        import tensorflow as tf

        model = tf.saved_model.load(str(folder / "saved_model"))
        inputs = {"story": padded(stories, np.int32), "question": padded(questions, np.int32)}
        out = model.serve(inputs).numpy()
    imported = sorted({m.split(".")[0] for m in sys.modules} & set(STORYQA))
    print(json.dumps({"probabilities": np.asarray(out).reshape(-1).tolist(), "storyqa": imported}))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
