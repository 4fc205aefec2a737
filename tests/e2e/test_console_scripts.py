"""The console scripts (``storyqa-train`` ...) of the installed package: each calls ``main()``
of ``scripts/<name>.py``, so it takes the arguments ``python scripts/<name>.py`` takes, from the
editable install and from a wheel; the scripts import their helpers as modules of the
installed ``scripts`` package, never through ``sys.path`` edits or ``runpy``."""

from __future__ import annotations

import ast
import importlib
import os
import shutil
import site
import subprocess
import sys
import zipfile
from importlib.metadata import distribution
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.conftest import REPO_ROOT

SCRIPTS = {
    "storyqa-train": "train",
    "storyqa-evaluate": "evaluate",
    "storyqa-compare": "compare",
    "storyqa-diagnose": "diagnose",
    "storyqa-generate-data": "generate_data",
    "storyqa-registry": "registry",
    "storyqa-benchmark": "benchmark",
    "storyqa-predict": "predict",
    "storyqa-export": "export",
    "storyqa-service": "service",
}
BIN = Path(sys.executable).parent
#: What a wheel build reads; the rest of the checkout stays out of the copy.
BUILD_INPUTS = (
    "pyproject.toml", "README.md", "stories", "metrics", "trainers", "models", "services",
)  # fmt: skip
#: The modules of ``scripts/`` that the old scheme imported as top-level modules.
OLD_TOP_LEVEL = ("_cli", "bench")


def command(name: str, *args: str, cwd: Path, bin_dir: Path = BIN) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(bin_dir / name), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def script(name: str, *args: str, cwd: Path, python: Path | str = sys.executable,
           scripts_dir: Path = REPO_ROOT / "scripts") -> subprocess.CompletedProcess:  # fmt: skip
    """``python scripts/<name>.py ARGS``."""
    return subprocess.run(
        [str(python), str(scripts_dir / f"{name}.py"), *args],
        cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_every_script_has_an_entry_point_and_a_command() -> None:
    points = {ep.name: ep for ep in distribution("storyqa").entry_points}
    assert set(SCRIPTS) <= set(points), "reinstall: pip install -e '.[dev]' (see the Makefile)"
    for name, stem in SCRIPTS.items():
        assert points[name].value == f"scripts.{stem}:main", "reinstall the package"
        assert (BIN / name).is_file(), f"{BIN / name} missing: reinstall the package"
        source = REPO_ROOT / "scripts" / f"{stem}.py"
        tree = ast.parse(source.read_text(encoding="utf-8"))
        assert any(
            isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body
        ), f"{source}: no main()"
        # The script's last statement runs the same main(): `if __name__ == "__main__": ...`.
        last = tree.body[-1]
        assert isinstance(last, ast.If) and "__main__" in ast.unparse(last.test), source
        assert "main()" in ast.unparse(last), source
    assert not (REPO_ROOT / "scripts" / "_console.py").exists()


def scripts_sources() -> list[Path]:
    found = sorted((REPO_ROOT / "scripts").rglob("*.py"))
    assert REPO_ROOT / "scripts" / "_cli.py" in found and REPO_ROOT / "scripts" / "bench" in {
        p.parent for p in found
    }
    return found


def test_no_script_edits_sys_path_or_runs_files_with_runpy() -> None:
    """The scripts import their helpers as ``scripts._cli`` and ``scripts.bench``: no
    ``runpy``, no ``sys.path`` or ``PYTHONPATH`` edits, no top-level ``_cli`` / ``bench``."""
    problems = []
    for path in scripts_sources():
        source = path.read_text(encoding="utf-8")
        where = path.relative_to(REPO_ROOT)
        if "runpy" in source:
            problems.append(f"{where}: runpy")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Attribute) and ast.unparse(node) == "sys.path":
                problems.append(f"{where}:{node.lineno}: sys.path")
            elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith("addsitedir"):
                problems.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
            elif isinstance(node, ast.Import | ast.ImportFrom):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:  # a relative import (level > 0) is the package's own
                    names = [node.module or ""] if node.level == 0 else []
                problems += [
                    f"{where}:{node.lineno}: import {name}"
                    for name in names
                    if name.split(".")[0] in OLD_TOP_LEVEL
                ]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if "PYTHONPATH" in node.value:
                    problems.append(f"{where}:{node.lineno}: PYTHONPATH")
                if node.value.startswith(tuple(f"{name}." for name in OLD_TOP_LEVEL)):
                    problems.append(f"{where}:{node.lineno}: {node.value!r}")  # import_module, -m
    assert problems == []


