# vaelab: `make demo` trains the book's models and writes every figure; `make test` runs the tests.
# Both create .venv in the repo root when it is missing and install what they need.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.vaelab-installed
DATA_DIR := /usr/share/datasets/fashion-mnist
# This machine keeps a small CPU build of torch 2.13.0 on disk (/opt/wheels); elsewhere, pip's
# usual torch is taken (override with `make setup TORCH=...`). An importable torch is kept.
TORCH ?= $(if $(wildcard /opt/wheels/torch-2.13.0+cpu-*.whl),torch==2.13.0,torch)

.PHONY: setup data browser demo test test-fast clean help

help:
	@echo "make demo       train book-ae on Fashion-MNIST and write every figure into runs/demo"
	@echo "make test       run the test suite (all of it, with the 15 slowest tests' times)"
	@echo "make test-fast  the suite without the tests marked slow (a developer's quick check)"
	@echo "make setup      create .venv and install vaelab with its extras (and the Fashion-MNIST and Chromium packages when possible)"

setup: $(STAMP) data browser

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev,explore,tensorboard]"
	@touch $(STAMP)

# Installs Debian's dataset-fashion-mnist when the data is missing and apt can be used (root).
data:
	@if [ ! -e $(DATA_DIR)/train-images-idx3-ubyte.gz ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing dataset-fashion-mnist with apt-get"; \
		(apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1)) || \
		echo "could not install dataset-fashion-mnist; vaelab will search elsewhere or download"; \
	fi

# Installs Debian's chromium, the headless browser of the HTML pages' tests (tests/test_html_report.py), when it is
# missing and apt can be used (root); without it those tests skip, saying why.
browser:
	@if ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing chromium with apt-get"; \
		(apt-get install -y -qq chromium >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1)) || \
		echo "could not install chromium; the browser tests will skip"; \
	fi

# The gates (README "Development"), configured in pyproject.toml: lint and format (ruff; the notebooks' code cells
# too), types over src/ (mypy), the layer contract (import-linter). `make test`, and so CI, runs them before the tests.
.PHONY: lint
lint: setup
	$(VENV)/bin/ruff check src tests benchmarks notebooks
	$(VENV)/bin/ruff format --check src tests benchmarks notebooks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

demo: setup
	$(VENV)/bin/vaelab demo

# CI runs `make test`: the gates (`make lint`), then every test and the 15 slowest with their times.
# Tests marked `gpu` skip themselves without CUDA; `make test-fast` leaves out the gates and the tests
# marked `slow` (see README, "Tests").
test: setup lint
	$(PY) -m pytest -q --durations=15

test-fast: setup
	$(PY) -m pytest -q -m "not slow" --durations=15

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
