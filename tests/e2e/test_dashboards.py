"""The commands the README and the documentation pages show exist in the environment ``make``
builds, and the dashboard commands start and read what storyqa writes.

* ``mlflow ui`` / ``mlflow server`` on the sqlite store and ``tensorboard`` on the runs folder:
  each a server on a free port of 127.0.0.1, queried over HTTP for the logged run, stopped.
* ``neptune status`` / ``neptune sync`` (the upload of offline runs): the command starts, its
  ``--path`` takes ``<output root>/.neptune``, its collector finds the offline run, and it fails
  on the connection to an unreachable server (a closed port of 127.0.0.1), not on an import.

Every wait is bounded; nothing but 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.servers import HOST, READY_TIMEOUT_S, fetch_json, free_port, serving

#: The environment's commands (``.venv/bin``).
BIN = Path(sys.executable).parent
RUN_NAME = "demo-run"
#: Leading ``NAME=value`` assignments of a shell command.
ENV_PREFIX = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+")
#: First words that make an inline code span of a page a command.
COMMAND_WORDS = ("python", "make", "pytest", "pip")
#: A rule of the Makefile: its target names, then a colon (not ``:=``).
MAKE_RULE = re.compile(r"^([A-Za-z][\w.-]*(?:[ \t]+[A-Za-z][\w.-]*)*)[ \t]*:(?!=)", re.M)


#: How the pages write the path of the checkout in a command (``python /path/to/storyqa/...``).
CHECKOUT_PLACEHOLDER = "/path/to/storyqa/"


# --- the commands of the README and the documentation pages ---------------------------------


def documentation_pages() -> list[Path]:
    """README.md and every page of the documentation site (``docs/**/*.md``)."""
    return [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]


def documented_commands() -> dict[str, list[str]]:
    """The commands of each documentation page, by its path relative to the repository."""
    return {
        page.relative_to(REPO_ROOT).as_posix(): readme_commands(page.read_text(encoding="utf-8"))
        for page in documentation_pages()
    }


def readme_commands(text: str) -> list[str]:
    """The commands of a page (the README or a documentation page): each line of its ``bash``
    blocks, and each inline code span that reads as a command (environment assignments first,
    an option ``--x``, or a first word such as ``python``, ``make``, ``storyqa-...`` or
    ``.venv/bin/...``)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #", 1)[0].strip()
            if line:
                commands.append(line)
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for span in re.findall(r"(?<!`)`([^`]+)`(?!`)", prose):
        span = " ".join(span.split())
        env = ENV_PREFIX.match(span)
        rest = span[env.end() :] if env else span
        first = rest.split(" ", 1)[0]
        if (
            env
            or " --" in rest
            or first in COMMAND_WORDS
            or first.startswith((".venv/bin/", "storyqa-"))
        ):
            commands.append(span)
    return commands


def missing_executable(command: str) -> str | None:
    """What of ``command`` does not exist here (its program, or the script ``python`` runs),
    or ``None``. Placeholders (``storyqa-<name>``) are not checked."""
    env = ENV_PREFIX.match(command)
    words = (command[env.end() :] if env else command).split()
    first = words[0]
    if "<" in first:
        return None
    if first.endswith(".py") and (REPO_ROOT / first).is_file():  # `scripts/train.py --help`
        return None
    if first == "python":
        script = (words[1] if len(words) > 1 else "").removeprefix(CHECKOUT_PLACEHOLDER)
        if script.endswith(".py") and "<" not in script and not (REPO_ROOT / script).is_file():
            return script
        return None
    if first.startswith(".venv/bin/"):
        return None if (BIN / first.removeprefix(".venv/bin/")).exists() else first
    if first == "make":
        return missing_make_target(words[1:])
    return None if (BIN / first).exists() or shutil.which(first) else first


