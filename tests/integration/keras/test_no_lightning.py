"""The Keras path never imports Lightning (nor PyTorch on the TensorFlow backend)."""

from __future__ import annotations

import subprocess
import sys


def test_keras_trainer_and_model_import_no_lightning(tmp_path) -> None:
    code = (
        "import sys\n"
        "from trainers import KerasTrainer, Hyperparams, TrainerConfig\n"
        f"t = KerasTrainer({str(tmp_path)!r}, config=TrainerConfig(progress=False))\n"
        "t.build_model(Hyperparams.of('lstm', hidden=8), vocab_size=30)\n"
        "import trainers.keras.fit, trainers.keras.tracking, trainers.keras.checkpoint\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'lightning', 'torch'}))"
    )
    env = {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
