"""The configuration: experiments as data (families, tables, figures), scale files, types, clear errors."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clusterability.errors import InputError
from clusterability.workflow.config import coerce_to_schema, load_config, merge, read_catalogue, read_schemas
from clusterability.workflow.experiments import graph_nodes, shuffle_chunks, training_settings
from clusterability.workflow.provenance import module_files, script_module_files
from workflow_helpers import TABLE1_COLUMNS

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "schemas/config.schema.yaml"
#: The commit before the catalogue left config.yaml for config/experiments/ (one file held everything).
BEFORE_SPLIT = "79d9fd6"


def _merge(base: dict, over: dict) -> dict:
    """Snakemake's update_config (:func:`clusterability.workflow.config.merge`) on a copy of ``base``."""
    return merge(copy.deepcopy(base), over)


def settings() -> dict:
    """config.yaml as Snakemake reads it: the settings, and the catalogue files under `experiments:`."""
    return yaml.safe_load((REPO / "config.yaml").read_text())


def whole_config() -> dict:
    """config.yaml with its catalogue merged in, in one dict, as config.yaml was before the split."""
    config = settings()
    files = config.pop("experiments")
    return _merge(read_catalogue(files, REPO, read_schemas(SCHEMA)[1]), config)


@pytest.fixture
def config() -> dict:
    """The whole configuration in one dict: a test may change (or delete) any key of the catalogue."""
    return whole_config()


def scaled(config: dict, scale: str) -> dict:
    return _merge(config, yaml.safe_load((REPO / f"config/scales/{scale}.yaml").read_text()))


def test_paper_settings_are_the_papers(config: dict) -> None:
    cfg, exp = load_config(config, SCHEMA)
    assert cfg["scale"] == "paper"
    assert exp.tables["table1"].k == 4 and exp.tables["table1"].shuffles == 320
    assert [exp.tables[t].k for t in ("tableA1", "tableA2", "tableA3")] == [7, 10, 2]
    p1 = {f for t in exp.paper_targets("p1") if t in exp.tables for f in exp.tables[t].families}
    assert all(exp.families[name].runs == 10 for name in p1 - {"mlp_init"})
    # P2's own MLP families (L1/L2, halves, polynomial): 5 runs each, L1 and L2 5e-5 on every layer.
    p2 = {f for t in exp.paper_targets("p2_mlp") if t in exp.tables for f in exp.tables[t].families} - p1
    assert p2 and all(exp.families[name].runs == 5 for name in p2)
    assert {(exp.families[n].train.l1, exp.families[n].train.l2) for n in p2} == {(0, 0), (5e-5, 0), (0, 5e-5)}
    assert exp.families["mlp_init"].runs == 200  # P1 figure 3
    init = exp.families["mlp_init"].train
    assert (init.epochs, init.prune_epochs) == (0, 0)
    kilo, memo = exp.families["random_kilo_plain"].train, exp.families["memorization_dropout"].train
    assert (kilo.epochs, kilo.prune_epochs, kilo.shuffle) == (1000, 20, True)
    assert (memo.epochs, memo.prune_epochs, memo.shuffle, memo.dropout) == (100, 100, False, 0.5)
    # Sizes (train, validation, test): the networks train on both splits, so 3,000 and 60,000 images (P1).
    assert exp.datasets["memorization"].sizes == (3000, 0, 1000)
    assert exp.datasets["random"].sizes == (55000, 5000, 10000)
    assert exp.datasets["polynomial"].sizes == (55000, 5000, 10000)
    assert exp.datasets["lines"].sizes == (55000, 5000, 10000)
    assert exp.datasets["lines_mnist_sep"].of == ("lines", "mnist") and exp.datasets["lines_mnist_sep"].separate
    mnist = exp.families["mnist_dropout"].train
    assert (mnist.epochs, mnist.prune_epochs, mnist.batch_size, mnist.learning_rate) == (20, 20, 128, 1e-3)
    assert mnist.dropout == 0.5
    assert (mnist.initial_sparsity, mnist.final_sparsity, mnist.pruning_power, mnist.pruning_frequency) == (
        0.5,
        0.9,
        3,
        10,
    )
    cifar = exp.families["cifar10_dropout"].train
    assert cifar.prune_epochs == 40 and cifar.dropout == 0.2
    assert exp.families["cifar10_plain"].train.dropout == 0.0
    # Table 1's seeds are those of the (dataset, regime) networks it always had.
    assert exp.families["mnist_plain"].seed_names == ("mnist", "plain")


def test_table1_is_an_entry_with_its_columns(config: dict) -> None:
    _, exp = load_config(config, SCHEMA)
    table = exp.tables["table1"]
    assert table.analysis == "summary" and table.stages == ("pruned",)
    assert table.columns == TABLE1_COLUMNS
    assert [f.name for f, _ in exp.networks("table1")][::10] == list(table.families)
    assert exp.figures["fig2_ncut_vs_accuracy"].table == "table1_networks"
    p1 = {"table1", "table1_networks", "table2", "table3", "table4", "init_networks", "topology_networks"}
    p1 |= {f"tableA{i}" for i in range(1, 20)} | {"lesion_pairs", "lesion_dependencies"}
    p1 |= {"fig1_network", "fig2_ncut_vs_accuracy", "fig3_init_ncuts", "fig4_topology", "figA1_cohens_d"}
    p1 |= {f"figA{i}_violins" for i in range(2, 6)}
    p1 |= {"fig5_lesions", "fig6a_conditional_importance", "fig6b_dependency_graph", "figA6_lesion_pairs"}
    assert set(exp.paper_targets("p1")) == p1


