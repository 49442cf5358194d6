"""End to end: the whole DAG at `tiny` scale, then what reruns after a change.

The DAG runs on a synthetic mirror in the publishers' formats (made in the
test, checked against its own MD5SUMS), so these tests need nothing outside the
repository. `test_table1_unchanged_on_the_real_files` runs Table 1 on the real
files of ../shared when they exist and compares it with the values the code
gave before experiments became data (tests/golden/).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterability.lesions import TYPES as LESION_TYPES
from workflow_helpers import MIRROR, REPO, TABLE1_COLUMNS, TINY_TARGETS, planned_jobs, snakemake, tiny_config_args

pytestmark = pytest.mark.slow

TABLE1 = list(TABLE1_COLUMNS)
FAMILIES_TABLE1 = [f"{d}_{r}" for d in ("mnist", "fashion_mnist", "cifar10") for r in ("plain", "dropout")]
GOLDEN = REPO / "tests" / "golden"


@pytest.fixture(scope="module")
def args(synthetic_mirror: Path):
    def make(**overrides: object) -> list[str]:
        return [*tiny_config_args(synthetic_mirror, **overrides), "--", "results/table1.csv"]

    return make


# Every target of `paper1` (P1's tables and figures), as the issues name them.
P1_TABLES = ("table1", "table2", "table3", "table4", *(f"tableA{i}" for i in range(1, 20)))
P1_TABLES += ("table1_networks", "init_networks", "topology_networks", "lesion_pairs", "lesion_dependencies")
P1_FIGURES = ("fig1_network", "fig2_ncut_vs_accuracy", "fig3_init_ncuts", "fig4_topology", "figA1_cohens_d")
P1_FIGURES += tuple(f"figA{i}_violins" for i in range(2, 6))
P1_FIGURES += ("fig5_lesions", "fig6a_conditional_importance", "fig6b_dependency_graph", "figA6_lesion_pairs")
# P1's network families: Table 1's six, the random-init MLPs, the random-label,
# kilo-epoch and memorization runs, the lines and the six mixtures.
P1_FAMILIES = {*FAMILIES_TABLE1, "mlp_init"}
P1_FAMILIES |= {
    f"{d}_{r}"
    for d in ("random", "random_kilo", "memorization", "lines", "lines_mnist", "lines_cifar10", "mnist_cifar10")
    for r in ("plain", "dropout")
}
P1_FAMILIES |= {f"{d}_sep_{r}" for d in ("lines_mnist", "lines_cifar10", "mnist_cifar10") for r in ("plain", "dropout")}


def test_paper1_builds_every_target(tiny_run: Path) -> None:
    for name in P1_TABLES:
        table = pd.read_csv(tiny_run / f"results/{name}.csv")
        # Table A.19 (pairs of important sub-modules in different layers) and the dependency graph may be
        # empty at tiny scale, depending on the CPU's numerics: test_lesion_tables checks them against
        # lesion_pairs, which has every pair. Every other table has rows.
        assert len(table) or name in ("tableA19", "lesion_dependencies"), name
        assert {"family", "dataset"} & set(table.columns), name
    for name in P1_FIGURES:
        for suffix in ("png", "pdf"):
            assert (tiny_run / f"results/figures/{name}.{suffix}").stat().st_size > 5000, name
    trained = {p.parent.parent.name for p in (tiny_run / "results/networks").glob("*/run*/metrics.json")}
    assert trained == P1_FAMILIES | P2_MLP_FAMILIES | P2_CNN_FAMILIES | P2_PROMOTE_FAMILIES and len(P1_FAMILIES) == 27


# P2's MLP part (`paper2_mlp`): its tables and figures, and the only networks it adds to P1's.
P2_MLP_TABLES = tuple(f"p2/tableA{i}" for i in (*range(1, 8), *range(16, 22)))
P2_MLP_TABLES += ("p2/mlp_networks", "p2/halves_networks", "p2/polynomial_networks", "p2/init_networks")
P2_MLP_TABLES += ("p2/topology_networks",)
P2_MLP_FIGURES = ("fig1_network", "fig2_regularization_unpruned", "fig3_regularization_pruned")
P2_MLP_FIGURES += ("fig4_halves_samples", "fig5_halves", "figA1_init_ncuts", "figA6_topology", "figA7_polynomial")
P2_MLP_FAMILIES = {f"{d}_{r}" for d in ("mnist", "fashion_mnist") for r in ("l1", "l2")}
P2_MLP_FAMILIES |= {f"{d}_halves_{h}_plain" for d in ("mnist", "fashion") for h in ("same", "diff")}
P2_MLP_FAMILIES |= {f"polynomial_{r}" for r in ("plain", "l1", "l2")}


def test_paper2_mlp_builds_every_target(tiny_run: Path) -> None:
    for name in P2_MLP_TABLES:
        table = pd.read_csv(tiny_run / f"results/{name}.csv")
        assert len(table) and table["k"].notna().all(), name
    for name in P2_MLP_FIGURES:
        for suffix in ("png", "pdf"):
            assert (tiny_run / f"results/figures/p2/{name}.{suffix}").stat().st_size > 5000, name
    # Tables A.5/A.6: 4 regimes before pruning, then after, at k = 12 (tiny: 4 of the 50 shuffles).
    a5 = pd.read_csv(tiny_run / "results/p2/tableA5.csv")
    assert list(zip(a5["regime"], a5["pruned"])) == [
        (r, p) for p in (False, True) for r in ("plain", "dropout", "l1", "l2")
    ]
    assert (a5["k"] == 12).all() and (a5["n_shuffles"] == 4).all() and a5["ncut_mean"].between(0, 12).all()
    assert a5["mean_dist_mean"].notna().all() and a5["prop_sig"].between(0, 1).all()
    # Halves: the four datasets; polynomial regression: losses instead of accuracies.
    a7 = pd.read_csv(tiny_run / "results/p2/tableA7.csv")
    assert set(a7["dataset"]) == {f"{d}_halves_{h}" for d in ("mnist", "fashion") for h in ("same", "diff")}
    a19 = pd.read_csv(tiny_run / "results/p2/tableA19.csv")
    assert list(a19["regime"]) == ["plain", "plain", "l1", "l1", "l2", "l2"]
    assert (a19[["train_loss", "test_loss", "train_mse", "test_mse"]] > 0).all().all()
    assert (a19.loc[a19["regime"] == "plain", "test_loss"] == a19.loc[a19["regime"] == "plain", "test_mse"]).all()
    poly = json.loads((tiny_run / "results/networks/polynomial_l2/run0/metrics.json").read_text())
    assert (
        poly["task"] == "regression"
        and poly["weight_shapes"][0] == [2, 256]
        and poly["weight_shapes"][-1] == [256, 512]
    )
    assert poly["config"]["l2"] == 5e-5 and poly["config"]["l1"] == 0  # not the original's L1 on the first layer
    # The random-dataset tables compare with the same networks before pruning.
    a16 = pd.read_csv(tiny_run / "results/p2/tableA16.csv")
    assert a16["unpruned_ncut_mean"].notna().all() and list(a16["dropout"]) == [False, True]
    # Figure A.6: the pruned MLPs at k = 12 against both shuffles, the same clusterings as Tables A.5/A.6.
    topology = pd.read_csv(tiny_run / "results/p2/topology_networks.csv")
    assert set(topology["family"]) == {f"{d}_{r}" for d in ("mnist", "fashion_mnist") for r in ("plain", "dropout")}
    assert (topology["k"] == 12).all() and (topology["layer_nonzero_n_shuffles"] == topology["n_shuffles"]).all()
    assert topology[["shuffle_mean", "layer_nonzero_shuffle_mean", "cohens_d"]].notna().all().all()
    mlp = pd.read_csv(tiny_run / "results/p2/mlp_networks.csv").set_index(["family", "run", "stage"])["ncut"]
    for row in topology.itertuples():
        assert row.ncut == mlp[(row.family, row.run, row.stage)] and row.stage == "pruned"
    assert list(pd.read_csv(tiny_run / "results/p2/tableA20.csv")["dataset"]) == [
        "mnist",
        "lines",
        "lines_mnist",
        "lines_mnist_sep",
    ]


P2_CNN_FAMILIES = {f"{d}_cnn_{r}" for d in ("mnist", "fashion_mnist") for r in ("plain", "dropout", "l1", "l2")}
P2_CNN_FAMILIES |= {f"{d}_stack_{h}_cnn" for d in ("mnist", "fashion") for h in ("same", "diff")}
P2_CNN_FAMILIES |= {f"cifar10_vgg_{r}" for r in ("plain", "dropout", "l1", "l2", "dropout_l2")}
P2_CNN_FAMILIES |= {"cnn_init", "vgg_init"}
P2_CNN_FAMILIES |= {f"imagenet_{m}" for m in ("vgg16", "vgg19", "resnet18", "resnet34", "resnet50", "inception_v3")}
P2_CNN_TABLES = ("p2/tableA8", "p2/tableA9", "p2/tableA10", "p2/tableA12", "p2/cnn_networks", "p2/vgg_networks")
P2_CNN_TABLES += ("p2/stack_networks", "p2/cnn_init_networks", "p2/vgg_init_networks", "p2/tableA11")
P2_CNN_FIGURES = ("fig6_cnn_unpruned", "fig7_cnn_pruned", "figA4_cnn_plain_dropout", "fig8_vgg_unpruned")
P2_CNN_FIGURES += ("fig9_vgg_pruned", "fig11_stack_samples", "fig12_stack", "figA2_cnn_init_ncuts")
P2_CNN_FIGURES += ("figA3_vgg_init_ncuts", "fig10_imagenet")


def test_paper2_cnn_builds_every_target(tiny_run: Path) -> None:
    """`paper2_cnn` at tiny: small CNNs (8 channels), stack datasets and VGGs (4 channels) end to end."""
    for name in P2_CNN_TABLES:
        table = pd.read_csv(tiny_run / f"results/{name}.csv")
        assert len(table) and table["k"].notna().all(), name
    for name in P2_CNN_FIGURES:
        for suffix in ("png", "pdf"):
            assert (tiny_run / f"results/figures/p2/{name}.{suffix}").stat().st_size > 5000, name
    # Tables A.8-A.10: the regimes before pruning, then after.
    a8 = pd.read_csv(tiny_run / "results/p2/tableA8.csv")
    assert list(zip(a8["regime"], a8["pruned"])) == [
        (r, p) for p in (False, True) for r in ("plain", "dropout", "l1", "l2")
    ]
    assert (a8["k"] == 12).all() and (a8["n_shuffles"] == 4).all() and a8["ncut_mean"].between(0, 12).all()
    a10 = pd.read_csv(tiny_run / "results/p2/tableA10.csv")
    assert list(a10["regime"][:5]) == ["plain", "dropout", "l1", "l2", "dropout_l2"]
    assert set(a10["dataset"]) == {"cifar10_rgb"} and a10["mean_dist_mean"].notna().all()
    a12 = pd.read_csv(tiny_run / "results/p2/tableA12.csv")
    assert set(a12["dataset"]) == {f"{d}_stack_{h}" for d in ("mnist", "fashion") for h in ("same", "diff")}
    # The networks: the small CNN's 3 convolutions on 2-channel stacks, VGG's 13 on RGB with augmentation.
    stack = _metrics(tiny_run, "mnist_stack_diff_cnn")
    assert [s[:3] for s in stack["weight_shapes"][:3]] == [[3, 3, 2], [3, 3, 8], [3, 3, 8]]
    vgg = _metrics(tiny_run, "cifar10_vgg_dropout_l2")
    assert vgg["weight_shapes"][0] == [3, 3, 3, 4] and len(vgg["weight_shapes"]) == 13 + 3
    assert vgg["config"]["augment"] is True and vgg["config"]["l2"] == 5e-4 and vgg["config"]["conv_dropout"] == 0.4
    assert _metrics(tiny_run, "mnist_cnn_dropout")["config"]["conv_dropout"] == 0.25
    assert _metrics(tiny_run, "mnist_cnn_plain")["config"].get("conv_dropout", 0) == 0
    # (their clusterings, in the gathered shuffles: the gather job clusters the network where they fit one chunk)
    clustering = json.loads(
        (tiny_run / "results/clustering/cifar10_vgg_plain/run0/pruned/k12/layer/shuffles4.json").read_text()
    )
    assert len(clustering["labels"]) == 13 * 4  # one node per channel of the 13 convolutions
    init = pd.read_csv(tiny_run / "results/p2/vgg_init_networks.csv")
    assert list(init.columns) == ["family", "run", "seed", "k", "ncut", "degenerate", "clustering_seed"]
    # Table A.11: the six ImageNet models (tiny: randomly initialized), their residual/branching graphs.
    a11 = pd.read_csv(tiny_run / "results/p2/tableA11.csv")
    assert list(a11["architecture"]) == ["vgg16", "vgg19", "resnet18", "resnet34", "resnet50", "inception_v3"]
    assert (a11["n_shuffles"] == 4).all() and a11["ncut"].between(0, 12).all()
    resnet_k12 = tiny_run / "results/clustering/imagenet_resnet50/run0/unpruned/k12"
    resnet = json.loads((resnet_k12 / "layer/shuffles4.json").read_text())
    assert len(resnet["labels"]) == 26560  # one node per channel of ResNet-50's 53 convolutions
    assert _metrics(tiny_run, "imagenet_resnet50")["checkpoint"] is None  # random initialization at tiny


P2_PROMOTE_FAMILIES = {f"{d}_clusterable_init" for d in ("mnist", "fashion_mnist", "mnist_cnn", "fashion_mnist_cnn")}
P2_PROMOTE_FAMILIES |= {"cifar10_vgg_clusterable_init", "mnist_7x7_plain", "mnist_7x7_regularized"}
P2_PROMOTE_FAMILIES |= {"mnist_projected_0p01", "mnist_projected_0p1", "mnist_projected_1"}
P2_PROMOTE_TABLES = ("p2/tableA13", "p2/tableA14", "p2/tableA15", "p2/table1", "p2/regularizer_sweep")
P2_PROMOTE_TABLES += tuple(f"p2/clusterable_init_{a}_networks" for a in ("mlp", "cnn", "vgg"))
P2_PROMOTE_TABLES += ("p2/regularizer_networks",)
P2_PROMOTE_FIGURES = ("fig13_clusterable_init_mlp", "fig14_clusterable_init_cnn", "fig15_clusterable_init_vgg")
P2_PROMOTE_FIGURES += ("figA5_regularizer",)


def test_paper2_promote_builds_every_target(tiny_run: Path) -> None:
    """`paper2_promote` at tiny: clusterable initialization and the clusterability regularizer end to end."""
    for name in P2_PROMOTE_TABLES:
        table = pd.read_csv(tiny_run / f"results/{name}.csv")
        assert (
            len(table)
            and (table["k"] == 12).all()
            and table["ncut_mean" if "ncut_mean" in table else "ncut"].between(0, 12).all()
        ), name
    for name in P2_PROMOTE_FIGURES:
        for suffix in ("png", "pdf"):
            assert (tiny_run / f"results/figures/p2/{name}.{suffix}").stat().st_size > 5000, name
    # Tables A.13-A.15: each dataset before and after pruning, beta 0.6 for MLPs and 0.8 for CNNs and VGGs.
    for name, datasets, beta in (
        ("tableA13", ["mnist", "fashion_mnist"], 0.6),
        ("tableA14", ["mnist", "fashion_mnist"], 0.8),
        ("tableA15", ["cifar10_rgb"], 0.8),
    ):
        table = pd.read_csv(tiny_run / f"results/p2/{name}.csv")
        assert list(zip(table["dataset"], table["pruned"])) == [(d, p) for d in datasets for p in (False, True)]
        assert (table["init_beta"] == beta).all() and table["mean_dist_mean"].notna().all(), name
    figure13 = pd.read_csv(tiny_run / "results/p2/clusterable_init_mlp_networks.csv")
    assert list(figure13["init_beta"].unique()) == [1.0, 0.6] and set(figure13["stage"]) == {"unpruned", "pruned"}
    tags = _metrics(tiny_run, "mnist_cnn_clusterable_init")["clusterable_init_tag_counts"]
    assert tags == [[1] * 8 + [0] * 2] * 3  # 8 channels a layer at tiny: 8 of the 10 tags once each
    # P2 Table 1: the 3x64 MLP on 7x7 MNIST, without and with the regularizer, before and after pruning.
    table1 = pd.read_csv(tiny_run / "results/p2/table1.csv")
    assert list(zip(table1["regime"], table1["pruned"], table1["regularizer_weight"])) == [
        ("plain", False, 0.0),
        ("plain", True, 0.0),
        ("regularized", False, 0.1),
        ("regularized", True, 0.1),
    ]
    small = json.loads((tiny_run / "results/networks/mnist_7x7_regularized/run0/metrics.json").read_text())
    assert small["input_shape"] == [7, 7] and small["weight_shapes"] == [[49, 64], [64, 64], [64, 64], [64, 10]]
    sums = small["regularizer_eigenvalue_sums"]
    assert len(sums["train"]) == small["epochs_run"]["train"] + 1 and all(0 <= v <= 3 for v in sums["prune"])
    from clusterability.io.npz import load_weights
    from clusterability.train.regularizer import INPUT_NORM

    weights = load_weights(tiny_run / "results/networks/mnist_7x7_regularized/run0/weights_unpruned.npz")
    for kernel, bias in zip(weights.kernels[:-1], weights.biases[:-1]):  # Algorithm 2 after the last step
        np.testing.assert_allclose(np.sqrt((kernel**2).sum(axis=0) + bias**2), INPUT_NORM, rtol=1e-4)
    # The weight sweep on the 784-256x4-10 MLP: P1's plain networks are weight 0.
    sweep = pd.read_csv(tiny_run / "results/p2/regularizer_sweep.csv")
    assert list(zip(sweep["pruned"], sweep["regularizer_weight"])) == [
        (p, w) for p in (False, True) for w in (0.0, 0.01, 0.1, 1.0)
    ]
    assert sweep["test_acc"].between(0, 1).all() and sweep["mean_dist_mean"].notna().all()


def test_paper2_k_sweep_is_paper1s_clusterings(tiny_run: Path) -> None:
    """P2 A.1-A.4 are P1's Table 1 and A.1-A.3 without CIFAR-10: the same clusterings, not new ones."""
    for p2, p1 in (("tableA1", "table1"), ("tableA2", "tableA1"), ("tableA3", "tableA2"), ("tableA4", "tableA3")):
        mine = pd.read_csv(tiny_run / f"results/p2/{p2}.csv")
        theirs = pd.read_csv(tiny_run / f"results/{p1}.csv")
        theirs = theirs[theirs["dataset"] != "cifar10"].reset_index(drop=True)
        for column in ("ncut_mean", "test_acc", "prop_sig", "k"):
            pd.testing.assert_series_equal(mine[column], theirs[column], check_names=False)


