"""End to end: the whole DAG at `tiny` scale, then what reruns after a change.

The DAG runs on a synthetic mirror in the publishers' formats (made in the
test, checked against its own MD5SUMS), so these tests need nothing outside the
repository. `test_table1_unchanged_on_the_real_files` runs Table 1 on the real
files of ../shared when they exist and compares it with the values the code
gave before experiments became data (tests/golden/).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from workflow_helpers import MIRROR, REPO, TABLE1_COLUMNS, planned_jobs, snakemake, tiny_config_args

pytestmark = pytest.mark.slow

TABLE1 = list(TABLE1_COLUMNS)
GOLDEN = REPO / "tests" / "golden"


@pytest.fixture(scope="module")
def lib_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the library, first on PYTHONPATH, so a test can edit it safely."""
    root = tmp_path_factory.mktemp("lib")
    shutil.copytree(
        REPO / "lib" / "clusterability", root / "clusterability", ignore=shutil.ignore_patterns("__pycache__")
    )
    return root


@pytest.fixture(scope="module")
def env(lib_copy: Path) -> dict[str, str]:
    return {"PYTHONPATH": str(lib_copy)}


@pytest.fixture(scope="module")
def args(synthetic_mirror: Path):
    def make(**overrides: object) -> list[str]:
        return [*tiny_config_args(synthetic_mirror, **overrides), "--", "results/table1.csv"]

    return make


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str], synthetic_mirror: Path) -> Path:
    """Every table and figure of config.yaml at the tiny scale (rule `all`)."""
    workdir = tmp_path_factory.mktemp("tiny")
    snakemake(workdir, "--cores", "2", *tiny_config_args(synthetic_mirror), env=env)
    return workdir


def test_every_target_is_built(tiny_run: Path) -> None:
    for name in ("table1", "table1_networks", "tableA1", "tableA2", "tableA3"):
        assert (tiny_run / f"results/{name}.csv").stat().st_size > 100, name
    for suffix in ("png", "pdf"):
        assert (tiny_run / f"results/figures/fig2_ncut_vs_accuracy.{suffix}").stat().st_size > 5000


def test_table1_shape_and_values(tiny_run: Path) -> None:
    table = pd.read_csv(tiny_run / "results/table1.csv")
    assert list(table.columns) == TABLE1
    assert list(zip(table["dataset"], table["dropout"])) == [
        (d, drop) for d in ("mnist", "fashion_mnist", "cifar10") for drop in (False, True)
    ]
    assert (table["n_networks"] == 1).all() and (table["k"] == 4).all() and (table["n_shuffles"] == 4).all()
    # n-cuts of pruned 4-way clusterings of these MLPs lie well inside (0, 4).
    assert table["ncut_mean"].between(1.0, 3.0).all()
    assert table["dist_ncut_mean"].between(1.0, 3.0).all()
    assert (table["dist_ncut_std"] > 0).all()
    assert table["prop_sig"].between(0, 1).all()
    plain = table[~table["dropout"]]
    assert (plain["test_acc"] > 0.5).all(), "the synthetic classes are easy: well above chance (0.1)"


def test_k_sweep_tables_cluster_the_same_networks(tiny_run: Path) -> None:
    """Tables A.1-A.3 are Table 1 with k = 7, 10, 2: same networks and accuracies, other n-cuts."""
    table1 = pd.read_csv(tiny_run / "results/table1.csv")
    for name, k in (("tableA1", 7), ("tableA2", 10), ("tableA3", 2)):
        other = pd.read_csv(tiny_run / f"results/{name}.csv")
        assert list(other.columns) == TABLE1 and (other["k"] == k).all()
        pd.testing.assert_series_equal(other["test_acc"], table1["test_acc"])
        assert other["ncut_mean"].between(0, k).all()
    assert len(list((tiny_run / "results/networks").glob("*/run*/metrics.json"))) == 6


