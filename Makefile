# The course's commands. On a fresh machine: `make book` builds the website,
# `make test` runs every test. Both create the virtual environment first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MATHJAX := _vendor/mathjax/tex-mml-chtml.js

.PHONY: help venv mathjax data book test execute times experiments bench floor clean
help:
	@echo "make book     build the website into _build/html (offline, warnings are errors)"
	@echo "make test     run every test: unit tests, notebooks (smoke profile), book, browser"
	@echo "make execute  re-run the notebooks in place with the cpu profile (stored outputs)"
	@echo "make times    time every notebook in the smoke profile (outputs untouched), for about_numbers.md"
	@echo "make experiments  run the multi-seed sweeps in experiments/ (results committed in experiments/results)"
	@echo "make bench    d2l vs cnnlib LeNet benchmark (10 trials, about 25 minutes on 2 cores)"
	@echo "make data     fetch Fashion-MNIST into the cache (\$$CNNLIB_DATA_DIR)"
	@echo "make floor    install the oldest supported versions in .venv-floor, run the unit tests"

venv: $(STAMP)
$(STAMP): requirements.txt requirements-bench.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@# TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu: the CPU-only build of the pinned
	@# torch and torchvision (a few hundred MB instead of several GB), installed first.
	$(if $(TORCH_INDEX_URL),$(PY) -m pip install --disable-pip-version-check --index-url $(TORCH_INDEX_URL) $$(grep -E '^(torch|torchvision)==' requirements.txt))
	$(PY) -m pip install --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check --no-deps -r requirements-bench.txt
	$(PY) -m pip install --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

mathjax: $(MATHJAX)
$(MATHJAX): tools/fetch_mathjax.sh
	bash tools/fetch_mathjax.sh _vendor/mathjax

data: venv
	$(PY) -m cnnlib.data

book: venv mathjax
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

test: venv mathjax data
	CNNLIB_PROFILE=smoke $(PY) -m pytest

execute: venv data
	CNNLIB_PROFILE=cpu $(PY) tools/execute_notebooks.py $(NOTEBOOKS)
	$(PY) tools/about_numbers.py

times: venv data
	CNNLIB_PROFILE=smoke $(PY) tools/execute_notebooks.py --times-only $(NOTEBOOKS)
	$(PY) tools/about_numbers.py

experiments: venv data
	for script in experiments/*.py; do $(PY) $$script || exit 1; done
	$(PY) tools/about_numbers.py

bench: venv data
	$(PY) benchmarks/lenet_d2l_vs_cnnlib.py

# Not part of `make test`: it downloads PyTorch's oldest supported release (see README).
floor:
	bash tools/check_floor.sh

clean:
	rm -rf _build
