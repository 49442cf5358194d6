"""The training settings that config.yaml resolves for the papers' network families (P1 3, 3.1, A.5; P2 2).

Pins what the authors' code trained where the papers are silent, so that a change of config.yaml's
layering (``training``, ``per_dataset``, the regimes, the families' overrides) cannot quietly change them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from authors_settings import AUTHORS_PRUNING, pruning_schedule

from clusterability.workflow.config import load_config

REPO = Path(__file__).resolve().parents[2]

#: P1 A.5's mixtures that contain CIFAR-10, and those that do not.
CIFAR10_MIXTURES = ("lines_cifar10", "mnist_cifar10", "lines_cifar10_sep", "mnist_cifar10_sep")
OTHER_MIXTURES = ("lines_mnist", "lines_mnist_sep")


@pytest.fixture(scope="module")
def families() -> dict[str, Any]:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    return load_config(config, REPO / "schemas/config.schema.yaml", paths=False)[1].families


def _settings(families: dict[str, Any], name: str) -> tuple[int, int, float]:
    train = families[name].train
    return train.epochs, train.prune_epochs, train.dropout


def test_mixtures_with_cifar10_train_with_cifar10s_dropout_rate(families: dict[str, Any]) -> None:
    """P1 3.1's dropout is 0.2 on CIFAR-10 ("the network failed to learn when the rate was 0.5"); the
    authors' code (nn_modularity prepare_all.sh) trains LINES-CIFAR-10, MNIST-CIFAR-10 and their -SEP
    versions with dropout at ``epochs=30 pruning_epochs=40 dropout_rate=0.2``, the LINES-MNIST
    mixtures at the default 0.5 and 20 + 20 (docs/reproducibility.md, "Mixtures' dropout")."""
    assert _settings(families, "cifar10_dropout") == (100, 40, 0.2)
    for mixture in CIFAR10_MIXTURES:
        assert _settings(families, f"{mixture}_dropout") == (30, 40, 0.2), mixture
        assert _settings(families, f"{mixture}_plain") == (30, 40, 0.0), mixture
    for mixture in OTHER_MIXTURES:
        assert _settings(families, f"{mixture}_dropout") == (20, 20, 0.5), mixture
    assert _settings(families, "mnist_dropout") == _settings(families, "lines_dropout") == (20, 20, 0.5)


def test_the_mixtures_rate_reaches_their_dropout_networks_only() -> None:
    """Without the per-dataset rate the CIFAR-10 mixtures' dropout networks train at 0.5 (the fidelity run
    at c8803f9 did: P1 Table A.17's accuracies 0.47-0.75 against 0.68-0.85); the rate changes those
    networks and no other family."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    with_rate = load_config(config, REPO / "schemas/config.schema.yaml", paths=False)[1].families
    for mixture in CIFAR10_MIXTURES:
        del config["training"]["per_dataset"][mixture]["dropout"]
    without = load_config(config, REPO / "schemas/config.schema.yaml", paths=False)[1].families
    changed = {name for name in with_rate if with_rate[name].train != without[name].train}
    assert changed == {f"{mixture}_dropout" for mixture in CIFAR10_MIXTURES}
    assert {without[f"{mixture}_dropout"].train.dropout for mixture in CIFAR10_MIXTURES} == {0.5}


#: P2's MLP families of the L2 regime (Tables A.5, A.6, A.19), and its CNN families of that regime.
L2_MLPS = ("mnist_l2", "fashion_mnist_l2", "polynomial_l2")
L2_CNNS = ("mnist_cnn_l2", "fashion_mnist_cnn_l2", "cifar10_vgg_l2")


def _families(mutate: Any = None) -> dict[str, Any]:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    if mutate:
        mutate(config)
    return load_config(config, REPO / "schemas/config.schema.yaml", paths=False)[1].families


def test_l2_mlps_train_their_first_layer_with_l1_as_the_authors_code(families: dict[str, Any]) -> None:
    """The authors' code (CL src/train_nn.py, create_mlp_layers) gives an L2 run's first dense layer
    ``l1(reg_rate)`` and the others ``l2(reg_rate)``, for classification and regression MLPs alike; its
    CNNs (create_cnn_layers) have L2 on every layer. Only P2's three L2 MLP families get the switch."""
    switched = {name for name, family in families.items() if family.train.first_layer_l1}
    assert switched == set(L2_MLPS)
    for name in L2_MLPS:
        assert (families[name].train.l1, families[name].train.l2) == (0.0, 5e-5), name
    for name in L2_CNNS:
        assert families[name].train.l2 > 0 and not families[name].train.first_layer_l1, name


