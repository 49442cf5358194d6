"""Lesion experiments (clusterability.lesions): sub-modules, the batched numpy forward pass, P1's types."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from clusterability.core.network import NetworkWeights
from clusterability.errors import InputError
from clusterability.lesions import (
    MIN_DAMAGE,
    TYPES,
    ZERO_MODES,
    DoubleLesion,
    MLPLesioner,
    Submodule,
    all_pairs,
    dependency_edges,
    double_lesion_rows,
    double_lesions,
    more_than_one_point,
    p_value,
    pairs_to_lesion,
    random_sets,
    single_lesions,
    submodule_type,
    submodules,
)
from clusterability.report.figures import LESION_TYPE_COLOURS
from clusterability.seeds import derive_seed

N_CLASSES, BLOCK, N_INPUT_GROUP = 4, 6, 5
WIDTH = N_CLASSES * BLOCK  # 24 neurons per hidden layer, one block of 6 per class


def planted_network(seed: int = 0, n: int = 400):
    """An MLP in which class c flows only through block c of each hidden layer, and data for it.

    Inputs: 4 groups of 5 pixels; an image of class c has group c on (plus
    noise). Each hidden layer has 4 blocks of 6 redundant neurons, block c fed
    by group (or block) c alone; output c reads block c of the last layer.
    Lesioning a block removes its class (a quarter of the accuracy); losing a
    few neurons of every block costs nothing.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, n)
    x = rng.uniform(0, 0.1, (n, N_CLASSES * N_INPUT_GROUP)).astype(np.float32)
    for c in range(N_CLASSES):
        x[y == c, c * N_INPUT_GROUP : (c + 1) * N_INPUT_GROUP] += 1.0
    block_in = np.zeros((N_CLASSES * N_INPUT_GROUP, WIDTH), np.float32)
    block = np.zeros((WIDTH, WIDTH), np.float32)
    out = np.zeros((WIDTH, N_CLASSES), np.float32)
    for c in range(N_CLASSES):
        block_in[c * N_INPUT_GROUP : (c + 1) * N_INPUT_GROUP, c * BLOCK : (c + 1) * BLOCK] = 1.0
        block[c * BLOCK : (c + 1) * BLOCK, c * BLOCK : (c + 1) * BLOCK] = 0.5
        out[c * BLOCK : (c + 1) * BLOCK, c] = 1.0
    kernels = (block_in, block, block, out)
    biases = [np.full(k.shape[1], -0.5, np.float32) for k in kernels[:-1]]
    # With its block silent an image gets no vote: the output biases then pick class 3.
    biases.append(np.arange(N_CLASSES, dtype=np.float32) * 0.01)
    return NetworkWeights(kernels, tuple(biases)), x, y


def _reference_accuracy(weights: NetworkWeights, x, y, lesion: dict[int, list[int]], zero: str) -> float:
    """Accuracy of a lesioned copy of the network, the slow way: zero the kernel columns into the neurons."""
    h = np.asarray(x, np.float32).reshape(len(x), -1)
    for i, (kernel, bias) in enumerate(zip(weights.kernels, weights.biases, strict=True)):
        kernel, bias = kernel.copy(), bias.copy()
        neurons = lesion.get(i + 1, [])
        kernel[:, neurons] = 0
        if zero == "activations":
            bias[neurons] = 0
        h = h @ kernel + bias
        if i < len(weights.kernels) - 1:
            h = np.maximum(h, 0)
    return float(np.mean(np.argmax(h, axis=1) == y))


