"""TrackerConfig validation and resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainers.tracking import TrackerConfig, TrackerConfigError


def test_defaults_are_jsonl_neptune_mlflow() -> None:
    assert TrackerConfig().sinks == ("jsonl", "neptune", "mlflow")


def test_jsonl_is_always_on_and_first() -> None:
    assert TrackerConfig(sinks=("mlflow", "tensorboard")).sinks == (
        "jsonl",
        "mlflow",
        "tensorboard",
    )
    assert TrackerConfig(sinks=()).sinks == ("jsonl",)


@pytest.mark.parametrize(
    ("mapping", "key"),
    [
        ({"sink": ["jsonl"]}, "tracker.sink:"),
        ({"sinks": ["jsonl", "wandb"]}, "tracker.sinks:"),
        ({"sinks": "jsonl,mlflow"}, "tracker.sinks:"),
        ({"neptune_mode": "online"}, "tracker.neptune_mode:"),
        ({"mlflow_experiment": " "}, "tracker.mlflow_experiment:"),
        ({"tensorboard_dir": 3}, "tracker.tensorboard_dir:"),
        ({"tags": ["ok", ""]}, "tracker.tags:"),
    ],
)
def test_errors_name_the_bad_key(mapping: dict[str, object], key: str) -> None:
    with pytest.raises(TrackerConfigError, match=key):
        TrackerConfig.from_mapping(mapping)


def test_from_mapping_accepts_lists() -> None:
    config = TrackerConfig.from_mapping({"sinks": ["mlflow"], "tags": ["a", "b"]})
    assert config.sinks == ("jsonl", "mlflow") and config.tags == ("a", "b")


def test_resolve_defaults_under_the_output_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEPTUNE_API_TOKEN", raising=False)
    monkeypatch.delenv("NEPTUNE_PROJECT", raising=False)
    resolved = TrackerConfig().resolve(tmp_path / "out", tmp_path / "out" / "runs" / "r1")
    root = (tmp_path / "out").resolve()
    assert resolved.mlflow_tracking_uri == f"sqlite:///{root.as_posix()}/mlflow.db"
    assert resolved.neptune_data_dir == root / ".neptune"
    assert resolved.mlflow_artifact_location == (root / "mlartifacts").as_uri()
    assert resolved.tensorboard_dir == root / "runs" / "r1" / "tensorboard"
    assert resolved.neptune_mode == "offline"


def test_auto_mode_is_async_only_with_token_and_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEPTUNE_API_TOKEN", "t" * 20)
    monkeypatch.delenv("NEPTUNE_PROJECT", raising=False)
    assert TrackerConfig().resolve("o", "o/r").neptune_mode == "offline"
    assert TrackerConfig(neptune_project="ws/p").resolve("o", "o/r").neptune_mode == "async"
    monkeypatch.setenv("NEPTUNE_PROJECT", "ws/q")
    resolved = TrackerConfig().resolve("o", "o/r")
    assert (resolved.neptune_mode, resolved.neptune_project) == ("async", "ws/q")
    assert TrackerConfig(neptune_mode="offline").resolve("o", "o/r").neptune_mode == "offline"


def test_neptune_custom_run_id_fits_neptune_limit() -> None:
    from trainers.tracking.sinks.neptune import NeptuneSink

    short = "lstm-all_4dir-20250101-000000-abcd"
    long = "transformer_paper-all_4dir-20250101-000000-abcd"
    assert NeptuneSink.custom_run_id(short) == short
    assert len(NeptuneSink.custom_run_id(long)) == NeptuneSink.MAX_CUSTOM_RUN_ID
    assert NeptuneSink.custom_run_id(long) == NeptuneSink.custom_run_id(long)


@pytest.mark.parametrize("key", TrackerConfig.URI_KEYS)
@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("https://alice:s3cret@mlflow.example.com/", "https://alice:***@mlflow.example.com/"),
        ("postgresql://bob:pw@db:5432/mlflow", "postgresql://bob:***@db:5432/mlflow"),
    ],
)
def test_a_password_inside_a_uri_is_refused_without_being_shown(key, uri, shown):
    with pytest.raises(TrackerConfigError) as error:
        TrackerConfig(**{key: uri})
    message = str(error.value)
    assert message.startswith(f"tracker.{key}: holds a password ({shown})")
    assert "MLFLOW_TRACKING_PASSWORD" in message
    assert uri.split("@")[0].split(":")[-1] not in message.replace("***", "")


@pytest.mark.parametrize(
    "uri", ["sqlite:////tmp/mlflow.db", "https://mlflow.example.com", "postgresql://bob@db/m"]
)
def test_uris_without_a_password_are_accepted(uri):
    assert TrackerConfig(mlflow_tracking_uri=uri).mlflow_tracking_uri == uri


def test_system_metrics_is_on_by_default_and_a_switch() -> None:
    assert TrackerConfig().system_metrics is True
    config = TrackerConfig.from_mapping({"system_metrics": False})
    assert config.resolve("out", "out/runs/r").system_metrics is False
    with pytest.raises(TrackerConfigError, match=r"tracker\.system_metrics:"):
        TrackerConfig.from_mapping({"system_metrics": "no"})