def test_k_sweeps_reuse_table1_networks(config: dict) -> None:
    _, exp = load_config(config, SCHEMA)
    trained = {(f.network, run) for t in ("table1", "tableA1", "tableA2", "tableA3") for f, run in exp.networks(t)}
    assert len(trained) == 60
    assert {f.network for t in ("tableA1", "tableA2", "tableA3") for f, _ in exp.networks(t)} == set(
        exp.tables["table1"].families
    )
    # P1's tables A.4-A.15 and A.16/A.17 reuse Table 1's networks too: only the new datasets add families.
    reused = {f.network for t in [f"tableA{i}" for i in range(4, 18)] for f, _ in exp.networks(t)}
    assert set(exp.tables["table1"].families) <= reused
    p1_networks = 6 * 10 + 200 + 6 * 10 + 14 * 10
    p2_new = 4 * 5 + 4 * 5 + 3 * 5  # L1/L2, halves, polynomial (test_p2_mlp_tables_reuse_p1_networks)
    p2_cnn = (8 + 4 + 5) * 5 + 2 * 100 + 6  # small CNNs, stack CNNs, VGGs, initial CNNs and VGGs, ImageNet models
    p2_promote = 5 * 5 + 2 * 10 + 3 * 3  # clusterable init (MLP, CNN, VGG), 7x7 regularizer, weight sweep
    assert sum(exp.trained_families().values()) == p1_networks + p2_new + p2_cnn + p2_promote


def test_p2_mlp_tables_reuse_p1_networks(config: dict) -> None:
    """P2's MLP tables train only the networks P1 has not: L1/L2, halves and polynomial (5 runs each)."""
    _, exp = load_config(config, SCHEMA)
    p1 = {(f.network, run) for t in exp.paper_targets("p1") if t in exp.tables for f, run in exp.networks(t)}
    p2 = {(f.network, run) for t in exp.paper_targets("p2_mlp") if t in exp.tables for f, run in exp.networks(t)}
    new = p2 - p1
    assert len(new) == 4 * 5 + 4 * 5 + 3 * 5
    assert {exp.families[f].regime for f, _ in new} == {"l1", "l2", "plain"}
    assert {exp.families[f].dataset for f, _ in new} == {
        "mnist",
        "fashion_mnist",
        "polynomial",
        *(f"{d}_halves_{h}" for d in ("mnist", "fashion") for h in ("same", "diff")),
    }
    # Table A.5: P1's first 5 MNIST networks with and without dropout, and 5 each with L1 and L2, at k = 12.
    a5 = exp.tables["p2/tableA5"]
    assert a5.runs == (0, 1, 2, 3, 4) and a5.k == 12 and a5.shuffles == 50 and a5.order == "stage"
    assert [(f.name, run) for f, run in exp.networks("p2/tableA5")][:6] == [("mnist_plain", r) for r in range(5)] + [
        ("mnist_dropout", 0)
    ]
    # The k-sweep (P2 A.1-A.4) is P1's Table 1 networks, no CIFAR-10, 320 shuffles.
    for name, k in (("p2/tableA1", 4), ("p2/tableA2", 7), ("p2/tableA3", 10), ("p2/tableA4", 2)):
        assert exp.tables[name].k == k and exp.tables[name].shuffles == 320
        assert {f.network for f, _ in exp.networks(name)} <= {f for f, _ in p1}
    # Figure A.1: P1's first 100 freshly initialized MLPs, clustered with k = 12.
    assert len(exp.networks("p2/init_networks")) == 100
    assert exp.datasets["mnist_halves_diff"].of == ("mnist",) and not exp.datasets["mnist_halves_diff"].same
    assert exp.datasets["polynomial"].generator == "polynomial_authors"  # the authors' draw (test_polynomial_settings)


def test_paper_parts(config: dict) -> None:
    """``paper2`` is every part of P2 (MLPs, CNNs, section 4); ``paper2_mlp`` its MLP tables and figures; no P1
    target in them."""
    _, exp = load_config(config, SCHEMA)
    mlp = exp.paper_targets("p2_mlp")
    parts = [exp.paper_targets(part) for part in ("p2_mlp", "p2_cnn", "p2_promote")]
    assert sorted(exp.paper_targets("p2")) == sorted(name for part in parts for name in part)
    assert "p2/tableA5" in mlp and "p2/fig4_halves_samples" in mlp
    assert not set(mlp) & set(exp.paper_targets("p1"))
    assert all(name.startswith("p2/") for name in exp.paper_targets("p2"))


def test_table_work_lists_clusterings_and_shuffles(config: dict) -> None:
    """What a table reads of each network: Table 2 clusters before pruning for its "Unp." columns."""
    _, exp = load_config(config, SCHEMA)
    work = exp.table_work("table2")
    rows, init = [w for w in work if w.role == "row"], [w for w in work if w.role == "init"]
    assert [w.family.name for w in rows] == ["random_plain"] * 10 + ["random_dropout"] * 10
    assert all(dict(w.stages) == {"pruned": ("layer",), "unpruned": ()} for w in rows)
    assert all(w.k == 4 and w.shuffles == 320 for w in rows)
    # The 200 freshly initialized MLPs: their n-cut only, after the rows.
    assert work[-200:] == init and {w.family.name for w in init} == {"mlp_init"}
    assert all(dict(w.stages) == {"unpruned": ()} for w in init)
    # No shuffles, no shuffle sets: the mixtures' Table A.16.
    assert all(dict(w.stages) == {"pruned": ()} for w in exp.table_work("tableA16"))
    topology = exp.table_work("tableA4")
    assert [dict(w.stages) for w in topology] == [{"unpruned": ("layer", "layer_nonzero")}] * 10