def test_submodules_are_clusters_within_hidden_layers() -> None:
    widths = [3, 4, 4, 2]
    labels = [0, 1, 2, 0, 0, 1, -1, 2, 2, 2, 2, 0, 1]  # inputs, hidden 1, hidden 2, outputs
    modules = submodules(labels, widths)
    assert [(m.layer, m.label, m.neurons) for m in modules] == [(1, 0, (0, 1)), (1, 1, (2,)), (2, 2, (0, 1, 2, 3))]
    # Proportions are of the layer's clustered neurons (neuron 3 of layer 1 was cut off: label -1),
    # and random sets come from those: P1 Table A.18's proportions sum to 1 in every layer.
    assert modules[0].proportion == 2 / 3 and modules[0].name == "1-0"
    assert modules[0].pool.tolist() == [0, 1, 2] and modules[2].pool.tolist() == [0, 1, 2, 3]
    assert sum(m.proportion for m in modules if m.layer == 1) == 1.0
    assert Submodule(1, 0, (0, 1), 4).pool.tolist() == [0, 1, 2, 3]  # no clustering given: the whole layer
    with pytest.raises(InputError, match="12 labels"):
        submodules(labels[:-1], widths)


@pytest.mark.parametrize("zero", ["weights", "activations"])
def test_batched_forward_pass_equals_zeroing_the_weights(zero: str) -> None:
    weights, x, y = planted_network()
    rng = np.random.default_rng(1)
    # Perturb so that biases and dense weights matter everywhere.
    weights = NetworkWeights(
        tuple(k + rng.normal(0, 0.3, k.shape).astype(np.float32) for k in weights.kernels),
        tuple(b + rng.normal(0, 0.3, b.shape).astype(np.float32) for b in weights.biases),
    )
    lesioner = MLPLesioner(weights, x, y, zero=zero, batch_bytes=4 * len(y) * WIDTH * 3)  # 3 lesions per batch
    assert lesioner.accuracy == _reference_accuracy(weights, x, y, {}, zero)
    lesions = [{}] + [
        {layer: sorted(rng.choice(WIDTH, size=rng.integers(1, 12), replace=False)) for layer in layers}
        for layers in ([1], [2], [3], [1, 3], [2, 3], [1, 2, 3], [3], [1])
    ]
    expected = [_reference_accuracy(weights, x, y, lesion, zero) for lesion in lesions]
    assert lesioner.accuracies(lesions).tolist() == expected


def test_a_planted_block_is_important_and_a_random_block_is_not() -> None:
    weights, x, y = planted_network()
    lesioner = MLPLesioner(weights, x, y)
    assert lesioner.accuracy == 1.0
    planted = Submodule(1, 0, tuple(range(BLOCK)), WIDTH)  # class 0's block of layer 1
    mixed = Submodule(1, 1, tuple(range(0, WIDTH, BLOCK)), WIDTH)  # one neuron of every block
    single = single_lesions(lesioner, [planted, mixed], n_random=100, seed=3)
    block, spread = single
    assert block.damage == pytest.approx(np.mean(y == 0)) and block.type == "important"
    assert block.p_value == pytest.approx(1 / 101) and block.significant
    assert spread.damage == 0 and spread.type == "other" and not spread.significant
    assert len(set(block.random_seeds)) == 100 and block.random_seeds != spread.random_seeds
    # Same seed, same random sets; another seed, others.
    again = single_lesions(lesioner, [planted], n_random=100, seed=3)[0]
    assert again.random_seeds == block.random_seeds and np.array_equal(again.random_damages, block.random_damages)
    assert single_lesions(lesioner, [planted], n_random=100, seed=4)[0].random_seeds != block.random_seeds


def test_double_lesion_of_one_pathway() -> None:
    """Blocks 0 of layers 1 and 3 carry the same class: each is unimportant given the other."""
    weights, x, y = planted_network()
    lesioner = MLPLesioner(weights, x, y)
    x0 = Submodule(1, 0, tuple(range(BLOCK)), WIDTH)
    y0 = Submodule(3, 0, tuple(range(BLOCK)), WIDTH)
    y1 = Submodule(3, 1, tuple(range(BLOCK, 2 * BLOCK)), WIDTH)
    singles = single_lesions(lesioner, [x0, y0, y1], n_random=50, seed=0)
    damages = {s.submodule.name: s.damage for s in singles}
    same, other = double_lesions(lesioner, [(x0, y0), (x0, y1)], damages, n_random=50, seed=0)
    assert same.damage == pytest.approx(singles[0].damage)
    assert same.delta_y_given_x == pytest.approx(0) and not same.y_important_given_x
    assert not same.x_important_given_y
    # Two classes' pathways: each adds its class whatever the other does.
    assert other.delta_y_given_x == pytest.approx(np.mean(y == 1)) and other.y_important_given_x
    assert other.x_important_given_y
    rows = double_lesion_rows([same, other], {m: "important" for m in ("1-0", "3-0", "3-1")})
    assert dependency_edges(rows) == [{"source": "1-0", "target": "3-0", "why": "x|y+y|x"}]
    assert rows[1]["y_given_x_p_value"] == pytest.approx(1 / 51) and rows[1]["x_given_y"]


