"""Sweeps as a user runs them: Hydra's joblib and submitit launchers, the SLURM launcher
config, and the Optuna searches (``hparams_search=``) of ``scripts/train.py``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

#: The quickest full run: a tiny LSTM, one epoch, evaluated on valid_a only.
QUICK = [
    "data.size=tiny",
    "trainer.max_epochs=1",
    "trainer.progress=false",
    "tracker.sinks=[jsonl]",
    "evaluate_splits=[valid_a]",
    "progress=false",
]
TINY_LSTM = ["model=lstm", "model.hidden=8", "model.embedding_dim=8"]


def train(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "train.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def registered(out: Path) -> list[dict]:
    return json.loads((out / "registry.json").read_text())["models"]


def only_sweep(out: Path) -> Path:
    (sweep,) = (out / "multirun").iterdir()
    return sweep


@pytest.mark.slow
def test_joblib_runs_parallel_jobs_that_share_one_dataset(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = train(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "seed=0,1",
        *TINY_LSTM,
        *QUICK,
        f"paths.output_dir={out}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(entry["seed"] for entry in registered(out)) == [0, 1]
    assert len(list((out / "datasets").glob("all_4dir-*"))) == 1  # built once, under a lock
    sweep = only_sweep(out)
    assert (sweep / "comparison.html").is_file() and (sweep / "comparison.csv").is_file()
    assert "lstm-s0" in done.stdout and "lstm-s1" in done.stdout  # the comparison table
    runs = {Path((sweep / str(job) / "run_dir.txt").read_text().strip()) for job in (0, 1)}
    assert runs == set((out / "runs").iterdir())


@pytest.mark.slow
def test_submitit_local_runs_a_job_in_its_own_process(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = train(
        "-m", "hydra/launcher=submitit_local", *TINY_LSTM, *QUICK, f"paths.output_dir={out}",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(registered(out)) == 1
    sweep = only_sweep(out)
    assert (sweep / ".submitit").is_dir() and (sweep / "comparison.html").is_file()


@pytest.mark.slow
def test_optuna_search_registers_every_trial_and_reports_the_best(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = train(
        "-m",
        "hparams_search=lstm_optuna",
        "hydra.sweeper.n_trials=2",
        *QUICK,
        f"paths.output_dir={out}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    entries = registered(out)
    assert len(entries) == 2 and {e["model"] for e in entries} == {"lstm"}
    results = yaml.safe_load((only_sweep(out) / "optimization_results.yaml").read_text())
    assert set(results["best_params"]) == {
        "model.lr",
        "model.batch_size",
        "model.dropout",
        "model.hidden",
        "model.embedding_dim",
    }
    # The objective is the run's best valid_a accuracy.
    assert results["best_value"] == max(e["best"]["val_accuracy"] for e in entries)
    assert "Best trial: valid_a accuracy" in done.stdout and "Best run:" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-m", "hparams_search=transformer_optuna", "model=lstm"],
            "hparams_search=transformer_optuna searches model.d_model, model.d_hid, "
            "model.nlayers, which model=lstm (a keras model) does not have; use "
            "hparams_search=lstm_optuna",
        ),
        (["hparams_search=lstm_optuna"], "a search runs as a sweep; add -m"),
    ],
)
def test_a_search_that_does_not_fit_is_refused_before_anything_runs(
    tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out"
    done = train(*args, "data.size=tiny", f"paths.output_dir={out}", cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert not (out / "datasets").exists() and not (out / "multirun").exists()


def test_a_sweep_that_is_already_running_is_refused(tmp_path: Path) -> None:
    from filelock import FileLock

    sweep_dir, out = tmp_path / "sweep", tmp_path / "out"
    sweep_dir.mkdir()
    with FileLock(str(sweep_dir / ".sweep.lock")):  # as the first start holds it
        done = train(
            "-m", "seed=0,1", "data.size=tiny", f"hydra.sweep.dir={sweep_dir}",
            f"paths.output_dir={out}", cwd=tmp_path, timeout=120,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.count("\n") == 1 and "error: this sweep is already running" in done.stderr
    assert not (out / "datasets").exists() and not (out / "runs").exists()


def test_each_search_sets_its_model_and_a_matching_preset_may_replace_it(tmp_path: Path) -> None:
    def model_of(*args: str) -> dict:
        done = train(*args, "--cfg", "job", cwd=tmp_path, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return yaml.safe_load(done.stdout)["model"]

    assert model_of("hparams_search=lstm_optuna")["name"] == "lstm"
    assert model_of("hparams_search=transformer_optuna")["name"] == "transformer"
    assert model_of("hparams_search=lstm_optuna", "model=lstm_paper")["name"] == "lstm_paper"


def test_the_slurm_launcher_config_composes(tmp_path: Path) -> None:
    done = train(
        "hydra/launcher=slurm", "hydra.launcher.partition=gpu", "--cfg", "hydra", "--package",
        "hydra.launcher", cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    launcher = yaml.safe_load(done.stdout)
    assert launcher["_target_"].endswith("submitit_launcher.SlurmLauncher")
    assert launcher["partition"] == "gpu"
    assert {"timeout_min", "cpus_per_task", "gpus_per_node", "mem_gb"} <= set(launcher)


EXPERIMENTS = {  # experiment -> (data preset, size, models swept)
    "paper_4dir": ("all_4dir", "paper", {"lstm_paper", "transformer_paper"}),
    "paper_2dir": ("all_2dir", "paper", {"lstm_paper", "transformer_paper"}),
    "scaled_4dir": ("all_4dir", "large", {"lstm", "transformer"}),
    "entity_memory": ("all_4dir", "paper", {"entity_memory", "entity_memory_state"}),
}


@pytest.mark.parametrize("experiment", sorted(EXPERIMENTS))
def test_experiment_configs_compose_to_their_protocol(experiment: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "train.py"),
            f"experiment={experiment}",
            "--cfg",
            "all",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    config = yaml.safe_load(done.stdout)
    data, size, models = EXPERIMENTS[experiment]
    assert (config["data"]["name"], config["data"]["size"]) == (data, size)
    assert config["trainer"]["early_stopping"] is True
    params = config["hydra"]["sweeper"]["params"]
    assert set(params["model"].split(",")) == models
    assert params["seed"] == "0,1,2"
    if experiment == "entity_memory":  # both data presets, each at the paper sizes
        assert params["data"] == "all_4dir,all_2dir"
