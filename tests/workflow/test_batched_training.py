"""Several runs of a family per training job (resources ``networks_per_job``, issue 22 section 3).

MNIST plain with two runs at the tiny scale on the synthetic mirror, both in one job: its run 0 is the
session's tiny run's (one network per job), bit for bit, and nothing is left to redo afterwards. That a
later run of a job equals the same run trained alone: tests/unit/test_training.py.
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


#: The folder of the run that test_two_runs_train_in_one_job made (compared with the tiny run at the end).
_BATCHED: dict[str, Path] = {}


def test_two_runs_train_in_one_job(tmp_path: Path, synthetic_mirror: Path) -> None:
    """One train_networks job for both runs (while the session's tiny run is built), each run's files linked."""
    batched = tmp_path / "batched"
    _train(batched, synthetic_mirror, 2)
    assert [p.name for p in (batched / "logs" / "train_networks" / "mnist_plain").iterdir()] == ["batch0.log"]
    assert not (batched / "logs" / "train_network").exists()
    for run in RUNS:
        for name in ("weights_unpruned.npz", "weights_pruned.npz", "metrics.json"):
            assert (batched / run / name).stat().st_nlink == 2  # the batch folder's file, linked
    seeds = [json.loads((batched / run / "metrics.json").read_text())["seed"] for run in RUNS]
    assert seeds[0] != seeds[1]
    _BATCHED["workdir"] = batched


def test_a_run_of_a_shared_job_equals_the_tiny_runs(tiny_run: Path) -> None:
    """Run 0 of the shared job is the tiny run's run 0 (trained by its own train_network job), bit for bit."""
    if "workdir" not in _BATCHED:
        pytest.skip("test_two_runs_train_in_one_job did not finish (its own failure says why)")
    batched = _BATCHED["workdir"]
    for name in ("weights_unpruned.npz", "weights_pruned.npz"):
        assert (batched / RUNS[0] / name).read_bytes() == (tiny_run / RUNS[0] / name).read_bytes()
    assert _strip(batched / RUNS[0] / "metrics.json") == _strip(tiny_run / RUNS[0] / "metrics.json")
