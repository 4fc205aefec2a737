"""Training on a user's own data (``data.path``), as a user does it: storyqa's data exported
and trained from its folder ends exactly like the run on the generated version; a user run
resumes, compares, evaluates and predicts like any other; each framework reads each format."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.data_files import write_hf, write_splits
from tests.e2e.test_train_cli import COMMON, SMALL, run

pytestmark = pytest.mark.slow
LSTM = ["model=lstm", *SMALL["lstm"], "trainer.max_epochs=2", "seed=0"]


def train(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = run("train.py", *LSTM, *COMMON, f"paths.output_dir={out}", *args, cwd=out.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The generated tiny version exported to JSONL (``generate_data.py format=jsonl``), an
    LSTM trained on the version and one trained from the export's folder (MLflow on)."""
    root = tmp_path_factory.mktemp("userdata")
    out, export = root / "out", root / "mine"
    done = run(
        "generate_data.py", "data.size=tiny", "progress=false", "format=jsonl", f"out={export}",
        f"paths.output_dir={out}", cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    train(out)
    mlflow_uri = f"sqlite:///{root.as_posix()}/mlflow.db"
    user = train(
        out, f"data.path={export}", "tracker.sinks=[jsonl,mlflow]",
        f"tracker.mlflow_tracking_uri={mlflow_uri}",
    )  # fmt: skip
    (generated,) = (out / "runs").glob("lstm-all_4dir-*")
    (mine,) = (out / "runs").glob("lstm-mine-*")
    return {
        "out": out, "export": export, "generated": generated, "mine": mine,
        "console": user.stdout + user.stderr, "mlflow": mlflow_uri,
    }  # fmt: skip


def test_the_exported_data_trains_to_the_generated_runs_metrics(runs: dict) -> None:
    generated, mine = manifest(runs["generated"]), manifest(runs["mine"])
    assert mine["evaluation"] == generated["evaluation"]  # every split, every metric, exactly
    assert mine["best"] == generated["best"]
    assert mine["dataset"]["split_sizes"] == generated["dataset"]["split_sizes"]
    version = mine["dataset"]["version"]
    assert version.startswith("mine-") and mine["dataset"]["path"] == str(runs["export"])
    console = runs["console"]
    assert f"data: {version} (JSONL files in {runs['export']}); the best epoch is picked on " \
        "valid_a" in console  # fmt: skip
    assert (
        "  train: 700 rows, noun_count given 700, computed from the story 0, unknown 0" in console
    )
    assert "Creating initial MLflow database tables" not in console  # a new store, quietly
    # Breakdowns by category and by noun count, as on generated data.
    for split in ("train", "test"):
        kinds = {
            line.split(",")[0]
            for line in (runs["mine"] / "eval" / split / "breakdown.csv").read_text().splitlines()
        }
        assert {"by_category", "by_noun_count"} <= kinds


def test_the_users_version_is_in_the_registry_and_mlflows_inputs(runs: dict) -> None:
    from mlflow.tracking import MlflowClient

    version = manifest(runs["mine"])["dataset"]["version"]
    registry = json.loads((runs["out"] / "registry.json").read_text())
    (entry,) = [e for e in registry["models"] if e["run_id"] == runs["mine"].name]
    assert entry["dataset"]["version"] == version
    client = MlflowClient(tracking_uri=runs["mlflow"])
    experiment = client.get_experiment_by_name("storyqa")
    (tracked,) = client.search_runs(
        [experiment.experiment_id], "attributes.run_name LIKE 'lstm-mine-%'"
    )
    names = {item.dataset.name for item in tracked.inputs.dataset_inputs}
    assert names == {version}
    # The run's model, a logged model, has every split's metrics on the user's version.
    (model,) = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    linked = {(m.key.split("/")[1], m.dataset_name) for m in model.metrics}
    assert linked == {(split, version) for split in ("train", "valid_a", "valid_comp", "test")}


def test_compare_pairs_only_runs_on_the_same_version(runs: dict) -> None:
    out = runs["out"]
    compared = run(
        "compare.py", f"runs=[{runs['generated']},{runs['mine']}]", f"paths.output_dir={out}",
        cwd=out,
    )  # fmt: skip
    assert compared.returncode == 0, compared.stderr[-3000:]
    assert "Paired test against" not in compared.stdout
    assert "no paired tests between them" in compared.stdout


def test_a_user_run_evaluates_and_predicts_on_its_own_files(runs: dict, tmp_path: Path) -> None:
    out, mine = runs["out"], runs["mine"]
    evaluated = run(
        "evaluate.py", f"run={mine.name}", "splits=[test]", f"paths.output_dir={out}", cwd=out
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    again = json.loads((mine / "eval" / "test" / "evaluation.json").read_text())
    assert again["accuracy"] == manifest(mine)["evaluation"]["test"]["accuracy"]
    predicted = run(
        "predict.py", f"run={mine.name}", f"input={runs['export'] / 'test.jsonl'}",
        f"output={tmp_path / 'predictions.jsonl'}", f"paths.output_dir={out}", cwd=out,
    )  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    rows = (tmp_path / "predictions.jsonl").read_text().splitlines()
    assert len(rows) == manifest(mine)["dataset"]["split_sizes"]["test"]


def test_a_user_run_stopped_by_sigterm_resumes_to_the_same_end(runs: dict, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    args = [*LSTM, *COMMON, f"paths.output_dir={out}", f"data.path={runs['export']}"]
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "scripts" / "train.py"), *args],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.time() + 300
    while not list(out.glob("runs/*/checkpoints/last.*")):
        assert process.poll() is None and time.time() < deadline, "no epoch before the signal"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    (run_dir,) = (out / "runs").iterdir()
    resumed = run("train.py", f"resume={run_dir}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert manifest(run_dir)["evaluation"] == manifest(runs["mine"])["evaluation"]
    assert manifest(run_dir)["resumed_at"]


TINY = {
    "transformer": {"d_model": 16, "nhead": 2, "d_hid": 32, "nlayers": 1},
    "lstm": {"hidden": 8, "embedding_dim": 8},
}
FORMATS = (".jsonl", ".csv", ".parquet", "hf")
#: Each framework (Lightning: the Transformer; Keras: the LSTM) on each format, plus the
#: entity memory and a user's own model (``_target_``).
FRAMEWORK_FORMATS = [
    *[(model, suffix, TINY[model]) for model in TINY for suffix in FORMATS],
    ("entity_memory", "hf", {"d_model": 16}),
    (
        "mean_embedding",
        ".parquet",
        {"_target_": "tests.e2e.user_models.MeanEmbedding", "framework": "lightning", "width": 8},
    ),
]


@pytest.mark.parametrize(
    ("model", "suffix", "settings"),
    FRAMEWORK_FORMATS,
    ids=[f"{m}-{f}" for m, f, _ in FRAMEWORK_FORMATS],
)
def test_each_framework_trains_on_each_format(tiny_4dir, tmp_path, model, suffix, settings):
    from trainers.runs.pipeline import run_pipeline

    folder = tmp_path / "theirs"
    if suffix == "hf":
        write_hf(tiny_4dir, folder)
    else:
        write_splits(tiny_4dir, folder, suffix)
    run_pipeline(
        {
            "model": {"name": model, **settings},
            "data": {"path": str(folder)},
            "trainer": {"max_epochs": 1, "progress": False, "top_k": 1},
            "tracker": {"sinks": ["jsonl"]},
            "output_dir": str(tmp_path / "out"),
            "evaluate_splits": ["test"],
        }
    )
    (run_dir,) = (tmp_path / "out" / "runs").iterdir()
    record = manifest(run_dir)
    assert record["status"] == "finished" and record["model"] == model
    assert record["dataset"]["version"].startswith("theirs-")
    assert set(record["evaluation"]) == {"test"}
    assert (tmp_path / "out" / "datasets" / "user" / record["dataset"]["version"]).is_dir()