def test_lesion_tables_read_one_network(config: dict) -> None:
    """P1 section 4: run 0 of the Fashion-MNIST dropout family, pruned, k = 10 (Table A.2's clustering)."""
    _, exp = load_config(config, SCHEMA)
    for name, files in (
        ("tableA18", ("single",)),
        ("tableA19", ("single", "pairs")),
        ("lesion_dependencies", ("single", "pairs")),
    ):
        (work,) = exp.table_work(name)
        assert (work.family.name, work.run, work.k, dict(work.stages)) == (
            "fashion_mnist_dropout",
            0,
            10,
            {"pruned": ()},
        )
        assert work.lesions == files
    assert exp.tables["lesion_pairs"].pairs == "all" and exp.tables["tableA19"].pairs == "important"
    assert {(f.network, run) for f, run in exp.networks("tableA18")} <= {
        (f.network, run) for f, run in exp.networks("tableA2")
    }


def test_equal_settings_share_networks(config: dict) -> None:
    """A P2-style family with the same settings as a P1 one reuses its networks; another regime does not."""
    config["families"]["p2_mnist_none"] = {"dataset": "mnist", "regime": "plain", "runs": 5}
    config["families"]["p2_mnist_l1"] = {"dataset": "mnist", "regime": "l1", "runs": 5}
    config["tables"]["p2/tableA5"] = {
        "analysis": "summary",
        "families": ["p2_mnist_none", "p2_mnist_l1"],
        "stages": ["unpruned", "pruned"],
        "k": 12,
        "shuffles": 50,
    }
    _, exp = load_config(config, SCHEMA)
    assert exp.families["p2_mnist_none"].network == "mnist_plain"
    assert exp.families["p2_mnist_l1"].network == "mnist_l1"  # the config's own L1 family, declared first
    assert exp.families["p2_mnist_l1"].train.l1 == 5e-5
    assert exp.trained_families()["mnist_plain"] == 10 and exp.trained_families()["mnist_l1"] == 5
    assert "p2_mnist_l1" not in exp.trained_families()
    # Different settings (more epochs) under the same seed names would give correlated
    # networks that are not the same: refused.
    config["families"]["p2_mnist_long"] = {
        "dataset": "mnist",
        "regime": "plain",
        "runs": 5,
        "training": {"epochs": 30},
    }
    with pytest.raises(InputError, match="p2_mnist_long.*same seeds.*seed_key"):
        load_config(config, SCHEMA)
    config["families"]["p2_mnist_long"]["seed_key"] = ["mnist", "plain", "long"]
    _, exp = load_config(config, SCHEMA)
    assert exp.families["p2_mnist_long"].network == "p2_mnist_long"
    assert exp.families["p2_mnist_long"].train.epochs == 30


@pytest.mark.parametrize(("scale", "runs", "shuffles"), [("quick", 2, 50), ("tiny", 1, 4)])
def test_scale_files_cap_runs_and_shuffles(config: dict, scale: str, runs: int, shuffles: int) -> None:
    cfg, exp = load_config(scaled(config, scale), SCHEMA)
    assert cfg["scale"] == scale
    assert {f.runs for f in exp.families.values() if not f.pretrained} == {runs}  # ImageNet models: one each
    assert {t.shuffles for t in exp.tables.values()} == {shuffles, 0}  # 0: the tables without shuffles
    assert max(max(f.train.epochs, f.train.prune_epochs) for f in exp.families.values()) <= cfg["limits"]["epochs"]
    # The per-dataset dropout rate survives the overlay (dicts merge).
    assert exp.families["cifar10_dropout"].train.dropout == 0.2


def test_command_line_strings_get_schema_types() -> None:
    """Snakemake reads nested --config values as strings; they are converted once, catalogue keys too."""
    schema = yaml.safe_load(SCHEMA.read_text())
    raw = {"seed": "3", "datasets": {"n_train": "null", "mirror": "/data"}, "training": {"learning_rate": "1e-3"}}
    out = coerce_to_schema(raw, schema)
    assert out == {"seed": 3, "datasets": {"n_train": None, "mirror": "/data"}, "training": {"learning_rate": 1e-3}}
    # --config 'limits={"runs": 3, ...}' 'tables={"table1": {"k": 5}}' over config.yaml: the rest of table1 stays.
    config = _merge(settings(), {"limits": {"runs": "3", "shuffles": "6"}, "tables": {"table1": {"k": "5"}}})
    _, exp = load_config(config, SCHEMA)
    assert exp.tables["table1"].k == 5 and exp.tables["table1"].shuffles == 6 and exp.families["mnist_plain"].runs == 3
    assert exp.tables["table1"].columns == TABLE1_COLUMNS and exp.tables["table1"].title.startswith("P1 Table 1")


def _set(path: str, value: object):
    def mutate(c: dict) -> None:
        *parents, last = path.split(".")
        for key in parents:
            c = c[key]
        c[last] = value

    return mutate


