"""The console scripts ``storyqa-train``, ``storyqa-evaluate``, ``storyqa-compare``,
``storyqa-diagnose``, ``storyqa-generate-data``, ``storyqa-registry`` and
``storyqa-benchmark`` (``[project.scripts]`` in ``pyproject.toml``).

Each runs its ``scripts/<name>.py`` exactly as ``python scripts/<name>.py`` does, with the
same arguments: this folder first on ``sys.path`` (the scripts import ``_cli`` and ``bench``
as top-level modules), the script run as ``__main__``. It works from a checkout (editable
install: this folder is the checkout's ``scripts/``) and from an installed wheel (this folder
is the installed ``scripts`` package, with ``conf/`` inside it). Standard library only, so
``--help`` stays fast.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

SCRIPTS_DIR = Path(__file__).resolve().parent


def run_script(name: str) -> None:
    """Run ``<this folder>/<name>.py`` as ``python scripts/<name>.py`` would."""
    if sys.path[0] != str(SCRIPTS_DIR):
        sys.path.insert(0, str(SCRIPTS_DIR))
    runpy.run_path(str(SCRIPTS_DIR / f"{name}.py"), run_name="__main__")


def train() -> None:
    run_script("train")


def evaluate() -> None:
    run_script("evaluate")


def compare() -> None:
    run_script("compare")


def diagnose() -> None:
    run_script("diagnose")


def generate_data() -> None:
    run_script("generate_data")


def registry() -> None:
    run_script("registry")


def benchmark() -> None:
    run_script("benchmark")
