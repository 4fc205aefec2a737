"""``make docs-serve``, as the README shows it: the documentation site on 127.0.0.1, its home
page (the README) and an API reference page generated from the docstrings.

The test runs the Makefile's target (``make docs-serve DOCS_PORT=<free port>``), waits for the
site, queries two pages once and stops the process group. Nothing but 127.0.0.1 is contacted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.servers import HOST, free_port, serving

#: The environment ``make`` built and these tests run in (its ``VENV``).
VENV = Path(sys.prefix)


def page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode("utf-8")


@pytest.mark.slow
def test_make_docs_serve_serves_the_home_page_and_the_api_reference(tmp_path: Path) -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    up_to_date = subprocess.run(
        [make, "-C", str(REPO_ROOT), "--question", f"VENV={VENV}", str(VENV / ".installed")],
        capture_output=True,
    )
    if up_to_date.returncode != 0:  # make would (re)install the environment first
        pytest.skip(f"{VENV} is not the up-to-date environment of `make install`")

    port = free_port()
    base = f"http://{HOST}:{port}"
    command = [make, "-C", str(REPO_ROOT), "docs-serve", f"DOCS_PORT={port}", f"VENV={VENV}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    with serving(command, f"{base}/", tmp_path / "docs.log", env=env):
        home = page(f"{base}/")
        api = page(f"{base}/api/trainers/")

    assert "A five-minute tour" in home and "make run" in home  # the README, as the home page
    assert "trainers.base.ModelTrainer" in api and "Trains and evaluates" in api