def test_the_papers_reading_trains_every_layer_with_l2() -> None:
    """``mlp_first_layer: l2`` (P2's text) or no key: the L2 MLPs lose the switch, and nothing else changes."""

    def papers(config: dict) -> None:
        config["regimes"]["l2"]["mlp_first_layer"] = "l2"

    def no_key(config: dict) -> None:
        del config["regimes"]["l2"]["mlp_first_layer"]

    authors, text, absent = _families(), _families(papers), _families(no_key)
    changed = {name for name in authors if authors[name].train != text[name].train}
    assert changed == set(L2_MLPS)
    assert all(text[name].train == absent[name].train for name in text)
    assert not any(family.train.first_layer_l1 for family in text.values())
    for name in L2_MLPS:
        assert "first_layer_l1" not in text[name].train.to_dict()
        assert authors[name].train.to_dict()["first_layer_l1"] is True


def test_the_first_layer_switch_is_validated() -> None:
    """The schema takes l1 or l2 only; an L1 regime cannot carry the switch (its first layer is L1 anyway)."""
    from clusterability.errors import InputError

    def bad_value(config: dict) -> None:
        config["regimes"]["l2"]["mlp_first_layer"] = "l3"

    def on_l1(config: dict) -> None:
        config["regimes"]["l1"]["mlp_first_layer"] = "l1"

    with pytest.raises(InputError, match="regimes.l2.mlp_first_layer: 'l3' is not one of"):
        _families(bad_value)
    with pytest.raises(InputError, match="families.mnist_l1: training config: first_layer_l1 .* is for L2 MLPs"):
        _families(on_l1)


#: P2 section 3's CNN and VGG families (Tables A.8-A.10, A.12, A.14, A.15; figures A.2, A.3) and what the
#: authors' code (CL src/train_nn.py cnn_config / cnn_vgg_config, src/cnn/__init__.py; shells/train_cnns.sh,
#: shells/train_cnn_vggs.sh) trains them with: (epochs, prune_epochs, batch_size, dropout, conv_dropout, l1, l2).
P2_CNN_SETTINGS = {
    **{
        f"{data}_cnn_{regime}": (10, 10, 64, *rates)
        for data in ("mnist", "fashion_mnist")
        for regime, rates in (
            ("plain", (0.0, None, 0.0, 0.0)),
            ("dropout", (0.5, 0.25, 0.0, 0.0)),
            ("l1", (0.0, None, 5e-5, 0.0)),
            ("l2", (0.0, None, 0.0, 5e-5)),
            ("clusterable_init", (0.0, None, 0.0, 0.0)),
        )
    },
    **{
        f"{data}_stack_{how}_cnn": (10, 10, 64, 0.0, None, 0.0, 0.0)
        for data in ("mnist", "fashion")
        for how in ("same", "diff")
    },
    "cifar10_vgg_plain": (200, 50, 128, 0.0, None, 0.0, 0.0),
    "cifar10_vgg_dropout": (200, 50, 128, 0.5, 0.4, 0.0, 0.0),
    "cifar10_vgg_l1": (200, 50, 128, 0.0, None, 5e-5, 0.0),
    "cifar10_vgg_l2": (200, 50, 128, 0.0, None, 0.0, 5e-4),
    "cifar10_vgg_dropout_l2": (200, 50, 128, 0.5, 0.4, 0.0, 5e-4),
    "cifar10_vgg_clusterable_init": (200, 50, 128, 0.0, None, 0.0, 0.0),
}


