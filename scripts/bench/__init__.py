"""Benchmark sections for ``scripts/benchmark.py``: one module per section, each exposing
``run(quick: bool) -> list[BenchmarkRow]``."""
