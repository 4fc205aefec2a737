"""The training commands as a user runs them: train, sweep, resume, evaluate, compare,
diagnose, registry. The bad inputs they must refuse are in ``test_bad_inputs.py``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SMALL = {
    "transformer": ["model.d_model=16", "model.nhead=2", "model.d_hid=32", "model.nlayers=1"],
    "lstm": ["model.hidden=8", "model.embedding_dim=8"],
}
COMMON = ["data.size=tiny", "trainer.progress=false", "tracker.sinks=[jsonl]", "progress=false"]


def run(script: str, *args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def train(model: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run(
        "train.py",
        f"model={model}",
        *SMALL[model],
        *COMMON,
        f"paths.output_dir={out}",
        *extra,
        cwd=out.parent,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("cli") / "out"
    out.parent.mkdir(exist_ok=True)
    runs = {}
    for model in ("transformer", "lstm"):
        done = train(model, out, "trainer.max_epochs=2")
        assert done.returncode == 0, done.stderr[-3000:]
        assert "EVALUATION RESULTS BY CATEGORY" in done.stdout and "Report:" in done.stdout
        console = done.stdout + done.stderr
        assert "Tip:" not in console and "LeafSpec" not in console  # third-party noise
        assert "Traceback" not in console
        (run_dir,) = (out / "runs").glob(f"{model}-all_4dir-*")
        runs[model] = run_dir
    return runs


@pytest.mark.slow
def test_train_writes_a_complete_registered_run(trained: dict[str, Path]) -> None:
    for model, run_dir in trained.items():
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["status"] == "finished" and manifest["model"] == model
        assert set(manifest["evaluation"]) == {"train", "valid_a", "valid_comp", "test"}
        for split in manifest["evaluation"]:
            assert (run_dir / "eval" / split / "evaluation.json").is_file()
        assert (run_dir / "report.html").stat().st_size > 10_000
        assert (run_dir / ".hydra" / "config.yaml").is_file()
        assert (run_dir / "checkpoints" / manifest["checkpoints"]["best"].split("/")[-1]).exists()
    registry = json.loads((run_dir.parent.parent / "registry.json").read_text())
    assert {entry["run_id"] for entry in registry["models"]} == {d.name for d in trained.values()}


@pytest.mark.slow
def test_evaluate_compare_diagnose_and_registry(trained: dict[str, Path]) -> None:
    out = trained["lstm"].parent.parent
    lstm = trained["lstm"]
    evaluated = run(
        "evaluate.py", f"run={lstm.name}", "splits=[test]", f"paths.output_dir={out}", cwd=out
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert evaluated.stdout.count("EVALUATION RESULTS BY CATEGORY") == 1

    compared = run(
        "compare.py",
        f"runs=[{trained['lstm']},{trained['transformer']}]",
        f"paths.output_dir={out}",
        cwd=out,
    )
    assert compared.returncode == 0, compared.stderr[-3000:]
    # The console shows the headline (accuracy per split and model); every row, with the
    # difference column, is in the CSV.
    headline = compared.stdout[compared.stdout.index("Accuracy per split") :]
    assert "valid_comp" in headline and "lstm" in headline and "transformer" in headline
    (html,) = (out / "comparisons").glob("compare-*.html")
    assert "transformer - lstm" in html.with_suffix(".csv").read_text().splitlines()[0]
    plot = html.with_name(f"{html.stem}-progressive_difficulty.png")
    assert plot.read_bytes().startswith(b"\x89PNG") and plot.name in html.read_text()
    difficulty = plot.with_suffix(".csv").read_text().splitlines()
    assert difficulty[0] == "model,category,noun_count,count,accuracy"
    assert {line.split(",")[0] for line in difficulty[1:]} == {"lstm", "transformer"}
    curves = html.with_name(f"{html.stem}-learning_curves.png")
    assert curves.read_bytes().startswith(b"\x89PNG") and curves.name in html.read_text()
    rows = curves.with_suffix(".csv").read_text().splitlines()
    assert rows[0] == "run,epoch,minutes,val_accuracy,examples_per_second"
    assert sum(line.startswith("lstm,") for line in rows) == 2  # one row per epoch (2 epochs)
    # Same dataset version: a paired test per evaluated split, printed and saved.
    assert "Paired test against lstm on the same examples" in compared.stdout
    paired = html.with_name(f"{html.stem}-paired.csv").read_text().splitlines()
    assert paired[0].startswith("split,model,baseline,n_samples,difference,")
    assert [line.split(",")[1:3] for line in paired[1:]] == [["transformer", "lstm"]] * 4

    diagnosed = run(
        "diagnose.py", f"run={lstm}", "split=valid_comp", f"paths.output_dir={out}", cwd=out
    )
    assert diagnosed.returncode == 0, diagnosed.stderr[-3000:]
    folder = lstm / "diagnose" / "valid_comp"
    lines = (folder / "predictions.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert {"story", "question", "label", "probability", "correct", "category"} <= set(first)
    index = json.loads((folder / "index.json").read_text())
    assert index["examples"] == len(lines)
    errors = [n for g in index["groups"].values() for n in g["error_lines"]]
    assert all(not json.loads(lines[n - 1])["correct"] for n in errors)

    listed = run("registry.py", "list", "--output-dir", str(out), cwd=out)
    assert listed.returncode == 0 and lstm.name in listed.stdout


@pytest.mark.slow
def test_resume_continues_a_run_to_more_epochs(trained: dict[str, Path]) -> None:
    run_dir = trained["transformer"]
    out = run_dir.parent.parent
    started_with = (run_dir / ".hydra" / "overrides.yaml").read_text()
    nothing_left = run("train.py", f"resume={run_dir}", cwd=out)
    assert nothing_left.returncode == 2  # the saved config's 2 epochs are done
    assert "raise trainer.max_epochs" in nothing_left.stderr
    again = run("train.py", f"resume={run_dir}", "trainer.max_epochs=3", cwd=out)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "epoch 002" in again.stdout and "epoch 001" not in again.stdout
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["epochs_completed"] == 3
    assert len(manifest["resumed_at"]) == 1  # the refused attempt changed nothing
    steps = [
        json.loads(line)["step"]
        for line in (run_dir / "metrics.jsonl").read_text().splitlines()
        if '"metrics/val/accuracy"' in line
    ]
    assert steps == [0, 1, 2]
    # Hydra's dump of the command that started the run is kept; each resume has its own.
    assert (run_dir / ".hydra" / "overrides.yaml").read_text() == started_with
    resumed = sorted((run_dir / ".hydra").glob("resumed-*/overrides.yaml"))
    assert resumed and "trainer.max_epochs=3" in resumed[-1].read_text()


@pytest.mark.slow
def test_the_entity_memory_generalises_to_longer_stories_from_the_cli(tmp_path: Path) -> None:
    """The state-tracking preset, trained on 2-8 actors, answers 9-30-actor stories."""
    out = tmp_path / "out"
    done = run(
        "train.py",
        "model=entity_memory_state",
        "model.d_model=32",
        "model.batch_size=32",
        *COMMON,
        "trainer.max_epochs=12",
        "trainer.num_threads=1",  # see test_entity_memory_training.py: two workers share 2 cores
        f"paths.output_dir={out}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (out / "runs").glob("entity_memory_state-all_4dir-*")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["model"] == "entity_memory_state"
    config = (run_dir / ".hydra" / "config.yaml").read_text()
    assert "_target_: models.entity_memory.EntityMemoryNetwork" in config
    assert "state_loss_weight: 1.0" in config
    for split in ("valid_comp", "test"):
        evaluation = json.loads((run_dir / "eval" / split / "evaluation.json").read_text())
        assert evaluation["accuracy"] >= 0.9, (split, evaluation["accuracy"])


@pytest.mark.slow
def test_commands_take_a_run_folder_anywhere(trained: dict[str, Path], tmp_path: Path) -> None:
    """A run folder given by its path, from anywhere and without ``paths.output_dir``: each
    command takes the output root from the path and writes nothing where it is run."""
    lstm, transformer = trained["lstm"], trained["transformer"]
    out = lstm.parent.parent
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    evaluated = run("evaluate.py", f"run={lstm}", "splits=[valid_a]", cwd=elsewhere)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "evaluation started" in (lstm / "run.log").read_text()  # the run's own log
    diagnosed = run("diagnose.py", f"run={lstm}", "split=valid_a", cwd=elsewhere)
    assert diagnosed.returncode == 0, diagnosed.stderr[-3000:]
    assert (lstm / "diagnose" / "valid_a" / "index.json").is_file()
    before = set((out / "comparisons").glob("compare-*.html"))
    compared = run("compare.py", f"runs=[{lstm},{transformer}]", cwd=elsewhere)
    assert compared.returncode == 0, compared.stderr[-3000:]
    assert len(set((out / "comparisons").glob("compare-*.html")) - before) == 1  # beside them
    assert list(elsewhere.iterdir()) == []  # no models_out/ where the commands ran


@pytest.mark.slow
def test_evaluate_on_unknown_words_only_when_allowed(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    """A name the run never saw ("Zoë": the run knows "zoe") is refused (see
    test_bad_inputs.py); ``allow_unknown_words=true`` evaluates, warning on the console and in
    the run's log how many rows and words are read as [UNK]."""
    lstm = trained["lstm"]
    line = {"story": "Ava walks north. Zoë follows Ava.", "answer": "yes"}
    ask = "Is {} going in the same direction as {}?"
    rows = [
        {**line, "question": ask.format("Zoë", "Ava")},
        {**line, "story": "Ava walks north.", "question": ask.format("Ava", "Ava")},
        {**line, "question": ask.format("Ava", "Zoë")},
    ]
    mine = tmp_path / "mine.jsonl"
    mine.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    done = run(
        "evaluate.py", f"run={lstm}", f"data.path={mine}", "allow_unknown_words=true", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    warning = (
        f"data.path: {mine}: 2 rows of 3 hold 1 word the run never saw in training ('zoë' "
        "(rows 1, 3), 4 occurrences in all), each read as [UNK] (allow_unknown_words=true)"
    )
    assert f"warning: {warning}" in done.stderr
    assert warning in (lstm / "run.log").read_text()
    assert json.loads((lstm / "eval" / "mine" / "evaluation.json").read_text())["n_samples"] == 3


@pytest.mark.slow
def test_resume_keeps_the_run_in_its_own_output_root(tmp_path: Path) -> None:
    """A run started with a relative ``paths.output_dir`` and resumed from another folder
    keeps its dataset, registry and dashboards' data in its own output root."""
    started, elsewhere = tmp_path / "started", tmp_path / "elsewhere"
    started.mkdir()
    elsewhere.mkdir()
    first = run(
        "train.py", "model=lstm", *SMALL["lstm"], *COMMON, "trainer.max_epochs=1",
        "evaluate_splits=[valid_a]", "paths.output_dir=rel_out", cwd=started,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr[-3000:]
    (run_dir,) = (started / "rel_out" / "runs").glob("lstm-all_4dir-*")
    again = run("train.py", f"resume={run_dir}", "trainer.max_epochs=2", cwd=elsewhere)
    assert again.returncode == 0, again.stderr[-3000:]
    assert list(elsewhere.iterdir()) == []
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["epochs_completed"] == 2
    registry = json.loads((started / "rel_out" / "registry.json").read_text())
    [entry] = registry["models"]
    assert entry["run_id"] == run_dir.name and entry["best"]["epoch"] in (0, 1)
