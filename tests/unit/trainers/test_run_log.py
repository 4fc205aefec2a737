"""``run.log`` and the console lines of storyqa's warnings (``trainers/runs/logs.py``): one
handler per run, removed and closed afterwards, appended on resume, nothing twice, no secret."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.conftest import REPO_ROOT
from trainers.runs.logs import (
    RUN_LOG_FILE,
    STORYQA_LOGGERS,
    ConsoleFormatter,
    ConsoleHandler,
    RunLogHandler,
    run_log,
)
from trainers.tracking.secrets import SecretFilter

TOKEN = "tok-0123456789abcdef0123"
#: ``2026-01-31 12:00:00 WARNING trainers.x: message``
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|WARNING|ERROR) [\w.]+: .+$")
warn = logging.getLogger("trainers.tracking.demo").warning


def run_log_handlers() -> list[RunLogHandler]:
    """The run-log handlers on storyqa's loggers and the root (each once)."""
    found = {
        id(handler): handler
        for name in (*STORYQA_LOGGERS, "")
        for handler in logging.getLogger(name).handlers
        if isinstance(handler, RunLogHandler)
    }
    return list(found.values())


def messages(run_dir: Path) -> list[str]:
    lines = (run_dir / RUN_LOG_FILE).read_text(encoding="utf-8").splitlines()
    assert all(LINE.match(line) for line in lines), lines
    return [line.split(" ", 3)[3] for line in lines]  # logger: message


def test_lines_are_written_then_the_handler_is_removed_and_closed(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "a"
    levels = {name: logging.getLogger(name).level for name in STORYQA_LOGGERS}
    with run_log(run_dir) as path:
        assert path == run_dir / RUN_LOG_FILE
        (handler,) = run_log_handlers()
        assert all(handler in logging.getLogger(name).handlers for name in STORYQA_LOGGERS)
        logging.getLogger("stories.demo").info("dataset reused")
        warn("tracking sink %r disabled", "mlflow")
        logging.getLogger("metrics.history").error("bad line")
    assert run_log_handlers() == []
    assert handler.stream is None  # closed
    assert {name: logging.getLogger(name).level for name in STORYQA_LOGGERS} == levels
    warn("after the run")  # goes nowhere near the file
    assert messages(run_dir) == [
        "trainers.runs.logs: run a started",
        "stories.demo: dataset reused",
        "trainers.tracking.demo: tracking sink 'mlflow' disabled",
        "metrics.history: bad line",
        "trainers.runs.logs: run a ended: finished",
    ]


def test_a_resumed_run_appends_to_its_log(tmp_path: Path) -> None:
    with run_log(tmp_path / "a"):
        warn("first attempt")
    with run_log(tmp_path / "a"):
        warn("second attempt")
    assert messages(tmp_path / "a") == [
        "trainers.runs.logs: run a started",
        "trainers.tracking.demo: first attempt",
        "trainers.runs.logs: run a ended: finished",
        "trainers.runs.logs: run a resumed",
        "trainers.tracking.demo: second attempt",
        "trainers.runs.logs: run a ended: finished",
    ]


def test_two_runs_in_one_process_each_log_their_own_lines_once(tmp_path: Path) -> None:
    for name in ("a", "b"):
        with run_log(tmp_path / name):
            warn("warning of %s", name)
    for name, other in (("a", "b"), ("b", "a")):
        lines = messages(tmp_path / name)
        assert lines.count(f"trainers.tracking.demo: warning of {name}") == 1
        assert f"trainers.tracking.demo: warning of {other}" not in lines
        assert len(lines) == 3
    assert run_log_handlers() == []


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (ValueError("bad value\nmore detail"), "failed (ValueError: bad value)"),
        (KeyboardInterrupt(), "interrupted"),
    ],
)
def test_a_failed_or_interrupted_run_says_so_and_leaves_no_handler(
    tmp_path: Path, error: BaseException, outcome: str
) -> None:
    with pytest.raises(type(error)), run_log(tmp_path / "a"):
        raise error
    assert messages(tmp_path / "a")[-1] == f"trainers.runs.logs: run a ended: {outcome}"
    assert run_log_handlers() == []


