"""``make docs-serve``, as the README shows it: the documentation site on 127.0.0.1, its home
page (the README) and an API reference page generated from the docstrings.

The test runs the Makefile's target (``make docs-serve DOCS_PORT=<free port>``), waits for the
site, queries two pages once and stops the process group. Nothing but 127.0.0.1 is contacted.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import pytest

from tests.servers import HOST, free_port, make_target, serving


def page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode("utf-8")


@pytest.mark.slow
def test_make_docs_serve_serves_the_home_page_and_the_api_reference(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://{HOST}:{port}"
    command = make_target("docs-serve", f"DOCS_PORT={port}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    with serving(command, f"{base}/", tmp_path / "docs.log", env=env):
        home = page(f"{base}/")
        api = page(f"{base}/api/trainers/")

    assert "A five-minute tour" in home and "make run" in home  # the README, as the home page
    assert "trainers.base.ModelTrainer" in api and "Trains and evaluates" in api
