"""The smoke run (`make test-fast`): every rule and every plot kind of the workflow once, in 60 jobs.

Rule ``smoke`` (rules/smoke.smk) at the smoke scale (config/scales/smoke.yaml) on the synthetic
mirror. One test checks, from a dry run, that its targets reach every rule that makes a file and
every plot kind of clusterability.report.figures, so that a new rule or plot cannot escape it; another
reads the run itself (started in the background when the session starts: conftest ``smoke_run``).
Three more check the machinery of conftest: stopping a background run, the ``HEAVY`` list the fast tier
leaves out and the ``WAITING`` list run first, and the order of the tests.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import yaml

from clusterability.report.figures import DATASET_PLOTS, NETWORK_PLOTS, PLOTS
from clusterability.workflow.config import load_config
from workflow_helpers import (
    REPO,
    SMOKE,
    SMOKE_TARGET,
    SNAKEMAKE,
    job_blocks,
    job_stats,
    job_wildcards,
    scale_config_args,
    snakemake_command,
    workflow_rules,
)

pytestmark = pytest.mark.smoke

#: Needs torchvision's own checkpoint (sha256-checked): the smoke run imports a randomly initialized
#: model instead, and the coverage test plans it with a checkpoint folder.
NEEDS_A_CHECKPOINT = {"fetch_imagenet_checkpoint"}
TIMEOUT_S = 300


def _merge(base: dict, over: dict) -> dict:
    """Snakemake's update_config: nested dicts merged, everything else replaced."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _smoke_figures_plots() -> dict[str, str]:
    """Figure name -> plot kind, at the smoke scale."""
    config = _merge(yaml.safe_load((REPO / "config.yaml").read_text()), yaml.safe_load(SMOKE.read_text()))
    _, experiments = load_config(config, REPO / "schemas" / "config.schema.yaml", paths=False)
    return {name: figure.plot for name, figure in experiments.figures.items()}