def missing_make_target(arguments: list[str]) -> str | None:
    """``make <target>`` for the first target of ``arguments`` (variables and options aside)
    that the Makefile lacks, or ``None``."""
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    targets = {name for rule in MAKE_RULE.findall(makefile) for name in rule.split()}
    for argument in arguments:
        if "=" not in argument and not argument.startswith("-") and argument not in targets:
            return f"make {argument}"
    return None


def test_readme_commands_are_found() -> None:
    """The parser sees the dashboard commands, on the README and on the pages they moved to
    (a test that could not fail otherwise)."""
    by_page = documented_commands()
    firsts = {(ENV_PREFIX.sub("", c)).split()[0] for cs in by_page.values() for c in cs}
    assert {"mlflow", "neptune", "tensorboard", "python", "make", "storyqa-train"} <= firsts
    readme = {(ENV_PREFIX.sub("", c)).split()[0] for c in by_page["README.md"]}
    assert {"make", "python", "mlflow", "tensorboard"} <= readme
    assert by_page["docs/tracking.md"] and by_page["docs/command-line.md"]


def test_every_command_the_readme_shows_exists() -> None:
    """Every command of the README and of every documentation page (``docs/**/*.md``)."""
    missing = {
        f"{page}: {command}": what
        for page, commands in documented_commands().items()
        for command in commands
        if (what := missing_executable(command))
    }
    assert not missing, f"documented commands this environment lacks: {missing}"


def test_a_missing_command_is_reported() -> None:
    assert missing_executable("no-such-dashboard --logdir x") == "no-such-dashboard"
    assert missing_executable("python scripts/no_such.py") == "scripts/no_such.py"
    assert missing_executable("NEPTUNE_API_TOKEN=... neptune sync --path x") is None
    assert missing_executable("make no-such-target LAB_PORT=9999") == "make no-such-target"
    assert missing_executable("make lab LAB_PORT=9999") is None
    assert missing_executable("make docs-serve DOCS_PORT=8001") is None
    assert missing_executable("scripts/train.py --help") is None
    assert missing_executable("python /path/to/storyqa/scripts/no_such.py") == "scripts/no_such.py"


# --- an output root with one run in every dashboard's store ---------------------------------


@dataclass(frozen=True)
class Tracked:
    """An output root where one run logged to MLflow (sqlite), TensorBoard and Neptune
    (offline), through storyqa's sinks."""

    out: Path
    mlflow_experiment_id: str

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.out / 'mlflow.db'}"


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Tracked:
    from trainers.tracking.sinks.mlflow import MlflowSink
    from trainers.tracking.sinks.neptune import NeptuneSink
    from trainers.tracking.sinks.tensorboard import TensorBoardSink

    out = tmp_path_factory.mktemp("dashboards") / "models_out"
    run_dir = out / "runs" / RUN_NAME
    run_dir.mkdir(parents=True)
    uri = f"sqlite:///{out / 'mlflow.db'}"
    sinks: list[Any] = [
        MlflowSink(uri, "storyqa", (out / "mlartifacts").as_uri(), RUN_NAME),
        TensorBoardSink(run_dir / "tensorboard"),
        NeptuneSink("offline", out / ".neptune", RUN_NAME),
    ]
    for sink in sinks:
        sink.log_metrics({"metrics/val/accuracy": 0.5}, 0)
        sink.close("finished")
    from mlflow.tracking import MlflowClient

    experiment = MlflowClient(tracking_uri=uri).get_experiment_by_name("storyqa")
    assert experiment is not None
    return Tracked(out, str(experiment.experiment_id))