def test_no_secret_reaches_the_log_or_the_console(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NEPTUNE_API_TOKEN", TOKEN)
    console = ConsoleHandler()
    console.setFormatter(ConsoleFormatter())
    demo = logging.getLogger("trainers.tracking.demo")
    demo.addHandler(console)
    try:
        with run_log(tmp_path / "a"):
            warn("checkpoint save to /x/%s failed", TOKEN)
            warn("server https://alice:s3cret@mlflow.example.com refused")
            try:
                raise OSError(f"denied for {TOKEN}")
            except OSError:
                demo.exception("artifact not recorded")
    finally:
        demo.removeHandler(console)
    written = (tmp_path / "a" / RUN_LOG_FILE).read_text(encoding="utf-8")
    shown = capsys.readouterr().err
    for text in (written, shown):
        assert TOKEN not in text and "s3cret" not in text
        assert "/x/*** failed" in text and "alice:***@mlflow.example.com" in text
        assert "OSError: denied for ***" in text  # the traceback too
    assert shown.startswith("warning: checkpoint save to /x/*** failed\n")
    assert "error: artifact not recorded\n" in shown


def test_a_log_that_cannot_be_written_says_so_once_and_the_run_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    class FullDisk:
        def write(self, text: str) -> None:
            raise OSError(28, "No space left on device")

        def flush(self) -> None:
            pass

        def close(self) -> None:
            pass

    with run_log(tmp_path / "a"):
        (handler,) = run_log_handlers()
        handler.stream.close()  # type: ignore[union-attr]
        handler.stream = FullDisk()  # type: ignore[assignment]
        warn("one")
        warn("two")
    err = capsys.readouterr().err
    assert err.count("not written: [Errno 28] No space left on device") == 1
    assert "Traceback" not in err and "Logging error" not in err


def test_a_ddp_worker_writes_no_log(tmp_path: Path) -> None:
    with run_log(tmp_path / "a", enabled=False) as path:
        warn("from rank 1")
    assert path is None and not (tmp_path / "a").exists()


def test_console_lines_look_like_the_cli_error_lines() -> None:
    record = logging.LogRecord("trainers.x", logging.WARNING, "", 0, "sink %r off", ("x",), None)
    assert ConsoleFormatter(SecretFilter(environ={})).format(record) == "warning: sink 'x' off"


@pytest.mark.parametrize("group", ["job_logging", "hydra_logging"])
def test_the_hydra_logging_configs_cover_storyqa_loggers_only(group: str) -> None:
    config = OmegaConf.to_container(
        OmegaConf.load(REPO_ROOT / "conf/hydra" / group / "storyqa.yaml")
    )
    assert isinstance(config, dict)
    assert config["disable_existing_loggers"] is True  # third-party loggers: as quiet as before
    assert config["root"] == {"level": "ERROR"}
    console = {name for name, c in config["loggers"].items() if c.get("handlers") == ["console"]}
    assert console == set(STORYQA_LOGGERS)
    assert {"hydra", "hydra_plugins"} <= set(config["loggers"])  # the launcher's job lines
    assert config["handlers"]["console"]["level"] == "WARNING"


@pytest.mark.parametrize("script", ["train", "evaluate", "compare", "diagnose", "generate_data"])
def test_every_script_uses_storyqa_logging(script: str) -> None:
    defaults = OmegaConf.to_container(OmegaConf.load(REPO_ROOT / "conf" / f"{script}.yaml"))
    assert isinstance(defaults, dict)
    entries = [entry for entry in defaults["defaults"] if isinstance(entry, dict)]
    assert {"override hydra/job_logging": "storyqa"} in entries
    assert {"override hydra/hydra_logging": "storyqa"} in entries
