"""A simulated training run: seeded fake probabilities through the real per-epoch routine,
checkpoints written by CheckpointManager, readers for what Neptune and MLflow stored."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainers.checkpoints import CheckpointFiles, CheckpointManager, TopKPolicy
from trainers.epoch import EpochOutcome, EpochRoutine
from trainers.tracking import Tracker
from trainers.tracking.tracker import RunStatus, Scalar

N_EXAMPLES = 60
SEED = 7


def metadata(n: int = N_EXAMPLES) -> pd.DataFrame:
    """A small metadata frame: 2 categories x 3 noun counts."""
    rng = np.random.default_rng(SEED)
    return pd.DataFrame(
        {"category": rng.choice(["simple", "dense"], n), "noun_count": rng.choice([2, 3, 4], n)}
    )


def labels(n: int = N_EXAMPLES) -> np.ndarray:
    return np.random.default_rng(SEED + 1).integers(0, 2, n)


def probabilities(epoch: int, y_true: np.ndarray) -> np.ndarray:
    """Fake probabilities that get better with the epoch; one RNG per epoch, so a resumed
    run sees exactly the numbers of an uninterrupted one."""
    rng = np.random.default_rng([SEED, epoch])
    signal = 0.15 + 0.05 * epoch
    return np.clip(
        0.5 + np.where(y_true == 1, signal, -signal) + rng.normal(0, 0.25, y_true.size), 0, 1
    )


def probabilities_with_accuracy(accuracy: float, y_true: np.ndarray) -> np.ndarray:
    """Probabilities whose accuracy is exactly ``accuracy`` (a multiple of 1/n)."""
    correct = round(accuracy * y_true.size)
    right = np.where(y_true == 1, 0.8, 0.2)
    return np.concatenate([right[:correct], 1.0 - right[correct:]])


@dataclass
class SimulatedRun:
    run_dir: Path
    files: CheckpointFiles
    routine: EpochRoutine
    manager: CheckpointManager
    outcomes: list[EpochOutcome] = field(default_factory=list)


def start(
    tracker: Tracker,
    run_dir: Path,
    policy: TopKPolicy | None = None,
    resume_epoch: int | None = None,
) -> SimulatedRun:
    files = CheckpointFiles.for_run(run_dir, "keras", "sim")
    routine = EpochRoutine(tracker, files, policy, resume_epoch=resume_epoch, echo=None)

    def save(path: Path) -> None:
        path.write_text(json.dumps({"weights_of_epoch": run.outcomes[-1].epoch}))

    run = SimulatedRun(run_dir, files, routine, CheckpointManager(files, save))
    return run


def train(
    run: SimulatedRun,
    epochs: Sequence[int],
    accuracies: Sequence[float] | None = None,
    save: bool = True,
) -> None:
    """Run the per-epoch routine; ``save=False`` skips the checkpoint files (a crash between
    the routine and the save)."""
    y_true, meta = labels(), metadata()
    for index, epoch in enumerate(epochs):
        if accuracies is None:
            y_prob = probabilities(epoch, y_true)
        else:
            y_prob = probabilities_with_accuracy(accuracies[index], y_true)
        outcome = run.routine(epoch, 0.7 - 0.05 * epoch, 0.5 + 0.04 * epoch, y_true, y_prob, meta)
        run.outcomes.append(outcome)
        if save:
            run.manager.apply(outcome.decision)


class BrokenSink:
    """Raises from its second epoch on, like a backend whose network went down."""

    name = "broken"

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        if step >= 1:
            raise ConnectionError("network is unreachable")

    def log_fields(self, fields: Mapping[str, Scalar]) -> None:
        pass

    def log_parameters(self, parameters: Mapping[str, Scalar]) -> None:
        pass

    def log_artifact(self, name: str, path: Path) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self, status: RunStatus) -> None:
        raise ConnectionError("network is unreachable")


# --- readers -------------------------------------------------------------------------------


@dataclass
class Stored:
    """What one backend holds: series ``{(name, step): value}``, fields ``{name: value}``
    (last value), artifact names."""

    series: dict[tuple[str, int], float] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    artifacts: set[str] = field(default_factory=set)


def read_jsonl(run_dir: Path) -> Stored:
    stored = Stored()
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["kind"] == "series":
            key = (record["name"], record["step"])
            assert key not in stored.series, f"duplicate series record {key}"
            stored.series[key] = record["value"]
        elif record["kind"] == "field":
            stored.fields[record["name"]] = record["value"]
        else:
            assert record["kind"] == "artifact"
            stored.artifacts.add(record["name"])
    return stored


NEPTUNE_OWN = ("sys/", "source_code/", "monitoring/")
#: MLflow's own system metrics (``tracker.system_metrics``).
MLFLOW_OWN = "system/"


def neptune_containers(data_dir: Path, run_name: str) -> list[list[dict[str, Any]]]:
    """Operations of every offline Neptune run named ``run_name`` under ``data_dir`` (one
    list per run, oldest run first), read from the ``data-*.log`` files, in version order."""
    containers = []
    for container in sorted({p.parent for p in data_dir.rglob("data-*.log")}):
        entries = [
            json.loads(line)
            for path in sorted(container.glob("data-*.log"))
            for line in path.read_text().splitlines()
        ]
        operations = [entry["obj"] for entry in sorted(entries, key=lambda e: e["version"])]
        names = [op["value"] for op in operations if op["path"] == ["sys", "name"]]
        if names == [run_name]:
            created = json.loads((container / "metadata.json").read_text())["createdAt"]
            containers.append((created, operations))
    assert containers, f"no offline Neptune run {run_name!r} under {data_dir}"
    return [operations for _, operations in sorted(containers, key=lambda item: item[0])]


def read_neptune(operations: list[dict[str, Any]]) -> Stored:
    """Series, fields and files of one offline run (Neptune's own ``sys/``,
    ``source_code/`` and ``monitoring/`` attributes left out)."""
    stored = Stored()
    for op in operations:
        name = "/".join(op["path"])
        if name.startswith(NEPTUNE_OWN):
            continue
        if op["type"] == "LogFloats":
            for point in op["values"]:
                key = (name, int(point["step"]))
                assert key not in stored.series, f"duplicate Neptune point {key}"
                stored.series[key] = point["value"]
        elif op["type"].startswith("Assign"):
            stored.fields[name] = op["value"]
        elif op["type"] == "UploadFile":
            assert Path(op["file_path"]).exists(), op["file_path"]
            stored.artifacts.add(name)
        else:
            raise AssertionError(f"unexpected Neptune operation {op}")
    return stored


def mlflow_run(tracking_uri: str, run_name: str) -> Any:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name("storyqa")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], f"tags.`storyqa.run_id` = '{run_name}'")
    assert len(runs) == 1
    return client, runs[0]


def read_mlflow(
    tracking_uri: str, run_name: str, series_names: set[str], run_tags: Sequence[str] = ()
) -> Stored:
    """Series (full metric histories of ``series_names``), fields (params, tags except
    MLflow's ``mlflow.*``, ``storyqa.*`` and the config's ``run_tags``, latest value of the
    other metrics except MLflow's ``system/...``) and artifacts."""
    client, run = mlflow_run(tracking_uri, run_name)
    stored = Stored()
    for name in run.data.metrics:
        if name.startswith(MLFLOW_OWN):
            continue
        if name in series_names:
            for metric in client.get_metric_history(run.info.run_id, name):
                key = (name, metric.step)
                assert key not in stored.series, f"duplicate MLflow point {key}"
                stored.series[key] = metric.value
        else:
            stored.fields[name] = run.data.metrics[name]
    stored.fields.update(run.data.params)
    stored.fields.update(
        {
            k: v
            for k, v in run.data.tags.items()
            if not k.startswith(("mlflow.", "storyqa.")) and k not in run_tags
        }
    )
    for folder in client.list_artifacts(run.info.run_id):
        for kind in client.list_artifacts(run.info.run_id, folder.path):
            for item in client.list_artifacts(run.info.run_id, kind.path):
                stored.artifacts.add(item.path)
    return stored
