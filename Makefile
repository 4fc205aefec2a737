# storyqa — the two README commands are `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run serve lab test test-fast chromium lint typecheck check docs docs-serve benchmark clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]" --config-settings editable_mode=compat
	touch $(STAMP)

install: $(STAMP)

## Main job on embedded defaults: default dataset (generated if missing), the Transformer and
## the LSTM trained 5 minutes each, every split evaluated, reports, side-by-side comparison.
run: $(STAMP)
	$(BIN)/python scripts/train.py -m model=transformer,lstm,entity_memory trainer.max_minutes=5

## The training service on this machine: embedded Redis, the API on http://127.0.0.1:8765 and
## one worker (docs/service-guide.md); Ctrl-C stops it.
serve: $(STAMP)
	$(BIN)/storyqa-service start

## JupyterLab for the notebooks (docs/getting-started.md, "Training from Python"): on
## http://127.0.0.1:$(LAB_PORT) (`make lab LAB_PORT=9999` for another port), opened on notebooks/, with the .venv's Python as
## the python3 kernel: registered inside the .venv (not in your home) and first on JUPYTER_PATH,
## so no other python3 kernelspec shadows it. It opens no browser: open the URL it prints, token
## included (as root, e.g. in a container, it allows root). Ctrl-C twice stops it.
LAB_PORT ?= 8888
LAB_KERNEL := $(VENV)/share/jupyter/kernels/python3/kernel.json

lab: $(STAMP) $(LAB_KERNEL)
	JUPYTER_PATH="$(abspath $(VENV))/share/jupyter$${JUPYTER_PATH:+:$$JUPYTER_PATH}" \
	  $(BIN)/jupyter lab --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) \
	  --ServerApp.port_retries=0 --ServerApp.root_dir="$(CURDIR)/notebooks" \
	  $$([ "$$(id -u)" = 0 ] && echo --ServerApp.allow_root=True)

$(LAB_KERNEL): $(STAMP)
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 \
	  --display-name "Python 3 (storyqa .venv)"

## Whole test suite, slow tests included, then lint, format, import layers, type check and the
## strict documentation build.
test: $(STAMP) chromium
	bash scripts/run_tests.sh $(BIN)/python

## The service page's browser test drives Debian's chromium: installed when it is missing and
## this runs as root (else that test is skipped, and fails under CI=true).
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "--- installing chromium (Debian) for tests/e2e/test_service_page.py"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	    >/dev/null) || echo "chromium could not be installed" >&2; \
	fi

## Fast subset for iteration.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q

lint: $(STAMP)
	$(BIN)/ruff check stories metrics trainers models services scripts tests
	$(BIN)/ruff format --check stories metrics trainers models services scripts tests
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

## The documentation site (mkdocs.yml, pages in docs/, home page README.md, API reference from
## the docstrings): built strictly into site/ (a broken link or a missing reference fails), and
## served on http://127.0.0.1:$(DOCS_PORT) (`make docs-serve DOCS_PORT=8001` for another port).
DOCS_PORT ?= 8000

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict --dev-addr 127.0.0.1:$(DOCS_PORT)

benchmark: $(STAMP)
	$(BIN)/python scripts/benchmark.py all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