def test_p_value_and_types_follow_p1() -> None:
    random = np.array([0.001, 0.002, 0.05])
    assert p_value(0.06, random) == 0.25 and p_value(0.002, random) == 0.75
    assert submodule_type(0.05, True, 0.25) == "important"
    assert submodule_type(0.005, True, 0.25) == "sig-but-not-diff"
    assert submodule_type(0.2, True, 0.049) == "small"
    assert submodule_type(0.005, False, 0.2) == "other"
    # More than 1 point but not significant: the authors' code's fifth type, not "other"
    # (a quick run's sub-module that cost 42.6 points was typed "other").
    assert submodule_type(0.426, False, 0.3) == "diff-but-not-sig"
    assert submodule_type(0.426, False, 0.04) == "small"
    assert {submodule_type(d, sig, prop) for d in (0.0, 0.02) for sig in (False, True) for prop in (0.01, 0.5)} == set(
        TYPES
    )


def test_one_point_means_more_than_one_point_not_rounding() -> None:
    # 100 of 10,000 test images: 0.8 - 0.79 is 0.010000000000000009 in float64.
    exactly_one_point = 8000 / 10000 - 7900 / 10000
    assert exactly_one_point > MIN_DAMAGE  # the naive comparison is fooled by rounding
    assert not more_than_one_point(exactly_one_point)
    assert submodule_type(exactly_one_point, True, 0.2) == "sig-but-not-diff"
    assert submodule_type(exactly_one_point, False, 0.2) == "other"
    assert more_than_one_point(8001 / 10000 - 7900 / 10000)  # 101 images
    lesion = DoubleLesion(Submodule(1, 0, (0,), 4), Submodule(2, 0, (0,), 4), 0.8, 0.79, 0.0, np.zeros(3), np.zeros(3))
    assert lesion.y_given_x_significant and not lesion.y_important_given_x


def test_lesions_zero_the_activations_by_default() -> None:
    """P1 section 4 (and the authors' code, which zeroed the weights in and the biases): activations = 0.

    By hand: one input x, hidden h0 = relu(x), h1 = relu(0.5 - x), output = argmax(h0, h1); images
    x = 0.1 (class 1) and 0.9 (class 0). Lesioning h1: silent, both images go to class 0 (accuracy
    1/2); with only its weights in zeroed it stays at relu(0.5) and still wins for x = 0.1 (accuracy 1).
    """
    weights = NetworkWeights(
        (np.array([[1.0, -1.0]], np.float32), np.eye(2, dtype=np.float32)),
        (np.array([0.0, 0.5], np.float32), np.zeros(2, np.float32)),
    )
    x, y = np.array([[0.1], [0.9]], np.float32), np.array([1, 0])
    assert MLPLesioner(weights, x, y).accuracy == 1.0
    assert MLPLesioner(weights, x, y).accuracies([{1: [1]}]).tolist() == [0.5]
    assert MLPLesioner(weights, x, y, zero="activations").accuracies([{1: [1]}]).tolist() == [0.5]
    assert MLPLesioner(weights, x, y, zero="weights").accuracies([{1: [1]}]).tolist() == [1.0]
    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "config.yaml").read_text())
    assert config["lesions"]["zero"] == "activations" and ZERO_MODES[0] == "activations"


def _pruned_planted_network():
    """The planted network with neurons 12-23 of layer 2 cut off by pruning (no weight in or out)."""
    weights, x, y = planted_network()
    kernels = [k.copy() for k in weights.kernels]
    kernels[1][:, 12:] = 0
    kernels[2][12:, :] = 0
    biases = [b.copy() for b in weights.biases]
    biases[1][12:] = 0
    return NetworkWeights(tuple(kernels), tuple(biases)), x, y