def test_p2_cnns_and_vggs_train_as_the_authors_code(families: dict[str, Any]) -> None:
    """Every P2 CNN and VGG family at the authors' settings: small CNNs 10 + 10 epochs, batch 64, dropout
    0.25 / 0.5, L1 and L2 at the MLPs' 5e-5 (P2 3); VGGs 200 + 50, batch 128, augmented, L1 at 5e-5 and
    L2 at 5e-4 with or without dropout (``cnn_vgg_config``: ``l2reg_rate = 0.0005``; P2 is silent on the
    L2-only VGG's weight); no L1 first layer (``create_cnn_layers``); pruning 0.5 -> 0.9, cubic, every 10 steps."""
    trained = {name for name, f in families.items() if f.train.architecture in ("small_cnn", "vgg") and f.train.epochs}
    assert trained == set(P2_CNN_SETTINGS)
    for name, (epochs, prune_epochs, batch, dropout, conv_dropout, l1, l2) in P2_CNN_SETTINGS.items():
        train = families[name].train
        got = (train.epochs, train.prune_epochs, train.batch_size, train.dropout, train.l1, train.l2)
        assert got == (epochs, prune_epochs, batch, dropout, l1, l2), name
        assert train.to_dict().get("conv_dropout") == conv_dropout, name
        assert (train.learning_rate, train.initial_sparsity, train.final_sparsity) == (1e-3, 0.5, 0.9), name
        assert (train.pruning_power, train.pruning_frequency, train.first_layer_l1) == (3.0, 10, False), name
        assert train.augment == name.startswith("cifar10_vgg"), name
        # VGG: CNN_VGG_MODEL_PARAMS["dense"], two dense layers of 512 (docs/reproducibility.md, VGG layer order).
        assert train.dense_widths == ((512, 512) if train.architecture == "vgg" else (128,)), name
    for name in ("mnist_cnn_clusterable_init", "fashion_mnist_cnn_clusterable_init", "cifar10_vgg_clusterable_init"):
        assert (families[name].train.init_tags, families[name].train.init_beta) == (10, 0.8), name


def test_the_vgg_l2_weight_reaches_the_l2_vgg_only() -> None:
    """Without ``regimes.l2.per_architecture`` the L2 VGG trains at the MLPs' 5e-5 (the pipeline until
    issue 21); the entry changes that family and no other (the L2 MLPs and small CNNs keep 5e-5)."""

    def without(config: dict) -> None:
        del config["regimes"]["l2"]["per_architecture"]

    authors, before = _families(), _families(without)
    changed = {name for name in authors if authors[name].train != before[name].train}
    assert changed == {"cifar10_vgg_l2"}
    assert (before["cifar10_vgg_l2"].train.l2, authors["cifar10_vgg_l2"].train.l2) == (5e-5, 5e-4)
    assert authors["cifar10_vgg_l2"].regime == "l2"  # the tables' row label (P2 Table A.10's "L2") is kept


def test_a_regimes_per_architecture_weights_are_validated() -> None:
    """``per_architecture`` names architectures and carries L1 / L2 weights only."""
    from clusterability.errors import InputError

    def unknown_architecture(config: dict) -> None:
        config["regimes"]["l2"]["per_architecture"] = {"resnet": {"l2": 5e-4}}

    def other_key(config: dict) -> None:
        config["regimes"]["l2"]["per_architecture"] = {"vgg": {"dropout": True}}

    with pytest.raises(InputError, match="regimes.l2.per_architecture"):
        _families(unknown_architecture)
    with pytest.raises(InputError, match="regimes.l2.per_architecture.vgg"):
        _families(other_key)


def test_memorization_runs_train_as_the_authors_code() -> None:
    """P1 3.2 / P2 A.5's memorization runs (nn_modularity prepare_all.sh, RANDOM-OVERFITTING): ``dataset_name=random
    epochs=100 pruning_epochs=100 shuffle=False n_train=3000`` (and ``with_dropout=True``, rate 0.5), batch 128, Adam
    1e-3, pruning 0.5 -> 0.9 cubic every 10 steps; the images are the first 3,000 of the authors' own random dataset
    (``random_authors``: src/generate_datasets.py, numpy seed 42), none held out."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    experiments = load_config(config, REPO / "schemas/config.schema.yaml", paths=False)[1]
    memorization = experiments.datasets["memorization"]
    assert (memorization.kind, memorization.generator, memorization.sizes[:2]) == (
        "synthetic",
        "random_authors",
        (3000, 0),
    )
    for name, dropout in (("memorization_plain", 0.0), ("memorization_dropout", 0.5)):
        family = experiments.families[name]
        train = family.train
        assert family.dataset == "memorization", name
        assert (train.epochs, train.prune_epochs, train.shuffle, train.dropout) == (100, 100, False, dropout), name
        assert (train.batch_size, train.learning_rate, train.widths) == (128, 1e-3, (256, 256, 256, 256)), name
        assert pruning_schedule(train) == AUTHORS_PRUNING, name