def _metrics(workdir: Path, family: str) -> dict:
    return json.loads((workdir / f"results/networks/{family}/run0/metrics.json").read_text())


def test_training_regimes(tiny_run: Path) -> None:
    """Each family trains as its entry says (at tiny, no phase runs over limits.epochs = 4)."""
    kilo, memo = _metrics(tiny_run, "random_kilo_plain"), _metrics(tiny_run, "memorization_dropout")
    assert kilo["epochs_run"] == {"train": 4, "prune": 2} and kilo["config"]["shuffle"] is True
    assert memo["epochs_run"] == {"train": 4, "prune": 4} and memo["config"]["shuffle"] is False
    assert memo["config"]["dropout"] == 0.5
    init = _metrics(tiny_run, "mlp_init")
    assert init["epochs_run"] == {"train": 0, "prune": 0}
    assert init["sparsity"]["pruned_total"] == 0.0


@pytest.mark.parametrize("name", ["table2", "table3", "table4"])
def test_random_label_tables_compare_with_initialisations(tiny_run: Path, name: str) -> None:
    """Tables 2-4: random labels (20+20, 1,000 and memorization epochs) against fresh MLPs."""
    table = pd.read_csv(tiny_run / f"results/{name}.csv")
    dataset = {"table2": "random", "table3": "random", "table4": "memorization"}[name]
    assert list(table["dataset"]) == [dataset, dataset] and list(table["dropout"]) == [False, True]
    assert (table["n_networks"] == 1).all()
    for column in ("unpruned_ncut_mean", "ncut_mean", "init_ncut_mean", "dist_ncut_mean"):
        assert table[column].between(1.0, 3.5).all(), column
    assert table["unpruned_init_prop_sig"].between(0, 1).all()
    init = pd.read_csv(tiny_run / "results/init_networks.csv")
    assert list(init["family"]) == ["mlp_init"]
    assert table["init_ncut_mean"].tolist() == pytest.approx([init["ncut"].iloc[0]] * 2)
    # Random labels: nothing to learn in 4 epochs (chance is 0.1).
    assert table["train_acc"].between(0.0, 0.5).all()


