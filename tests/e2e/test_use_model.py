"""Using a trained model, as a user does: predict new stories (Python and command line), export
the model and load it back without storyqa, serve the MLflow model the run logged and register
it. One tiny run per framework (trained with the MLflow sink on) is shared by the module.

The reference everywhere is what ``scripts/evaluate.py`` computed for the run: the probabilities
in ``eval/<split>/misclassified.jsonl`` and the scores in ``eval/<split>/evaluation.json``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO_ROOT
from tests.servers import HOST, free_port, serving

VENV_BIN = Path(sys.executable).parent
SMALL = {
    "transformer": ("model=transformer", "model.d_model=16", "model.nhead=2", "model.d_hid=32",
                    "model.nlayers=1"),
    "lstm": ("model=lstm", "model.hidden=8", "model.embedding_dim=8"),
    "entity_memory": ("model=entity_memory", "model.d_model=8"),
}  # fmt: skip
QUIET = ("data.size=tiny", "trainer.progress=false", "progress=false", "trainer.max_epochs=1")
EXPORTS = {"transformer": ("onnx", "torchscript"), "lstm": ("keras", "saved_model")}
STORY = "Ava walks north. Ben follows Ava."
QUESTION = "Is Ben going in the same direction as Ava?"


def run_script(
    script: str, *args: str, cwd: Path, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / script), *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def train(model: str, out: Path, sinks: str) -> Path:
    done = run_script(
        "train.py", *SMALL[model], *QUIET, f"tracker.sinks={sinks}", f"paths.output_dir={out}",
        cwd=out.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (out / "runs").glob(f"{model}-all_4dir-*")
    (out.parent / f"train-{model}.stdout").write_text(done.stdout)
    return run_dir


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, tiny_4dir: Any) -> Path:
    """A working folder whose ``models_out`` holds the tiny dataset (the README's layout)."""
    work = tmp_path_factory.mktemp("use-model")
    out = work / "models_out"
    shutil.copytree(tiny_4dir.path, out / "datasets" / tiny_4dir.path.name,
                    ignore=shutil.ignore_patterns("enc*"))  # fmt: skip
    return work


@pytest.fixture(scope="module")
def runs(root: Path) -> dict[str, Path]:
    """One tiny run per framework, each with its MLflow model logged."""
    return {model: train(model, root / "models_out", "[jsonl,mlflow]") for model in EXPORTS}


def evaluated(run_dir: Path, split: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """The run's evaluation of ``split``: scores and misclassified rows (with probabilities)."""
    folder = run_dir / "eval" / split
    scores = json.loads((folder / "evaluation.json").read_text())
    return scores, pd.read_json(folder / "misclassified.jsonl", lines=True)


def split_rows(run_dir: Path, split: str) -> pd.DataFrame:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return pd.read_json(Path(manifest["dataset"]["path"]) / f"{split}.jsonl", lines=True)


def predictor(run_dir: Path, **kwargs: Any) -> Any:
    from trainers import Predictor

    return Predictor.from_run(run_dir, **kwargs)


# --- predict ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("model", list(EXPORTS))
def test_predictor_gives_the_evaluation_probabilities(runs: dict[str, Path], model: str) -> None:
    from metrics import MetricsProcessor

    for split in ("valid_a", "test"):
        rows = split_rows(runs[model], split)
        got = predictor(runs[model]).predict(rows["story"], rows["question"])
        scores, misclassified = evaluated(runs[model], split)
        expected = misclassified["probability"].to_numpy()
        assert np.abs(got.probabilities[misclassified["position"]] - expected).max() < 1e-6
        result = MetricsProcessor().evaluate(
            rows["label"], got.probabilities, rows[["category", "noun_count"]]
        )
        assert result.accuracy == pytest.approx(scores["accuracy"], abs=1e-9)
        assert result.loss == pytest.approx(scores["loss"], abs=1e-6)
        assert got.answers == tuple(np.where(got.probabilities > 0.5, "yes", "no"))


@pytest.mark.slow
def test_predict_frame_keeps_the_rows_and_adds_the_answer(runs: dict[str, Path]) -> None:
    frame = split_rows(runs["lstm"], "test").head(5)[["id", "story", "question", "answer"]]
    out = predictor(runs["lstm"]).predict_frame(frame)
    assert list(out["id"]) == list(frame["id"])
    assert list(out["expected_answer"]) == list(frame["answer"])
    assert set(out["answer"]) <= {"yes", "no"} and out["probability"].between(0, 1).all()


@pytest.mark.slow
def test_unknown_words_are_refused_or_read_as_unk_with_a_warning(
    runs: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    from stories.rows import RowError

    story, question = (
        "Zed walks north. Ava follows Zed.",
        "Is Ava going in the same direction as Zed?",
    )
    with pytest.raises(
        RowError, match=r"row 1: 'zed' is not in the run's vocabulary.*allow_unknown_words=true"
    ):
        predictor(runs["transformer"]).predict([story], [question])
    lenient = predictor(runs["transformer"], allow_unknown_words=True)
    with caplog.at_level(logging.WARNING):
        got = lenient.predict([story], [question])
    assert "1 word the model never saw in training, each read as [UNK]" in caplog.text
    assert 0 < got.probabilities[0] < 1 and got.answers[0] in ("yes", "no")


@pytest.mark.slow
@pytest.mark.parametrize("model", list(EXPORTS))
def test_predict_command_writes_every_row_in_order_and_scores_answers(
    runs: dict[str, Path], root: Path, model: str
) -> None:
    rows = split_rows(runs[model], "test")
    source = root / f"{model}-stories.jsonl"
    with source.open("w") as handle:
        for i, row in enumerate(rows.itertuples()):
            record = {"story": row.story, "question": row.question, "id": row.id}
            if i % 2 == 0:  # half the rows give an answer
                record["answer"] = row.answer
            handle.write(json.dumps(record) + "\n")
    output = root / f"{model}-predictions.jsonl"
    done = run_script("predict.py", f"run={runs[model].name}", f"input={source}",
                      f"output={output}", cwd=root)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    written = pd.read_json(output, lines=True)
    assert list(written["id"]) == list(rows["id"])
    expected = predictor(runs[model]).predict(rows["story"], rows["question"]).probabilities
    assert np.abs(written["probability"].to_numpy() - expected).max() < 1e-6
    assert (written["answer"] == np.where(written["probability"] > 0.5, "yes", "no")).all()
    assert written["expected_answer"].notna().sum() == (len(rows) + 1) // 2
    assert f"{(len(rows) + 1) // 2} of {len(rows)} rows give an answer" in done.stdout
    assert "Overall accuracy" in done.stdout and "story/s" in done.stderr  # report, progress


@pytest.mark.slow
def test_predict_command_answers_one_story(runs: dict[str, Path], root: Path) -> None:
    done = run_script("predict.py", f"run={runs['transformer'].name}", f"story={STORY}",
                      f"question={QUESTION}", cwd=root)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    expected = predictor(runs["transformer"]).predict([STORY], [QUESTION])
    line = done.stdout.strip().splitlines()[-1]
    assert line == f"{expected.answers[0]} (probability of yes: {expected.probabilities[0]:.4f})"


@pytest.mark.slow
def test_a_failed_prediction_leaves_the_output_untouched(runs: dict[str, Path], root: Path) -> None:
    source, output = root / "bad.jsonl", root / "kept.jsonl"
    good = json.dumps({"story": STORY, "question": QUESTION})
    source.write_text(good + "\n" + good.replace("Ben", "Zorro") + "\n")
    output.write_text("earlier predictions\n")
    done = run_script("predict.py", f"run={runs['lstm'].name}", f"input={source}",
                      f"output={output}", cwd=root)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"error: {source}:2: 'zorro' is not in the run's vocabulary" in done.stderr
    assert output.read_text() == "earlier predictions\n"
    assert not list(root.glob(".kept.jsonl.*"))  # no temporary file left


# --- export -----------------------------------------------------------------------------------


def load_without_storyqa(name: str, folder: Path, rows: pd.DataFrame, work: Path) -> np.ndarray:
    rows_file = work / f"{name}-rows.json"
    rows_file.write_text(json.dumps(rows[["story", "question"]].to_dict("records")))
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tests" / "e2e" / "load_export.py"), name, str(folder),
         str(rows_file)],
        capture_output=True, text=True, timeout=300, cwd=work,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["storyqa"] == []  # nothing of storyqa was imported
    return np.asarray(result["probabilities"])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "name"), [(m, f) for m, formats in EXPORTS.items() for f in formats]
)
def test_an_export_gives_the_run_probabilities_without_storyqa(
    runs: dict[str, Path], root: Path, model: str, name: str
) -> None:
    run_dir = runs[model]
    done = run_script("export.py", f"run={run_dir.name}", f"format={name}", cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    folder = run_dir / "export" / name
    assert {"vocab.json", "model_card.md"} <= {p.name for p in folder.iterdir()}
    rows = split_rows(run_dir, "test")
    got = load_without_storyqa(name, folder, rows, root)
    _, misclassified = evaluated(run_dir, "test")
    assert np.abs(got[misclassified["position"]] - misclassified["probability"]).max() < 1e-5
    expected = predictor(run_dir).predict(rows["story"], rows["question"]).probabilities
    assert np.abs(got - expected).max() < 1e-5
    card = (folder / "model_card.md").read_text()
    scores, _ = evaluated(run_dir, "test")
    assert f"| test | {scores['n_samples']} | {scores['accuracy']:.4f} |" in card
    assert "| test | 30 | 10 |" in card  # accuracy by noun count
    assert "dataset version: `all_4dir-tiny-" in card and "seed 0" in card
    snippet = re.search(r"```python\n(.*?)```", card, re.S)
    assert snippet is not None
    code = (
        snippet.group(1)
        + "\nimport sys; print(float(probability)); assert 'stories' not in sys.modules\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    one = predictor(run_dir).predict([STORY], [QUESTION]).probabilities[0]
    assert float(ran.stdout.strip().splitlines()[-1]) == pytest.approx(one, abs=1e-5)


@pytest.mark.slow
def test_export_refuses_a_model_no_format_holds(root: Path, tmp_path: Path, tiny_4dir: Any) -> None:
    out = tmp_path / "models_out"
    shutil.copytree(tiny_4dir.path, out / "datasets" / tiny_4dir.path.name,
                    ignore=shutil.ignore_patterns("enc*"))  # fmt: skip
    run_dir = train("entity_memory", out, "[jsonl]")
    done = run_script("export.py", f"run={run_dir.name}", "format=[onnx,torchscript]",
                      f"paths.output_dir={out}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-3000:]
    message = done.stderr
    assert (
        "format=onnx cannot hold model 'entity_memory': Could not guard on data-dependent"
        in message
    )
    assert (
        "format=torchscript cannot hold model 'entity_memory': the export fails on the run's own"
        in message
    )
    assert "the trace fixed the Python branches and loops of the model's code" in message
    assert "No export format holds this model; use it from Python (Predictor.from_run(" in message
    assert not (run_dir / "export").exists() or not any((run_dir / "export").iterdir())


# --- serve and register -----------------------------------------------------------------------


def logged_model(run_dir: Path) -> dict[str, str]:
    return json.loads((run_dir / "mlflow_model.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("model", list(EXPORTS))
def test_the_run_logged_a_pyfunc_model(
    runs: dict[str, Path], model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    record = logged_model(runs[model])
    assert record["model_uri"] == f"runs:/{record['run_id']}/model"
    rows = split_rows(runs[model], "valid_a").head(40)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", record["tracking_uri"])
    loaded = mlflow.pyfunc.load_model(record["model_uri"])
    info = mlflow.models.get_model_info(record["model_uri"])
    flavours = set(mlflow.models.Model.load(record["model_uri"]).flavors)
    got = loaded.predict(rows[["story", "question"]])
    assert [c.name for c in info.signature.inputs.inputs] == ["story", "question"]
    assert [c.name for c in info.signature.outputs.inputs] == ["probability", "answer"]
    assert "python_function" in flavours
    expected = predictor(runs[model]).predict(rows["story"], rows["question"])
    assert np.abs(got["probability"].to_numpy() - expected.probabilities).max() < 1e-5
    assert list(got["answer"]) == list(expected.answers)
    location = mlflow.MlflowClient(record["tracking_uri"]).get_logged_model(record["model_id"])
    network = list(Path(location.artifact_location.removeprefix("file://")).glob(
        "artifacts/*/network/MLmodel"))  # fmt: skip
    flavour = "keras" if model == "lstm" else "pytorch"
    assert network and f"{flavour}:" in network[0].read_text()  # the framework flavour under it


@pytest.mark.slow
@pytest.mark.parametrize("model", list(EXPORTS))
def test_the_run_model_is_an_mlflow_logged_model_with_its_metrics(
    runs: dict[str, Path], model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow 3 knows the model: found by ``search_logged_models`` as the run's output, with the
    run's parameters and evaluation metrics (each with its split's dataset), loaded by its
    ``models:/<model id>`` URI with the run's probabilities."""
    import mlflow
    from mlflow.entities import LoggedModelStatus

    record = logged_model(runs[model])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", record["tracking_uri"])
    run = mlflow.MlflowClient(record["tracking_uri"]).get_run(record["run_id"])
    [found] = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{record['run_id']}'",
        output_format="list",
    )
    assert found.model_id == record["model_id"] and found.name == "model"
    assert record["logged_model_uri"] == f"models:/{found.model_id}"
    assert found.status == LoggedModelStatus.READY
    assert run.outputs is not None and run.inputs is not None and found.metrics
    assert [output.model_id for output in run.outputs.model_outputs] == [found.model_id]
    assert found.params == run.data.params and found.params  # the run's hyperparameters
    assert found.tags["storyqa.run_id"] == runs[model].name and found.tags["model"] == model
    inputs = {item.tags[0].value: (item.dataset.name, item.dataset.digest)
              for item in run.inputs.dataset_inputs}  # fmt: skip
    linked = {(m.key, m.dataset_name, m.dataset_digest): m.value for m in found.metrics}
    version, digest = inputs["training"]
    for split, dataset in (("train", inputs["training"]), ("valid_a", inputs["validation"]),
                           ("test", (version, f"{digest.rsplit('-', 1)[0]}-test"))):  # fmt: skip
        scores, _ = evaluated(runs[model], split)
        for metric in ("accuracy", "loss"):
            value = linked[(f"eval/{split}/{metric}", *dataset)]
            assert value == pytest.approx(scores[metric], abs=1e-6), (split, metric)
    assert {m.model_id for m in found.metrics} == {found.model_id}
    assert not any(key.startswith("metrics/") for key, _, _ in linked)  # evaluation only
    rows = split_rows(runs[model], "test")
    got = mlflow.pyfunc.load_model(record["logged_model_uri"]).predict(rows[["story", "question"]])
    expected = predictor(runs[model]).predict(rows["story"], rows["question"])
    assert np.abs(got["probability"].to_numpy() - expected.probabilities).max() < 1e-5
    assert list(got["answer"]) == list(expected.answers)


@pytest.mark.slow
@pytest.mark.parametrize("model", list(EXPORTS))
def test_training_ends_with_the_address_of_mlflow_model_training_view(
    runs: dict[str, Path], root: Path, model: str
) -> None:
    """The last line of ``train.py`` tells how to open the run's experiment in MLflow's UI on
    its "Model training" view: the ``mlflow ui`` command on the run's store, then the address."""
    import mlflow

    record = logged_model(runs[model])
    run = mlflow.MlflowClient(record["tracking_uri"]).get_run(record["run_id"])
    last = (root / f"train-{model}.stdout").read_text().strip().splitlines()[-1]
    assert last == (
        f"MLflow UI: mlflow ui --backend-store-uri {record['tracking_uri']}, then open "
        f"http://127.0.0.1:5000/#/experiments/{run.info.experiment_id}"
        "?workflowType=machine_learning"
    )


def post(port: int, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def served(
    command: list[str], port: int, cwd: Path, env: dict[str, str]
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """``command``, a model server on 127.0.0.1:``port``, started in ``cwd`` and stopped at
    the end (its log: ``serve-<port>.log``)."""
    return serving(command, f"http://{HOST}:{port}/ping", cwd / f"serve-{port}.log", env=env)


def serve_env(tracking_uri: str) -> dict[str, str]:
    return {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip


@pytest.mark.slow
def test_the_served_model_answers_and_refuses_bad_stories(
    runs: dict[str, Path], root: Path
) -> None:
    record = logged_model(runs["lstm"])
    port = free_port()
    command = [str(VENV_BIN / "mlflow"), "models", "serve", "-m", record["model_uri"],
               "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    rows = split_rows(runs["lstm"], "test").head(8)
    with served(command, port, root, serve_env(record["tracking_uri"])) as process:
        status, body = post(
            port, {"dataframe_records": rows[["story", "question"]].to_dict("records")}
        )
        assert status == 200, body
        expected = predictor(runs["lstm"]).predict(rows["story"], rows["question"])
        got = pd.DataFrame(body["predictions"])
        assert np.abs(got["probability"].to_numpy() - expected.probabilities).max() < 1e-5
        assert list(got["answer"]) == list(expected.answers)
        bad = [
            ({"story": "Zed walks north.", "question": QUESTION.replace("Ben", "Zed")
              .replace("Ava", "Zed")}, "row 1: 'zed' is not in the run's vocabulary"),
            ({"story": " ", "question": QUESTION}, "row 1: the story is empty"),
            ({"story": "Ava walks north.", "question": QUESTION},
             "row 1: the question asks about 'Ben', who is not in the story"),
        ]  # fmt: skip
        for row, message in bad:
            status, body = post(port, {"dataframe_records": [row]})
            assert status == 400 and message in body["message"], body
        status, body = post(port, {"dataframe_records": [{"story": STORY}]})
        assert status == 400 and "question" in body["message"], body
        unknown = {"story": "Zed walks north. Ava follows Zed.",
                   "question": "Is Ava going in the same direction as Zed?"}  # fmt: skip
        status, body = post(port, {"dataframe_records": [unknown],
                                   "params": {"allow_unknown_words": True}})  # fmt: skip
        assert status == 200 and body["predictions"][0]["answer"] in ("yes", "no")
    assert process.poll() is not None  # stopped


@pytest.mark.slow
def test_registry_register_gives_the_model_a_name_and_alias(
    runs: dict[str, Path], root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "registry.py"), "register",
         f"run={runs['transformer'].name}", "name=stories-transformer"],
        cwd=root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert (
        "as stories-transformer version 1 (alias champion): models:/stories-transformer@champion"
        in done.stdout
    )
    record = logged_model(runs["transformer"])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", record["tracking_uri"])
    client = mlflow.MlflowClient()
    version = client.get_model_version_by_alias("stories-transformer", "champion")
    assert version.source == record["logged_model_uri"] and version.run_id == record["run_id"]
    listed = json.loads(client.get_logged_model(record["model_id"]).tags["mlflow.modelVersions"])
    assert listed == [{"name": "stories-transformer", "version": 1}]  # the model lists it
    assert not (root / "mlflow.db").exists()  # nothing written to a store of the current folder
    loaded = mlflow.pyfunc.load_model("models:/stories-transformer@champion")
    got = loaded.predict(pd.DataFrame({"story": [STORY], "question": [QUESTION]}))
    expected = predictor(runs["transformer"]).predict([STORY], [QUESTION])
    assert got["probability"][0] == pytest.approx(expected.probabilities[0], abs=1e-5)


# --- the documentation page ---------------------------------------------------------------

#: The page "Using a trained model" of the documentation (the README links to it).
PAGE = REPO_ROOT / "docs" / "using-a-model.md"
PAGE_PORT = "5001"
#: The README's tour: its part that predicts with a finished run, up to the next part.
README_TOUR = ("**Predict with a finished run**", "**Open the dashboards**")


def code_blocks(text: str) -> list[tuple[str, str]]:
    """The ``bash`` and ``python`` code blocks of ``text``, in order."""
    return re.findall(r"```(bash|python)\n(.*?)```", text, re.S)


def readme_blocks() -> list[tuple[str, str]]:
    """The code blocks of the page, then those of the README's tour that predict."""
    start, end = README_TOUR
    tour = (REPO_ROOT / "README.md").read_text(encoding="utf-8").split(start, 1)[1]
    return code_blocks(PAGE.read_text(encoding="utf-8")) + code_blocks(tour.split(end, 1)[0])


@pytest.mark.slow
def test_readme_commands_work_as_written(runs: dict[str, Path], root: Path) -> None:
    port = str(free_port())
    values = {
        "<run_id>": runs["transformer"].name,
        "<lstm_run_id>": runs["lstm"].name,
        "<mlflow_run_id>": logged_model(runs["lstm"])["run_id"],
        f"-p {PAGE_PORT}": f"-p {port}",
        f"127.0.0.1:{PAGE_PORT}": f"127.0.0.1:{port}",
    }
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    if not (root / "scripts").exists():  # the commands run from a checkout: scripts/, models_out/
        (root / "scripts").symlink_to(REPO_ROOT / "scripts")
    blocks = readme_blocks()
    assert [lang for lang, _ in blocks] == ["python", "bash", "bash", "bash", "bash", "python"]
    outputs = []
    with contextlib.ExitStack() as servers:
        for lang, code in blocks:
            for placeholder, value in values.items():
                code = code.replace(placeholder, value)
            commands = [code] if lang == "python" else [c for c in code.splitlines() if c.strip()]
            for command in commands:
                if "mlflow models serve" in command:
                    servers.enter_context(served(["bash", "-c", command], int(port), root, env))
                    continue
                argv = (
                    [sys.executable, "-c", command] if lang == "python" else ["bash", "-c", command]
                )
                done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True,
                                      timeout=600)  # fmt: skip
                assert done.returncode == 0, f"{command}\n{done.stderr[-3000:]}"
                outputs.append(done.stdout)
    python_out, *_, curl_out, tour_predict_out, _tour_python_out = outputs
    assert "(probability of yes: " in tour_predict_out
    assert "('yes',)" in python_out or "('no',)" in python_out
    assert json.loads(curl_out)["predictions"][0]["answer"] in ("yes", "no")
    assert (root / "predictions.jsonl").is_file()
    for run_dir, formats in (
        (runs["transformer"], EXPORTS["transformer"]),
        (runs["lstm"], EXPORTS["lstm"]),
    ):
        assert all((run_dir / "export" / name / "model_card.md").is_file() for name in formats)
