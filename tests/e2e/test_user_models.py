"""A user's own models, kept outside the package, go through the command line like the
built-in ones: a sweep over a PyTorch and a Keras model and a built-in one, then evaluate,
compare, diagnose and resume, with the same tracker names as a built-in run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

#: A user's module, as docs/models.md shows it (sizes trimmed for speed by the overrides).
MODELS = """
import keras
import torch
from torch import nn


class GRUClassifier(nn.Module):
    def __init__(self, vocab_size: int, hidden: int = 64, embedding_dim: int = 32):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.gru = nn.GRU(embedding_dim, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        # Rows are right-padded: read each row's state after its last real token. (A padded
        # batch keeps PyTorch's fused CPU kernel; packed sequences are many times slower.)
        last = (input_ids != 0).sum(1).clamp(min=1) - 1
        outputs, _ = self.gru(self.embedding(input_ids))
        rows = torch.arange(len(input_ids), device=input_ids.device)
        return self.head(outputs[rows, last]).squeeze(-1)


def keras_gru(vocab_size: int, hidden: int = 64, embedding_dim: int = 32) -> keras.Model:
    input_ids = keras.Input(shape=(None,), dtype="int32", name="input_ids")
    x = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True)(input_ids)
    x = keras.layers.GRU(hidden)(x)
    return keras.Model(input_ids, keras.layers.Dense(1, activation="sigmoid")(x))
"""
CONFIGS = {
    "my_gru": "_target_: my_models.GRUClassifier\nframework: lightning\nhidden: 64\nlr: 3.0e-3\n",
    "my_keras_gru": "_target_: my_models.keras_gru\nframework: keras\nhidden: 64\n",
}
COMMON = ["data.size=tiny", "trainer.progress=false", "tracker.sinks=[jsonl]", "progress=false"]


def run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's folder: ``my_models.py`` and ``my_conf/model/*.yaml``, outside the package."""
    root = tmp_path_factory.mktemp("my_project")
    (root / "my_models.py").write_text(MODELS, encoding="utf-8")
    (root / "my_conf" / "model").mkdir(parents=True)
    for name, text in CONFIGS.items():
        (root / "my_conf" / "model" / f"{name}.yaml").write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def sweep(project: Path) -> dict[str, Path]:
    """One ``-m`` sweep: the two user models and the built-in LSTM, 2 epochs each."""
    done = run(
        "train.py",
        "-m",
        "hydra.searchpath=[file://my_conf]",
        "model=my_gru,my_keras_gru,lstm",
        "++model.hidden=8",
        "trainer.max_epochs=2",
        "evaluate_splits=[valid_a,test]",
        *COMMON,
        "paths.output_dir=out",
        cwd=project,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Traceback" not in done.stdout + done.stderr
    runs = {}
    for name in ("my_gru", "my_keras_gru", "lstm"):
        (run_dir,) = (project / "out" / "runs").glob(f"{name}-all_4dir-*")
        runs[name] = run_dir
    return runs


def names(run_dir: Path) -> set[str]:
    """Every tracked name but ``parameters/...`` (each model's own keys), with what differs
    by run masked: framework, file extension, epoch, accuracy and rank in checkpoint names."""
    framework = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["framework"]
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    masked = set()
    for name in {r["name"] for r in map(json.loads, lines)} - {""}:
        if name.startswith("parameters/"):
            continue
        name = re.sub(r"\.(ckpt|weights\.h5)$", ".<ext>", name.replace(framework, "<fw>"))
        name = re.sub(r"epoch=\d{3}", "epoch=<NNN>", name)
        name = re.sub(r"val_acc=\d\.\d{4}", "val_acc=<acc>", name)
        masked.add(re.sub(r"^top_epochs/\d+/", "top_epochs/<rank>/", name))
    return masked


@pytest.mark.slow
def test_user_models_train_like_a_built_in_one(project: Path, sweep: dict[str, Path]) -> None:
    for name, run_dir in sweep.items():
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["status"] == "finished", name
        assert set(manifest["evaluation"]) == {"valid_a", "test"}, name
        assert (run_dir / "report.html").is_file(), name
        assert list((run_dir / "checkpoints").glob("best.*")), name
    gru = json.loads((sweep["my_gru"] / "manifest.json").read_text(encoding="utf-8"))
    assert gru["config"]["model"]["_target_"] == "my_models.GRUClassifier"
    assert gru["config"]["model"]["hidden"] == 8 and gru["framework"] == "lightning"
    assert names(sweep["my_gru"]) == names(sweep["lstm"]) == names(sweep["my_keras_gru"])
    registry = json.loads((project / "out" / "registry.json").read_text(encoding="utf-8"))
    assert {e["run_id"] for e in registry["models"]} >= {p.name for p in sweep.values()}
    (sweep_dir,) = (project / "out" / "multirun").iterdir()
    assert "my_keras_gru" in (sweep_dir / "comparison.csv").read_text(encoding="utf-8")


@pytest.mark.slow
def test_evaluate_compare_diagnose_and_resume_a_user_model(
    project: Path, sweep: dict[str, Path]
) -> None:
    for name in ("my_gru", "my_keras_gru"):
        run_dir = sweep[name]
        evaluated = run("evaluate.py", f"run={run_dir.name}", "splits=[valid_comp]",
                        "paths.output_dir=out", cwd=project)  # fmt: skip
        assert evaluated.returncode == 0, evaluated.stderr[-3000:]
        assert (run_dir / "eval" / "valid_comp" / "evaluation.json").is_file()
        diagnosed = run("diagnose.py", f"run={run_dir.name}", "split=valid_a",
                        "paths.output_dir=out", cwd=project)  # fmt: skip
        assert diagnosed.returncode == 0, diagnosed.stderr[-3000:]
        resumed = run("train.py", f"resume={run_dir}", "trainer.max_epochs=3", "progress=false",
                      cwd=project)  # fmt: skip
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["status"] == "finished" and manifest["epochs_completed"] == 3, name
    compared = run("compare.py", f"runs=[{sweep['my_gru'].name},{sweep['lstm'].name}]",
                   "paths.output_dir=out", cwd=project)  # fmt: skip
    assert compared.returncode == 0, compared.stderr[-3000:]
    assert "Paired test" in compared.stdout
