"""A real ``mlflow server`` on the sqlite store lists the run and its metric names."""

from __future__ import annotations

import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from metrics import namespaces as ns
from tests.servers import HOST, fetch_json, free_port, serving

from .conftest import FullRun
from .simulation import read_jsonl


def call(base: str, path: str, body: dict[str, Any] | None = None, **query: str) -> Any:
    """The JSON answer of MLflow's REST API at ``base + path`` with ``query``."""
    return fetch_json(
        f"{base}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else ""), body
    )


@pytest.mark.slow
def test_mlflow_server_lists_the_run_and_its_metrics(full_run: FullRun, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://{HOST}:{port}"
    log = tmp_path / "mlflow-server.log"
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", full_run.tracking_uri,
        "--default-artifact-root", (tmp_path / "artifacts").as_uri(),
        "--host", HOST, "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    with serving(command, f"{base}/health", log):
        experiment = call(
            base, "/api/2.0/mlflow/experiments/get-by-name", experiment_name="storyqa"
        )
        experiment_id = experiment["experiment"]["experiment_id"]
        found = call(
            base,
            "/api/2.0/mlflow/runs/search",
            {
                "experiment_ids": [experiment_id],
                "filter": f"tags.`storyqa.run_id` = '{full_run.run_name}'",
            },
        )
        [run] = found["runs"]
        assert run["info"]["run_name"] == full_run.run_name
        served = {metric["key"] for metric in run["data"]["metrics"]}
        logged = {name for name, _ in read_jsonl(full_run.run_dir).series}
        assert logged <= served
        assert ns.best("val_accuracy") in served
        history = call(
            base,
            "/api/2.0/mlflow/metrics/get-history",
            run_id=run["info"]["run_id"],
            metric_key=ns.epoch_metric("val", "accuracy"),
        )
        assert sorted(point["step"] for point in history["metrics"]) == [0, 1, 2, 3, 4]