# --- servers: tests/servers.py ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("subcommand", ["ui", "server"])
def test_mlflow_serves_the_sqlite_store(tracked: Tracked, tmp_path: Path, subcommand: str) -> None:
    """``mlflow ui --backend-store-uri sqlite:///<out>/mlflow.db`` (and ``mlflow server``)."""
    port = free_port()
    base = f"http://{HOST}:{port}"
    command = [
        str(BIN / "mlflow"), subcommand, "--backend-store-uri", tracked.tracking_uri,
        "--host", HOST, "--port", str(port),
    ]  # fmt: skip
    with serving(command, f"{base}/health", tmp_path / "mlflow.log"):
        found = fetch_json(
            f"{base}/api/2.0/mlflow/runs/search",
            {"experiment_ids": [tracked.mlflow_experiment_id]},
        )
    assert [run["info"]["run_name"] for run in found["runs"]] == [RUN_NAME]


@pytest.mark.slow
def test_the_printed_mlflow_ui_line_opens_the_model_training_view(
    tracked: Tracked, tmp_path: Path
) -> None:
    """The line ``train.py`` and a sweep end with, followed in a real browser: its ``mlflow ui``
    command (on a free port) serves the store, and its address opens the experiment on
    MLflow's "Model training" view (the runs table, with the run), not on the GenAI page."""
    from tests.e2e.test_service_page import CHROMIUM, CHROMIUM_ARGS, _no_browser
    from trainers.tracking.mlflow_ui import LOCAL_UI, mlflow_ui_line

    missing = _no_browser()
    if missing:
        pytest.skip(missing)
    from playwright.sync_api import expect, sync_playwright

    line = mlflow_ui_line(tracked.tracking_uri, tracked.mlflow_experiment_id)
    command, url = line.removeprefix("MLflow UI: ").split(", then open ")
    port = free_port()
    base = f"http://{HOST}:{port}"
    argv = [str(BIN / "mlflow"), *shlex.split(command)[1:], "--host", HOST, "--port", str(port)]
    with serving(argv, f"{base}/health", tmp_path / "mlflow.log"), sync_playwright() as browser:
        launched = browser.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = launched.new_page()
        page.goto(url.replace(LOCAL_UI, base))
        expect(page.get_by_role("link", name=RUN_NAME)).to_be_visible(timeout=60_000)
        assert re.search(r"#/experiments/\d+/runs\?workflowType=machine_learning", page.url)
        launched.close()


@pytest.mark.slow
def test_tensorboard_serves_the_runs_folder(tracked: Tracked, tmp_path: Path) -> None:
    """``tensorboard --logdir <out>/runs`` lists the run's event files."""
    port = free_port()
    base = f"http://{HOST}:{port}"
    command = [
        str(BIN / "tensorboard"), "--logdir", str(tracked.out / "runs"),
        "--host", HOST, "--port", str(port),
    ]  # fmt: skip
    with serving(command, f"{base}/data/environment", tmp_path / "tensorboard.log"):
        deadline = time.monotonic() + READY_TIMEOUT_S  # the first scan of the logdir
        while not (runs := fetch_json(f"{base}/data/runs")) and time.monotonic() < deadline:
            time.sleep(0.5)
    assert runs == [f"{RUN_NAME}/tensorboard"]


