"""Package-level rules: cheap, framework-free import; runnable docstrings; names only from
namespaces.py."""

from __future__ import annotations

import ast
import doctest
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import metrics

PACKAGE_DIR = Path(metrics.__file__).parent
MODULES = sorted(f"metrics.{path.stem}" for path in PACKAGE_DIR.glob("*.py"))
FORBIDDEN_AT_IMPORT = (
    "torch",
    "tensorflow",
    "keras",
    "lightning",
    "pytorch_lightning",
    "matplotlib",
    "scipy",
    "sklearn",
)


def test_import_pulls_no_ml_framework_and_no_matplotlib() -> None:
    code = (
        "import json, sys, metrics; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(completed.stdout))
    assert not loaded & set(FORBIDDEN_AT_IMPORT)


def test_no_module_imports_an_ml_framework_anywhere() -> None:
    frameworks = {"torch", "tensorflow", "keras", "lightning", "pytorch_lightning"}
    for path in PACKAGE_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not {name.split(".")[0] for name in names} & frameworks, path.name


def test_public_api_is_exported() -> None:
    for name in metrics.__all__:
        assert hasattr(metrics, name), name


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_run(module_name: str) -> None:
    module = importlib.import_module(module_name)
    failures, _ = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            ids.add(id(first.value))
    return ids


NAMESPACE_LITERAL = re.compile(r"^(metrics|eval|best|top_epochs|artifacts|parameters|data|by_\w+)/")
SLASH_NEXT_TO_PLACEHOLDER = re.compile(r"(?<!<)/\{\}|\{\}/(?!>)")


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    docstrings = _docstring_nodes(tree)
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if isinstance(node, ast.JoinedStr):
            template = "".join(
                part.value if isinstance(part, ast.Constant) else "{}" for part in node.values
            )
            if SLASH_NEXT_TO_PLACEHOLDER.search(template):
                found.append(f"{path.name}:{line}: f-string joins with '/': {template!r}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if node.func.attr == "join" and isinstance(owner, ast.Constant) and owner.value == "/":
                found.append(f"{path.name}:{line}: '/'.join")
        elif isinstance(node, ast.Attribute) and node.attr == "SEP":
            found.append(f"{path.name}:{line}: uses namespaces.SEP")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and NAMESPACE_LITERAL.match(node.value)
        ):
            found.append(f"{path.name}:{line}: hard-coded metric name {node.value!r}")
    return found


def test_metric_names_are_built_only_in_namespaces() -> None:
    violations = [
        violation
        for path in sorted(PACKAGE_DIR.glob("*.py"))
        if path.name != "namespaces.py"
        for violation in _violations(path)
    ]
    assert violations == []


def test_the_name_check_catches_hand_built_names(tmp_path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        'a = f"eval/{split}/accuracy"\n'
        'b = "/".join(["x", "y"])\n'
        'c = "metrics/val/loss"\n'
        'd = f"<td>{x}</td>"\n'
    )
    violations = _violations(sample)
    assert any(":1: f-string joins with '/'" in v for v in violations)
    assert any(":2: '/'.join" in v for v in violations)
    assert any(":3: hard-coded metric name 'metrics/val/loss'" in v for v in violations)
    assert not any(":4:" in v for v in violations)
