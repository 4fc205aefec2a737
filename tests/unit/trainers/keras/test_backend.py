"""Backend selection, placement and library versions."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from trainers.keras.backend import BackendError, Placement, use_backend


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown Keras backend"):
        use_backend("theano")


def test_another_running_backend_asks_for_a_new_process() -> None:
    import keras

    other = "jax" if keras.config.backend() != "jax" else "torch"
    with pytest.raises(BackendError, match=r"start a new\s+process"):
        use_backend(other)
    use_backend(keras.config.backend())  # the running one is fine


def test_backend_is_set_before_keras_is_imported() -> None:
    code = (
        "import sys; from trainers.keras.backend import use_backend\n"
        "use_backend('torch'); assert 'keras' not in sys.modules\n"
        "import keras; print(keras.config.backend())"
    )
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "torch"


def test_cpu_trains_in_float32_whatever_was_asked() -> None:
    import keras  # noqa: F401  (the Keras backend must load here)

    for precision in ("auto", "16-mixed", "bf16-mixed", "32"):
        placement = Placement.resolve("cpu", precision)
        assert (placement.device, placement.precision, placement.policy) == (
            "cpu",
            "32",
            "float32",
        )
