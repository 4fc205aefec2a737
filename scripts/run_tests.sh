#!/usr/bin/env bash
# The whole test suite (slow tests included), then lint, format, import-layer and type checks
# and the strict documentation build.
# Usage: scripts/run_tests.sh [PYTHON]   (defaults to .venv/bin/python)
set -uo pipefail
PY="${1:-.venv/bin/python}"
BIN="$(dirname "$PY")"
export TF_CPP_MIN_LOG_LEVEL=1
status=0

# Two workers (the CI machine has two cores), each taking one test file at a time: a file's
# module fixtures (trained runs) are made once. The slowest tests are listed at the end.
"$PY" -m pytest -n 2 --dist loadfile --durations=25
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  status=1
elif [ "$rc" -ne 0 ]; then
  status=$rc
fi

echo "--- ruff"
"$BIN/ruff" check stories metrics trainers models services scripts tests || status=1
"$BIN/ruff" format --check stories metrics trainers models services scripts tests || status=1
echo "--- import layers (pyproject.toml [tool.importlinter])"
"$BIN/lint-imports" || status=1
echo "--- mypy"
"$BIN/mypy" || status=1
echo "--- docs (mkdocs build --strict)"
# Not --quiet: it hides the warnings, which --strict then no longer counts. Its INFO lines are
# left out of the output; a warning (a broken link, a missing reference) fails the step.
NO_MKDOCS_2_WARNING=1 "$BIN/mkdocs" build --strict --site-dir site 2>&1 | { grep -v '^INFO' || true; } \
  || status=1
exit $status