def test_smoke_targets_cover_every_rule_and_plot_kind(synthetic_mirror: Path, tmp_path: Path) -> None:
    """The dry run of `snakemake smoke` plans a job of every rule with an output, and a figure of every plot kind."""
    checkpoints = tmp_path / "checkpoints"  # a folder of checkpoints: the fetching rule is planned
    checkpoints.mkdir()
    args = scale_config_args(SMOKE, synthetic_mirror, imagenet={"checkpoints": str(checkpoints)})
    dry = subprocess.Popen(
        snakemake_command(tmp_path / "work", "--dry-run", *args, "--", SMOKE_TARGET),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    listed = subprocess.run([SNAKEMAKE, "--list-rules"], cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S)
    out = dry.communicate(timeout=TIMEOUT_S)[0]
    assert dry.returncode == 0 and listed.returncode == 0, out[-4000:] + listed.stderr[-2000:]

    rules = workflow_rules()
    assert set(listed.stdout.split()) == set(rules), "rules the parse of Snakefile and rules/*.smk missed"
    planned = job_stats(out)
    making_files = {name for name, has_output in rules.items() if has_output}
    assert making_files - set(planned) == set(), "rules the smoke targets (rules/smoke.smk) do not reach"
    # The rules without output are lists of targets; of them, the smoke run runs its own.
    assert set(planned) - making_files == {SMOKE_TARGET}
    assert 20 <= sum(planned.values()) <= 80, planned  # tens of jobs
    # mnist_dropout for every table: one training; one small CNN in a job of several networks (one run here).
    assert planned["train_network"] == 1 and planned["train_networks"] == 1 and planned["unpack_network"] == 1, planned

    figures = [job_wildcards(job)["figure"] for job in job_blocks(out) if job["rule"] == "figure"]
    plots = _smoke_figures_plots()
    every_kind = {*PLOTS, *DATASET_PLOTS, *NETWORK_PLOTS}
    drawn = [plots[name] for name in figures]
    assert set(drawn) == every_kind, f"plot kinds no smoke figure draws: {sorted(every_kind - set(drawn))}"
    assert len(drawn) == len(every_kind), "one figure per plot kind"


def test_smoke_run_makes_every_target(smoke_run) -> None:
    """`snakemake smoke` finishes, runs every rule with an output but the checkpoint fetch, and writes
    every target, none of them empty."""
    out = smoke_run.log().read_text()
    ran = job_stats(out)
    making_files = {name for name, has_output in workflow_rules().items() if has_output}
    assert set(ran) == (making_files - NEEDS_A_CHECKPOINT) | {SMOKE_TARGET}, ran
    (smoke,) = [job for job in job_blocks(out) if job["rule"] == SMOKE_TARGET]
    targets = [smoke_run.workdir / path for path in smoke["input"].split(", ")]
    assert len(targets) >= len(PLOTS) * 2  # a PNG and a PDF of each figure, the tables, the scorecard
    for path in targets:
        assert path.is_file() and path.stat().st_size > 0, path
    for png in (p for p in targets if p.suffix == ".png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000, png
    for csv in (p for p in targets if p.suffix == ".csv"):
        assert len(csv.read_text().splitlines()) >= 2, csv  # a header and at least one row


def test_a_stopped_background_run_starts_no_further_part(tmp_path: Path) -> None:
    """conftest's background runs (tiny, smoke): stopped at the end of the session, the running part is
    terminated and the next one never starts (it would outlive pytest)."""
    from conftest import _Background

    started = tmp_path / "second_part_started"
    run = _Background(tmp_path, [["sleep", "60"], ["touch", str(started)]], {}, name="probe")
    deadline = time.monotonic() + 30
    while run._proc is None and time.monotonic() < deadline:
        time.sleep(0.01)
    run.stop()
    run._thread.join(30)
    assert not run._thread.is_alive() and run._proc.returncode is not None
    assert not started.exists() and run.error is None


def test_waiting_tests_go_first_and_the_tiny_runs_readers_last() -> None:
    """conftest orders the selected tests: WAITING's first, then the others, those that read the smoke run,
    those that read the tiny run (whose background run starts only if one of them is selected)."""
    from types import SimpleNamespace

    from conftest import _NEEDS_SMOKE_RUN, _NEEDS_TINY_RUN, pytest_collection_modifyitems

    def item(file: str, name: str, *fixtures: str) -> SimpleNamespace:
        return SimpleNamespace(path=REPO / "tests" / file, originalname=name, name=name, fixturenames=fixtures)

    items = [
        item("unit/test_api.py", "test_a"),
        item("workflow/test_workflow.py", "test_reads_tiny", "tiny_run"),
        item("workflow/test_slurm_workflow.py", "test_tiny_dag_on_slurm"),
        item("workflow/test_smoke.py", "test_reads_smoke", "smoke_run"),
        item("workflow/test_slurm_workflow.py", "test_profile_names_existing_rules"),
        item("workflow/test_slurm_cluster.py", "test_sbatch_wrap_writes_file"),
    ]
    config = SimpleNamespace(getoption=lambda name: "", stash=pytest.Stash())
    pytest_collection_modifyitems(config, items)
    assert [i.name for i in items] == [
        "test_tiny_dag_on_slurm",
        "test_sbatch_wrap_writes_file",
        "test_a",
        "test_profile_names_existing_rules",
        "test_reads_smoke",
        "test_reads_tiny",
    ]
    assert config.stash[_NEEDS_TINY_RUN] and config.stash[_NEEDS_SMOKE_RUN]


def test_every_heavy_entry_names_an_existing_test() -> None:
    """conftest's HEAVY list (left out of make test-fast) and WAITING list (run first) name test files and
    functions that exist, so a renamed heavy test cannot slip into the fast tier unnoticed."""
    from conftest import HEAVY, WAITING

    for entry in HEAVY + WAITING:
        file, _, function = entry.partition("::")
        paths = [p for p in (REPO / "tests").glob(f"*/{file}") if p.parent.name in ("unit", "workflow")]
        assert len(paths) == 1, entry
        path = paths[0]
        assert not function or f"def {function}(" in path.read_text(), entry
