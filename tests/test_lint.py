"""The workflow passes `snakemake --lint` and `snakefmt --check`, and its paper-scale DAG is right."""

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


def test_paper_scale_dag(tmp_path: Path) -> None:
    """60 networks x 2 weight sets x 320 shuffles in chunks of 64, planned from scratch."""
    jobs = planned_jobs(tmp_path, "--", "results/table1.csv")
    assert jobs == {
        "fetch_dataset": 3,
        "prepare_dataset": 3,
        "train_network": 60,
        "cluster_network": 120,
        "shuffle_chunk": 120 * 5,
        "gather_shuffles": 120,
        "table1": 1,
    }
