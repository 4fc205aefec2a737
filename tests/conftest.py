"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def tiny_4dir(tmp_path_factory: pytest.TempPathFactory):
    """The tiny all_4dir dataset (seed 0), built once per session."""
    from stories import build_dataset

    return build_dataset(
        "all_4dir", size="tiny", seed=0, output_dir=tmp_path_factory.mktemp("out4"), progress=False
    )


@pytest.fixture(scope="session")
def tiny_2dir(tmp_path_factory: pytest.TempPathFactory):
    """The tiny all_2dir dataset (seed 0), built once per session."""
    from stories import build_dataset

    return build_dataset(
        "all_2dir", size="tiny", seed=0, output_dir=tmp_path_factory.mktemp("out2"), progress=False
    )