def test_per_network_table(tiny_run: Path) -> None:
    networks = pd.read_csv(tiny_run / "results/table1_networks.csv")
    assert len(networks) == 12  # 6 networks x (before, after pruning)
    assert set(networks["stage"]) == {"unpruned", "pruned"}
    assert networks["p_value"].between(1 / 5, 1).all()  # (r + 1) / (n + 1) with n = 4
    pruned = networks[networks["stage"] == "pruned"]
    assert pruned["sparsity"].between(0.85, 0.95).all()
    unpruned = networks[networks["stage"] == "unpruned"]
    assert (unpruned["sparsity"] < 0.01).all()
    # Pruning lowers the n-cut of every network (P1 figure 2).
    merged = pruned.merge(unpruned, on=["family", "run"], suffixes=("_p", "_u"))
    assert (merged["ncut_p"] < merged["ncut_u"]).all()
    # Table 1 summarises exactly the pruned rows.
    table1 = pd.read_csv(tiny_run / "results/table1.csv")
    assert list(table1["ncut_mean"]) == pytest.approx(list(pruned["ncut"]), rel=1e-5)


def test_jobs_log_to_their_rule_logs(tiny_run: Path) -> None:
    """TensorFlow's C++ log lines land in the training logs, not on Snakemake's terminal."""
    log = (tiny_run / "logs/train_network/mnist_plain/run0.log").read_text()
    assert "test accuracy" in log and "done in" in log
    terminal = "\n".join(p.read_text() for p in (tiny_run / ".snakemake/log").glob("*.log"))
    assert "node_def_util" not in terminal and "cuda" not in terminal.lower()


def test_nothing_reruns_when_nothing_changed(tiny_run: Path, env: dict[str, str], args) -> None:
    assert planned_jobs(tiny_run, *args(), env=env) == {}


def test_shuffle_change_reruns_clustering_not_training(tiny_run: Path, env: dict[str, str], args) -> None:
    jobs = planned_jobs(tiny_run, *args(limits={"shuffles": 6}), env=env)
    assert "train_network" not in jobs and "prepare_dataset" not in jobs and "cluster_network" not in jobs
    assert jobs["gather_shuffles"] == 6 and jobs["table"] == 1
    assert jobs["shuffle_chunk"] == 6  # the one new chunk (shuffles 4-5) per network


def test_k_change_reruns_clustering_not_training(tiny_run: Path, env: dict[str, str], args) -> None:
    jobs = planned_jobs(tiny_run, *args(tables={"table1": {"k": 5}}), env=env)
    assert "train_network" not in jobs
    assert jobs["cluster_network"] == 6 and jobs["shuffle_chunk"] == 12


def test_epoch_change_reruns_training_and_everything_after(tiny_run: Path, env: dict[str, str], args) -> None:
    jobs = planned_jobs(tiny_run, *args(training={"epochs": 3}), env=env)
    assert jobs["train_network"] == 6 and jobs["cluster_network"] == 6 and jobs["table"] == 1
    assert "prepare_dataset" not in jobs


def test_editing_a_lib_module_reruns_its_users(tiny_run: Path, env: dict[str, str], lib_copy: Path, args) -> None:
    # Snakemake compares input checksums, so a touch is not an edit: change the content.
    spectral = lib_copy / "clusterability/spectral.py"
    original = spectral.read_text()
    try:
        spectral.write_text(original + "\n# an edit\n")
        jobs = planned_jobs(tiny_run, *args(), env=env)
    finally:
        spectral.write_text(original)
    assert "train_network" not in jobs and "prepare_dataset" not in jobs
    assert jobs["cluster_network"] == 6 and jobs["shuffle_chunk"] == 12 and jobs["table"] == 1

    training = lib_copy / "clusterability/training.py"
    original = training.read_text()
    try:
        training.write_text(original + "\n# an edit\n")
        jobs = planned_jobs(tiny_run, *args(), env=env)
    finally:
        training.write_text(original)
    assert jobs["train_network"] == 6 and "prepare_dataset" not in jobs
    # Restored content: nothing to do again.
    assert planned_jobs(tiny_run, *args(), env=env) == {}


