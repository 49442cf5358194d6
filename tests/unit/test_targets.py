"""The workflow's plan (clusterability.workflow.targets): files, seeds, the tables' and figures' inputs and params.

These are what rules/common.smk hands Snakemake; here they are checked without it, on the papers'
catalogue (config.yaml and config/experiments/) and on a family added with another's settings.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from clusterability.seeds import derive_seed
from clusterability.workflow import targets
from clusterability.workflow.config import load_config, merge
from clusterability.workflow.experiments import Experiments

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "schemas/config.schema.yaml"


def _experiments(**over: object) -> Experiments:
    config = merge(yaml.safe_load((REPO / "config.yaml").read_text()), over)
    return load_config(config, SCHEMA, paths=False)[1]


@pytest.fixture(scope="module")
def paper() -> Experiments:
    return _experiments()


def test_seeds_derive_from_the_master_seed_and_the_family_seed_names(paper: Experiments) -> None:
    assert targets.network_seed(paper, 0, "mnist_plain", 3) == derive_seed(0, "train", "mnist", "plain", 3)
    # Wildcards arrive as strings: run "3" is run 3 (a string would hash to another seed).
    assert targets.network_seed(paper, 0, "mnist_plain", "3") == targets.network_seed(paper, 0, "mnist_plain", 3)
    assert targets.network_seed(paper, 1, "mnist_plain", 3) != targets.network_seed(paper, 0, "mnist_plain", 3)
    cnn = ("mnist", "plain", "small_cnn", 2, "pruned")
    assert targets.cluster_seed(paper, 0, "mnist_cnn_plain", "2", "pruned") == derive_seed(0, "cluster", *cnn)
    lesion = derive_seed(0, "lesion", "fashion_mnist", "dropout", 0, "pruned", 10)
    assert targets.lesion_seed(paper, 0, "fashion_mnist_dropout", "0", "pruned", "10") == lesion
    # Fixed seed names: the kilo-epoch runs are not the 20-epoch ones.
    kilo = targets.network_seed(paper, 0, "random_kilo_plain", 0)
    assert (
        kilo == derive_seed(0, "train", "random_kilo", "plain", 0) != targets.network_seed(paper, 0, "random_plain", 0)
    )


def test_a_family_with_another_s_settings_uses_its_networks() -> None:
    """A family declared with mnist_plain's settings points at mnist_plain's networks, clusterings and seeds."""
    exp = _experiments(families={"p2_mnist_none": {"dataset": "mnist", "regime": "plain", "runs": 5}})
    assert targets.network_dir(exp, "p2_mnist_none", 4) == "results/networks/mnist_plain/run4"
    assert targets.clustering_dir(exp, "p2_mnist_none", 4, "pruned", 12) == (
        "results/clustering/mnist_plain/run4/pruned/k12"
    )
    assert (
        targets.lesion_dir(exp, "p2_mnist_none", "0", "pruned", "10") == "results/lesions/mnist_plain/run0/pruned/k10"
    )
    assert targets.network_seed(exp, 0, "p2_mnist_none", 4) == targets.network_seed(exp, 0, "mnist_plain", 4)


def test_table_records_list_each_network_s_files_and_init_networks_last(paper: Experiments) -> None:
    """P1 Table 2: 20 random-label networks (pruned with shuffles, unpruned for the Unp. columns), then 200 init."""
    records = targets.table_records(paper, 0, "table2")
    rows, init = records[:20], records[20:]
    assert len(init) == 200 and {r["role"] for r in rows} == {"row"} and {r["role"] for r in init} == {"init"}
    first = rows[0]
    base = "results/clustering/random_plain/run0"
    assert first == {
        "family": "random_plain",
        "dataset": "random",
        "architecture": "mlp",
        "regime": "plain",
        "dropout": False,
        "run": 0,
        "seed": derive_seed(0, "train", "random", "plain", 0),
        "metrics": "results/networks/random_plain/run0/metrics.json",
        "stages": {
            # a stage with shuffles: its clustering read from the gathered shuffles (no network.json job)
            "pruned": {
                "network": f"{base}/pruned/k4/layer/shuffles320.json",
                "shuffles": {"layer": f"{base}/pruned/k4/layer/shuffles320.json"},
            },
            "unpruned": {"network": f"{base}/unpruned/k4/network.json", "shuffles": {}},
        },
        "role": "row",
    }
    assert [r["family"] for r in rows] == ["random_plain"] * 10 + ["random_dropout"] * 10
    assert init[-1]["stages"] == {
        "unpruned": {"network": "results/clustering/mlp_init/run199/unpruned/k4/network.json", "shuffles": {}}
    }


def test_table_inputs_are_every_file_of_its_records(paper: Experiments) -> None:
    lesions = "results/lesions/fashion_mnist_dropout/run0/pruned/k10"
    assert targets.table_inputs(paper, 0, "tableA19") == [
        "results/networks/fashion_mnist_dropout/run0/metrics.json",
        "results/clustering/fashion_mnist_dropout/run0/pruned/k10/network.json",
        f"{lesions}/single.csv",
        f"{lesions}/pairs.csv",
    ]
    # Tables A.4-A.15 compare both null distributions: two shuffle files per network (its metrics, and the
    # clustering read from the first of them: no network.json).
    files = targets.table_inputs(paper, 0, "tableA4")
    assert len(files) == 10 * 3 and files[1:3] == [
        "results/clustering/mnist_plain/run0/unpruned/k4/layer/shuffles320.json",
        "results/clustering/mnist_plain/run0/unpruned/k4/layer_nonzero/shuffles320.json",
    ]
    # A scale's cap on the shuffles names the gathered file of that many.
    tiny = _experiments(limits={"runs": 1, "shuffles": 4})
    assert (
        targets.table_inputs(tiny, 0, "table1")[1]
        == "results/clustering/mnist_plain/run0/pruned/k4/layer/shuffles4.json"
    )


def test_table_params_and_caption(paper: Experiments) -> None:
    params = json.loads(targets.table_params(paper, "p2/tableA5"))
    assert params == {
        "analysis": "summary",
        "families": ["mnist_plain", "mnist_dropout", "mnist_l1", "mnist_l2"],
        "stages": ["unpruned", "pruned"],
        "columns": list(paper.tables["p2/tableA5"].columns),
        "k": 12,
        "shuffles": 50,
        "pairs": "important",
        "order": "stage",
    }
    caption = targets.table_caption(paper, "p2/tableA5")
    assert caption["runs"] == [5, 5, 5, 5]  # P1's MNIST families have 10 runs; the table takes the first 5
    assert caption["shuffle_methods"] == ["layer"] and caption["title"].startswith("P2 Table A.5")
    assert targets.table_caption(paper, "tableA18")["runs"] == [1]  # runs: [0]


def test_figure_inputs_by_kind_of_plot(paper: Experiments) -> None:
    assert targets.figure_inputs(paper, 0, "fig1_network") == {
        "weights": "results/networks/mnist_dropout/run0/weights_pruned.npz",
        "clustering": "results/clustering/mnist_dropout/run0/pruned/k4/network.json",
    }
    assert targets.figure_inputs(paper, 0, "p2/fig4_halves_samples") == {
        "datasets": [f"results/data/{d}.npz" for d in paper.figures["p2/fig4_halves_samples"].datasets]
    }
    # A scatter of the table's rows reads its CSV only; the distribution plots read every network's shuffles.
    assert targets.figure_inputs(paper, 0, "fig2_ncut_vs_accuracy") == {
        "table": "results/table1_networks.csv",
        "shuffles": [],
    }
    topology = targets.figure_inputs(paper, 0, "fig4_topology")
    assert topology["table"] == "results/topology_networks.csv"
    assert len(topology["shuffles"]) == 60 * 2 * 2  # 60 networks, 2 stages, layer and layer_nonzero
    assert "results/clustering/cifar10_dropout/run9/pruned/k4/layer_nonzero/shuffles320.json" in topology["shuffles"]


def test_figure_params(paper: Experiments) -> None:
    params = json.loads(targets.figure_params(paper, 0, "quick", "figA2_violins"))
    assert params["plot"] == "shuffle_violins" and not params["network"]
    assert params["title"] == "P1 Figure A.2, MNIST without dropout, before pruning (scale quick)"
    assert params["where"] == {"dataset": ["mnist"], "dropout": [False], "stage": ["unpruned"]}
    assert params["records"] == json.loads(json.dumps(targets.table_records(paper, 0, "topology_networks")))
    drawing = json.loads(targets.figure_params(paper, 0, "paper", "fig1_network"))
    assert drawing["network"] and drawing["records"] == [] and drawing["where"] == {}
    samples = json.loads(targets.figure_params(paper, 0, "paper", "p2/fig4_halves_samples"))
    assert (samples["label"], samples["samples"], len(samples["datasets"])) == (3, 10, 4)


def test_paper_targets_are_tables_then_figures(paper: Experiments) -> None:
    files = targets.paper_targets(paper, "p2_promote")
    tables = [f for f in files if f.endswith(".csv")]
    assert files[: len(tables)] == tables == [f"results/{t}.csv" for t in paper.paper_targets("p2_promote")[:9]]
    assert files[len(tables) :] == [
        f"results/figures/p2/{name}.{ext}"
        for name in ("fig13_clusterable_init_mlp", "fig14_clusterable_init_cnn", "fig15_clusterable_init_vgg")
        + ("figA5_regularizer",)
        for ext in ("png", "pdf")
    ]
    everything = targets.all_targets(paper)
    assert len(everything) == len(paper.tables) + 2 * len(paper.figures) == 65 + 2 * 35
    assert set(everything) == {f for p in ("p1", "p2") for f in targets.paper_targets(paper, p)}


def test_shuffle_chunks_and_lesion_scope(paper: Experiments) -> None:
    assert targets.chunk_range(64, "2") == [128, 192]
    base = "results/clustering/mnist_plain/run0/pruned/k4/layer"
    assert targets.shuffle_chunk_files(64, "mnist_plain", "0", "pruned", "4", "layer", "320") == [
        f"{base}/chunk{c}.json" for c in range(5)
    ]
    # Shuffles that fit one chunk are made by the gather job: no chunk files, the weights instead.
    assert targets.shuffle_chunk_files(64, "mnist_plain", "0", "pruned", "4", "layer", "50") == []
    assert targets.shuffle_chunk_files(64, "mnist_plain", "0", "pruned", "4", "layer", "64") == []
    assert targets.shuffle_chunk_files(64, "mnist_plain", "0", "pruned", "4", "layer", "65") == [
        f"{base}/chunk0.json",
        f"{base}/chunk1.json",
    ]
    assert targets.shuffle_chunk_files(64, "mnist_plain", "0", "pruned", "4", "layer", "0") == []
    weights = ["results/networks/mnist_plain/run0/weights_pruned.npz"]
    assert targets.gather_weights(64, "mnist_plain", "0", "pruned", "50") == weights
    assert targets.gather_weights(64, "mnist_plain", "0", "pruned", "320") == []
    scopes = paper.lesion_scopes()  # Figure A.6's every pair of the one lesioned network
    assert targets.lesion_pair_scope(scopes, "fashion_mnist_dropout", "0", "pruned", "10") == "all"
    assert targets.lesion_pair_scope(scopes, "fashion_mnist_dropout", "1", "pruned", "10") == "important"
    only_important = _experiments(tables={"lesion_pairs": {"pairs": "important"}}).lesion_scopes()
    assert targets.lesion_pair_scope(only_important, "fashion_mnist_dropout", 0, "pruned", 10) == "important"


def test_dataset_and_checkpoint_inputs(paper: Experiments) -> None:
    assert targets.mixture_inputs(paper, "lines_cifar10_sep") == {
        "first": "results/data/lines.npz",
        "second": "results/data/cifar10.npz",
    }
    assert targets.source_dataset(paper, "fashion_halves_diff") == "results/data/fashion_mnist.npz"
    assert targets.source_dataset(paper, "mnist_7x7") == "results/data/mnist.npz"
    assert targets.raw_folder(paper, "cifar10_rgb") == "resources/raw/cifar10"  # a native dataset: CIFAR-10's files
    assert targets.raw_folder(paper, "fashion_mnist") == "resources/raw/fashion_mnist"
    assert targets.family_dataset(paper, "cifar10_vgg_plain") == "results/data/cifar10_rgb.npz"
    assert targets.pretrained_checkpoint(paper, None, "imagenet_resnet50") == "resources/imagenet/resnet50.pth"
    assert targets.pretrained_checkpoint(paper, "/data/ckpt", "imagenet_vgg16") == "resources/imagenet/vgg16.pth"
    assert targets.pretrained_checkpoint(paper, "random", "imagenet_vgg16") == []


def test_batched_families_split_their_runs_into_jobs_of_networks_per_job(paper: Experiments) -> None:
    """resources.train.networks_per_job (issue 22 section 3): the MLP families with several runs are batched, the
    architectures with their own training resources and no networks_per_job are not; the last job takes the rest."""
    from clusterability.workflow import batches

    resources = merge(
        yaml.safe_load((REPO / "config.yaml").read_text())["resources"], {"train": {"networks_per_job": 4}}
    )
    assert batches.batched_families(paper, yaml.safe_load((REPO / "config.yaml").read_text())["resources"]) == {}
    batched = batches.batched_families(paper, resources)
    assert batched["mnist_plain"] == 4 and paper.trained_families()["mnist_plain"] == 10
    assert "mnist_cnn_plain" not in batched and "cifar10_vgg_plain" not in batched  # their own resources
    assert not any(paper.families[f].pretrained for f in batched)
    jobs = [batches.batch_runs(paper, 0, batched, "mnist_plain", b) for b in ("0", "1", "2")]
    assert [[run["run"] for run in job] for job in jobs] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert jobs[2][1]["seed"] == targets.network_seed(paper, 0, "mnist_plain", 9)
    assert jobs[2][1]["weights_pruned"] == "results/networks/mnist_plain/batch2/run9/weights_pruned.npz"
    assert batches.run_batch_dir(batched, "mnist_plain", "9") == "results/networks/mnist_plain/batch2"
    assert (
        batches.networks_per_job({"train": {}, "train_per_architecture": {"vgg": {"networks_per_job": 2}}}, "vgg") == 2
    )


def test_wildcard_patterns_match_exactly_the_configured_names(paper: Experiments) -> None:
    """Each wildcard matches its declared names (a longer name is not cut to a shorter one) and nothing else."""
    import re

    patterns = targets.wildcard_patterns(paper)
    family = re.compile(f"(?:{patterns['family']})")
    for name in paper.trained_families():
        assert family.fullmatch(name)
    assert not family.fullmatch("no_such_family")
    real = re.compile(f"(?:{patterns['dataset']})")
    assert real.fullmatch("mnist") and not real.fullmatch("mnist_cifar10")
    assert re.fullmatch(patterns["prepared"], "mnist")
    assert re.fullmatch(patterns["run"], "12") and not re.fullmatch(patterns["run"], "1a")
    assert targets.one_of([]) == "(?!)" and not re.fullmatch(targets.one_of([]), "")
    # Longest first, so an unanchored search takes the whole name.
    assert re.match(targets.one_of(["a", "ab"]), "ab").group() == "ab"


def test_check_library_accepts_the_lib_beside_or_on_pythonpath_and_names_both_otherwise(tmp_path: Path) -> None:
    import os

    from clusterability.errors import InputError
    from clusterability.workflow.provenance import check_library

    beside, other = tmp_path / "a" / "clusterability", tmp_path / "b" / "clusterability"
    beside.mkdir(parents=True)
    other.mkdir(parents=True)
    check_library(beside, beside)
    check_library(other, beside, pythonpath=f"/nowhere{os.pathsep}{other.parent}")
    with pytest.raises(InputError, match="pip install -e") as info:
        check_library(other, beside)
    assert str(other) in str(info.value) and str(beside) in str(info.value) and "\n" not in str(info.value)
