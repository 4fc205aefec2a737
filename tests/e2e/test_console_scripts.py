"""The console scripts (``storyqa-train`` ...) of the installed package: they run
``scripts/<name>.py`` with the same arguments, from the editable install and from a wheel."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile
from importlib.metadata import distribution
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SCRIPTS = {
    "storyqa-train": "train",
    "storyqa-evaluate": "evaluate",
    "storyqa-compare": "compare",
    "storyqa-diagnose": "diagnose",
    "storyqa-generate-data": "generate_data",
    "storyqa-registry": "registry",
    "storyqa-benchmark": "benchmark",
}
BIN = Path(sys.executable).parent
#: What a wheel build reads; the rest of the checkout stays out of the copy.
BUILD_INPUTS = ("pyproject.toml", "README.md", "stories", "metrics", "trainers", "models")


def command(name: str, *args: str, cwd: Path, bin_dir: Path = BIN) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(bin_dir / name), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_every_script_has_an_entry_point_and_a_command() -> None:
    points = {ep.name: ep for ep in distribution("storyqa").entry_points}
    assert set(SCRIPTS) <= set(points), "reinstall: pip install -e '.[dev]' (see the Makefile)"
    for name, script in SCRIPTS.items():
        assert points[name].value == f"scripts._console:{script}"
        assert (REPO_ROOT / "scripts" / f"{script}.py").is_file()
        assert (BIN / name).is_file(), f"{BIN / name} missing: reinstall the package"
        points[name].load()


def test_the_commands_run_like_the_scripts(tmp_path: Path) -> None:
    helped = command("storyqa-train", "--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr[-2000:]
    assert "hparams_search: lstm_optuna, transformer_optuna" in helped.stdout  # conf/ found
    listed = command("storyqa-registry", "list", "--output-dir", str(tmp_path), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert f"no runs registered in {tmp_path / 'registry.json'}" in listed.stdout
    refused = command("storyqa-evaluate", f"paths.output_dir={tmp_path}", cwd=tmp_path)
    direct = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "evaluate.py"),
            f"paths.output_dir={tmp_path}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (refused.returncode, refused.stderr) == (direct.returncode, direct.stderr) != (0, "")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of the package, built from a copy of the checkout (the checkout stays clean)."""
    source = tmp_path_factory.mktemp("source")
    for name in (*BUILD_INPUTS, "scripts", "conf"):
        path = REPO_ROOT / name
        if path.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(path, source / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         str(source), "-w", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (found,) = out.glob("storyqa-*.whl")
    return found


def test_the_wheel_ships_the_scripts_and_conf(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    conf = {
        f"scripts/conf/{p.relative_to(REPO_ROOT / 'conf').as_posix()}"
        for p in (REPO_ROOT / "conf").rglob("*.yaml")
    }
    assert conf <= names and "scripts/conf/hydra/launcher/slurm.yaml" in conf
    scripts = {f"scripts/{name}.py" for name in (*SCRIPTS.values(), "_cli", "_console")}
    assert scripts | {"scripts/bench/common.py"} <= names
    assert {name.split("/")[0] for name in names} == {
        "stories", "metrics", "trainers", "models", "scripts", "storyqa-0.1.0.dist-info",
    }  # fmt: skip
    entry_points = zipfile.ZipFile(wheel).read("storyqa-0.1.0.dist-info/entry_points.txt")
    assert all(f"{name} = scripts._console:" in entry_points.decode() for name in SCRIPTS)


def test_the_installed_wheel_runs_from_its_own_conf(wheel: Path, tmp_path: Path) -> None:
    """``pip install .`` without the checkout: a fresh environment (this one's dependencies
    borrowed through a path file) with only the wheel installed."""
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    env_python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(env_python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # A path added by a .pth line is not a site dir: the editable install's .pth is not read.
    Path(purelib, "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(env_python), "install", "--no-deps", "-q",
         str(wheel)],
        check=True, timeout=300,
    )  # fmt: skip
    where = subprocess.run(
        [str(env_python), "-c", "import scripts._console as c, trainers; print(c.__file__)"],
        capture_output=True, text=True, cwd=tmp_path, check=True,
    ).stdout  # fmt: skip
    assert where.startswith(purelib), where
    out = tmp_path / "out"
    made = command(
        "storyqa-generate-data", "data.size=tiny", f"paths.output_dir={out}", "progress=false",
        cwd=tmp_path, bin_dir=env_dir / "bin",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    assert len(list((out / "datasets").glob("all_4dir-tiny-*"))) == 1
    hydra_dir = os.fspath(Path(purelib) / "scripts" / "conf")
    helped = command("storyqa-train", "--info", "searchpath", cwd=tmp_path, bin_dir=env_dir / "bin")
    assert helped.returncode == 0 and hydra_dir in helped.stdout, helped.stdout[-2000:]