def test_mixture_tables(tiny_run: Path) -> None:
    mixtures = ["lines", "lines_mnist", "lines_cifar10", "mnist_cifar10"]
    mixtures += ["lines_mnist_sep", "lines_cifar10_sep", "mnist_cifar10_sep"]
    for name, dropout in (("tableA16", False), ("tableA17", True)):
        table = pd.read_csv(tiny_run / f"results/{name}.csv")
        assert list(table["dataset"]) == ["mnist", "cifar10", *mixtures] and "n_shuffles" not in table
        assert (table["dropout"] == dropout).all()
        assert table["ncut_mean"].between(1.0, 3.0).all()
    mixed = _metrics(tiny_run, "lines_mnist_sep_plain")
    # Classes 0-4 of 1,000 lines images and classes 5-9 of 1,000 MNIST images (the tiny n_train).
    assert 800 < mixed["n_train"] < 1200
    assert mixed["pruned"]["test_acc"] > 0.3


def test_topology_tables(tiny_run: Path) -> None:
    """Tables A.4-A.15: one dataset x dropout x stage each, against both shuffle methods."""
    every = pd.read_csv(tiny_run / "results/topology_networks.csv")
    assert len(every) == 12  # Table 1's six networks, before and after pruning
    cases = [
        (d, drop, stage)
        for d in ("mnist", "fashion_mnist", "cifar10")
        for stage in ("unpruned", "pruned")
        for drop in (False, True)
    ]
    for i, case in zip(range(4, 16), cases, strict=True):
        table = pd.read_csv(tiny_run / f"results/tableA{i}.csv")
        assert len(table) == 1 and tuple(table[["dataset", "dropout", "stage"]].iloc[0]) == case, i
        assert table[["p_value", "layer_nonzero_p_value"]].stack().between(1 / 5, 1).all()
        assert table["layer_nonzero_shuffle_std"].notna().all() and table["cohens_d"].notna().all()
        row = every.merge(table[["dataset", "dropout", "stage", "run"]])
        assert row["ncut"].tolist() == pytest.approx(table["ncut"].tolist())


