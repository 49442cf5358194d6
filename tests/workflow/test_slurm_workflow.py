"""The workflow on SLURM with `--profile profiles/slurm`, checked against a local run.

`test_profile_names_existing_rules` is cheap and always runs. The end-to-end
test starts a throw-away one-node SLURM cluster (tests/support/slurm_cluster.py; needs
root and Debian's slurm-wlm + munge, `.ci/install-slurm.sh`, and is skipped
with the reason otherwise), runs the `tiny` DAG for MNIST through the
executor plugin with the repository's profile, runs the same DAG locally,
and compares the tables byte for byte. It also checks that the jobs really
went through SLURM, that grouping cut the number of submissions, and that
every daemon the cluster started is gone afterwards.

The only deviations from the profile are what a test node without a GPU and
a test's time budget require: `train_network:gpu=0` and fast status polling.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from library_copy import copy_library

from slurm_cluster import (
    _pid_alive,
    _pids_with_marker,
    local_slurm,
    slurm_unavailable_reason,
)
from workflow_helpers import REPO, SNAKEMAKE, planned_jobs, table_lines, tiny_config_args

PROFILE = REPO / "profiles" / "slurm"
TARGETS = ["results/table1.csv", "results/table1_networks.csv"]
# Two networks (MNIST, plain and dropout) at the tiny scale.
MNIST = {"families": ["mnist_plain", "mnist_dropout"]}


def _config(mirror: Path) -> list[str]:
    """Two networks (MNIST, plain and dropout) at the tiny scale: 10 jobs."""
    return tiny_config_args(mirror, tables={"table1": MNIST, "table1_networks": MNIST})


SHUFFLE_RULES = {"cluster_network", "shuffle_chunk", "gather_shuffles"}
# The tiny run's 4 shuffles fit one chunk: neither a shuffle_chunk nor a cluster_network job (the gather
# clusters the network and makes them).
TINY_SHUFFLE_RULES = SHUFFLE_RULES - {"shuffle_chunk", "cluster_network"}


def _profile() -> dict:
    return yaml.safe_load((PROFILE / "config.yaml").read_text())


def test_profile_names_existing_rules() -> None:
    """Rules named in the profile exist (a renamed rule would silently lose its GPU or group)."""
    profile = _profile()
    assert profile["executor"] == "slurm"
    assert profile["slurm-status-command"] == "squeue"
    assert profile["set-resources"]["train_network"]["gpu"] == 1
    assert {rule for rule, group in profile["groups"].items() if group == "shuffles"} == SHUFFLE_RULES
    assert profile["group-components"]["shuffles"] > 1
    # `cores` caps every rule's threads (see the profile); the lesion rules' are set to fit.
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    # VGG trainings (resources.train_per_architecture) go to a GPU there, capped to `cores` threads.
    skip = {"lesion", "train_per_architecture"}
    kinds = {kind: r["threads"] for kind, r in config["resources"].items() if kind not in skip}
    assert profile["cores"] >= max(kinds.values())
    assert all(profile["set-threads"][rule] <= profile["cores"] for rule in ("lesion_single", "lesion_pairs"))
    named = set(profile["groups"]) | set(profile["set-resources"]) | set(profile.get("set-threads", {}))
    proc = subprocess.run(
        [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--list-rules"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    rules = set(proc.stdout.split())
    assert named <= rules, f"profile names unknown rules: {sorted(named - rules)}"


def _slurm_jobs(cluster) -> list[dict[str, str]]:
    """Every job the controller still knows (finished ones stay MinJobAge = 300 s)."""
    out = cluster.run(["squeue", "-h", "--states=all", "-o", "%i|%T|%j|%k"]).stdout
    keys = ("id", "state", "name", "comment")
    return [dict(zip(keys, line.split("|", 3))) for line in out.splitlines() if line.strip()]


#: The folder of the run that test_tiny_dag_on_slurm made (for the comparison with the local run).
_ON_SLURM: dict[str, Path] = {}


@pytest.mark.slow
@pytest.mark.skipif(slurm_unavailable_reason() is not None, reason=str(slurm_unavailable_reason()))
def test_tiny_dag_on_slurm(tmp_path: Path, synthetic_mirror: Path) -> None:
    """The MNIST part of the tiny DAG runs through SLURM with the profile (while the local tiny run is built)."""
    config = _config(synthetic_mirror)
    remote = tmp_path / "slurm_run"
    remote.mkdir()
    # The run imports a private copy of the library (edits to lib/ while the
    # test runs would otherwise make outputs older than their code inputs).
    lib = copy_library(tmp_path / "lib")
    n_jobs = sum(planned_jobs(remote, *config, "--", *TARGETS, env={"PYTHONPATH": str(lib)}).values())
    assert n_jobs == 10, n_jobs
    _run_on_slurm(tmp_path, remote, n_jobs, lib, config)
    _ON_SLURM["workdir"] = remote


@pytest.mark.slow
@pytest.mark.skipif(slurm_unavailable_reason() is not None, reason=str(slurm_unavailable_reason()))
def test_slurm_tables_equal_the_local_run(tiny_run: Path) -> None:
    """The MNIST rows of Table 1 through SLURM equal those of the local tiny run (tiny_run), byte for byte."""
    if "workdir" not in _ON_SLURM:
        pytest.skip("test_tiny_dag_on_slurm did not finish (its own failure says why)")
    remote = _ON_SLURM["workdir"]
    for target in TARGETS:
        assert table_lines(remote / target, MNIST["families"]) == table_lines(tiny_run / target, MNIST["families"])


def _run_on_slurm(tmp_path: Path, remote: Path, n_jobs: int, lib: Path, config: list[str]) -> None:
    t0 = time.monotonic()
    with local_slurm(tmp_path) as cluster:
        pids, tag = cluster.pids, cluster.tag
        print(f"cluster up in {cluster.start_seconds:.1f}s, pids {cluster.pids}")
        # (the jobs inherit it: the plugin submits with --export=ALL)
        env = dict(cluster.env, PYTHONUNBUFFERED="1", PYTHONPATH=str(lib))
        # the jobs run `<this python> -m snakemake`; keep this venv first on PATH
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        cmd = [
            SNAKEMAKE,
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(remote),
            "--profile",
            str(PROFILE),
            # the test node has no GPU
            "--set-resources",
            "train_network:gpu=0",
            # poll every second instead of after 20 s / every 10 s
            "--slurm-init-seconds-before-status-checks",
            "1",
            "--seconds-between-status-checks",
            "1",
            "--slurm-keep-successful-logs",
            "--verbose",  # logs every sbatch call and status query
            *config,
            "--",
            *TARGETS,
        ]
        t1 = time.monotonic()
        proc = subprocess.run(
            cmd,
            check=False,
            capture_output=True,
            text=True,
            timeout=900,
            env=env,
            cwd=remote,
        )
        t_slurm = time.monotonic() - t1
        log = proc.stdout + proc.stderr
        (tmp_path / "snakemake_slurm.log").write_text(log)
        if proc.returncode != 0:
            pytest.fail(f"snakemake on SLURM failed ({proc.returncode}):\n{log[-8000:]}\n{cluster.diagnostics()}")
        jobs = _slurm_jobs(cluster)
        print(f"SLURM run: {n_jobs} jobs in {len(jobs)} SLURM jobs, {t_slurm:.0f}s")
        for job in jobs:
            print(f"  {job}")

        # Every job went through sbatch (one line per submission) and finished there.
        sbatch_calls = [line for line in log.splitlines() if "sbatch call: sbatch" in line]
        assert len(sbatch_calls) == len(jobs) > 0, (sbatch_calls, jobs)
        assert all(job["state"] == "COMPLETED" for job in jobs), jobs
        assert len({job["name"] for job in jobs}) == 1, "one run id names all jobs"
        assert "command=squeue" in log and "command=sacct" not in log
        assert f"clusterability library: {lib / 'clusterability'}" in log  # the workflow ran the copy ...
        assert str(REPO / "lib" / "clusterability") not in log, "not the library copy"
        assert f"{n_jobs} of {n_jobs} steps (100%) done" in log
        local_rules = set(re.findall(r"^localrule (\w+):", log, re.MULTILINE))
        assert local_rules <= {"fetch_dataset"}, f"{local_rules} ran on the submit host"
        # Submitted to the default partition the profile leaves to SLURM, without a GPU here.
        assert all(f"-p {cluster.partition}" in call for call in sbatch_calls), sbatch_calls
        assert not any("--gpus" in call or "--gres" in call for call in sbatch_calls), sbatch_calls
        # Grouping: the 4 gather_shuffles jobs (2 networks x 2 stages, each
        # clustering its network and shuffling it) went out as ceil(4 / group-components)
        # jobs; prepare as one (fetch is a local rule), each of the two tables as one.
        profile, config = _profile(), yaml.safe_load((REPO / "config.yaml").read_text())
        per_group = profile["group-components"]["shuffles"]
        n_groups = math.ceil(4 / per_group)
        comments = [job["comment"] for job in jobs]
        assert sum(all(rule in c for rule in TINY_SHUFFLE_RULES) for c in comments) == n_groups, comments
        assert sum("train_network" in c for c in comments) == 2, comments
        assert sum("prepare_dataset" in c and "fetch_dataset" not in c for c in comments) == 1, comments
        assert sum("table" in c and "train" not in c for c in comments) == 2, comments
        assert len(jobs) == 5 + n_groups < n_jobs, comments
        # A group runs its jobs one after the other (plugin 2.8), and with the
        # profile's `cores: 1` it asks for 1 CPU, the largest mem_mb and the
        # summed runtimes: per gather that clusters and shuffles, a clustering's runtime.
        res = config["resources"]
        tiny = yaml.safe_load((REPO / "config/scales/tiny.yaml").read_text())
        assert tiny["limits"]["shuffles"] <= tiny["clustering"]["chunk_size"]
        fan_out = res["cluster"]["runtime"]
        sizes = [min(per_group, 4 - i) for i in range(0, 4, per_group)]
        group_calls = [call for call in sbatch_calls if "gather_shuffles" in call]
        assert len(group_calls) == n_groups, group_calls
        assert sorted(int(re.search(r" -t (\d+) ", c).group(1)) for c in group_calls) == sorted(
            size * fan_out for size in sizes
        ), group_calls
        assert all("--cpus-per-task=1 " in c and f"--mem {res['cluster']['mem_mb']} " in c for c in group_calls), (
            group_calls
        )
        logs = list((remote / ".snakemake" / "slurm_logs").rglob("*.log"))
        assert len(logs) == len(jobs), logs

    print(f"cluster stopped {time.monotonic() - t0:.0f}s after it started")
    alive = {name: pid for name, pid in pids.items() if _pid_alive(pid)}
    assert not alive, f"daemons still alive after the cluster stopped: {alive}"
    leftovers = [pid for pid in _pids_with_marker(tag) if _pid_alive(pid)]
    assert not leftovers, f"processes forked by the daemons still alive: {leftovers}"