def _del(path: str):
    def mutate(c: dict) -> None:
        *parents, last = path.split(".")
        for key in parents:
            c = c[key]
        del c[last]

    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set("tables.table1.k", "four"), "key tables.table1.k: 'four' is not of type 'integer'"),
        (_set("tables.table1.k", 0), "key tables.table1.k: 0 is less than the minimum of 2"),
        (_set("tables.table1.shuffles", -5), "key tables.table1.shuffles: -5 is less than the minimum of 0"),
        (_set("clustering.chunk_size", 0), "key clustering.chunk_size: 0 is less than the minimum of 1"),
        (_set("training.epochs", "ten"), "key training.epochs: 'ten' is not of type 'integer'"),
        (_set("seed", -1), "key seed: -1 is less than the minimum of 0"),
        (_set("clusterin", {}), "unknown key clusterin"),
        (_set("training.epoch", 3), "unknown key training.epoch"),
        (_set("clustering.solver", "magic"), "key clustering.solver"),
        (_set("families.mnist_plain.dataset", "imagenet"), "families.mnist_plain.dataset: unknown dataset 'imagenet'"),
        (_set("datasets.mixtures.lines_mnist.of", ["lines", "svhn"]), "mixtures.lines_mnist.of: 'svhn' is not"),
        (_set("tables.table2.init_family", "nope"), "tables.table2.init_family: unknown family 'nope'"),
        (_del("tables.table2.init_family"), "need the freshly initialized networks"),
        (_set("figures.fig1_network.network.run", 99), "figures.fig1_network.network.run: family mnist_dropout"),
        (_set("figures.fig4_topology.where", {"nope": [1]}), "'nope' is not a column of table topology_networks"),
        (_set("families.mnist_plain.regime", "magic"), "families.mnist_plain.regime: unknown regime 'magic'"),
        (_set("tables.table1.families", ["mnist_plain", "nope"]), "tables.table1.families: unknown family 'nope'"),
        (_set("tables.table1.columns", ["ncut_mean", "nope"]), "tables.table1.columns: 'nope' is not a column"),
        (_set("figures.fig2_ncut_vs_accuracy.table", "nope"), "figures.fig2_ncut_vs_accuracy.table: unknown table"),
        (
            _set("tables.table1.columns", ["cohens_d_mean"]),
            "need the 'layer_nonzero' shuffles; add it to tables.table1.shuffle_methods",
        ),
        (_set("tables.tableA18.shuffles", 10), "tables.tableA18: a single_lesions table compares lesions"),
        (_set("tables.table1.pairs", "all"), "tables.table1.pairs: only a double_lesions table"),
        (_set("tables.tableA19.pairs", "some"), "key tables.tableA19.pairs: 'some' is not one of"),
        (_set("lesions.zero", "bias"), "key lesions.zero: 'bias' is not one of"),
        (_set("lesions.random_sets", 0), "key lesions.random_sets: 0 is less than the minimum of 1"),
        (_set("datasets.halves.mnist_halves_same.of", "lines"), "halves.mnist_halves_same.of: 'lines' is not a real"),
        (_set("tables.p2/tableA5.runs", 0), "key tables.p2/tableA5.runs"),
        (_set("tables.p2/tableA5.order", "run"), "key tables.p2/tableA5.order: 'run' is not one of"),
        (_del("figures.p2/fig4_halves_samples.datasets"), "plot dataset_samples draws datasets; give `datasets:`"),
        (_set("figures.p2/fig4_halves_samples.datasets", ["svhn"]), "fig4_halves_samples.datasets: unknown dataset"),
        (_set("datasets.resized.mnist_7x7.of", "lines"), "resized.mnist_7x7.of: 'lines' is not a real dataset"),
        (_set("datasets.resized.mnist_7x7.side", 0), "key datasets.resized.mnist_7x7.side: 0 is less than"),
        (_set("regimes.clusterable_init.clusterable_init.beta", 1.5), "clusterable_init.beta: 1.5 is greater than"),
        (_set("regimes.regularized.regularizer.k", 1), "key regimes.regularized.regularizer.k: 1 is less than"),
        (
            _set("families.mnist_cnn_plain.regime", "regularized"),
            "families.mnist_cnn_plain: training config: the clusterability regularizer (regularizer_weight) is for",
        ),
        # Values the schema admits but a training run cannot take stop here too, before any job.
        (_set("training.pruning.initial_sparsity", 0.95), "final_sparsity must be in [initial_sparsity, 1)"),
        (_set("training.pruning.final_sparsity", 1), "key training.pruning.final_sparsity: 1 is greater than"),
        # A figure's network: named once as config (the message said "config: config: ...").
        (_set("figures.fig1_network.network.family", "nope"), "config: figures.fig1_network.network.family: unknown"),
        # Folders and files that the jobs would only find missing after other jobs ran.
        (_set("datasets.mirror", "/nonexistent/mirror"), "config: datasets.mirror: /nonexistent/mirror does not exist"),
        (_set("datasets.checksums", "/nonexistent/MD5SUMS"), "datasets.checksums: /nonexistent/MD5SUMS does not exist"),
        (_set("imagenet.checkpoints", "/nonexistent/ckpt"), "config: imagenet.checkpoints: /nonexistent/ckpt does"),
        # More clusters than the clustered graph has nodes (it fails only after training otherwise).
        (
            _set("tables.table1.k", 1819),
            "config: tables.table1.k: k = 1819 is more than the 1818 nodes of family mnist_plain's graph "
            "(mlp neurons 784+256+256+256+256+10); use k <= 1818",
        ),
        (_set("tables.p2/tableA8.k", 193), "tables.p2/tableA8.k: k = 193 is more than the 192 nodes of family"),
        (_set("figures.fig1_network.network.k", 5000), "config: figures.fig1_network.network.k: k = 5000 is more"),
    ],
)
def test_bad_config_gives_one_line_naming_the_key(config: dict, mutate, message: str) -> None:
    mutate(config)
    with pytest.raises(InputError) as info:
        load_config(config, SCHEMA)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert str(info.value).startswith("config: ") and "config: config:" not in str(info.value)


def test_pruning_power_may_be_any_positive_number(config: dict) -> None:
    config["training"]["pruning"]["power"] = 2.5
    _, exp = load_config(config, SCHEMA)
    assert exp.families["mnist_plain"].train.pruning_power == 2.5


def test_training_settings_precedence() -> None:
    training = {
        "epochs": 20,
        "prune_epochs": 20,
        "batch_size": 128,
        "learning_rate": 1e-3,
        "dropout": 0.5,
        "hidden_widths": [256],
        "pruning": {"initial_sparsity": 0.5, "final_sparsity": 0.9, "power": 3, "frequency": 10},
        "per_dataset": {"cifar10": {"dropout": 0.2, "prune_epochs": 40}},
    }
    plain = training_settings(training, {}, "cifar10")
    assert plain["dropout"] == 0.0 and plain["prune_epochs"] == 40
    dropout = training_settings(training, {"dropout": True}, "cifar10", {"epochs": 3, "pruning": {"frequency": 1}})
    assert dropout["dropout"] == 0.2 and dropout["epochs"] == 3 and dropout["pruning_frequency"] == 1


