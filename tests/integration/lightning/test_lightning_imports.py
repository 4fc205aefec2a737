"""Training the Transformer never imports TensorFlow or Keras."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

CODE = """
import sys
import numpy as np
from stories import build_dataset
from stories.encoding import TransformerInputs
from trainers import LightningTrainer, TrainerConfig, Hyperparams

ds = build_dataset("all_4dir", size="tiny", seed=0, output_dir=sys.argv[1], progress=False)
rows = np.arange(32)
def cut(data):
    return TransformerInputs(data.input_ids[rows], data.lengths[rows], data.labels[rows])
train, val = cut(ds.encode_transformer("train")), cut(ds.encode_transformer("valid_a"))
meta_t = ds.metadata("train").iloc[rows].reset_index(drop=True)
meta_v = ds.metadata("valid_a").iloc[rows].reset_index(drop=True)
hp = Hyperparams.of("transformer", d_model=16, nhead=2, d_hid=32, nlayers=1, batch_size=16)
config = TrainerConfig(max_epochs=1, progress=False)
trainer = LightningTrainer(sys.argv[2], dataset=ds, config=config)
model = trainer.build_model(hp, len(ds.vocab))
result = trainer.train(model, train, val, meta_t, meta_v, hp)
trainer.evaluate(model, val, meta_v, "valid_a", report=False)
trainer.close()
assert result.best_checkpoint is not None
print(sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
"""


def test_training_with_lightning_never_imports_tensorflow_or_keras(
    tiny_4dir: Any, tmp_path: Path
) -> None:
    root = Path(tiny_4dir.path).parent.parent
    done = subprocess.run(
        [sys.executable, "-c", CODE, str(root), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
