# One entry point. `make demo` and `make test` do all set-up first (idempotent).
SHELL := /bin/bash
VENV_PY := $(CURDIR)/.venv/bin/python
export RETICULATE_PYTHON := $(VENV_PY)
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONUNBUFFERED := 1

.PHONY: setup setup-python demo test test-python test-r vignettes check docs bench bench-quality clean

setup:
	@bash scripts/setup.sh

setup-python:
	@bash scripts/setup.sh python

demo: setup-python
	$(VENV_PY) -m pykd demo --out demo-output

test: setup
	bash scripts/test.sh

test-python: setup
	$(VENV_PY) -m pytest tests -q

test-r: setup
	bash scripts/test.sh r

vignettes: setup
	bash scripts/test.sh vignettes

check: setup
	bash scripts/test.sh check

# The documentation site (pkgdown for R, pdoc for Python) in build/site, checked in headless Chromium.
docs:
	@bash scripts/setup.sh docs
	bash scripts/docs.sh

bench: setup-python
	$(VENV_PY) benchmarks/speed/bench.py
	$(VENV_PY) benchmarks/workers/workers.py
	$(VENV_PY) benchmarks/frozen/frozen.py
	$(VENV_PY) benchmarks/frozen/tutorial.py
	$(VENV_PY) benchmarks/frozen/prefix_precision.py

# Accuracy, not speed (issue 21): teacher, scratch, Keras' Distiller and pykd on Fashion-MNIST, 3 seeds;
# then pykd's defaults across students of four kinds on probe draws (issue 34).
bench-quality: setup-python
	$(VENV_PY) benchmarks/quality/quality.py
	$(VENV_PY) benchmarks/quality/defaults.py

clean:
	rm -rf demo-output build *.egg-info .pytest_cache vignettes/*.html