def test_chunks_do_not_depend_on_the_number_of_shuffles() -> None:
    assert shuffle_chunks(5, 2) == [range(0, 2), range(2, 4), range(4, 6)]
    assert shuffle_chunks(50, 64) == [range(0, 64)] and shuffle_chunks(320, 64)[0] == range(0, 64)
    assert shuffle_chunks(0, 2) == []


def test_provenance_follows_imports_without_importing() -> None:
    files = {Path(p).name for p in module_files("clusterability.core.measure")}
    assert {"measure.py", "spectral.py", "kmeans.py", "layered_graph.py", "ncut.py", "shuffles.py"} <= files
    assert "training.py" not in files and "runtime.py" not in files
    train = {Path(p).name for p in script_module_files(REPO / "workflow_scripts/train_network.py")}
    assert {"training.py", "runtime.py", "models.py", "jobs.py", "keras_model.py", "config.py"} <= train
    assert not {"onnx_io.py", "state_dict.py", "keras_files.py", "network_files.py", "fetch.py"} & train  # readers
    assert "spectral.py" not in train and "kmeans.py" not in train  # the regularizer needs only bipartite.py
    assert "bipartite.py" in train
    cluster = {Path(p).name for p in script_module_files(REPO / "workflow_scripts/shuffle_chunk.py")}
    assert "spectral.py" in cluster and "training.py" not in cluster


def test_plot_names_are_the_figure_registry_s() -> None:
    """The plots a figure may name are report.figures' registry, and only those; nothing else lists them."""
    from clusterability.report import columns, figures

    assert (*figures.PLOTS, *figures.NETWORK_PLOTS, *figures.DATASET_PLOTS) == figures.PLOT_NAMES
    assert len(set(figures.PLOT_NAMES)) == len(figures.PLOT_NAMES) == 12
    assert set(figures.SHUFFLE_PLOTS) <= set(figures.PLOTS)
    assert all(callable(plot) for registry in (figures.PLOTS, figures.NETWORK_PLOTS) for plot in registry.values())
    assert not [name for name in vars(columns) if name.endswith("_PLOTS")]  # no second list of plot names
    catalogue = yaml.safe_load((REPO / "schemas/experiments.schema.yaml").read_text())
    plot = catalogue["properties"]["figures"]["additionalProperties"]["properties"]["plot"]
    assert "enum" not in plot and plot["type"] == "string"
    # The config model checks a figure's plot against the registry (and imports no matplotlib for it).
    config = whole_config()
    used = {entry["plot"] for entry in config["figures"].values()}
    assert used == set(figures.PLOT_NAMES)  # the papers' figures draw every plot
    config["figures"]["fig3_init_ncuts"]["plot"] = "ncut_heatmap"
    with pytest.raises(InputError) as info:
        load_config(config, SCHEMA)
    assert str(info.value) == (
        "config: figures.fig3_init_ncuts.plot: unknown plot 'ncut_heatmap'; choose one of "
        + ", ".join(figures.PLOT_NAMES)
    )
    probe = "import sys, clusterability.workflow.experiments; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- the catalogue files: config/experiments/*.yaml ----------------------------------------------------------------


def test_config_yaml_holds_the_settings_and_names_every_catalogue_file() -> None:
    config = settings()
    assert not {"families", "tables", "figures"} & set(config)
    files = config["experiments"]
    assert sorted(files) == sorted(f"config/experiments/{p.name}" for p in (REPO / "config/experiments").glob("*.yaml"))
    assert files[0] == "config/experiments/families.yaml"
    for name in files:  # each file holds catalogue keys only, and passes its schema
        assert set(yaml.safe_load((REPO / name).read_text())) <= {"families", "tables", "figures"}, name
    # Each paper's entries in its own file.
    _, exp = load_config(settings(), SCHEMA)
    for paper in ("p1", "p2_mlp", "p2_cnn", "p2_promote"):
        entries = yaml.safe_load((REPO / f"config/experiments/{paper}.yaml").read_text())
        assert [*entries["tables"], *entries["figures"]] == exp.paper_targets(paper), paper


def _before_split(path: str) -> str:
    """A file of the repository as it was before the split (skipped without git or that commit)."""
    proc = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{BEFORE_SPLIT}:{path}"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        pytest.skip(f"git show {BEFORE_SPLIT}:{path} failed (a copy without the history?): {proc.stderr.strip()}")
    return proc.stdout


#: config.yaml's entries changed on purpose since the split: (keys, value, why).
CHANGED_SINCE_SPLIT = (
    (("resources", "train", "networks_per_job"), 1, "added: several networks per training job (issue 22)"),
    *(
        (("training", "per_dataset", mixture, "dropout"), 0.2, "docs/reproducibility.md, Mixtures' dropout")
        for mixture in ("lines_cifar10", "mnist_cifar10", "lines_cifar10_sep", "mnist_cifar10_sep")
    ),
    (("regimes", "l2", "mlp_first_layer"), "l1", "docs/reproducibility.md, First layer of L2 MLPs"),
    (("regimes", "l2", "per_architecture"), {"vgg": {"l2": 5.0e-4}}, "docs/reproducibility.md, L2 weight of the VGGs"),
    (
        ("training", "per_architecture", "vgg", "dense_widths"),
        [512, 512],
        "docs/reproducibility.md, VGG layer order and dense head",
    ),
    (("datasets", "synthetic", "memorization", "kind"), "random_authors", "docs/reproducibility.md, Memorization set"),
    (("datasets", "synthetic", "polynomial", "kind"), "polynomial_authors", "docs/reproducibility.md, Polynomials"),
)


