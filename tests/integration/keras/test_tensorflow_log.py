"""TensorFlow's C++ start-up and run-time log stays off the console of the Keras trainer and of
the command-line entry points, and comes back when the user sets ``TF_CPP_MIN_LOG_LEVEL=0``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trainers.keras.startup_log import LOG_LINE, PREAMBLE

TRAINER = (
    "import numpy as np\n"
    "from trainers import KerasTrainer, Hyperparams, TrainerConfig\n"
    "t = KerasTrainer({run!r}, config=TrainerConfig(progress=False))\n"
    "model = t.build_model(Hyperparams.of('lstm', hidden=4, embedding_dim=4), vocab_size=30)\n"
    "rows = np.array([[5, 6, 0], [7, 0, 0]])\n"
    "print(model.predict_on_batch({{'story': rows, 'question': rows}}).shape)\n"
)
CLI = "import scripts._cli\nimport tensorflow\nprint('imported')\n"


def tensorflow_lines(code: str, level: str | None) -> list[str]:
    """The lines of TensorFlow's C++ log that ``code`` printed, run with ``level`` in
    ``TF_CPP_MIN_LOG_LEVEL`` (``None``: unset)."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")
    }
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    console = (out.stdout + out.stderr).splitlines()
    return [line for line in console if line.startswith(PREAMBLE) or LOG_LINE.match(line)]


def test_tensorflow_logs_nothing_on_the_console_unless_the_user_asks(tmp_path: Path) -> None:
    trainer = TRAINER.format(run=str(tmp_path / "run"))
    asked = tensorflow_lines(trainer, "0")
    if not asked:
        pytest.skip("TensorFlow logs nothing on this machine even at level 0")
    assert any(line.startswith(PREAMBLE) for line in asked)  # from loading its libraries
    assert tensorflow_lines(trainer, None) == []
    assert tensorflow_lines(CLI, None) == []
