"""Several runs of a family per training job (resources ``networks_per_job``, issue 22 section 3).

MNIST plain with two runs at the tiny scale on the synthetic mirror, trained once with both runs in one
job and once one run per job: the same files, bit for bit, and nothing to redo afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workflow_helpers import planned_jobs, snakemake, tiny_config_args

pytestmark = pytest.mark.slow

RUNS = [f"results/networks/mnist_plain/run{run}" for run in (0, 1)]
TARGETS = [f"{run}/{name}" for run in RUNS for name in ("weights_pruned.npz", "metrics.json")]


def _train(workdir: Path, mirror: Path, per_job: int) -> None:
    resources = {"train": {"threads": 1, "mem_mb": 4000, "runtime": 120, "networks_per_job": per_job}}
    args = tiny_config_args(mirror, limits={"runs": 2, "shuffles": 4, "epochs": 4}, resources=resources)
    snakemake(workdir, "--cores", "2", *args, "--", *TARGETS)
    assert planned_jobs(workdir, *args, "--", *TARGETS) == {}


def _strip(metrics: Path) -> dict:
    out = json.loads(metrics.read_text())
    del out["wall_seconds"]
    return out


def test_runs_trained_in_one_job_equal_runs_trained_one_per_job(tmp_path: Path, synthetic_mirror: Path) -> None:
    _train(tmp_path / "batched", synthetic_mirror, 2)
    _train(tmp_path / "single", synthetic_mirror, 1)
    batched, single = tmp_path / "batched", tmp_path / "single"
    assert [p.name for p in (batched / "logs" / "train_networks" / "mnist_plain").iterdir()] == ["batch0.log"]
    assert not (batched / "logs" / "train_network").exists()
    for run in RUNS:
        for name in ("weights_unpruned.npz", "weights_pruned.npz"):
            assert (batched / run / name).read_bytes() == (single / run / name).read_bytes()
            assert (batched / run / name).stat().st_nlink == 2  # the batch folder's file, linked
        assert _strip(batched / run / "metrics.json") == _strip(single / run / "metrics.json")
    seeds = [json.loads((batched / run / "metrics.json").read_text())["seed"] for run in RUNS]
    assert seeds[0] != seeds[1]
