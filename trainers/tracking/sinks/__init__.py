"""Tracking sinks, one module per backend. Only ``jsonl`` is imported eagerly; the Neptune,
MLflow and TensorBoard clients are imported when their sink is created."""

from trainers.tracking.sinks.jsonl import JsonlSink

__all__ = ["JsonlSink"]
