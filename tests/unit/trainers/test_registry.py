"""The model registry: register, list, get, damage, and parallel writers."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from trainers.records.manifest import RunManifest
from trainers.records.registry import Registry, RegistryEntry, RegistryError, output_root_of


def entry(run_id: str, framework: str = "keras") -> RegistryEntry:
    return RegistryEntry(run_id=run_id, framework=framework, model="m", run_dir=f"runs/{run_id}")


def test_register_replaces_same_run_and_filters(tmp_path):
    registry = Registry(tmp_path)
    registry.register(entry("a"))
    registry.register(entry("b", "lightning"))
    registry.register(RegistryEntry(run_id="a", framework="keras", model="m2", run_dir="runs/a"))
    assert [e.run_id for e in registry.list()] == ["b", "a"]
    assert registry.get("a").model == "m2"
    assert [e.run_id for e in registry.list(framework="lightning")] == ["b"]
    registry.remove("b")
    with pytest.raises(RegistryError, match=r"'b' is not in .*latest: a"):
        registry.get("b")


def test_register_run_reads_the_manifest(tmp_path):
    run_dir = tmp_path / "runs" / "lstm-x-1"
    manifest = RunManifest.start(run_dir, framework="keras", model="lstm", seed=2)
    manifest.update(
        checkpoints={"best": "checkpoints/best.weights.h5"},
        best={"epoch": 1, "val_accuracy": 0.7},
        evaluation={"test": {"accuracy": 0.6}},
        dataset={"name": "all_4dir", "version": "v", "hash": "h", "path": "/p"},
    )
    got = Registry(tmp_path).register_run(run_dir)
    assert got.run_dir == "runs/lstm-x-1" and got.seed == 2
    assert got.checkpoint == "runs/lstm-x-1/checkpoints/best.weights.h5"
    assert got.evaluation_dirs == {"test": "runs/lstm-x-1/eval/test"}
    assert got.dataset == {"name": "all_4dir", "version": "v", "hash": "h"}
    assert Registry(tmp_path).get("lstm-x-1") == got


def test_damaged_registry_is_a_clear_error(tmp_path):
    (tmp_path / "registry.json").write_text('{"models": [')
    with pytest.raises(RegistryError, match="is damaged"):
        Registry(tmp_path).list()
    assert Registry(tmp_path / "missing").list() == []


def _register_many(root: str, worker: int) -> None:
    registry = Registry(root)
    for i in range(15):
        registry.register(entry(f"w{worker}-{i}"))


def test_parallel_writers_lose_no_entry(tmp_path):
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_register_many, args=(str(tmp_path), w)) for w in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    ids = {e.run_id for e in Registry(tmp_path).list()}
    assert ids == {f"w{w}-{i}" for w in range(4) for i in range(15)}


@pytest.mark.parametrize(
    "given",
    ["../../etc", "../runs2/x", "/etc", "runs/r1/..", "", "runs/../../r1", "r1/../../x"],
)
def test_run_references_outside_the_runs_folder_are_refused(tmp_path, given):
    RunManifest.start(tmp_path / "runs" / "r1", framework="keras", model="lstm", seed=0)
    with pytest.raises(RegistryError, match="run"):
        Registry(tmp_path).resolve_run(given)


def test_run_references_by_id_and_path(tmp_path, monkeypatch):
    run_dir = tmp_path / "runs" / "r1"
    RunManifest.start(run_dir, framework="keras", model="lstm", seed=0)
    registry = Registry(tmp_path)
    assert registry.resolve_run("r1") == run_dir.resolve()
    assert registry.resolve_run(str(run_dir)) == run_dir.resolve()
    monkeypatch.chdir(tmp_path)
    assert registry.resolve_run("runs/r1") == run_dir.resolve()
    (tmp_path / "runs" / "bare").mkdir()
    with pytest.raises(RegistryError, match="is not a run"):
        registry.resolve_run("bare")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tmp_path / "runs" / "link").symlink_to(outside)
    with pytest.raises(RegistryError, match="leads out of"):
        registry.resolve_run("link")


def test_a_run_folder_is_found_anywhere_by_its_path(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere" / "runs" / "r2"
    RunManifest.start(elsewhere, framework="keras", model="lstm", seed=0)
    registry = Registry(tmp_path / "models_out")  # another output root, never created
    assert registry.resolve_run(str(elsewhere)) == elsewhere.resolve()
    assert output_root_of(elsewhere) == tmp_path / "elsewhere"
    with pytest.raises(RegistryError, match="is not a run"):
        registry.resolve_run(str(elsewhere.parent))  # a folder, but not a run folder
    with pytest.raises(RegistryError, match="is not a run"):
        registry.resolve_run("r2")  # an id names a run of this output root only
    assert not (tmp_path / "models_out").exists()
