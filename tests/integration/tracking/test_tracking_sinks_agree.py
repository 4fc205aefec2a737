"""metrics.jsonl, Neptune's offline log and MLflow hold the same names and values."""

from __future__ import annotations

import pytest

from metrics import namespaces as ns

from .conftest import FullRun
from .simulation import (
    Stored,
    mlflow_run,
    neptune_containers,
    read_jsonl,
    read_mlflow,
    read_neptune,
)

EPOCHS = range(5)


def expected_series_names() -> set[str]:
    names = {
        ns.epoch_metric(stage, metric)
        for stage in ("train", "val")
        for metric in ("loss", "accuracy")
    }
    names |= {ns.epoch_breakdown(("category",), (c,)) for c in ("dense", "simple")}
    names |= {ns.epoch_breakdown(("noun_count",), (n,)) for n in (2, 3, 4)}
    names |= {
        ns.epoch_breakdown(("category", "noun_count"), (c, n))
        for c in ("dense", "simple")
        for n in (2, 3, 4)
    }
    return names


@pytest.fixture(scope="module")
def stores(full_run: FullRun) -> dict[str, Stored]:
    jsonl = read_jsonl(full_run.run_dir)
    [operations] = neptune_containers(full_run.output_root / ".neptune", full_run.run_name)
    series_names = {name for name, _ in jsonl.series}
    return {
        "jsonl": jsonl,
        "neptune": read_neptune(operations),
        "mlflow": read_mlflow(full_run.tracking_uri, full_run.run_name, series_names, ("sim",)),
    }


def test_jsonl_holds_every_epoch_of_every_expected_series(stores: dict[str, Stored]) -> None:
    jsonl = stores["jsonl"]
    assert set(jsonl.series) == {
        (name, epoch) for name in expected_series_names() for epoch in EPOCHS
    }
    fields = set(jsonl.fields)
    by_epoch = [f for f in ns.BEST_FIELDS if f != "step"]  # step: with val_check_interval only
    assert {ns.best(f) for f in by_epoch} <= fields and ns.best("step") not in fields
    kept = [f for f in ns.TOP_EPOCH_FIELDS if f != "step"]
    assert {ns.top_epoch(rank, f) for rank in (1, 2, 3) for f in kept} <= fields
    assert {"parameters/model/lr", "parameters/seed", ns.data_field("version")} <= fields


@pytest.mark.parametrize("backend", ["neptune", "mlflow"])
def test_series_are_identical(stores: dict[str, Stored], backend: str) -> None:
    assert stores[backend].series == pytest.approx(stores["jsonl"].series, rel=1e-12)


def test_neptune_fields_are_identical(stores: dict[str, Stored]) -> None:
    assert stores["neptune"].fields == stores["jsonl"].fields


def test_mlflow_fields_are_identical(stores: dict[str, Stored]) -> None:
    mlflow = stores["mlflow"].fields
    expected = stores["jsonl"].fields
    assert set(mlflow) == set(expected)
    for name, value in expected.items():
        if name.startswith(ns.PARAMETERS) or isinstance(value, str):
            assert mlflow[name] == str(value), name  # params and tags are text
        else:
            assert mlflow[name] == pytest.approx(float(value), rel=1e-12), name


def test_artifacts_are_identical(stores: dict[str, Stored], full_run: FullRun) -> None:
    files = full_run.simulated.files
    kept = [entry.filename for entry in full_run.simulated.routine.policy.ranking()]
    expected = {ns.artifact("checkpoints", name) for name in [files.best_filename, *kept]}
    for backend in ("jsonl", "neptune", "mlflow"):
        assert stores[backend].artifacts == expected, backend
    for name in expected:
        assert (full_run.run_dir / name).is_file()  # artifacts/checkpoints/<file>


def test_nothing_is_written_outside_the_output_root(full_run: FullRun) -> None:
    assert list(full_run.cwd.iterdir()) == []
    assert (full_run.output_root / "mlflow.db").is_file()
    assert list((full_run.output_root / ".neptune").rglob("data-*.log"))
    assert list((full_run.run_dir / "tensorboard").glob("events.out.tfevents.*"))


def test_run_tags_reach_neptune_and_mlflow(full_run: FullRun) -> None:
    [operations] = neptune_containers(full_run.output_root / ".neptune", full_run.run_name)
    assert {"type": "AddStrings", "path": ["sys", "tags"], "values": ["sim"]} in operations
    _, run = mlflow_run(full_run.tracking_uri, full_run.run_name)
    assert run.data.tags["sim"] == "true"
    assert run.info.status == "FINISHED"
