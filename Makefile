# Two commands on a fresh machine (Python >= 3.11 with venv):
#   make table1   - install into .venv, then run the pipeline to results/table1.csv
#   make test     - install into .venv, then run the whole test suite
# make table1 CORES=16 SCALE=quick MIRROR=../shared/datasets: cores, scale preset, and a
# local folder with the raw dataset files instead of downloading them.

VENV ?= .venv
PYTHON ?= python3
CORES ?= all
SCALE ?= paper
MIRROR ?=
MIRROR_CONFIG = $(if $(MIRROR),'datasets={"mirror": "$(MIRROR)"}',)
SNAKEMAKE = $(VENV)/bin/snakemake

.PHONY: install table1 test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[all]'
	touch $@

install: $(VENV)/.installed

table1: install
	$(SNAKEMAKE) --cores $(CORES) --config scale=$(SCALE) $(MIRROR_CONFIG) -- results/table1.csv

test: install
	$(VENV)/bin/pytest

lint: install
	$(SNAKEMAKE) --lint
	$(VENV)/bin/snakefmt --check Snakefile rules

bench: install
	$(VENV)/bin/python benchmarks/bench_ncut.py