def test_lesion_tables(tiny_run: Path) -> None:
    """P1 section 4 on Fashion-MNIST with dropout, pruned, k = 10: sub-modules, pairs, dependencies."""
    single = pd.read_csv(tiny_run / "results/tableA18.csv")
    assert set(single["family"]) == {"fashion_mnist_dropout"} and (single["k"] == 10).all()
    assert single["layer"].between(1, 4).all() and set(single["type"]) <= set(LESION_TYPES)
    assert (single.groupby("layer")["proportion"].sum() <= 1 + 1e-4).all()  # 6 digits in the CSV
    # 10 random sets per sub-module at tiny: p = (r + 1) / 11.
    assert (single["n_random"] == 10).all() and single["p_value"].between(1 / 11, 1).all()
    small = single["proportion"] < 0.05
    assert (single.loc[small, "type"] == "small").all()
    important = single["type"] == "important"
    assert (single.loc[important, "acc_diff"] < -0.01).all()
    assert single.loc[important, "p_value"].tolist() == pytest.approx([1 / 11] * important.sum(), rel=1e-5)
    lesions = tiny_run / "results/lesions/fashion_mnist_dropout/run0/pruned/k10"
    draws = pd.read_csv(lesions / "single_random.csv")
    assert len(draws) == 10 * len(single) and draws["seed"].is_unique
    # Figure A.6: every pair of sub-modules; Table A.19: the important ones in different layers.
    pairs = pd.read_csv(tiny_run / "results/lesion_pairs.csv")
    assert len(pairs) == len(single) * (len(single) - 1) // 2 and (pairs["n_random"] == 2).all()
    both = (pairs["x_type"] == "important") & (pairs["y_type"] == "important") & (pairs["x_layer"] != pairs["y_layer"])
    a19 = pd.read_csv(tiny_run / "results/tableA19.csv")
    assert a19[["x", "y"]].values.tolist() == pairs.loc[both, ["x", "y"]].values.tolist()
    assert a19["delta_y_x"].tolist() == pytest.approx((a19["damage_xy"] - a19["damage_x"]).tolist(), abs=1e-5)
    edges = pd.read_csv(tiny_run / "results/lesion_dependencies.csv")
    unconditional = a19[~(a19["x_given_y"] & a19["y_given_x"])]
    assert edges[["source", "target"]].values.tolist() == unconditional[["x", "y"]].values.tolist()


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