@pytest.mark.slow
def test_tensorboard_hparams_compare_the_runs_of_a_sweep(tmp_path: Path) -> None:
    """``tensorboard --logdir <out>/runs``: the HParams tab lists each run of a sweep with its
    hyperparameters (the union over models) and final metrics."""
    from metrics import namespaces as ns
    from trainers.tracking import RunContext
    from trainers.tracking.sinks.tensorboard import TensorBoardSink

    runs = tmp_path / "out" / "runs"
    for seed, (model, size) in enumerate((("lstm", "hidden"), ("transformer", "d_model"))):
        sink = TensorBoardSink(runs / f"{model}-run" / "tensorboard")
        sink.log_context(
            RunContext(run_id=f"{model}-run", model=model, framework="x", dataset="d", seed=seed,
                       sweep="20260101-120000")
        )  # fmt: skip
        sink.log_parameters(
            {ns.parameter("model") + "/name": model, ns.parameter("model") + f"/{size}": 8,
             ns.parameter("seed"): seed}
        )  # fmt: skip
        sink.log_fields({ns.best("val_accuracy"): 0.5 + seed / 10})
        sink.log_fields({ns.eval_metric("valid_a", "accuracy"): 0.5 + seed / 10})
        sink.close("finished")
    port = free_port()
    base = f"http://{HOST}:{port}"
    command = [
        str(BIN / "tensorboard"), "--logdir", str(runs), "--host", HOST, "--port", str(port),
    ]  # fmt: skip
    request = {
        "experimentName": "",
        "allowedStatuses": ["STATUS_SUCCESS", "STATUS_UNKNOWN"],
        "colParams": [],
        "startIndex": 0,
        "sliceSize": 10,
    }
    with serving(command, f"{base}/data/environment", tmp_path / "tensorboard.log"):
        deadline = time.monotonic() + READY_TIMEOUT_S  # the first scan of the logdir
        while time.monotonic() < deadline:
            groups = fetch_json(f"{base}/data/plugin/hparams/session_groups", request)
            if groups.get("totalSize") == 2:
                break
            time.sleep(0.5)
        experiment = fetch_json(f"{base}/data/plugin/hparams/experiment", {"experimentName": ""})
    names = {info["name"] for info in experiment["hparamInfos"]}
    assert names == {"model/name", "model/hidden", "model/d_model", "seed", "sweep"}
    metrics = {info["name"]["tag"] for info in experiment["metricInfos"]}
    assert metrics == {"best/val_accuracy", "eval/valid_a/accuracy"}
    sessions = {group["name"]: group for group in groups["sessionGroups"]}
    assert set(sessions) == {"lstm-run/tensorboard/hparams", "transformer-run/tensorboard/hparams"}
    transformer = sessions["transformer-run/tensorboard/hparams"]
    assert transformer["hparams"]["model/name"] == "transformer"
    values = {m["name"]["tag"]: m["value"] for m in transformer["metricValues"]}
    assert values["best/val_accuracy"] == pytest.approx(0.6)


def neptune_token(api_address: str) -> str:
    """A Neptune API token (base64 JSON) for a server at ``api_address``; no real key."""
    fields = {"api_address": api_address, "api_url": api_address, "api_key": "not-a-key"}
    return base64.b64encode(json.dumps(fields).encode()).decode()


def test_neptune_finds_the_offline_runs(tracked: Tracked) -> None:
    """What ``neptune sync --path <out>/.neptune`` would upload: the run, read by the
    command's own collector."""
    from neptune.cli.collect import collect_offline_containers

    found = list(collect_offline_containers(path=tracked.out / ".neptune"))
    assert len(found) == 1 and found[0].execution_dirs


@pytest.mark.parametrize("subcommand", ["status", "sync"])
def test_neptune_command_starts_and_fails_only_on_the_connection(
    tracked: Tracked, subcommand: str
) -> None:
    """The tracking page's ``NEPTUNE_API_TOKEN=... neptune sync --path models_out/.neptune``,
    against a closed port of 127.0.0.1: it gets as far as connecting."""
    port = free_port()
    env = {
        **os.environ,
        "NEPTUNE_API_TOKEN": neptune_token(f"http://{HOST}:{port}"),
        "NEPTUNE_PROJECT": "ws/proj",
        "NEPTUNE_RETRIES_TIMEOUT": "2",  # seconds of retries before the client gives up
    }
    done = subprocess.run(
        [str(BIN / "neptune"), subcommand, "--path", str(tracked.out / ".neptune")],
        env=env,
        cwd=tracked.out,
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = done.stdout + done.stderr
    assert "ModuleNotFoundError" not in output and "ImportError" not in output, output[-3000:]
    assert "does not contain a '.neptune' folder" not in output, output[-3000:]
    assert done.returncode != 0, output[-3000:]
    assert f"host='{HOST}', port={port}" in output, output[-3000:]  # where it tried to connect
    assert "Connection refused" in output and "NeptuneConnectionLostException" in output