@pytest.mark.parametrize("scale", [None, "quick", "tiny", "smoke", "fidelity"])
def test_the_split_catalogue_is_the_one_config_yaml_held(scale: str | None) -> None:
    """config.yaml and its catalogue files, merged, are config.yaml before the split: every family, table and
    figure with the same settings in the same order, at the papers' settings and under every scale file.

    A check of the move itself: entries changed on purpose since (CHANGED_SINCE_SPLIT) are applied to the old
    config.yaml first, so any other difference fails."""
    old, new = yaml.safe_load(_before_split("config.yaml")), settings()
    for keys, value, _why in CHANGED_SINCE_SPLIT:
        entry = old
        for key in keys[:-1]:
            entry = entry.setdefault(key, {})
        entry[keys[-1]] = value
    if scale is not None:
        overlay = yaml.safe_load((REPO / f"config/scales/{scale}.yaml").read_text())
        old, new = _merge(old, overlay), _merge(new, overlay)
    old_config, old_exp = load_config(old, SCHEMA, paths=False)
    new_config, new_exp = load_config(new, SCHEMA, paths=False)
    assert new_config.pop("experiments") == settings()["experiments"]
    assert set(new_config) == set(old_config)
    for key, value in old_config.items():
        assert json.dumps(new_config[key]) == json.dumps(value), key  # the same entries, in the same order
    assert new_exp == old_exp
    for part in ("families", "tables", "figures", "datasets"):
        assert list(getattr(new_exp, part)) == list(getattr(old_exp, part)), part


def _catalogue(tmp_path: Path, files: dict[str, str]) -> dict:
    """A workflow folder holding catalogue files ``files`` (name -> YAML), and config.yaml's settings naming them."""
    for name, text in files.items():
        (tmp_path / "config/experiments").mkdir(parents=True, exist_ok=True)
        (tmp_path / "config/experiments" / name).write_text(text)
    return {**settings(), "experiments": [f"config/experiments/{name}" for name in files]}


def test_each_catalogue_file_is_validated_and_named_in_its_errors(tmp_path: Path) -> None:
    families = (REPO / "config/experiments/families.yaml").read_text()
    p1 = (REPO / "config/experiments/p1.yaml").read_text()
    cases = [
        (
            {"families.yaml": families, "p1.yaml": p1.replace("    k: 7\n", "    k: seven\n", 1)},
            "config/experiments/p1.yaml: key tables.tableA1.k: 'seven' is not of type 'integer'; "
            "see schemas/experiments.schema.yaml",
        ),
        (
            {"families.yaml": families, "p1.yaml": p1.replace("    shuffles: 320\n", "    shufles: 320\n", 1)},
            "config/experiments/p1.yaml: unknown key tables.table1.shufles; check its spelling against "
            "config/experiments/",
        ),
        ({"families.yaml": families + "scale: paper\n"}, "config/experiments/families.yaml: unknown key scale"),
        (
            {"families.yaml": families, "p1.yaml": ""},
            "config/experiments/p1.yaml: key <top level>: {} should be non-empty",
        ),
        ({"families.yaml": families, "p1.yaml": "tables: [unclosed\n"}, "config/experiments/p1.yaml: not valid YAML"),
        (
            {"families.yaml": families, "more.yaml": "families:\n  mnist_plain: {dataset: mnist, runs: 1}\n"},
            "config/experiments/more.yaml: families.mnist_plain is in config/experiments/families.yaml too",
        ),
    ]
    for files, message in cases:
        with pytest.raises(InputError) as info:
            load_config(_catalogue(tmp_path, files), SCHEMA, base=tmp_path)
        assert message in str(info.value) and "\n" not in str(info.value), str(info.value)
    missing = {**settings(), "experiments": ["config/experiments/p9.yaml"]}
    with pytest.raises(InputError, match=r"^config: experiments: config/experiments/p9.yaml is not a file"):
        load_config(missing, SCHEMA)
    # The merged configuration still needs every part of the catalogue.
    with pytest.raises(InputError, match="config: key <top level>: 'tables' is a required property"):
        load_config(_catalogue(tmp_path, {"families.yaml": families}), SCHEMA, base=tmp_path)


def test_overrides_change_catalogue_entries_key_by_key() -> None:
    """A scale file (smoke) restricts tables to one family; the entries' other keys stay the catalogue's."""
    overlay = yaml.safe_load((REPO / "config/scales/smoke.yaml").read_text())
    _, exp = load_config(_merge(settings(), overlay), SCHEMA, paths=False)
    table = exp.tables["table1_networks"]
    assert table.families == ("mnist_dropout",) and table.k == 4 and table.stages == ("unpruned", "pruned")
    samples = exp.figures["p2/fig4_halves_samples"]
    assert samples.samples == 4 and samples.label == 3 and samples.datasets[0] == "mnist_halves_same"
    # A table added by an override comes after the catalogue's, as a new key of config.yaml would.
    extra = {"tables": {"my_table": {"analysis": "summary", "families": ["mnist_plain"], "k": 5, "shuffles": 10}}}
    _, exp = load_config(_merge(settings(), extra), SCHEMA, paths=False)
    assert list(exp.tables)[-1] == "my_table" and exp.tables["my_table"].k == 5