def test_nothing_reruns_when_nothing_changed(tiny_run: Path, env: dict[str, str], args, synthetic_mirror: Path) -> None:
    assert planned_jobs(tiny_run, *args(), env=env) == {}
    assert planned_jobs(tiny_run, *tiny_config_args(synthetic_mirror), "--", *TINY_TARGETS, env=env) == {}


def test_shuffle_change_reruns_clustering_not_training(tiny_run: Path, env: dict[str, str], args) -> None:
    jobs = planned_jobs(tiny_run, *args(limits={"shuffles": 6}), env=env)
    assert "train_network" not in jobs and "prepare_dataset" not in jobs
    assert jobs["gather_shuffles"] == 6 and jobs["table"] == 1
    # 6 shuffles are two chunks of 4: fanned out now, where the gathers clustered the networks and made the
    # 4 themselves; the fanned-out gathers read each network's clustering from its cluster_network job, which
    # the tiny run built only for the networks that another table shows without shuffles.
    assert jobs["shuffle_chunk"] == 12
    families = [f"{d}_{r}" for d in ("mnist", "fashion_mnist", "cifar10") for r in ("plain", "dropout")]
    built = sum((tiny_run / f"results/clustering/{f}/run0/pruned/k4/network.json").is_file() for f in families)
    assert built < 6 and jobs.get("cluster_network", 0) == 6 - built


