"""No hyperparameter is taken for a secret: every key of every model preset's full run config
(``model.max_sentence_tokens`` included) reaches jsonl, Neptune, MLflow and TensorBoard with its
value, while a real token in the same config reaches none of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from metrics import namespaces as ns
from trainers.config import PRESETS
from trainers.runs.pipeline import PipelineConfig
from trainers.tracking import TrackerConfig, open_tracker

from .simulation import mlflow_run, neptune_containers, read_jsonl, read_neptune

TOKEN = "eyJhcGlfdG9rZW4iOiJwcmVzZXQtdGVzdCJ9PRESET99"
SINKS = ("jsonl", "neptune", "mlflow", "tensorboard")


def run_config(preset: str) -> dict[str, Any]:
    """The config ``train.py model=<preset>`` logs, plus a token under a secret key."""
    config = PipelineConfig.from_mapping(
        {"model": preset, "data": {"name": "all_4dir", "size": "tiny"}}
    ).to_dict()
    config["tracker"]["neptune_api_token"] = TOKEN
    return config


def tensorboard_texts(log_dir: Path) -> dict[str, str]:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    texts = {}
    for path in log_dir.glob("events.out.tfevents.*"):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.tag.endswith("/text_summary"):
                    text = value.tensor.string_val[0].decode()
                    texts[value.tag.removesuffix("/text_summary")] = text
    return texts


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("presets") / "models_out"
    expected: dict[str, dict[str, Any]] = {}
    with pytest.MonkeyPatch.context() as patch:
        for name in ("NEPTUNE_API_TOKEN", "NEPTUNE_PROJECT", "NEPTUNE_MODE"):
            patch.delenv(name, raising=False)
        patch.setenv("MLFLOW_TRACKING_TOKEN", TOKEN)
        patch.chdir(root.parent)
        config = TrackerConfig(sinks=SINKS, system_metrics=False)
        for preset in PRESETS:
            with open_tracker(config, root, root / "runs" / preset) as tracker:
                full = run_config(preset)
                flat = ns.flatten_parameters(full)
                sent = tracker.log_parameters(full)
                assert tracker.disabled == {}
            assert sent == {k: v for k, v in flat.items() if "neptune_api_token" not in k}
            expected[preset] = sent
    return {"root": root, "expected": expected}


def test_every_preset_key_is_logged(logged: dict[str, Any]) -> None:
    for preset, sent in logged["expected"].items():
        assert ns.parameter("model.name") in sent, preset
    entity = logged["expected"]["entity_memory"]
    assert entity[ns.parameter("model.max_sentence_tokens")] == 16


@pytest.mark.parametrize("sink", SINKS)
def test_every_preset_key_reaches_the_sink(logged: dict[str, Any], sink: str) -> None:
    root = logged["root"]
    for preset, sent in logged["expected"].items():
        run_dir = root / "runs" / preset
        if sink == "jsonl":
            stored = read_jsonl(run_dir).fields
        elif sink == "neptune":
            [operations] = neptune_containers(root / ".neptune", preset)
            stored = read_neptune(operations).fields
        elif sink == "mlflow":
            stored = mlflow_run(f"sqlite:///{root.resolve().as_posix()}/mlflow.db", preset)[
                1
            ].data.params
        else:
            stored = tensorboard_texts(run_dir / "tensorboard")
        text_only = sink in ("mlflow", "tensorboard")
        want = {k: str(v) if text_only else v for k, v in sent.items()}
        assert {k: stored.get(k) for k in want} == want, (sink, preset)


def test_the_planted_token_is_written_nowhere(logged: dict[str, Any]) -> None:
    written = [p for p in logged["root"].rglob("*") if p.is_file()]
    assert any(p.name == "mlflow.db" for p in written)
    assert [p for p in written if TOKEN.encode() in p.read_bytes()] == []
