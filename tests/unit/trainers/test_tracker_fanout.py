"""Tracker fan-out: failing sinks are disabled once, closing always happens, secrets stay out."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from metrics import namespaces as ns
from trainers.tracking import SecretFilter, Tracker
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
