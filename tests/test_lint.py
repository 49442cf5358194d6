"""The workflow passes `snakemake --lint`, `snakefmt --check` and ruff, and its paper-scale DAG is right."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from workflow_helpers import REPO, SNAKEMAKE, planned_jobs

SNAKEFMT = str(Path(sys.executable).with_name("snakefmt"))


def test_snakemake_lint_is_clean() -> None:
    proc = subprocess.run([SNAKEMAKE, "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Congratulations, your workflow is in a good condition!" in out
    assert "Lints for" not in out


def test_snakefmt_check_passes() -> None:
    proc = subprocess.run(
        [SNAKEFMT, "--check", "Snakefile", "rules"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


RUFF = str(Path(sys.executable).with_name("ruff"))


def test_ruff_check_and_format() -> None:
    for cmd in ([RUFF, "check", "."], [RUFF, "format", "--check", "."]):
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_paper_scale_dag(tmp_path: Path) -> None:
    """Table 1 alone, and all of config.yaml, planned from scratch at the paper's settings.

    Table 1 needs the 60 pruned networks clustered at k = 4 with 320 shuffles in
    chunks of 64; everything (rule `all`) adds the unpruned networks at k = 4
    (per-network table, figure 2) and the k = 7, 10, 2 sweeps, on the same 60 networks.
    """
    assert planned_jobs(tmp_path, "--", "results/table1.csv") == {
        "fetch_dataset": 3,
        "prepare_dataset": 3,
        "train_network": 60,
        "cluster_network": 60,
        "shuffle_chunk": 60 * 5,
        "gather_shuffles": 60,
        "table": 1,
    }
    clusterings = 60 * 2 + 60 * 3
    assert planned_jobs(tmp_path) == {
        "all": 1,
        "fetch_dataset": 3,
        "prepare_dataset": 3,
        "train_network": 60,
        "cluster_network": clusterings,
        "shuffle_chunk": clusterings * 5,
        "gather_shuffles": clusterings,
        "table": 5,
        "figure": 1,
    }
    everything = planned_jobs(tmp_path)
    everything.pop("all")
    assert planned_jobs(tmp_path, "--", "paper1") == {**everything, "paper1": 1}