def test_every_config_target_in_scripts_is_a_module_of_the_package() -> None:
    """Hydra's ``_target_`` of a ``scripts`` class (the ``train.py`` callbacks) names it as a
    module of the package, which launcher job processes can import too."""
    targets = []
    for path in sorted((REPO_ROOT / "conf").rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        for name in OLD_TOP_LEVEL:
            assert f"_target_: {name}." not in text, f"{path}: _target_: {name}.*"
        config = OmegaConf.to_container(OmegaConf.load(path))
        stack = [config]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                target = node.get("_target_")
                if isinstance(target, str) and target.startswith("scripts."):
                    targets.append(target)
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    assert {"scripts._cli.SweepCallback", "scripts._cli.CompareJobsCallback"} <= set(targets)
    for target in targets:
        module, _, attr = target.rpartition(".")
        assert hasattr(importlib.import_module(module), attr), target


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_each_command_takes_the_arguments_of_its_script(name: str, tmp_path: Path) -> None:
    """``storyqa-<name> --help`` prints what ``python scripts/<name>.py --help`` prints (but
    the program's name)."""
    stem = SCRIPTS[name]
    installed = command(name, "--help", cwd=tmp_path)
    direct = script(stem, "--help", cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr[-2000:]
    assert direct.returncode == 0, direct.stderr[-2000:]
    assert installed.stdout.strip()
    # argparse names the program by its file, and aligns the usage lines under that name.
    assert installed.stdout.replace(name, f"{stem}.py").split() == direct.stdout.split()


def test_the_commands_run_like_the_scripts(tmp_path: Path) -> None:
    helped = command("storyqa-train", "--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr[-2000:]
    assert "hparams_search: lstm_optuna, optuna, transformer_optuna" in helped.stdout  # conf/ found
    listed = command("storyqa-registry", "list", "--output-dir", str(tmp_path), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert f"no runs registered in {tmp_path / 'registry.json'}" in listed.stdout
    refused = command("storyqa-evaluate", f"paths.output_dir={tmp_path}", cwd=tmp_path)
    direct = script("evaluate", f"paths.output_dir={tmp_path}", cwd=tmp_path)
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
    scripts = {f"scripts/{name}.py" for name in (*SCRIPTS.values(), "__init__", "_cli")}
    assert scripts | {"scripts/bench/__init__.py", "scripts/bench/common.py"} <= names
    assert "scripts/_console.py" not in names
    assert {name.split("/")[0] for name in names} == {
        "stories", "metrics", "trainers", "models", "services", "scripts",
        "storyqa-0.1.0.dist-info",
    }  # fmt: skip
    entry_points = zipfile.ZipFile(wheel).read("storyqa-0.1.0.dist-info/entry_points.txt")
    assert all(
        f"{name} = scripts.{stem}:main" in entry_points.decode() for name, stem in SCRIPTS.items()
    ), entry_points.decode()


def test_the_installed_wheel_runs_from_its_own_conf(wheel: Path, tmp_path: Path) -> None:
    """``pip install .`` without the checkout: a fresh environment (this one's dependencies
    borrowed through a path file) with only the wheel installed; its commands and its
    ``python <site-packages>/scripts/<name>.py`` take the same arguments."""
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
        [str(env_python), "-c", "import scripts._cli as c, trainers; print(c.__file__)"],
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
    # The installed script file, run as a script, is the same command.
    installed_scripts = Path(purelib) / "scripts"
    again = script(
        "generate_data", "data.size=tiny", f"paths.output_dir={out}", "progress=false",
        cwd=tmp_path, python=env_python, scripts_dir=installed_scripts,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(list((out / "datasets").glob("all_4dir-tiny-*"))) == 1  # the same dataset
    listed = command("storyqa-registry", "list", "--output-dir", str(out), cwd=tmp_path,
                     bin_dir=env_dir / "bin")  # fmt: skip
    direct = script("registry", "list", "--output-dir", str(out), cwd=tmp_path,
                    python=env_python, scripts_dir=installed_scripts)  # fmt: skip
    assert listed.returncode == direct.returncode == 0, listed.stderr[-2000:] + direct.stderr
    assert listed.stdout == direct.stdout