def test_clustering_jobs_do_not_import_tensorflow(tiny_run: Path, env: dict[str, str], tmp_path: Path) -> None:
    """The clustering scripts run with a stand-in `snakemake` object; tensorflow must stay unloaded."""
    weights = tiny_run / "results/networks/mnist_plain/run0/weights_pruned.npz"
    code = f"""
import runpy, sys
from types import SimpleNamespace as NS

class Files(list):
    def __init__(self, **named):
        super().__init__(named.values())
        self.__dict__.update(named)

def job(script, inputs, output, **params):
    smk = NS(input=Files(**inputs), output=Files(out=output), log=Files(log=output + ".log"), threads=1,
             params=NS(**params), wildcards=NS(method="layer", n="2"))
    runpy.run_path({str(REPO)!r} + "/workflow_scripts/" + script, init_globals={{"snakemake": smk}})

out = {str(tmp_path)!r}
job("cluster_network.py", dict(weights={str(weights)!r}), out + "/net.json", k=4, seed=0, solver="fast", n_init=2)
job("shuffle_chunk.py", dict(weights={str(weights)!r}), out + "/c0.json", k=4, seed=0, solver="fast", n_init=2,
    indices=[0, 2])
job("gather_shuffles.py", dict(network=out + "/net.json", chunks=[out + "/c0.json"]), out + "/g.json")
assert "tensorflow" not in sys.modules, "tensorflow was imported"
"""
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(__import__("os").environ, **env))
    gathered = json.loads((tmp_path / "g.json").read_text())
    assert gathered["n_shuffles"] == 2 and len(gathered["shuffle_ncuts"]) == 2


def _fingerprint(workdir: Path) -> str:
    return json.loads((workdir / "results/networks/mnist_plain/run0/metrics.json").read_text())["numerics_fingerprint"]


@pytest.mark.skipif(not MIRROR.is_dir(), reason=f"dataset mirror {MIRROR} not found")
def test_table1_unchanged_on_the_real_files(tmp_path: Path, env: dict[str, str]) -> None:
    """Table 1 at the tiny scale on the real files equals what the code computed before the refactor.

    tests/golden/*.csv were written by commit ec243b8 (Table 1 as special code)
    with `snakemake --config scale=tiny` on the real mirror, on a machine whose
    TensorFlow numerics fingerprint is recorded in tests/golden/README.md.
    Training is bit-reproducible on one machine but not across CPUs (oneDNN
    picks its kernels from the instruction set), so the exact comparison only
    applies on a machine with the same fingerprint.
    """
    snakemake(
        tmp_path,
        "--cores",
        "2",
        *tiny_config_args(MIRROR),
        "--",
        "results/table1.csv",
        "results/table1_networks.csv",
        env=env,
    )
    table = pd.read_csv(tmp_path / "results/table1.csv")
    networks = pd.read_csv(tmp_path / "results/table1_networks.csv")
    assert list(table.columns) == TABLE1 and len(table) == 6 and len(networks) == 12
    assert (table.loc[table["dataset"] == "mnist", "test_acc"] > 0.5).all(), "real MNIST: well above chance"
    recorded = (GOLDEN / "README.md").read_text().split("fingerprint: `", 1)[1].split("`", 1)[0]
    if _fingerprint(tmp_path) != recorded:
        pytest.skip(
            f"this CPU's TensorFlow numerics ({_fingerprint(tmp_path)}) differ from the machine that wrote the "
            f"golden values ({recorded}); the run above completed, its values are not comparable bit for bit"
        )
    assert (tmp_path / "results/table1.csv").read_bytes() == (GOLDEN / "table1_tiny_real_mirror.csv").read_bytes()
    old = pd.read_csv(GOLDEN / "table1_networks_tiny_real_mirror.csv")
    merged = old.merge(networks, on=["dataset", "regime", "run", "stage"], suffixes=("_old", ""))
    assert len(merged) == 12
    for column in ("seed", "train_acc", "test_acc", "sparsity", "ncut", "clustering_seed", "shuffle_mean", "p_value"):
        pd.testing.assert_series_equal(merged[column], merged[f"{column}_old"], check_names=False)
