"""``make lab``, the README's way into the notebooks: JupyterLab on 127.0.0.1 serving
``notebooks/``, with the environment's own Python as the ``python3`` kernel.

The test runs the Makefile's target itself (``make lab LAB_PORT=<free port>``) in a home of its
own that holds a decoy ``python3`` kernelspec, as a user's home could, waits for the
server, reads the token from the URL it prints, queries the kernelspecs and the notebook once,
and stops the process group. Nothing but 127.0.0.1 is contacted.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

from tests.servers import HOST, fetch_json, free_port, make_target, serving

#: The environment ``make`` built and these tests run in (its ``VENV``).
VENV = Path(sys.prefix)


def decoy_home(home: Path) -> Path:
    """A home whose user-level Jupyter data holds a ``python3`` kernelspec of another Python:
    the one ``make lab`` must not serve."""
    kernel_dir = home / ".local" / "share" / "jupyter" / "kernels" / "python3"
    kernel_dir.mkdir(parents=True)
    spec = {
        "argv": ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "decoy",
        "language": "python",
    }
    (kernel_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return home


def printed_token(log: Path, port: int, timeout: float = 30) -> str:
    """The token of the URL the server printed for ``port``."""
    pattern = re.compile(rf"http://{re.escape(HOST)}:{port}/lab\?token=(\w+)")
    deadline = time.monotonic() + timeout
    while not (found := pattern.search(log.read_text(errors="replace"))):
        if time.monotonic() > deadline:
            pytest.fail(f"no URL with a token for port {port} in the log:\n{log.read_text()}")
        time.sleep(0.2)
    return found.group(1)


@pytest.mark.slow
def test_make_lab_serves_the_notebooks_with_this_environments_kernel(tmp_path: Path) -> None:
    port = free_port()
    command = make_target("lab", f"LAB_PORT={port}")
    base = f"http://{HOST}:{port}"
    env = {  # no Jupyter settings of this shell, nor the flags of a `make` that runs pytest
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("JUPYTER_", "XDG_", "MAKE", "MFLAGS"))
    }
    env["HOME"] = str(decoy_home(tmp_path / "home"))
    # A user's data path first (Jupyter's default puts the environment's first): without the
    # target's JUPYTER_PATH, the decoy in the home would be the python3 kernel.
    env["JUPYTER_PREFER_ENV_PATH"] = "0"
    log = tmp_path / "lab.log"
    with serving(command, f"{base}/api", log, env=env):  # /api answers without a token
        token = printed_token(log, port)
        specs = fetch_json(f"{base}/api/kernelspecs?token={token}")
        notebook = fetch_json(f"{base}/api/contents/quickstart.ipynb?token={token}")

    assert specs["default"] == "python3"
    spec = specs["kernelspecs"]["python3"]["spec"]
    assert spec["display_name"] != "decoy", "a home kernelspec shadows the environment's"
    assert spec["argv"][0] == str(VENV / "bin" / "python")
    assert notebook["type"] == "notebook" and notebook["path"] == "quickstart.ipynb"
    assert notebook["content"]["metadata"]["kernelspec"]["name"] == "python3"
