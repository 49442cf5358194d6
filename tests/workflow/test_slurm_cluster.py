"""End-to-end checks against a real, throw-away one-node SLURM cluster.

Needs root and Debian's slurm-wlm + munge (`.ci/install-slurm.sh`); skipped
with the reason otherwise. The cluster lives in pytest's tmp_path and is torn
down by `tests/support/slurm_cluster.py`; afterwards we check that none of the
daemons it started survived.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from slurm_cluster import (
    _pid_alive,
    _pids_with_marker,
    local_slurm,
    slurm_unavailable_reason,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        slurm_unavailable_reason() is not None,
        reason=str(slurm_unavailable_reason()),
    ),
]

# The profile that drives snakemake-executor-plugin-slurm 2.8 against this
# cluster (accounting off, so no sacct/sacctmgr). See the module docstring of
# slurm_cluster.py for why each key matters.
PROFILE_YAML = """\
executor: slurm
jobs: 2
latency-wait: 10
printshellcmds: true
default-resources:
  slurm_partition: "{partition}"
  mem_mb: 100
  runtime: 5
# accounting is off: sacct cannot answer; squeue can (MinJobAge=300).
slurm-status-command: squeue
# first status check after 2 s instead of 40 s (keeps squeue chosen:
# MinJobAge 300 >= 3 * 2)
slurm-init-seconds-before-status-checks: 2
slurm-keep-successful-logs: true
"""

SNAKEFILE = """\
rule combine:
    input:
        "results/first.txt",
    output:
        "results/second.txt",
    shell:
        "cat {input} > {output} && echo \\"second job=$SLURM_JOB_ID\\" >> {output}"


rule first:
    output:
        "results/first.txt",
    threads: 1
    resources:
        mem_mb=100,
        runtime=5,
    shell:
        "echo \\"first job=$SLURM_JOB_ID cpus=$SLURM_CPUS_PER_TASK\\" > {output}"
"""


def _assert_all_stopped(pids: dict[str, int], tag: str) -> None:
    alive = {name: pid for name, pid in pids.items() if _pid_alive(pid)}
    assert not alive, f"daemons still alive after the cluster stopped: {alive}"
    leftovers = [pid for pid in _pids_with_marker(tag) if _pid_alive(pid)]
    assert not leftovers, f"processes forked by the daemons still alive: {leftovers}"


def test_sbatch_wrap_writes_file(tmp_path):
    out = tmp_path / "job-output.txt"
    t0 = time.monotonic()
    with local_slurm(tmp_path) as cluster:
        print(f"cluster up in {cluster.start_seconds:.1f}s, pids {cluster.pids}")
        pids, tag = cluster.pids, cluster.tag
        t1 = time.monotonic()
        job_id = cluster.sbatch(
            "--job-name=hello",
            f"--output={tmp_path / 'slurm-%j.out'}",
            "--mem=50",
            "--time=1",
            "--wrap",
            f"echo hello from $SLURM_JOB_ID on $SLURMD_NODENAME > {out}",
        )
        state = cluster.wait_job(job_id, timeout=120)
        print(f"job {job_id} {state} in {time.monotonic() - t1:.1f}s")
        assert state == "COMPLETED", cluster.diagnostics()
        assert out.read_text().strip() == (f"hello from {job_id} on {cluster.node_name}")
    print(f"total incl. shutdown {time.monotonic() - t0:.1f}s")
    _assert_all_stopped(pids, tag)


def test_snakemake_slurm_executor(tmp_path):
    workdir = tmp_path / "wf"
    workdir.mkdir()
    (workdir / "Snakefile").write_text(SNAKEFILE)
    t0 = time.monotonic()
    with local_slurm(tmp_path) as cluster:
        print(f"cluster up in {cluster.start_seconds:.1f}s, pids {cluster.pids}")
        pids, tag = cluster.pids, cluster.tag
        profile = tmp_path / "profile"
        profile.mkdir()
        (profile / "config.yaml").write_text(PROFILE_YAML.format(partition=cluster.partition))
        env = dict(cluster.env)
        # the job runs `python -m snakemake ...`: make it find this venv's one
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        cmd = [
            sys.executable,
            "-m",
            "snakemake",
            "--profile",
            str(profile),
            "--directory",
            str(workdir),
            "--snakefile",
            str(workdir / "Snakefile"),
            "--verbose",  # logs which status command the plugin really used
        ]
        t1 = time.monotonic()
        r = subprocess.run(
            cmd,
            check=False,
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=600,
        )
        elapsed = time.monotonic() - t1
        print(f"snakemake rc={r.returncode} in {elapsed:.1f}s")
        log = r.stdout + r.stderr
        if r.returncode != 0:
            pytest.fail(f"snakemake failed ({r.returncode}):\n{log}\n{cluster.diagnostics()}")
        first = (workdir / "results" / "first.txt").read_text()
        second = (workdir / "results" / "second.txt").read_text()
        m1 = re.fullmatch(r"first job=(\d+) cpus=1\n", first)
        assert m1, f"first.txt not written inside a 1-CPU SLURM job: {first!r}\n{log}"
        m2 = re.search(r"second job=(\d+)\n$", second)
        assert second.startswith(first) and m2, f"bad second.txt: {second!r}"
        assert m1.group(1) != m2.group(1), "both rules ran in the same SLURM job"
        for job_id in (m1.group(1), m2.group(1)):
            assert cluster.job_state(job_id) == "COMPLETED", cluster.diagnostics()
        # the status queries really went through squeue (sacct cannot work here)
        assert "command=squeue" in log, log
        assert "command=sacct" not in log, log
    print(f"total incl. shutdown {time.monotonic() - t0:.1f}s")
    _assert_all_stopped(pids, tag)


def test_cluster_stops_on_error_and_restores_default_conf(tmp_path):
    """An exception inside the block still stops every daemon, and the
    machine's /etc/slurm/slurm.conf (if any) comes back unchanged."""
    from slurm_cluster import DEFAULT_CONF

    def snapshot():
        if DEFAULT_CONF.is_symlink():
            return ("link", os.readlink(DEFAULT_CONF))
        if DEFAULT_CONF.exists():
            return ("file", DEFAULT_CONF.read_bytes())
        return None

    class Boom(Exception):
        pass

    before = snapshot()
    with pytest.raises(Boom), local_slurm(tmp_path) as cluster:
        pids, tag = cluster.pids, cluster.tag
        assert DEFAULT_CONF.resolve() == cluster.conf_path
        job_id = cluster.sbatch("--mem=50", "--wrap", "sleep 300")
        deadline = time.monotonic() + 60
        while cluster.job_state(job_id) != "RUNNING":
            assert time.monotonic() < deadline, cluster.diagnostics()
            time.sleep(0.5)
        raise Boom
    _assert_all_stopped(pids, tag)
    assert snapshot() == before