def test_random_sets_come_from_the_clustered_neurons_of_the_layer() -> None:
    weights, x, y = _pruned_planted_network()
    lesioner = MLPLesioner(weights, x, y)
    # Layer 2's clustered neurons: 0-11 (blocks 0 and 1); 12-23 are labelled -1.
    layer_labels = np.r_[np.zeros(BLOCK), np.ones(BLOCK), -np.ones(WIDTH - 2 * BLOCK)].astype(int)
    labels = np.r_[
        np.zeros(N_CLASSES * N_INPUT_GROUP), np.zeros(WIDTH), layer_labels, np.zeros(WIDTH), np.zeros(N_CLASSES)
    ]
    module = next(m for m in submodules(labels.astype(int), [20, WIDTH, WIDTH, WIDTH, N_CLASSES]) if m.layer == 2)
    assert module.neurons == tuple(range(BLOCK)) and module.proportion == 0.5  # 6 of 12 clustered neurons
    result = single_lesions(lesioner, [module], n_random=60, seed=1)[0]
    sets, seeds = random_sets(BLOCK, module.pool, 60, derive_seed(1, module.layer, module.label))
    assert list(result.random_seeds) == seeds
    assert all(set(s.tolist()) <= set(range(2 * BLOCK)) for s in sets)  # never a pruned neuron
    assert result.damage == pytest.approx(np.mean(y == 0))
    # A sub-module that is all of its layer's clustered neurons is no more damaging than its random sets.
    whole = Submodule(2, 0, tuple(range(2 * BLOCK)), WIDTH, tuple(range(2 * BLOCK)))
    assert whole.proportion == 1.0
    everything = single_lesions(lesioner, [whole], n_random=5, seed=0)[0]
    assert np.all(everything.random_damages == everything.damage) and not everything.significant
    assert everything.p_value == 1.0


def test_double_lesion_stand_ins_come_from_the_clustered_neurons() -> None:
    weights, x, y = _pruned_planted_network()
    lesioner = MLPLesioner(weights, x, y)
    clustered = tuple(range(2 * BLOCK))
    x0 = Submodule(2, 0, tuple(range(BLOCK)), WIDTH, clustered)
    y0 = Submodule(2, 1, tuple(range(BLOCK, 2 * BLOCK)), WIDTH, clustered)
    # Same layer: Y' must avoid X, and only Y's own neurons are left of the clustered ones.
    pair = double_lesions(lesioner, [(x0, y0)], {"2-0": 0.0, "2-1": 0.0}, n_random=4, seed=0)[0]
    assert np.all(pair.random_y == pair.damage) and np.all(pair.random_x == pair.damage)
    small = Submodule(2, 1, tuple(range(BLOCK, 2 * BLOCK)), WIDTH, tuple(range(BLOCK + 1)))
    with pytest.raises(InputError, match="too few neurons"):
        double_lesions(lesioner, [(x0, small)], {"2-0": 0.0, "2-1": 0.0}, n_random=2, seed=0)


def test_dependency_edges_need_two_important_sub_modules_in_different_layers() -> None:
    def pair(x, y, x_type="important", y_type="important", x_given_y=True, y_given_x=True):
        return dict(
            x=x,
            y=y,
            x_layer=int(x[0]),
            y_layer=int(y[0]),
            x_type=x_type,
            y_type=y_type,
            x_given_y=x_given_y,
            y_given_x=y_given_x,
        )

    rows = [
        pair("1-0", "3-0"),  # both conditionally important: no edge
        pair("1-0", "3-1", x_given_y=False),
        pair("1-1", "2-0", y_given_x="False"),  # as read back from a CSV
        pair("1-0", "1-1", x_given_y=False),  # same layer
        pair("1-0", "2-1", y_type="small", x_given_y=False),  # not both important
    ]
    assert dependency_edges(rows) == [
        {"source": "1-0", "target": "3-1", "why": "x|y"},
        {"source": "1-1", "target": "2-0", "why": "y|x"},
    ]
    a, b = Submodule(3, 0, (0, 1), 10), Submodule(1, 0, (0, 1), 10)
    lesion = DoubleLesion(a, b, damage=0.3, damage_x=0.2, damage_y=0.25, random_y=np.zeros(5), random_x=np.zeros(5))
    assert lesion.delta_y_given_x == pytest.approx(0.1) and lesion.delta_x_given_y == pytest.approx(0.05)