def test_k_change_reruns_clustering_not_training(tiny_run: Path, env: dict[str, str], args) -> None:
    jobs = planned_jobs(tiny_run, *args(tables={"table1": {"k": 5}}), env=env)
    assert "train_network" not in jobs
    # 4 shuffles fit one chunk: each gather clusters its network and makes them, no shuffle_chunk or
    # cluster_network job
    assert jobs["gather_shuffles"] == 6 and "shuffle_chunk" not in jobs and "cluster_network" not in jobs


def test_epoch_change_reruns_training_and_everything_after(tiny_run: Path, env: dict[str, str], args) -> None:
    jobs = planned_jobs(tiny_run, *args(training={"epochs": 3}), env=env)
    # cifar10_dropout keeps its own epochs (100 + 40 at the papers' settings, capped to 4 here): 5 of 6 rerun.
    assert jobs["train_network"] == 5 and jobs["gather_shuffles"] == 5 and jobs["table"] == 1
    assert "prepare_dataset" not in jobs


def test_editing_a_lib_module_reruns_its_users(tiny_run: Path, env: dict[str, str], lib_copy: Path, args) -> None:
    # A job's `code` param hashes its modules' logic: a comment or a docstring reruns nothing ...
    spectral = lib_copy / "clusterability/core/spectral.py"
    original = spectral.read_text()
    try:
        spectral.write_text(original.replace('"""', '"""An edited docstring. ', 1) + "\n# an edit\n")
        assert planned_jobs(tiny_run, *args(), env=env) == {}
        # ... while a change of logic reruns exactly the module's users.
        spectral.write_text(original + "\n_EDITED = 1\n")
        jobs = planned_jobs(tiny_run, *args(), env=env)
    finally:
        spectral.write_text(original)
    assert "train_network" not in jobs and "prepare_dataset" not in jobs
    assert jobs["gather_shuffles"] == 6 and jobs["table"] == 1  # (Table 1's clusterings: its gathers')

    training = lib_copy / "clusterability/train/training.py"
    original = training.read_text()
    try:
        training.write_text(original + "\n_EDITED = 1\n")
        jobs = planned_jobs(tiny_run, *args(), env=env)
    finally:
        training.write_text(original)
    assert jobs["train_network"] == 6 and "prepare_dataset" not in jobs
    # Restored content: nothing to do again.
    assert planned_jobs(tiny_run, *args(), env=env) == {}


