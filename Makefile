# Two commands on a fresh machine (Python >= 3.11 with venv):
#   make table1   - install into .venv, then run the pipeline to results/table1.csv
#   make test     - install into .venv, then run the whole test suite (make test-fast: the inner loop)
# make table1 CORES=16 SCALE=quick MIRROR=../shared/datasets: cores, scale (config/scales/<SCALE>.yaml;
# paper = config.yaml alone), and a local folder with the raw dataset files instead of downloading them.

VENV ?= .venv
PYTHON ?= python3
CORES ?= all
SCALE ?= paper
MIRROR ?=
TARGET ?= results/table1.csv
SCALES = $(sort $(basename $(notdir $(wildcard config/scales/*.yaml))))
ifeq ($(SCALE),paper)
SCALE_ARGS =
else ifneq ($(wildcard config/scales/$(SCALE).yaml),)
SCALE_ARGS = --configfile config/scales/$(SCALE).yaml
else
$(error unknown scale '$(SCALE)': choose paper, $(shell echo $(SCALES) | sed 's/ /, /g') (config/scales/*.yaml))
endif
MIRROR_CONFIG = $(if $(MIRROR),--config 'datasets={"mirror": "$(MIRROR)"}',)
SNAKEMAKE = $(VENV)/bin/snakemake

.PHONY: install table1 paper1 paper2_mlp paper2_cnn paper2_promote paper2 scorecard fidelity fidelity_gpu run test test-fast lint bench bench-gpu scorecard-docs \
	readme-results clean

# pip installs without compiling (--no-compile: it compiles one file after the other); the install then writes
# the bytecode of the environment and of the library on every core, and compiles numba's functions once, so
# that the first parallel jobs of a run do not each compile them (lib/clusterability/workflow/precompile.py).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet --no-compile -e '.[all]'
	$(VENV)/bin/python -m clusterability.workflow.precompile
	touch $@

install: $(VENV)/.installed

table1: install
	$(SNAKEMAKE) --cores $(CORES) $(SCALE_ARGS) $(MIRROR_CONFIG) -- results/table1.csv

paper1: install
	$(SNAKEMAKE) --cores $(CORES) $(SCALE_ARGS) $(MIRROR_CONFIG) -- paper1

paper2_mlp: install
	$(SNAKEMAKE) --cores $(CORES) $(SCALE_ARGS) $(MIRROR_CONFIG) -- paper2_mlp

paper2_cnn: install
	$(SNAKEMAKE) --cores $(CORES) $(SCALE_ARGS) $(MIRROR_CONFIG) -- paper2_cnn

paper2_promote: install
	$(SNAKEMAKE) --cores $(CORES) $(SCALE_ARGS) $(MIRROR_CONFIG) -- paper2_promote

paper2: install
	$(SNAKEMAKE) --cores $(CORES) $(SCALE_ARGS) $(MIRROR_CONFIG) -- paper2

# results/scorecard.{csv,md}: every number of the papers (config/papers/) against the tables built here, at SCALE.
scorecard: install
	$(SNAKEMAKE) --cores $(CORES) $(SCALE_ARGS) $(MIRROR_CONFIG) -- scorecard

# One network per family at the papers' settings (config/scales/fidelity.yaml: about 2 hours on 2 cores), then
# the scorecard. fidelity_gpu: the same for P2's CNNs, VGGs and ImageNet models (docs/reproducibility.md, "GPU rows").
FIDELITY_ARGS = --configfile config/scales/fidelity.yaml
fidelity: install
	$(SNAKEMAKE) --cores $(CORES) $(FIDELITY_ARGS) $(MIRROR_CONFIG) -- fidelity
	$(SNAKEMAKE) --cores $(CORES) $(FIDELITY_ARGS) $(MIRROR_CONFIG) -- scorecard

fidelity_gpu: install
	$(SNAKEMAKE) --cores $(CORES) $(FIDELITY_ARGS) $(MIRROR_CONFIG) -- fidelity_gpu
	$(SNAKEMAKE) --cores $(CORES) $(FIDELITY_ARGS) $(MIRROR_CONFIG) -- scorecard

# docs/scorecard.md and docs/scorecard_p1_paper.md from the runs recorded in docs/fidelity and docs/p1_paper
# (docs/make_scorecard.py record [--as p1_paper] ... records one).
scorecard-docs: install
	$(VENV)/bin/python docs/make_scorecard.py render

# Any target: make run TARGET=results/tableA1.csv SCALE=quick
run: install
	$(SNAKEMAKE) --cores $(CORES) $(SCALE_ARGS) $(MIRROR_CONFIG) -- $(TARGET)

test: install
	$(VENV)/bin/pytest

# The inner loop (docs/testing.md, "Test tiers"): the unit tests but the heavy ones (tests/conftest.py HEAVY),
# and the smoke run of every rule and plot kind once (tests/workflow/test_smoke.py, config/scales/smoke.yaml).
FAST_TESTS = not slow and not tf and not heavy
test-fast: install
	$(VENV)/bin/pytest -m "$(FAST_TESTS)"

lint: install
	$(SNAKEMAKE) --lint
	$(VENV)/bin/snakefmt --check Snakefile rules
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install
	$(VENV)/bin/python benchmarks/bench_ncut.py
	$(VENV)/bin/python benchmarks/bench_kmeans.py
	$(VENV)/bin/python benchmarks/bench_training.py
	$(VENV)/bin/python benchmarks/bench_imagenet.py
	$(VENV)/bin/python benchmarks/bench_regularizer.py
	$(VENV)/bin/python benchmarks/bench_networks_per_job.py

# On a machine with a GPU (issue 22 section 3): one network per job against several, for the MLP, the small
# CNN and one VGG epoch; seconds per network, wall and CPU. Record the printed table with the device's name.
bench-gpu: install
	$(VENV)/bin/python benchmarks/bench_networks_per_job.py --gpu --setups mlp784,small_cnn,vgg --networks 10,10,3 \
		--json results/bench_networks_per_job_gpu.json

# Regenerate docs/results.md and the README results block: run RESULTS_SCALE (default quick) on this machine and write the tables
# with the commit, scale, machine and date they came from.
RESULTS_SCALE ?= quick
RESULTS_TARGET ?= paper1
readme-results: install
	$(VENV)/bin/python docs/make_results.py --scale $(RESULTS_SCALE) --cores $(CORES) --target $(RESULTS_TARGET) $(if $(MIRROR),--mirror $(MIRROR),)
