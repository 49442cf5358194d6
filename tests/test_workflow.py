"""End to end: the whole DAG at `tiny` scale on the real raw files, then what reruns."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from workflow_helpers import MIRROR, REPO, planned_jobs, snakemake, tiny_config_args

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MIRROR.is_dir(), reason=f"dataset mirror {MIRROR} not found"),
]

TABLE1 = [
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
]


@pytest.fixture(scope="module")
def lib_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the library, first on PYTHONPATH, so a test can edit it safely."""
    root = tmp_path_factory.mktemp("lib")
    shutil.copytree(REPO / "lib" / "clusterability", root / "clusterability", ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.fixture(scope="module")
def env(lib_copy: Path) -> dict[str, str]:
    return {"PYTHONPATH": str(lib_copy)}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    workdir = tmp_path_factory.mktemp("tiny")
    snakemake(
        workdir,
        "--cores",
        "2",
        *tiny_config_args(),
        "--",
        "results/table1.csv",
        "results/figures/fig2_ncut_vs_accuracy.png",
        env=env,
    )
    return workdir


def test_table1_shape_and_values(tiny_run: Path) -> None:
    table = pd.read_csv(tiny_run / "results/table1.csv")
    assert list(table.columns) == TABLE1
    assert len(table) == 6
    assert set(zip(table["dataset"], table["dropout"])) == {
        (d, drop) for d in ("mnist", "fashion_mnist", "cifar10") for drop in (False, True)
    }
    assert (table["n_networks"] == 1).all() and (table["k"] == 4).all() and (table["n_shuffles"] == 4).all()
    # n-cuts of pruned 4-way clusterings of these MLPs lie well inside (0, 4).
    assert table["ncut_mean"].between(1.0, 3.0).all()
    assert table["dist_ncut_mean"].between(1.0, 3.0).all()
    assert (table["dist_ncut_std"] > 0).all()
    assert table["prop_sig"].between(0, 1).all()
    mnist = table[table["dataset"] == "mnist"]
    assert (mnist["test_acc"] > 0.3).all(), "MNIST accuracy must be well above chance (0.1)"


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
    merged = pruned.merge(unpruned, on=["dataset", "regime", "run"], suffixes=("_p", "_u"))
    assert (merged["ncut_p"] < merged["ncut_u"]).all()


def test_figure_written(tiny_run: Path) -> None:
    for suffix in ("png", "pdf"):
        path = tiny_run / f"results/figures/fig2_ncut_vs_accuracy.{suffix}"
        assert path.stat().st_size > 5000


def test_nothing_reruns_when_nothing_changed(tiny_run: Path, env: dict[str, str]) -> None:
    assert planned_jobs(tiny_run, *tiny_config_args(), "--", "results/table1.csv", env=env) == {}


def test_shuffle_change_reruns_clustering_not_training(tiny_run: Path, env: dict[str, str]) -> None:
    jobs = planned_jobs(tiny_run, *tiny_config_args(clustering={"shuffles": 6}), "--", "results/table1.csv", env=env)
    assert "train_network" not in jobs and "prepare_dataset" not in jobs
    assert jobs["gather_shuffles"] == 12 and jobs["table1"] == 1
    assert jobs["shuffle_chunk"] == 12  # the one new chunk (shuffles 4-5) per network and weight set


def test_k_change_reruns_clustering_not_training(tiny_run: Path, env: dict[str, str]) -> None:
    jobs = planned_jobs(tiny_run, *tiny_config_args(clustering={"k": 5}), "--", "results/table1.csv", env=env)
    assert "train_network" not in jobs
    assert jobs["cluster_network"] == 12 and jobs["shuffle_chunk"] == 24


def test_epoch_change_reruns_training_and_everything_after(tiny_run: Path, env: dict[str, str]) -> None:
    jobs = planned_jobs(tiny_run, *tiny_config_args(training={"epochs": 3}), "--", "results/table1.csv", env=env)
    assert jobs["train_network"] == 6 and jobs["cluster_network"] == 12 and jobs["table1"] == 1
    assert "prepare_dataset" not in jobs


def test_editing_a_lib_module_reruns_its_users(tiny_run: Path, env: dict[str, str], lib_copy: Path) -> None:
    # Snakemake compares input checksums, so a touch is not an edit: change the content.
    spectral = lib_copy / "clusterability/spectral.py"
    original = spectral.read_text()
    try:
        spectral.write_text(original + "\n# an edit\n")
        jobs = planned_jobs(tiny_run, *tiny_config_args(), "--", "results/table1.csv", env=env)
    finally:
        spectral.write_text(original)
    assert "train_network" not in jobs and "prepare_dataset" not in jobs
    assert jobs["cluster_network"] == 12 and jobs["shuffle_chunk"] == 24 and jobs["table1"] == 1

    training = lib_copy / "clusterability/training.py"
    original = training.read_text()
    try:
        training.write_text(original + "\n# an edit\n")
        jobs = planned_jobs(tiny_run, *tiny_config_args(), "--", "results/table1.csv", env=env)
    finally:
        training.write_text(original)
    assert jobs["train_network"] == 6 and "prepare_dataset" not in jobs
    # Restored content: nothing to do again.
    assert planned_jobs(tiny_run, *tiny_config_args(), "--", "results/table1.csv", env=env) == {}


def test_clustering_jobs_do_not_import_tensorflow(tiny_run: Path, env: dict[str, str]) -> None:
    import os
    import subprocess
    import sys

    weights = tiny_run / "results/networks/mnist/plain/run0/weights_pruned.npz"
    code = (
        "import sys\n"
        "from clusterability.stages.clustering import shuffle_chunk, cluster_network\n"
        f"cluster_network({str(weights)!r}, 4, 'fast', 2, 0, {str(tiny_run / 'c.json')!r})\n"
        f"shuffle_chunk({str(weights)!r}, 4, 'fast', 2, 0, 'layer', 0, 1, {str(tiny_run / 's.json')!r})\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ, **env))