def test_clustering_jobs_do_not_import_tensorflow(tiny_run: Path, env: dict[str, str], tmp_path: Path) -> None:
    """The clustering and lesion scripts run with a stand-in `snakemake` object; tensorflow must stay unloaded."""
    weights = tiny_run / "results/networks/mnist_plain/run0/weights_pruned.npz"
    fashion = tiny_run / "results/networks/fashion_mnist_dropout/run0/weights_pruned.npz"
    fashion_k10 = tiny_run / "results/clustering/fashion_mnist_dropout/run0/pruned/k10/network.json"
    fashion_data = tiny_run / "results/data/fashion_mnist.npz"
    code = f"""
import runpy, sys
from types import SimpleNamespace as NS

class Files(list):
    def __init__(self, **named):
        super().__init__(named.values())
        self.__dict__.update(named)

def job(script, inputs, output, random=None, **params):
    outputs = Files(single=output, random=random) if random else Files(out=output)
    smk = NS(input=Files(**inputs), output=outputs, log=Files(log=output + ".log"), threads=1,
             params=NS(**params), wildcards=NS(method="layer", n="2"))
    runpy.run_path({str(REPO)!r} + "/workflow_scripts/" + script, init_globals={{"snakemake": smk}})

out = {str(tmp_path)!r}
job("cluster_network.py", dict(weights={str(weights)!r}), out + "/net.json", k=4, seed=0, solver="fast", n_init=2)
job("shuffle_chunk.py", dict(weights={str(weights)!r}), out + "/c0.json", k=4, seed=0, solver="fast", n_init=2,
    indices=[0, 2])
job("gather_shuffles.py", dict(network=[out + "/net.json"], chunks=[out + "/c0.json"]), out + "/g.json")
job("gather_shuffles.py", dict(network=[], chunks=[], weights=[{str(weights)!r}]), out + "/g1.json", k=4, seed=0,
    solver="fast", n_init=2)
lesion = dict(weights={str(fashion)!r}, clustering={str(fashion_k10)!r}, data={str(fashion_data)!r})
job("lesion_single.py", lesion, out + "/single.csv", random=out + "/random.csv", random_sets=3, zero="weights",
    seed=0)
job("lesion_pairs.py", dict(lesion, single=out + "/single.csv"), out + "/pairs.csv", scope="important",
    pair_random_sets=2, zero="weights", seed=0)
assert "tensorflow" not in sys.modules, "tensorflow was imported"
"""
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(__import__("os").environ, **env))
    gathered = json.loads((tmp_path / "g.json").read_text())
    assert gathered["n_shuffles"] == 2 and len(gathered["shuffle_ncuts"]) == 2
    # the same clustering and shuffles, made by the gather itself
    made_here = json.loads((tmp_path / "g1.json").read_text())
    assert gathered == {**json.loads((tmp_path / "net.json").read_text()), **gathered}
    assert gathered.pop("chunks") == 1 and made_here.pop("chunks") == 0 and made_here == gathered
    assert len(pd.read_csv(tmp_path / "random.csv")) == 3 * len(pd.read_csv(tmp_path / "single.csv"))
    assert list(pd.read_csv(tmp_path / "pairs.csv").columns)[:2] == ["x", "y"]


def _fingerprint(workdir: Path) -> str:
    metrics = next((workdir / "results/networks").glob("*/run0/metrics.json"))
    return json.loads(metrics.read_text())["numerics_fingerprint"]


