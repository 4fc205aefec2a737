"""Tracker fan-out: failing sinks are disabled once, closing always happens, secrets stay out."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from metrics import namespaces as ns
from trainers.tracking import DatasetInput, GitState, Invocation, RunContext, SecretFilter, Tracker
from trainers.tracking.tracker import RunStatus, Scalar, Sink

TOKEN = "tok-0123456789abcdef0123"
LOSS = ns.epoch_metric("train", "loss")


class RecordingSink:
    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.calls: list[tuple[str, Any]] = []
        self.closed_with: list[RunStatus] = []

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self.calls.append(("metrics", (dict(metrics), step)))

    def log_fields(self, fields: Mapping[str, Scalar]) -> None:
        self.calls.append(("fields", dict(fields)))

    def log_parameters(self, parameters: Mapping[str, Scalar]) -> None:
        self.calls.append(("parameters", dict(parameters)))

    def log_artifact(self, name: str, path: Path) -> None:
        self.calls.append(("artifact", (name, path)))

    def log_context(self, context: RunContext) -> None:
        self.calls.append(("context", context))

    def log_inputs(self, inputs: Sequence[DatasetInput]) -> None:
        self.calls.append(("inputs", list(inputs)))

    def flush(self) -> None:
        self.calls.append(("flush", None))

    def close(self, status: RunStatus) -> None:
        self.closed_with.append(status)


class FailingSink(RecordingSink):
    def __init__(self, fail_on: str, message: str = "connection refused") -> None:
        super().__init__("broken")
        self.fail_on = fail_on
        self.message = message

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        if self.fail_on == "metrics" and step >= 1:
            raise ConnectionError(self.message)
        super().log_metrics(metrics, step)

    def close(self, status: RunStatus) -> None:
        super().close(status)
        if self.fail_on == "close":
            raise OSError("disk error")


def test_sinks_satisfy_the_protocol() -> None:
    assert isinstance(RecordingSink(), Sink)


def test_a_failing_sink_is_disabled_after_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good, bad = RecordingSink(), FailingSink("metrics")
    with caplog.at_level(logging.WARNING), Tracker(tmp_path, [good, bad]) as tracker:
        for epoch in range(4):
            tracker.log_metric(LOSS, 0.5, epoch)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'broken'" in warnings[0].getMessage()
    assert "connection refused" in warnings[0].getMessage()
    assert [c for c in good.calls if c[0] == "metrics"] == [
        ("metrics", ({LOSS: 0.5}, epoch)) for epoch in range(4)
    ]
    assert [c[1][1] for c in bad.calls if c[0] == "metrics"] == [0]
    assert tracker.disabled == {"broken": "ConnectionError: connection refused"}
    assert tracker.sinks == (good,)
    assert bad.closed_with == ["finished"]  # disabled sinks are still closed


@pytest.mark.parametrize(
    ("error", "status"), [(RuntimeError, "failed"), (KeyboardInterrupt, "killed")]
)
def test_close_runs_on_exceptions_and_is_idempotent(
    tmp_path: Path, error: type[BaseException], status: str
) -> None:
    sink = RecordingSink()
    with pytest.raises(error), Tracker(tmp_path, [sink]) as tracker:
        tracker.log_metric(LOSS, 0.5, 0)
        raise error()
    tracker.close()
    assert sink.closed_with == [status]
    assert tracker.closed


def test_a_sink_failing_on_close_does_not_stop_the_others(tmp_path: Path) -> None:
    first, second = FailingSink("close"), RecordingSink()
    Tracker(tmp_path, [first, second]).close()
    assert first.closed_with == ["finished"] and second.closed_with == ["finished"]


def test_logging_after_close_is_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sink = RecordingSink()
    tracker = Tracker(tmp_path, [sink])
    tracker.close()
    tracker.log_metric(LOSS, 0.1, 0)
    assert sink.calls == []
    assert "already closed" in caplog.text


def test_parameters_and_fields_are_free_of_secrets(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = RecordingSink()
    secrets = SecretFilter(environ={"NEPTUNE_API_TOKEN": TOKEN})
    tracker = Tracker(tmp_path, [sink, FailingSink("metrics", f"401 for {TOKEN}")], secrets)
    logged = tracker.log_parameters(
        {"model": {"lr": 0.01}, "neptune": {"api_token": TOKEN, "url": TOKEN}, "x": [TOKEN]}
    )
    assert logged == {"parameters/model/lr": 0.01}
    tracker.log_fields({ns.data_field("path"): f"/data/{TOKEN}", ns.best("epoch"): np.int64(3)})
    tracker.log_metric(LOSS, 0.3, 1)
    fields = next(c[1] for c in sink.calls if c[0] == "fields")
    assert fields == {"data/path": "/data/***", "best/epoch": 3}
    assert type(fields["best/epoch"]) is int
    assert TOKEN not in repr(sink.calls) and TOKEN not in caplog.text
    assert TOKEN not in repr(tracker.disabled)


def test_artifacts_are_kept_under_the_run_dir(tmp_path: Path) -> None:
    sink = RecordingSink()
    source = tmp_path / "checkpoints" / "best.ckpt"
    source.parent.mkdir()
    source.write_bytes(b"weights")
    tracker = Tracker(tmp_path, [sink])
    kept = tracker.log_artifact("checkpoints", source)
    source.unlink()  # top-k rotation deletes the original
    assert kept == tmp_path / "artifacts" / "checkpoints" / "best.ckpt"
    assert kept.read_bytes() == b"weights"
    assert sink.calls == [("artifact", ("artifacts/checkpoints/best.ckpt", kept))]
    assert tracker.log_artifact("checkpoints", tmp_path / "missing.ckpt") is None


class OldSink:
    """A sink written before contexts and dataset inputs existed."""

    name = "old"

    def __init__(self) -> None:
        self.fields: list[dict[str, Scalar]] = []

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        pass

    def log_fields(self, fields: Mapping[str, Scalar]) -> None:
        self.fields.append(dict(fields))

    def log_parameters(self, parameters: Mapping[str, Scalar]) -> None:
        pass

    def log_artifact(self, name: str, path: Path) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self, status: RunStatus) -> None:
        pass


def test_context_and_inputs_reach_the_sinks_redacted_and_old_sinks_are_skipped(
    tmp_path: Path,
) -> None:
    sink, old = RecordingSink(), OldSink()
    secrets = SecretFilter(environ={"NEPTUNE_API_TOKEN": TOKEN})
    context = RunContext.collect(
        run_id="r1",
        model="lstm",
        framework="keras",
        dataset="all_4dir-tiny-1234abcd",
        seed=1,
        invocation=Invocation(("python", "train.py", f"note={TOKEN}", "+x.api_key=k-123")),
        redact_command=secrets.redact_command,
    )
    dataset = DatasetInput("all_4dir-tiny-1234abcd", "1234abcd-training", "training", "/d", 60)
    with Tracker(tmp_path, [sink, old], secrets) as tracker:
        tracker.log_context(context)
        tracker.log_inputs([dataset])
        tracker.log_field(ns.best("epoch"), 1)
    assert tracker.disabled == {}
    logged = next(c[1] for c in sink.calls if c[0] == "context")
    assert logged.command == "python train.py 'note=***' '+x.api_key=***'"
    assert logged.description == "lstm on all_4dir-tiny-1234abcd seed 1"
    assert ("inputs", [dataset]) in sink.calls
    assert old.fields == [{ns.best("epoch"): 1}]  # skipped the new methods, still enabled


def test_run_context_fields_tags_and_git(tmp_path: Path) -> None:
    context = RunContext(
        run_id="r1", model="transformer", framework="lightning", dataset="d-1", seed=0,
        sweep="20260101-000000", git=GitState("abc123", "main", True), user="ada",
    )  # fmt: skip
    assert context.description == "transformer on d-1 seed 0, sweep 20260101-000000"
    assert context.tags() == {
        "model": "transformer", "framework": "lightning", "dataset": "d-1", "seed": "0",
        "sweep": "20260101-000000",
    }  # fmt: skip
    assert "seed:0" in context.labels() and "sweep:20260101-000000" in context.labels()
    fields = context.fields()
    assert fields[ns.context_field("git/commit")] == "abc123"
    assert fields[ns.context_field("git/dirty")] is True
    assert fields[ns.context_field("user")] == "ada"
    plain = RunContext(run_id="r1", model="m", framework="keras", dataset="d", seed=2)
    assert not any(name.startswith("context/git/") for name in plain.fields())
    assert ns.context_field("sweep") not in plain.fields() and "sweep" not in plain.tags()


def test_git_state_is_none_outside_a_checkout_and_read_inside(tmp_path: Path) -> None:
    assert GitState.of(tmp_path) is None  # not a checkout: nothing, no error

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q", "-b", "work")
    (tmp_path / "a.txt").write_text("1")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    state = GitState.of(tmp_path)
    assert state is not None and state.branch == "work" and not state.dirty
    assert len(state.commit) == 40
    (tmp_path / "a.txt").write_text("2")
    assert GitState.of(tmp_path) == GitState(state.commit, "work", True)
    (tmp_path / "sub").mkdir()
    assert GitState.of(tmp_path / "sub") is None  # inside another repository: not storyqa's


def test_write_artifact_keeps_the_file_under_the_run_dir(tmp_path: Path) -> None:
    sink = RecordingSink()
    tracker = Tracker(tmp_path, [sink])
    kept = tracker.write_artifact("model", "model_summary.txt", "layer table\n")
    assert kept == tmp_path / "artifacts" / "model" / "model_summary.txt"
    assert kept.read_text() == "layer table\n"
    assert sink.calls == [("artifact", ("artifacts/model/model_summary.txt", kept))]
