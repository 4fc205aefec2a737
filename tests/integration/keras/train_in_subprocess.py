"""Train the tiny LSTM for two epochs with a given Keras backend; print a JSON summary.

Usage: python train_in_subprocess.py BACKEND DATASET_DIR RUN_DIR
"""

from __future__ import annotations

import json
import sys

from stories import load_dataset
from trainers import Hyperparams, KerasTrainer, TrainerConfig


def main(backend: str, dataset_dir: str, run_dir: str) -> None:
    ds = load_dataset(dataset_dir)
    config = TrainerConfig(max_epochs=2, top_k=2, progress=False, keras_backend=backend)
    trainer = KerasTrainer(run_dir, dataset=ds, seed=0, config=config, echo=lambda line: None)
    hp = Hyperparams.of("lstm", hidden=8, embedding_dim=8, batch_size=64, dropout=0.2)
    model = trainer.build_model(hp, vocab_size=len(ds.vocab))
    split = {s: (ds.encode_lstm(s), ds.metadata(s)) for s in ("train", "valid_a")}
    result = trainer.train(
        model, split["train"][0], split["valid_a"][0], split["train"][1], split["valid_a"][1], hp
    )
    trainer.load_checkpoint(model, result.best_checkpoint)
    evaluation = trainer.evaluate(model, *split["valid_a"], "valid_a", report=False, save=False)
    trainer.close()
    import keras

    print(
        json.dumps(
            {
                "backend": keras.config.backend(),
                "best_val_accuracy": result.best_val_accuracy,
                "evaluated_accuracy": evaluation.accuracy,
                "lightning_imported": any(m.split(".")[0] == "lightning" for m in sys.modules),
                "torch_imported": "torch" in sys.modules,
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
