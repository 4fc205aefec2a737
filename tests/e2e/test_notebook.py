"""``notebooks/quickstart.ipynb``: committed clean, and it runs end to end on the tiny data."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.conftest import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "quickstart.ipynb"
#: Environment variables the parameters cell reads (the notebook's test contract).
PARAMETERS = ("STORYQA_NB_SIZE", "STORYQA_NB_EPOCHS", "STORYQA_NB_OUTPUT", "STORYQA_NB_PROGRESS")
MODELS = ("transformer", "lstm")


def read_notebook() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK, as_version=nbformat.NO_CONVERT)


def tagged(notebook: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    cells = [cell for cell in notebook.cells if tag in cell.metadata.get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


def output_text(cell: nbformat.NotebookNode) -> str:
    """Everything a code cell showed as text: streams, text/plain and text/html."""
    parts: list[str] = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("display_data", "execute_result"):
            parts += [output.data.get("text/plain", ""), output.data.get("text/html", "")]
    return "\n".join(parts)


def test_committed_notebook_is_clean_and_valid() -> None:
    notebook = read_notebook()
    nbformat.validate(notebook)
    assert notebook.nbformat == 4
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells
    for cell in code_cells:
        assert cell.outputs == [], f"cell {cell.get('id')} was committed with outputs"
        assert cell.execution_count is None, f"cell {cell.get('id')} has an execution count"
    assert {cell.cell_type for cell in notebook.cells} == {"code", "markdown"}
    parameters = tagged(notebook, "parameters")
    assert code_cells[0] is parameters, "the parameters cell comes first"
    for name in PARAMETERS:
        assert name in parameters.source
    tagged(notebook, "comparison")


def python3_kernel_of_this_interpreter(root: Path) -> Path:
    """A ``python3`` kernelspec running ``sys.executable``, in a Jupyter data folder that
    comes first on ``JUPYTER_PATH`` (so no user or system kernelspec can shadow it)."""
    kernel_dir = root / "kernels" / "python3"
    kernel_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (storyqa tests)",
        "language": "python",
    }
    (kernel_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return root


def image_outputs(notebook: nbformat.NotebookNode) -> list[dict[str, Any]]:
    return [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type in ("display_data", "execute_result") and "image/png" in output.data
    ]


@pytest.mark.slow
def test_quickstart_runs_on_tiny_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbclient import NotebookClient

    output_dir = tmp_path / "models_out"
    monkeypatch.setenv("JUPYTER_PATH", str(python3_kernel_of_this_interpreter(tmp_path / "jp")))
    monkeypatch.setenv("STORYQA_NB_SIZE", "tiny")
    monkeypatch.setenv("STORYQA_NB_EPOCHS", "2")
    monkeypatch.setenv("STORYQA_NB_OUTPUT", str(output_dir))
    monkeypatch.setenv("STORYQA_NB_PROGRESS", "0")
    notebook = read_notebook()
    probe = nbformat.v4.new_code_cell("import sys\nprint(sys.executable)")
    notebook.cells.insert(0, probe)

    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(REPO_ROOT)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error

    assert output_text(probe).strip() == sys.executable
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []

    registry = json.loads((output_dir / "registry.json").read_text(encoding="utf-8"))
    entries = registry["models"]
    assert sorted(entry["model"] for entry in entries) == sorted(MODELS)
    for entry in entries:
        assert entry["status"] == "finished"
        manifest_path = output_dir / entry["run_dir"] / "manifest.json"
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        assert manifest["status"] == "finished"
        assert manifest["epochs_completed"] == 2
        assert {"valid_comp", "test"} <= set(manifest["evaluation"])

    comparison = output_text(tagged(notebook, "comparison"))
    for model in MODELS:
        assert model in comparison
    assert "lstm - transformer" in comparison
    assert len(image_outputs(notebook)) >= 3  # learning curves, comparison plot, library plots