def test_p2_cnn_families_get_their_architecture_settings(config: dict) -> None:
    """P2 section 3 and A.2: the small CNN's and VGG's own widths, dropout, epochs and augmentation;
    CNN seeds differ from the MLPs' of the same dataset and regime, and the MLPs' settings are untouched."""
    _, exp = load_config(config, SCHEMA)
    cnn = exp.families["mnist_cnn_dropout"].train
    assert (cnn.architecture, cnn.widths, cnn.dense_widths) == ("small_cnn", (64, 64, 64), (128,))
    assert (cnn.dropout, cnn.conv_dropout, cnn.epochs, cnn.prune_epochs, cnn.batch_size) == (0.5, 0.25, 10, 10, 64)
    assert exp.families["mnist_cnn_plain"].train.conv_dropout == 0.0
    vgg = exp.families["cifar10_vgg_dropout_l2"].train
    assert (vgg.architecture, len(vgg.widths), vgg.augment, vgg.l2, vgg.conv_dropout) == ("vgg", 13, True, 5e-4, 0.4)
    assert (vgg.epochs, vgg.prune_epochs) == (200, 50)
    assert exp.datasets["cifar10_rgb"].source == "cifar10"
    assert exp.families["mnist_cnn_plain"].seed_names == ("mnist", "plain", "small_cnn")
    assert exp.families["mnist_plain"].seed_names == ("mnist", "plain")
    mlp = exp.families["mnist_dropout"].train.to_dict()
    assert not {"dense_widths", "conv_dropout", "augment"} & set(mlp)
    new = {f.network for t in exp.paper_targets("p2_cnn") if t in exp.tables for f, _ in exp.networks(t)}
    assert {exp.families[f].architecture for f in new if not exp.families[f].pretrained} == {"small_cnn", "vgg"}
    assert {exp.families[f].pretrained for f in new} - {""} == {
        "vgg16", "vgg19", "resnet18", "resnet34", "resnet50", "inception_v3"
    }  # fmt: skip
    assert exp.families["imagenet_resnet50"].n_init == 100 and exp.families["mnist_cnn_plain"].n_init is None


def test_p2_promotion_entries(config: dict) -> None:
    """P2 section 4 as data: clusterable-init regimes (beta 0.6 MLP, 0.8 CNN), the regularizer, 7x7 MNIST."""
    _, exp = load_config(config, SCHEMA)
    for name, beta in (("mnist_clusterable_init", 0.6), ("mnist_cnn_clusterable_init", 0.8)):
        train = exp.families[name].train
        assert (train.init_tags, train.init_beta, exp.families[name].runs) == (10, beta, 5)
    vgg = exp.families["cifar10_vgg_clusterable_init"]
    assert vgg.train.init_beta == 0.8 and vgg.train.augment and vgg.train.dropout == 0  # the control VGG's settings
    small = exp.families["mnist_7x7_regularized"]
    assert exp.datasets["mnist_7x7"].kind == "resized" and exp.datasets["mnist_7x7"].side == 7
    assert small.train.widths == (64, 64, 64) and (small.train.epochs, small.train.prune_epochs) == (10, 10)
    assert (small.train.regularizer_weight, small.train.regularizer_k, small.runs) == (0.1, 4, 10)
    assert exp.families["mnist_7x7_plain"].train.regularizer_weight == 0
    weights = [exp.families[f].train.regularizer_weight for f in exp.tables["p2/regularizer_sweep"].families]
    assert weights == [0, 0.01, 0.1, 1.0]
    # The comparisons reuse the plain families' networks: only the promoted ones are new.
    p2 = {
        (f.network, run)
        for part in ("p1", "p2_mlp", "p2_cnn")
        for t in exp.paper_targets(part)
        if t in exp.tables
        for f, run in exp.networks(t)
    }
    promote = {(f.network, r) for t in exp.paper_targets("p2_promote") if t in exp.tables for f, r in exp.networks(t)}
    assert {f for f, _ in promote - p2} == {
        "mnist_clusterable_init",
        "fashion_mnist_clusterable_init",
        "mnist_cnn_clusterable_init",
        "fashion_mnist_cnn_clusterable_init",
        "cifar10_vgg_clusterable_init",
        "mnist_7x7_plain",
        "mnist_7x7_regularized",
        "mnist_projected_0p01",
        "mnist_projected_0p1",
        "mnist_projected_1",
    }
    assert len(promote - p2) == 5 * 5 + 2 * 10 + 3 * 3
    # Optional columns appear only where named; P2 Table 1 names the regularizer's weight.
    assert "regularizer_weight" in exp.tables["p2/table1"].columns
    assert "regularizer_weight" not in exp.tables["table1_networks"].columns
    assert set(exp.paper_targets("p2_promote")) == {
        *(f"p2/tableA{i}" for i in (13, 14, 15)),
        "p2/table1",
        "p2/regularizer_sweep",
        *(f"p2/clusterable_init_{a}_networks" for a in ("mlp", "cnn", "vgg")),
        "p2/regularizer_networks",
        *(f"p2/fig{i}_clusterable_init_{a}" for i, a in ((13, "mlp"), (14, "cnn"), (15, "vgg"))),
        "p2/figA5_regularizer",
    }


# --- checks of what the config names, before any job --------------------------------------------------------------


MD5 = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("key", "make", "message"),
    [
        ("mirror", lambda d: d / "mirror.txt", "datasets.mirror: {path} is not a folder"),
        ("checksums", lambda d: d, "datasets.checksums: {path} is not a regular file"),
        ("checksums", lambda d: d / "MD5SUMS.txt", "line 2 is not '<md5>  <folder>/<file>' (md5sum's format)"),
        ("checksums", lambda d: d / "empty.txt", "datasets.checksums: {path} lists no checksums"),
        ("checksums", lambda d: d / "binary.txt", "cannot read the checksum list"),
        ("checksums", lambda d: d / "fifo", "datasets.checksums: {path} is not a regular file"),  # never opened
    ],
)
def test_bad_dataset_paths_give_one_line(config: dict, tmp_path: Path, key: str, make, message: str) -> None:
    (tmp_path / "mirror.txt").write_text("not a folder\n")
    (tmp_path / "MD5SUMS.txt").write_text(f"{MD5}  mnist/train-images-idx3-ubyte.gz\n{MD5[:-1]}  mnist/t10k.gz\n")
    (tmp_path / "empty.txt").write_text("# only a comment\n\n")
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00 not text")
    os.mkfifo(tmp_path / "fifo")
    path = make(tmp_path)
    config["datasets"][key] = str(path)
    with pytest.raises(InputError) as info:
        load_config(config, SCHEMA)
    text = str(info.value)
    assert text.startswith(f"config: datasets.{key}: ") and "\n" not in text, text
    assert message.format(path=path) in text and str(path) in text


