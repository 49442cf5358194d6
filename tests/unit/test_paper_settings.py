"""The training settings that config.yaml resolves for the papers' network families (P1 3, 3.1, A.5; P2 2).

Pins what the authors' code trained where the papers are silent, so that a change of config.yaml's
layering (``training``, ``per_dataset``, the regimes, the families' overrides) cannot quietly change them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

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
