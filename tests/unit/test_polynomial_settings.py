"""P2 A.7's polynomial-regression MLPs (Table A.19) as config.yaml resolves them and as they report their losses.

Pins what the authors' code (clusterability_in_neural_networks, HEAD 7260208) trained, where P2 A.2 / A.7 are
silent or brief: ``src/train_nn.py`` ``mlp_regression_config`` (2 inputs, 256 x 4 ReLU, 512 linear outputs, no
dropout, 20 + 20 epochs, batch 128), Adam at Keras' defaults with a mean-squared-error loss, L1 / L2 at 5e-5 with
L1 on an L2 network's first layer (``create_mlp_layers``), the pruning schedule of ``pruning_config``, and
``src/generate_datasets.py`` ``polynomial_regression_dataset`` (60,000 training and 10,000 test inputs, numpy's
legacy seed 42: the kind ``polynomial_authors``). Table
A.19's losses are Keras' ``loss`` / ``val_loss`` of the last epoch (``src/utils.py`` ``extract_regression_metrics``):
the regularization term included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from authors_settings import AUTHORS_PRUNING, pruning_schedule

from clusterability.workflow.config import load_config

REPO = Path(__file__).resolve().parents[2]

#: Table A.19's families and their regularizers (l1, l2, first layer L1): the authors' ``with_l1reg`` /
#: ``with_l2reg`` runs (shells/train_mlps.sh lines 94-99).
POLYNOMIAL_FAMILIES = {
    "polynomial_plain": (0.0, 0.0, False),
    "polynomial_l1": (5e-5, 0.0, False),
    "polynomial_l2": (0.0, 5e-5, True),
}


@pytest.fixture(scope="module")
def experiments() -> Any:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    return load_config(config, REPO / "schemas/config.schema.yaml", paths=False)[1]


def test_polynomial_mlps_train_as_the_authors_mlp_regression_config(experiments: Any) -> None:
    """Every setting of the three families is the authors' ``mlp_regression_config`` (with ``pruning_config``)."""
    for name, (l1, l2, first_layer_l1) in POLYNOMIAL_FAMILIES.items():
        family = experiments.families[name]
        train = family.train
        assert family.dataset == "polynomial" and family.runs == 5, name
        assert (train.architecture, train.widths, train.dropout) == ("mlp", (256, 256, 256, 256), 0.0), name
        assert (train.epochs, train.prune_epochs, train.batch_size, train.learning_rate) == (20, 20, 128, 1e-3), name
        assert pruning_schedule(train) == AUTHORS_PRUNING, name
        assert (train.l1, train.l2, train.first_layer_l1, train.shuffle) == (l1, l2, first_layer_l1, True), name


def test_polynomial_networks_train_on_60000_inputs_and_test_on_10000(experiments: Any) -> None:
    """The authors' 60,000 / 10,000 (``main(n_train=60000, n_test=10000)``): the pipeline trains on the training
    split and its validation split together, so the two add up to 60,000."""
    dataset = experiments.datasets["polynomial"]
    assert (dataset.kind, dataset.generator) == ("synthetic", "polynomial_authors")
    n_train, n_val, n_test = dataset.sizes
    assert (n_train + n_val, n_test) == (60000, 10000)


def test_the_polynomial_dataset_is_the_authors_draw(experiments: Any) -> None:
    """config.yaml's ``polynomial`` is ``polynomial_authors``: the authors' inputs, whatever the master seed."""
    assert experiments.datasets["polynomial"].generator == "polynomial_authors"
    assert {experiments.families[name].dataset for name in POLYNOMIAL_FAMILIES} == {"polynomial"}


