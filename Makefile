# Two commands on a fresh machine (Python >= 3.11 with venv):
#   make table1   - install into .venv, then run the pipeline to results/table1.csv
#   make test     - install into .venv, then run the whole test suite
# CORES=16 make table1 sets the cores; SCALE=quick make table1 runs the quick scale.

VENV ?= .venv
PYTHON ?= python3
CORES ?= all
SCALE ?= paper
SNAKEMAKE = $(VENV)/bin/snakemake

.PHONY: install table1 test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[all]'
	touch $@

install: $(VENV)/.installed

table1: install
	$(SNAKEMAKE) --cores $(CORES) --config scale=$(SCALE) -- results/table1.csv

test: install
	$(VENV)/bin/pytest

lint: install
	$(SNAKEMAKE) --lint
	$(VENV)/bin/snakefmt --check Snakefile rules

bench: install
	$(VENV)/bin/python benchmarks/bench_ncut.py