@pytest.fixture(scope="module")
def machine_fingerprint(env: dict[str, str]) -> str:
    """This machine's TensorFlow numerics fingerprint, as a one-thread training job records it."""
    code = (
        "from clusterability.train.runtime import import_tf, numerics_fingerprint\n"
        "import_tf(threads=1)\n"
        "print(numerics_fingerprint())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=dict(os.environ, **env)
    )
    return proc.stdout.split()[-1]


def _golden_fingerprint() -> str:
    return (GOLDEN / "README.md").read_text().split("fingerprint: `", 1)[1].split("`", 1)[0]


@pytest.mark.skipif(not MIRROR.is_dir(), reason=f"dataset mirror {MIRROR} not found")
def test_real_mnist_end_to_end(tmp_path: Path, env: dict[str, str], machine_fingerprint: str) -> None:
    """Table 1's MNIST rows at the tiny scale from the real files: fetched, verified, prepared, trained.

    On a machine with the golden fingerprint, test_table1_unchanged_on_the_real_files
    runs the same and more (all of Table 1 on the real files), so this one skips.
    """
    if machine_fingerprint == _golden_fingerprint():
        pytest.skip("test_table1_unchanged_on_the_real_files runs the real files on this machine")
    mnist = {"families": ["mnist_plain", "mnist_dropout"]}
    snakemake(
        tmp_path,
        "--cores",
        "2",
        *tiny_config_args(MIRROR, tables={"table1": mnist}),
        "--",
        "results/table1.csv",
        env=env,
    )
    table = pd.read_csv(tmp_path / "results/table1.csv")
    assert list(table.columns) == TABLE1 and list(table["dataset"]) == ["mnist", "mnist"]
    assert (table["test_acc"] > 0.5).all(), "real MNIST: well above chance"
    assert table["ncut_mean"].between(1.0, 3.0).all()


@pytest.mark.skipif(not MIRROR.is_dir(), reason=f"dataset mirror {MIRROR} not found")
def test_table1_unchanged_on_the_real_files(tmp_path: Path, env: dict[str, str], machine_fingerprint: str) -> None:
    """Table 1 at the tiny scale on the real files equals what the code computed before the refactor.

    Three of its six families (one per dataset, both regimes) keep the suite short.

    tests/golden/*.csv were written by commit ec243b8 (Table 1 as special code)
    with `snakemake --config scale=tiny` on the real mirror, on a machine whose
    TensorFlow numerics fingerprint is recorded in tests/golden/README.md.
    Training is bit-reproducible on one machine but not across CPUs (oneDNN
    picks its kernels from the instruction set and its blocking from the
    caches), so the exact comparison only applies on a machine with the same
    fingerprint.
    """
    recorded, here = _golden_fingerprint(), machine_fingerprint
    if here != recorded:
        pytest.skip(
            f"this CPU's TensorFlow numerics ({here}) differ from those of the machine that wrote the golden "
            f"values ({recorded}): its tables are not comparable bit for bit (test_real_mnist_end_to_end runs here)"
        )
    # One family per dataset, both regimes: half of Table 1's trainings, every data path and regime.
    families = ["mnist_dropout", "fashion_mnist_plain", "cifar10_dropout"]
    rows = {("mnist", "True"), ("fashion_mnist", "False"), ("cifar10", "True")}
    subset = {"families": families}
    snakemake(
        tmp_path,
        "--cores",
        "2",
        *tiny_config_args(MIRROR, tables={"table1": subset, "table1_networks": subset}),
        "--",
        "results/table1.csv",
        "results/table1_networks.csv",
        env=env,
    )
    table = pd.read_csv(tmp_path / "results/table1.csv")
    networks = pd.read_csv(tmp_path / "results/table1_networks.csv")
    assert list(table.columns) == TABLE1 and len(table) == 3 and len(networks) == 6
    assert (table.loc[table["dataset"] == "mnist", "test_acc"] > 0.5).all(), "real MNIST: well above chance"
    assert _fingerprint(tmp_path) == recorded
    header, *lines = (GOLDEN / "table1_tiny_real_mirror.csv").read_text().splitlines()
    expected = [header, *(line for line in lines if tuple(line.split(",")[:2]) in rows)]
    assert (tmp_path / "results/table1.csv").read_text().splitlines() == expected
    old = pd.read_csv(GOLDEN / "table1_networks_tiny_real_mirror.csv")
    merged = old.merge(networks, on=["dataset", "regime", "run", "stage"], suffixes=("_old", ""))
    assert len(merged) == 6
    for column in ("seed", "train_acc", "test_acc", "sparsity", "ncut", "clustering_seed", "shuffle_mean", "p_value"):
        pd.testing.assert_series_equal(merged[column], merged[f"{column}_old"], check_names=False)