def test_authors_polynomial_inputs_are_numpys_legacy_seed_42_stream(tmp_path: Path) -> None:
    """``np.random.seed(42)``, ``normal(size=(60000, 2))``, then ``normal(size=(10000, 2))`` (src/generate_datasets.py):
    the training split is its first inputs and the validation split the next ones; the test split starts with the
    second call's; the targets are the 512 polynomials of the float64 inputs, as float32."""
    from clusterability.data.prepare import load_prepared
    from clusterability.data.synthetic import make_dataset, polynomial_targets

    path = make_dataset("polynomial", "polynomial_authors", tmp_path / "p.npz", n_train=40, n_val=8, n_test=16, seed=7)
    data = load_prepared(path)
    assert data["task"] == "regression"
    assert [data[f"x_{split}"].shape for split in ("train", "val", "test")] == [(40, 2), (8, 2), (16, 2)]
    # The legacy stream's first standard normal after seed 42 (numpy's documented, frozen RandomState stream).
    assert data["x_train"][0, 0] == np.float32(0.4967141530112327)
    state = np.random.RandomState(42)
    train, test = state.normal(size=(60000, 2)), state.normal(size=(10000, 2))
    np.testing.assert_array_equal(data["x_train"], train[:40].astype(np.float32))
    np.testing.assert_array_equal(data["x_val"], train[40:48].astype(np.float32))
    np.testing.assert_array_equal(data["x_test"], test[:16].astype(np.float32))
    np.testing.assert_array_equal(data["y_test"], polynomial_targets(test[:16]))
    # The master seed does not enter; the seeded kind does depend on it.
    again = load_prepared(
        make_dataset("q", "polynomial_authors", tmp_path / "q.npz", n_train=40, n_val=8, n_test=16, seed=8)
    )
    np.testing.assert_array_equal(again["x_test"], data["x_test"])
    seeded = load_prepared(
        make_dataset("polynomial", "polynomial", tmp_path / "s.npz", n_train=40, n_val=8, n_test=16, seed=7)
    )
    assert not np.array_equal(seeded["x_train"], data["x_train"])


def test_the_authors_polynomial_dataset_has_60000_and_10000_inputs(tmp_path: Path) -> None:
    from clusterability.data.synthetic import make_dataset
    from clusterability.errors import InputError

    with pytest.raises(InputError, match="datasets.synthetic.polynomial: .* lower them"):
        make_dataset(
            "polynomial", "polynomial_authors", tmp_path / "p.npz", n_train=55001, n_val=5000, n_test=10, seed=0
        )
    with pytest.raises(InputError, match="n_test = 10001"):
        make_dataset("polynomial", "polynomial_authors", tmp_path / "p.npz", n_train=10, n_val=0, n_test=10001, seed=0)


@pytest.mark.tf
def test_table_a19_losses_carry_the_regularization_and_the_mse_does_not(tmp_path: Path) -> None:
    """P2 Table A.19's "Train loss" / "Test loss" are Keras' ``loss`` / ``val_loss``: MSE + the L1 term (for a
    network with L1). ``train_loss`` is the last epoch's, ``test_loss`` the final weights' on the test set; the
    ``*_mse`` columns leave the term out, and differ from the losses by exactly ``l1 * sum |kernel|``."""
    from clusterability.data.synthetic import synthetic_split
    from clusterability.io.npz import load_weights
    from clusterability.seeds import generator
    from clusterability.train.config import TrainConfig
    from clusterability.train.training import train_and_prune

    data: dict[str, Any] = {"task": "regression"}
    for split, n in (("train", 512), ("val", 64), ("test", 256)):
        data[f"x_{split}"], data[f"y_{split}"] = synthetic_split("polynomial", n, generator(0, split))
    l1 = 1e-2  # large enough that the term is far above float32 rounding of the loss
    config = TrainConfig(epochs=3, prune_epochs=2, batch_size=64, pruning_frequency=4, widths=(16, 16), l1=l1)
    metrics = train_and_prune(
        data,
        config,
        seed=2,
        threads=1,
        out_weights_unpruned=tmp_path / "unpruned.npz",
        out_weights_pruned=tmp_path / "pruned.npz",
    )
    for stage, phase in (("unpruned", "train"), ("pruned", "prune")):
        kernels = load_weights(tmp_path / f"{stage}.npz").kernels
        penalty = l1 * float(sum(np.abs(k.astype(np.float64)).sum() for k in kernels))
        got = metrics[stage]
        assert penalty > 0.01 * got["test_mse"], stage  # the term is not negligible here
        assert got["test_loss"] == pytest.approx(got["test_mse"] + penalty, rel=1e-4), stage
        assert got["train_loss_eval"] == pytest.approx(got["train_mse_eval"] + penalty, rel=1e-4), stage
        assert got["train_loss"] == metrics["history"][phase]["loss"][-1] > got["train_mse"], stage