def test_usable_dataset_paths_pass_and_relative_ones_are_from_the_working_directory(
    config: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mirror" / "mnist").mkdir(parents=True)
    (tmp_path / "MD5SUMS").write_text(f"# md5sum output\n{MD5}  mnist/train-images-idx3-ubyte.gz\n")
    config["datasets"].update(mirror=str(tmp_path / "mirror"), checksums=str(tmp_path / "MD5SUMS"))
    config["imagenet"]["checkpoints"] = str(tmp_path / "mirror")
    cfg, _ = load_config(config, SCHEMA)
    assert cfg["datasets"]["mirror"] == str(tmp_path / "mirror")
    config["datasets"].update(mirror="mirror", checksums="MD5SUMS")
    with pytest.raises(InputError, match="config: datasets.mirror: mirror does not exist"):
        load_config(config, SCHEMA)  # relative to the working directory, where the jobs run
    monkeypatch.chdir(tmp_path)
    load_config(config, SCHEMA)
    # A job on a compute node (the workflow passes paths=False there) does not look for them again.
    monkeypatch.chdir(tmp_path / "mirror")
    load_config(config, SCHEMA, paths=False)


def test_graph_nodes_of_every_kind_of_family(config: dict) -> None:
    """k is checked against the nodes of the graph the builders make: MLPs' neurons, CNNs' conv channels."""
    _, exp = load_config(config, SCHEMA)

    def nodes(family: str) -> int | None:
        counted = graph_nodes(exp.families[family], exp.datasets)
        return None if counted is None else counted[0]

    assert nodes("mnist_plain") == 784 + 4 * 256 + 10
    assert nodes("polynomial_plain") == 2 + sum(exp.families["polynomial_plain"].train.widths) + 512
    assert nodes("mnist_7x7_plain") == 49 + 3 * 64 + 10
    assert nodes("mnist_cnn_plain") == 3 * 64  # the channels of the convolutions only
    assert nodes("mnist_stack_same_cnn") == sum(exp.families["mnist_stack_same_cnn"].train.widths)
    vgg = exp.families["cifar10_vgg_clusterable_init"]
    assert nodes(vgg.name) == sum(vgg.train.widths) == 4224  # VGG-16's 13 convolutions
    assert nodes("imagenet_resnet18") is None  # thousands of channels
    # The same MLP on a stack of two images (two channels) or on CIFAR-10's native colour images.
    config["families"]["mlp_on_stack"] = {"dataset": "mnist_stack_same", "runs": 1, "seed_key": ["stack"]}
    config["datasets"]["native"] = {"cifar10_rgb": {"of": "cifar10"}}
    config["families"]["mlp_on_rgb"] = {"dataset": "cifar10_rgb", "runs": 1, "seed_key": ["rgb"]}
    _, exp = load_config(config, SCHEMA)
    assert nodes("mlp_on_stack") == 2 * 784 + 4 * 256 + 10
    assert nodes("mlp_on_rgb") == 3072 + 4 * 256 + 10


def test_k_up_to_the_nodes_of_every_network_passes(config: dict) -> None:
    """The bound is the graph's node count, not less: k = nodes passes, for the table's init family too."""
    config["tables"]["p2/tableA8"]["k"] = 192
    load_config(config, SCHEMA)
    config["families"]["narrow_init"] = {
        "dataset": "mnist",
        "architecture": "small_cnn",
        "runs": 1,
        "seed_key": ["narrow"],
        "training": {"hidden_widths": [4, 4, 4], "epochs": 0, "prune_epochs": 0},
    }
    config["tables"]["p2/tableA8"]["init_family"] = "narrow_init"
    with pytest.raises(InputError, match=r"tables.p2/tableA8.k: k = 192 is more than the 12 nodes of family narrow"):
        load_config(config, SCHEMA)


def test_dry_run_stops_at_a_missing_mirror_before_any_job(tmp_path: Path) -> None:
    """``snakemake -n`` refuses the config in one line naming the key (it used to plan the fetch job)."""
    from workflow_helpers import TINY, snakemake

    missing = tmp_path / "no_mirror"
    config = f'datasets={{"mirror": "{missing}"}}'
    proc = snakemake(
        tmp_path, "-n", "--configfile", str(TINY), "--config", config, "--", "results/table1.csv", check=False
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert f"config: datasets.mirror: {missing} does not exist" in out
    assert "Job stats" not in out and not (tmp_path / "results").exists()


def test_load_workflow_config_is_what_snakemake_sees_at_a_scale() -> None:
    """The docs' renderers load config.yaml, a scale file and the catalogue as Snakemake merges them."""
    from clusterability.workflow.config import load_workflow_config

    config, experiments = load_workflow_config(REPO, "fidelity")
    expected, _ = load_config(scaled(whole_config(), "fidelity"), SCHEMA)
    assert {k: v for k, v in config.items() if k != "experiments"} == expected and config["scale"] == "fidelity"
    assert "table1" in experiments.tables
    assert load_workflow_config(REPO)[0]["scale"] == "paper"
    with pytest.raises(InputError, match="no such scale"):
        load_workflow_config(REPO, "huge")
