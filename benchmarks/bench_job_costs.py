"""Benchmark: what one job of each rule costs in the tiny run (issue 20 section 5: where the suite's time goes).

Builds ``--target`` (default ``paper1``) at the tiny scale on the tests' synthetic mirror in ``--workdir``
(reused when it is there: only what is out of date runs), then, rule by rule, forces every job of the rule
to run again with ``snakemake --cores 1 -R RULE --until RULE TARGET`` and prints its jobs, wall seconds and
CPU seconds (user + system of Snakemake and every job it started, ``os.times()`` of the children) per job.
The folder is brought up to date before each rule, so only that rule's jobs run (a line says when others did).

    python benchmarks/bench_job_costs.py [--workdir /tmp/job_costs] [--target paper1]
        [--rules gather_shuffles,table,cluster_network,shuffle_chunk,figure,train_network]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))

from synthetic_mirror import write_mirror  # noqa: E402
from workflow_helpers import snakemake_command, tiny_config_args  # noqa: E402

RULES = "gather_shuffles,table,cluster_network,shuffle_chunk,figure,train_network"


def _run(workdir: Path, config: list[str], *args: str) -> tuple[subprocess.CompletedProcess, float, float]:
    """Snakemake on ``workdir`` with ``args``; its result, wall and CPU seconds (children's user + system)."""
    before, t0 = os.times(), time.perf_counter()
    proc = subprocess.run(
        snakemake_command(workdir, "--cores", "1", *args[:-1], *config, "--", args[-1]),
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    after = os.times()
    cpu = after.children_user + after.children_system - before.children_user - before.children_system
    if proc.returncode:
        sys.exit(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc, time.perf_counter() - t0, cpu


def _jobs(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> jobs run, from Snakemake's "Job stats" table."""
    table = (proc.stdout + proc.stderr).split("Job stats:", 1)
    if len(table) < 2:
        return {}
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table[1], re.M) if m[1] != "total"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/job_costs"))
    parser.add_argument("--target", default="paper1")
    parser.add_argument("--rules", default=RULES)
    args = parser.parse_args()
    mirror = args.workdir / "mirror"
    if not (mirror / "MD5SUMS").is_file():
        write_mirror(mirror)
    work = args.workdir / "work"
    work.mkdir(parents=True, exist_ok=True)
    config = tiny_config_args(mirror)
    _, wall, cpu = _run(work, config, args.target)
    print(f"brought {args.target} up to date: {wall:.0f} s wall, {cpu:.0f} s CPU", flush=True)
    print("| rule | jobs | wall s per job | CPU s per job |\n|---|---:|---:|---:|")
    for rule in args.rules.split(","):
        _run(work, config, args.target)  # up to date again (e.g. after an edit of lib/ while this runs)
        proc, wall, cpu = _run(work, config, "-R", rule, "--until", rule, args.target)
        jobs = _jobs(proc)
        others = {name: n for name, n in jobs.items() if name != rule}
        n = jobs.get(rule, 0)
        note = f" (also ran {others})" if others else ""
        print(f"| `{rule}` | {n} | {wall / max(n, 1):.2f} | {cpu / max(n, 1):.2f} |{note}", flush=True)


if __name__ == "__main__":
    main()
