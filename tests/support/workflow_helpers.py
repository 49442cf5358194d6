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

REPO = Path(__file__).resolve().parents[2]
#: The shared read-only mirror of the official raw dataset files (``../shared/datasets``; conftest.py reads it too).
MIRROR = REPO.parent / "shared" / "datasets"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TINY = REPO / "config" / "scales" / "tiny.yaml"
#: The smoke scale and its target (rules/smoke.smk): every rule and every plot kind once.
SMOKE = REPO / "config" / "scales" / "smoke.yaml"
SMOKE_TARGET = "smoke"
# The columns of results/table1.csv (P1 Table 1, plus k and the number of shuffles).
TABLE1_COLUMNS = (
    "dataset",
    "dropout",
    "n_networks",
    "n_degenerate",
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
    return scale_config_args(TINY, mirror, **overrides)


def scale_config_args(scale: Path, mirror: Path = MIRROR, **overrides: object) -> list[str]:
    """Arguments for the scale file ``scale`` reading raw data from ``mirror`` (as :func:`tiny_config_args`)."""
    datasets: dict[str, object] = {"mirror": str(mirror)}
    if mirror != MIRROR and (mirror / "MD5SUMS").is_file():
        datasets["checksums"] = str(mirror / "MD5SUMS")
    args = [f"datasets={json.dumps(datasets)}"]
    args += [f"{key}={json.dumps(value)}" for key, value in overrides.items()]
    return ["--configfile", str(scale), "--config", *args]


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


def job_stats(output: str) -> dict[str, int]:
    """Rule name -> number of jobs, from the "Job stats:" table Snakemake prints before running (or dry-running)."""
    if "Job stats:" not in output:
        return {}
    jobs = {}
    for line in output.split("Job stats:", 1)[1].splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m:
            break
        if m.group(1) != "total":
            jobs[m.group(1)] = int(m.group(2))
    return jobs


def job_blocks(output: str) -> list[dict[str, str]]:
    """The jobs Snakemake printed (a dry run's plan, or a run's log): each job's ``rule`` and its
    ``input``, ``output``, ``wildcards``... lines as printed (``key: value``)."""
    jobs: list[dict[str, str]] = []
    for line in output.splitlines():
        m = re.match(r"^(?:local)?(?:rule|checkpoint) (\w+):$", line)
        if m:
            jobs.append({"rule": m.group(1)})
        elif jobs and (m := re.match(r"^    (\w+): (.*)$", line)):
            jobs[-1].setdefault(m.group(1), m.group(2))
    return jobs


def job_wildcards(job: dict[str, str]) -> dict[str, str]:
    """A printed job's wildcards (``wildcards: a=1, b=x``) as a dict."""
    pairs = [p.split("=", 1) for p in job.get("wildcards", "").split(", ") if "=" in p]
    return {key: value for key, value in pairs}


def workflow_rules() -> dict[str, bool]:
    """Every rule of the Snakefile and the rule files it includes, and whether it declares an ``output:``.

    A rule without output runs no code of its own: it is a list of targets (``all``, ``paper1``...).
    """
    snakefile = (REPO / "Snakefile").read_text()
    texts = [snakefile] + [(REPO / inc).read_text() for inc in re.findall(r'^include: "([^"]+)"', snakefile, re.M)]
    rules = {}
    for text in texts:
        for block in re.split(r"^(?=(?:rule|checkpoint) \w+:)", text, flags=re.M)[1:]:
            name = re.match(r"(?:rule|checkpoint) (\w+):", block).group(1)
            body = re.split(r"^\S", block.split("\n", 1)[-1], maxsplit=1, flags=re.M)[0]  # to the next top-level line
            rules[name] = re.search(r"^    output:", body, re.M) is not None
    return rules
