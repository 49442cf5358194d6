"""Running the Snakemake workflow from tests: in a temporary working directory, tiny scale.

Workflow tests run on a synthetic mirror made by :mod:`synthetic_mirror` (always
available: fixture ``synthetic_mirror`` in conftest.py) with its ``MD5SUMS``
as ``datasets.checksums``; a few also run on the real files in ``../shared``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MIRROR = REPO.parent / "shared" / "datasets"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TINY = REPO / "config" / "scales" / "tiny.yaml"
# The columns of results/table1.csv (P1 Table 1, plus k and the number of shuffles).
TABLE1_COLUMNS = (
    "dataset",
    "dropout",
    "n_networks",
    "prop_sig",
    "train_acc",
    "test_acc",
    "ncut_mean",
    "ncut_std",
    "dist_ncut_mean",
    "dist_ncut_std",
    "k",
    "n_shuffles",
)


#: What the session's tiny run (the ``tiny_run`` fixture) builds.
TINY_TARGETS = ("paper1", "paper2_mlp", "paper2_cnn", "paper2_promote")


def tiny_config_args(mirror: Path = MIRROR, **overrides: object) -> list[str]:
    """Arguments for the tiny scale reading raw data from ``mirror``.

    A mirror with an ``MD5SUMS`` file of its own (the synthetic one) is checked
    against it; the real mirror against the official md5s.
    """
    datasets: dict[str, object] = {"mirror": str(mirror)}
    if mirror != MIRROR and (mirror / "MD5SUMS").is_file():
        datasets["checksums"] = str(mirror / "MD5SUMS")
    args = [f"datasets={json.dumps(datasets)}"]
    args += [f"{key}={json.dumps(value)}" for key, value in overrides.items()]
    return ["--configfile", str(TINY), "--config", *args]


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """The command line of Snakemake on the repository's workflow with ``workdir`` as working directory."""
    return [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), *args]


def snakemake(
    workdir: Path, *args: str, check: bool = True, timeout: int = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run Snakemake on the repository's workflow with ``workdir`` as working directory."""
    cmd = snakemake_command(workdir, *args)
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def planned_jobs(workdir: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, int]:
    """Rule name -> number of jobs a dry run would execute (empty when nothing to do)."""
    proc = snakemake(workdir, "--dry-run", *args, env=env)
    out = proc.stdout + proc.stderr
    if "Job stats:" not in out:
        return {}
    table = out.split("Job stats:", 1)[1]
    jobs = {}
    for line in table.splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m:
            break
        if m.group(1) != "total":
            jobs[m.group(1)] = int(m.group(2))
    return jobs


def table_lines(csv: Path, families: list[str]) -> list[str]:
    """The header and the lines of a table about ``families`` or their datasets (its first column), as written.

    Tables restricted to some families (``--config tables=...``) have these
    lines of the full tables, byte for byte: the rows of a network do not
    depend on the other networks of its table.
    """
    header, *lines = csv.read_text().splitlines()
    names = {*families, *(f.rsplit("_", 1)[0] for f in families)}
    return [header, *(line for line in lines if line.split(",", 1)[0] in names)]