def test_pairs_to_lesion() -> None:
    modules = [Submodule(2, 1, (0,), 4), Submodule(1, 3, (1,), 4), Submodule(1, 0, (2,), 4), Submodule(3, 0, (3,), 4)]
    names = lambda pairs: [(x.name, y.name) for x, y in pairs]  # noqa: E731
    assert names(all_pairs(modules)[:3]) == [("1-0", "1-3"), ("1-0", "2-1"), ("1-0", "3-0")]
    assert len(pairs_to_lesion(modules, {}, "all")) == 6
    types = {"1-0": "important", "1-3": "important", "2-1": "important", "3-0": "small"}
    assert names(pairs_to_lesion(modules, types, "important")) == [("1-0", "2-1"), ("1-3", "2-1")]
    with pytest.raises(InputError, match="scope 'some'"):
        pairs_to_lesion(modules, types, "some")


def test_bad_inputs_are_clear_errors() -> None:
    weights, x, y = planted_network()
    with pytest.raises(InputError, match="zero mode"):
        MLPLesioner(weights, x, y, zero="bias")
    with pytest.raises(InputError, match="kernel_0 takes 20 inputs"):
        MLPLesioner(weights, x[:, :10], y)
    with pytest.raises(InputError, match="hidden layers are 1..3"):
        MLPLesioner(weights, x, y).accuracies([{4: [0]}])


@pytest.mark.tf
def test_numpy_forward_pass_gives_the_keras_accuracy() -> None:
    """The lesioner's accuracy is Keras' own, intact and lesioned (weights into the neurons and their biases
    zeroed, as the authors' code did)."""
    pytest.importorskip("tf_keras")
    from clusterability.train.keras_model import network_weights
    from clusterability.train.models import build_model
    from clusterability.train.runtime import import_tf

    import_tf(threads=1, seed=0)
    model = build_model("mlp", input_shape=(28, 28), widths=[64, 64, 64], n_classes=10, dropout=0.5, l1=0, l2=0, seed=3)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2000, 28, 28)).astype(np.uint8)
    y = np.argmax(model.predict(x.astype(np.float32) / 255, verbose=0), axis=1)  # the model's own labels, ...
    y[::3] = rng.integers(0, 10, len(y[::3]))  # ... a third of them scrambled
    weights = network_weights(model)
    lesioner = MLPLesioner(weights, x, y)
    keras_accuracy = model.evaluate(x.astype(np.float32) / 255, y, verbose=0, return_dict=True)["accuracy"]
    assert lesioner.accuracy == pytest.approx(keras_accuracy, abs=0.5 / len(y))
    lesion = {1: list(range(0, 64, 2)), 3: list(range(20))}
    kernels = [k.copy() for k in weights.kernels]
    biases = [b.copy() for b in weights.biases]
    for layer, neurons in lesion.items():
        kernels[layer - 1][:, neurons] = 0
        biases[layer - 1][neurons] = 0
    dense = [layer for layer in model.layers if layer.get_weights()]
    for layer, kernel, bias in zip(dense, kernels, biases, strict=True):
        layer.set_weights([kernel, bias])
    lesioned = model.evaluate(x.astype(np.float32) / 255, y, verbose=0, return_dict=True)["accuracy"]
    assert lesioner.accuracies([lesion])[0] == pytest.approx(lesioned, abs=0.5 / len(y))
    assert lesioned < keras_accuracy


def test_every_type_has_a_colour_in_the_lesion_plot() -> None:
    assert list(LESION_TYPE_COLOURS) == list(TYPES)
