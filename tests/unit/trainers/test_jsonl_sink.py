"""The jsonl sink's exact format, flushing and resume truncation."""

from __future__ import annotations

import json
from pathlib import Path

from metrics import namespaces as ns
from metrics.history import epoch_history
from trainers.tracking.sinks.jsonl import JsonlSink

LOSS = ns.epoch_metric("train", "loss")
ACC = ns.epoch_metric("val", "accuracy")


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_exact_format_and_flush_before_close(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path)
    sink.log_metrics({LOSS: 0.69}, step=3)
    sink.log_fields({ns.best("epoch"): 3, ns.best("checkpoint"): "a.ckpt"})
    sink.log_fields({ns.best("epoch"): 3})  # unchanged: not repeated
    artifact = tmp_path / "artifacts" / "plots" / "curve.png"
    sink.log_artifact(ns.artifact("plots", "curve.png"), artifact)
    sink.flush()
    assert (tmp_path / "metrics.jsonl").read_text().splitlines() == [
        '{"name": "metrics/train/loss", "value": 0.69, "step": 3, "kind": "series"}',
        '{"name": "best/epoch", "value": 3, "kind": "field"}',
        '{"name": "best/checkpoint", "value": "a.ckpt", "kind": "field"}',
        '{"name": "artifacts/plots/curve.png", "path": "artifacts/plots/curve.png", '
        '"kind": "artifact"}',
    ]
    sink.close("finished")
    sink.close("finished")


def write_epochs(sink: JsonlSink, epochs: range) -> None:
    for epoch in epochs:
        sink.log_metrics({LOSS: 1.0 / (epoch + 1), ACC: 0.5 + epoch / 100}, step=epoch)
        sink.log_fields({ns.best("epoch"): epoch})
        sink.flush()


def test_resume_drops_the_interrupted_epochs(tmp_path: Path) -> None:
    reference_dir = tmp_path / "reference"
    reference = JsonlSink(reference_dir)
    reference.log_parameters({"parameters/seed": 0})
    write_epochs(reference, range(5))
    reference.close("finished")

    run_dir = tmp_path / "resumed"
    first = JsonlSink(run_dir)
    first.log_parameters({"parameters/seed": 0})
    write_epochs(first, range(4))  # epochs 0..3 logged, last checkpoint after epoch 2
    first._file.write('{"name": "metrics/train/lo')  # a line cut short by the crash
    first._file.flush()

    resumed = JsonlSink(run_dir, resume_step=3)
    resumed.log_parameters({"parameters/seed": 0})  # unchanged: not repeated
    write_epochs(resumed, range(3, 5))
    resumed.close("finished")

    assert lines(run_dir / "metrics.jsonl") == lines(reference_dir / "metrics.jsonl")
    history = epoch_history(run_dir / "metrics.jsonl")
    assert history.index.tolist() == [0, 1, 2, 3, 4]


def test_reopen_without_resume_appends(tmp_path: Path) -> None:
    JsonlSink(tmp_path).close("finished")
    first = JsonlSink(tmp_path)
    write_epochs(first, range(2))
    first.close("finished")
    again = JsonlSink(tmp_path)
    again.log_fields({ns.best("epoch"): 1})  # same as the last value on file
    again.log_fields({ns.eval_metric("test", "accuracy"): 0.9})
    again.close("failed")
    records = lines(tmp_path / "metrics.jsonl")
    assert len(records) == 2 * 3 + 1
    assert records[-1] == {"name": "eval/test/accuracy", "value": 0.9, "kind": "field"}
