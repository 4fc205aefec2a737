"""Prediction with a trained model: ``Predictor.predict`` against the bare model's forward pass
over the same batches, and the served MLflow model's latency next to the in-process call's.

One run is trained for it (the ``transformer`` preset, 1 epoch on ``tiny`` data, MLflow sink
on: the model it logs is the one served). It predicts a fixed sample of the ``test`` split of
the ``default`` data (``tiny`` with ``--quick``): 21-30 actors, the longest stories. Words of
that split the tiny run never saw are read as ``[UNK]`` (``allow_unknown_words``).

Throughput: the two sides take turns on one thread (:func:`~scripts.bench.trials.take_turns`:
one warm-up each, then :data:`PAIRS` pairs A B, B A, ...); the ratio is the median of the pairs'
``bare seconds / predict seconds`` in CPU time with its 95% interval, met when the interval's
lower end clears the goal. Latency: served and in-process calls alternate by figure, each the
median and 95th percentile of a few requests after one warm-up.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scripts.bench.common import BenchmarkRow, estimate_row, paired_ratio, seconds
from scripts.bench.stats import Estimate, Goal, median_estimate
from scripts.bench.trials import InProcess, Sample, take_turns

SECTION = "predict"
GOAL = Goal(0.90)
#: Pairs of throughput trials (12 give a 96% interval between the 3rd and the 10th).
PAIRS = 12
#: Threads of both throughput sides (one: no thread pool's spinning in the CPU time).
THREADS = 1
SERVE_START_S = 180
#: The server's limit on one request (MLflow's default, 60 s, is too short for a batch of the
#: longest stories on a busy 2-core machine).
REQUEST_TIMEOUT_S = 600


@dataclass(frozen=True)
class Settings:
    """Sizes of the section.

    Attributes:
        size: The dataset size whose ``test`` split is sampled.
        stories: Stories of the sample (each throughput trial predicts all of them).
        requests: Requests per latency figure of one story.
        batch: Stories in one request of the batch latency figure.
        batch_requests: Requests per latency figure of a batch.
        model: Overrides of the ``transformer`` preset.
    """

    size: str
    stories: int
    requests: int
    batch: int
    batch_requests: int
    model: tuple[tuple[str, int], ...] = ()


SETTINGS = {
    False: Settings("default", 64, 30, 64, 3),
    # A smoke run: a small Transformer on the tiny data.
    True: Settings(
        "tiny", 32, 5, 16, 2, (("d_model", 16), ("nhead", 2), ("d_hid", 32), ("nlayers", 1))
    ),
}


def train_run(output: Path, settings: Settings) -> Path:
    """A 1-epoch ``transformer`` run on ``tiny`` data with the MLflow sink on."""
    from trainers.runs.pipeline import run_pipeline

    result = run_pipeline(
        {
            "model": {"name": "transformer", **dict(settings.model)},
            "data": {"name": "all_4dir", "size": "tiny"},
            "trainer": {"max_epochs": 1, "progress": False},
            "tracker": {"sinks": ["jsonl", "mlflow"]},
            "output_dir": str(output),
            "evaluate_splits": ["test"],
        },
        progress=False,
    )
    return Path(result["run_dir"])


def bare_forward(predictor: Any, stories: list[str], questions: list[str]) -> Callable[[], None]:
    """The network alone on the batches ``trainer.predict`` makes (sorted by length, cut to
    their longest row), encoded and on tensors beforehand."""
    import torch

    from trainers.runs.inputs import cut_batch, input_arrays, sorted_batches

    inputs, lengths = input_arrays(predictor.loaded.encode(stories, questions))
    size = int(predictor.loaded.trainer.config.eval_batch_size)
    tensors = [
        torch.from_numpy(cut_batch(inputs, rows)["input_ids"].astype(np.int64))
        for rows in sorted_batches(lengths, size)
    ]
    model = predictor.model.eval()

    def run() -> None:
        with torch.inference_mode():
            for ids in tensors:
                model(ids)

    return run


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def served(model_uri: str, tracking_uri: str, folder: Path) -> Iterator[int]:
    """``mlflow models serve`` of ``model_uri`` on a free port of 127.0.0.1, waited for (at
    most :data:`SERVE_START_S`), stopped at the end."""
    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [str(bin_dir / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager",
               "local", "-h", "127.0.0.1", "-p", str(port),
               "-t", str(REQUEST_TIMEOUT_S)]  # fmt: skip
    with (folder / "serve.log").open("w") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait(port, process)
            yield port
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            finally:  # the server's worker too, whatever state it is in
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


def _wait(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVE_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow models serve exited with {process.returncode}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5),
        ):
            return
        time.sleep(0.5)
    raise RuntimeError(f"mlflow models serve did not answer within {SERVE_START_S} s")


def post(port: int, records: list[dict[str, str]]) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=json.dumps({"dataframe_records": records}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
        response.read()


def latencies(call: Callable[[], object], requests: int) -> tuple[float, float]:
    """Median and 95th percentile of ``requests`` calls, in milliseconds (one warm-up call
    first)."""
    call()
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), float(np.percentile(times, 95))


def run(quick: bool = False) -> list[BenchmarkRow]:
    from stories import build_dataset
    from trainers.runs.predict import Predictor
    from trainers.runs.serving import LoggedModel

    settings = SETTINGS[quick]
    with tempfile.TemporaryDirectory(prefix="storyqa-bench-predict-") as scratch:
        folder = Path(scratch)
        run_dir = train_run(folder / "models_out", settings)
        predictor = Predictor.from_run(run_dir, allow_unknown_words=True)
        test = build_dataset("all_4dir", size=settings.size, seed=0, progress=False)["test"]
        sample = np.random.default_rng(0).permutation(len(test))[: settings.stories]
        stories = test["story"].iloc[sample].tolist()
        questions = test["question"].iloc[sample].tolist()
        print(f"predict: {len(stories):,} stories, throughput...", file=sys.stderr, flush=True)
        rows = _throughput(predictor, stories, questions, settings)
        print("predict: latency of the served model...", file=sys.stderr, flush=True)
        logged = LoggedModel.load(run_dir)
        with served(logged.model_uri, logged.tracking_uri, folder) as port:
            rows += _latency(predictor, port, stories, questions, settings)
    return rows


def _throughput(
    predictor: Any, stories: list[str], questions: list[str], settings: Settings
) -> list[BenchmarkRow]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        paired = take_turns(
            InProcess("Predictor.predict", lambda: predictor.predict(stories, questions)),
            InProcess("bare forward", bare_forward(predictor, stories, questions)),
            pairs=PAIRS,
        )
    finally:
        torch.set_num_threads(threads)
    ratio = paired_ratio(paired.second, paired.first)
    model = ", ".join(f"{k}={v}" for k, v in settings.model) or "as preset"
    note = (
        f"{len(stories):,} stories sampled from all_4dir-{settings.size} test; transformer "
        f"({model}); {THREADS} thread, wall time, {PAIRS} trials each in turns"
    )
    return [
        estimate_row(SECTION, "Predictor.predict", _per_second(paired.first, len(stories)),
                     "stories/s", note=note),
        estimate_row(SECTION, "bare forward, same batches",
                     _per_second(paired.second, len(stories)), "stories/s", note=note),
        estimate_row(SECTION, "Predictor.predict vs bare forward", ratio, "x", goal=GOAL,
                     note="median of the pairs' bare / predict CPU seconds"),
    ]  # fmt: skip


def _per_second(samples: list[Sample], stories: int) -> Estimate:
    """Stories per wall-clock second of each trial: median and interval."""
    return median_estimate([stories / s for s in seconds(samples, "wall")])


def _latency(
    predictor: Any, port: int, stories: list[str], questions: list[str], settings: Settings
) -> list[BenchmarkRow]:
    rows = []
    for size in (1, settings.batch):
        picked = [(stories[i % len(stories)], questions[i % len(stories)]) for i in range(size)]
        records = [{"story": s, "question": q} for s, q in picked]
        batch_stories, batch_questions = [s for s, _ in picked], [q for _, q in picked]
        requests = settings.requests if size == 1 else settings.batch_requests
        served_ms = latencies(functools.partial(post, port, records), requests)
        local_ms = latencies(
            functools.partial(predictor.predict, batch_stories, batch_questions), requests
        )
        what = "1 story" if size == 1 else f"batch of {size}"
        note = f"{requests} requests after 1 warm-up; ms"
        for label, (median, p95) in (("served", served_ms), ("in-process", local_ms)):
            rows.append(BenchmarkRow(SECTION, f"{label}, {what}, median", median, "ms", note=note))
            rows.append(BenchmarkRow(SECTION, f"{label}, {what}, p95", p95, "ms", note=note))
    return rows
