"""P2 section 4: clusterable initialization and the clusterability regularizer."""

from __future__ import annotations

import numpy as np
import pytest

from clusterability.errors import InputError
from clusterability.train.clusterable_init import balanced_tags, clusterable_kernels, hidden_chain
from clusterability.train.config import TrainConfig
from clusterability.train.regularizer import (
    INPUT_NORM,
    eigenvalue_sum,
    laplacian_eigenpairs,
    normalize_input_norms,
    penalty_scale,
)


def _mlp(sizes, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(a, b)).astype(dtype) for a, b in zip(sizes, sizes[1:])]


def _dense_laplacian(kernels):
    """L_sym of the MLP's graph restricted to connected nodes, built as a dense matrix (reference)."""
    sizes = [kernels[0].shape[0]] + [k.shape[1] for k in kernels]
    off = np.concatenate([[0], np.cumsum(sizes)])
    a = np.zeros((off[-1], off[-1]))
    for layer, w in enumerate(kernels):
        a[off[layer] : off[layer + 1], off[layer + 1] : off[layer + 2]] = np.abs(w)
    a = a + a.T
    d = a.sum(axis=1)
    keep = d > 0
    a, d = a[np.ix_(keep, keep)], d[keep]
    return np.eye(len(d)) - a / np.sqrt(np.outer(d, d)), keep


# -- clusterable initialization ------------------------------------------------


@pytest.mark.parametrize("width", [64, 256, 7])
def test_tags_are_balanced(width: int) -> None:
    counts = np.bincount(balanced_tags(width, 10, np.random.default_rng(1)), minlength=10)
    assert counts.sum() == width and counts.max() - counts.min() <= 1


@pytest.mark.parametrize("beta", [0.6, 0.8])
def test_clusterable_init_keeps_each_layers_mean_abs_weight(beta: float) -> None:
    rng = np.random.default_rng(2)
    kernels = [rng.uniform(-1, 1, size=(256, 256)).astype(np.float32) for _ in range(3)]
    kernels.append(rng.uniform(-1, 1, size=(3, 3, 256, 64)).astype(np.float32))  # a convolution's shape
    new, tags = clusterable_kernels(kernels, 10, beta, np.random.default_rng(3))
    assert len(tags) == 5 and [len(t) for t in tags] == [256, 256, 256, 256, 64]
    same_factor = 1 + (1 - beta) * 9
    for i, (before, after) in enumerate(zip(kernels, new)):
        assert after.dtype == before.dtype and after.shape == before.shape
        np.testing.assert_allclose(np.abs(after).mean(), np.abs(before).mean(), rtol=1e-5)
        same = tags[i][:, None] == tags[i + 1][None, :]
        ratio = np.abs(after) / np.abs(before)  # the factor times the layer's common correction
        np.testing.assert_allclose(ratio[..., same].mean() / ratio[..., ~same].mean(), same_factor / beta, rtol=1e-4)
        assert abs(ratio[..., ~same].mean() / beta - 1) < 0.05  # the correction is small


def test_clusterable_init_makes_a_network_more_clusterable() -> None:
    from clusterability.core.build import network_graph
    from clusterability.core.measure import cluster_network
    from clusterability.core.network import NetworkWeights

    kernels = _mlp([784, 256, 256, 256, 256, 10], seed=4, dtype=np.float32)
    inner, _ = clusterable_kernels(kernels[1:-1], 10, 0.6, np.random.default_rng(5))
    ncuts = []
    for ks in (kernels, [kernels[0], *inner, kernels[-1]]):
        graph = network_graph(NetworkWeights(kernels=ks, biases=[None] * len(ks)))
        ncuts.append(cluster_network(graph, 12, seed=0).ncut)
    assert ncuts[1] < ncuts[0] - 0.2, ncuts


def test_hidden_chain_and_bad_arguments() -> None:
    assert list(hidden_chain("mlp", 5, 0)) == [1, 2, 3, 4]  # the output layer too (the authors' code)
    assert list(hidden_chain("small_cnn", 5, 3)) == [1, 2]
    with pytest.raises(InputError, match="beta"):
        clusterable_kernels(_mlp([4, 4, 4]), 10, 1.5, np.random.default_rng(0))
    with pytest.raises(InputError, match="kernel 1 takes 3 inputs"):
        clusterable_kernels([np.ones((4, 4)), np.ones((3, 2))], 10, 0.6, np.random.default_rng(0))


# -- the regularizer -------------------------------------------------------------


@pytest.mark.parametrize("sizes", [[49, 64, 64, 64, 10], [20, 7, 9, 5], [5, 30, 8], [30, 12, 40, 6]])
def test_eigenpairs_match_a_dense_eigendecomposition(sizes: list[int]) -> None:
    kernels = _mlp(sizes, seed=len(sizes))
    kernels[0][3, :] = 0  # input 3 is isolated
    laplacian, keep = _dense_laplacian(kernels)
    values, vectors = laplacian_eigenpairs(kernels, 4)
    np.testing.assert_allclose(values, np.linalg.eigvalsh(laplacian)[:4], atol=1e-10)
    assert np.all(vectors[~keep] == 0)
    u = vectors[keep]
    np.testing.assert_allclose(u.T @ u, np.eye(4), atol=1e-10)
    np.testing.assert_allclose(laplacian @ u, u * values, atol=1e-9)


@pytest.mark.tf
def test_penalty_gradient_matches_finite_differences() -> None:
    """The TensorFlow penalty with the current eigenvectors held constant: the eigenvalue sum and its gradient."""
    tf = pytest.importorskip("tensorflow")
    from clusterability.train.regularizer import eigenvalue_penalty

    kernels = _mlp([6, 8, 7, 5], seed=7)
    kernels[1][2, 3] = 0.0  # a pruned weight: no gradient
    sizes = [6, 8, 7, 5]
    k = 4
    values, vectors = laplacian_eigenpairs(kernels, k)
    variables = [tf.Variable(w) for w in kernels]
    with tf.GradientTape() as tape:
        penalty = eigenvalue_penalty(tf, variables, vectors[:, 1:], sizes)
    grads = [g.numpy() for g in tape.gradient(penalty, variables)]
    assert float(penalty) == pytest.approx(values[1:].sum(), abs=1e-12)

    def dense_sum(ks):
        laplacian, _ = _dense_laplacian(ks)
        return float(np.sum(np.linalg.eigvalsh(laplacian)[1:k]))

    assert eigenvalue_sum(kernels, k) == pytest.approx(dense_sum(kernels), abs=1e-12)
    eps = 1e-6
    for layer, kernel in enumerate(kernels):
        for index in np.ndindex(kernel.shape):
            if kernel[index] == 0:
                assert grads[layer][index] == 0
                continue
            plus = [w.copy() for w in kernels]
            minus = [w.copy() for w in kernels]
            plus[layer][index] += eps
            minus[layer][index] -= eps
            numeric = (dense_sum(plus) - dense_sum(minus)) / (2 * eps)
            assert grads[layer][index] == pytest.approx(numeric, abs=1e-6), (layer, index)


def test_normalization_is_algorithm_2_and_keeps_the_function() -> None:
    rng = np.random.default_rng(8)
    kernels = _mlp([10, 16, 16, 4], seed=9)
    biases = [rng.normal(size=k.shape[1]) for k in kernels]
    kernels[0][:, 5] = 0
    biases[0][5] = 0  # a dead neuron: its outgoing weights become 0
    x = rng.normal(size=(50, 10))

    def forward(ks, bs):
        h = x
        for i, (w, b) in enumerate(zip(ks, bs)):
            h = h @ w + b
            if i < len(ks) - 1:
                h = np.maximum(h, 0)
        return h

    new_k, new_b = normalize_input_norms(kernels, biases)
    np.testing.assert_allclose(forward(new_k, new_b), forward(kernels, biases), atol=1e-10)
    for w, b in zip(new_k[:-1], new_b[:-1]):
        norms = np.sqrt((w**2).sum(axis=0) + b**2)
        alive = norms > 0
        np.testing.assert_allclose(norms[alive], INPUT_NORM)
    assert np.all(new_k[1][5] == 0)
    np.testing.assert_array_equal(new_b[-1], biases[-1])  # the output layer is not normalized


def test_projection_keeps_the_next_layer_and_bounds_every_layer() -> None:
    """normalization="projection": the input norms are sqrt(2) as in Algorithm 2, the next layer is untouched."""
    rng = np.random.default_rng(10)
    kernels = _mlp([10, 16, 16, 4], seed=11)
    biases = [rng.normal(size=k.shape[1]) for k in kernels]
    projected, projected_biases = normalize_input_norms(kernels, biases, "projection")
    compensated, _ = normalize_input_norms(kernels, biases)
    for w, b in zip(projected[:-1], projected_biases[:-1]):
        np.testing.assert_allclose(np.sqrt((w**2).sum(axis=0) + b**2), INPUT_NORM)
    np.testing.assert_allclose(projected[0], compensated[0])  # the first layer alike: nothing before it rescales
    np.testing.assert_array_equal(projected[-1], kernels[-1])  # the output layer keeps its weights
    assert not np.allclose(compensated[-1], kernels[-1])  # Algorithm 2 moves the scale into it
    with pytest.raises(InputError, match="normalization must be one of algorithm2, projection"):
        normalize_input_norms(kernels, biases, "batch")


def test_train_config_fields_of_section_4() -> None:
    assert "init_tags" not in TrainConfig().to_dict() and "regularizer_weight" not in TrainConfig().to_dict()
    assert TrainConfig(regularizer_weight=0.1).to_dict()["regularizer_weight"] == 0.1
    with pytest.raises(InputError, match="regularizer.*for MLPs"):
        TrainConfig(architecture="small_cnn", widths=(8,), regularizer_weight=0.1)
    with pytest.raises(InputError, match="init_beta"):
        TrainConfig(init_tags=10, init_beta=0.0)
    assert "regularizer_normalization" not in TrainConfig(regularizer_weight=0.1).to_dict()
    config = TrainConfig(regularizer_weight=0.1, regularizer_normalization="projection")
    assert config.to_dict()["regularizer_normalization"] == "projection"
    with pytest.raises(InputError, match="regularizer_normalization must be algorithm2"):
        TrainConfig(regularizer_weight=0.1, regularizer_normalization="batch")


def test_the_weight_is_shared_by_the_eigenvalues() -> None:
    """P2 4.1's weight 0.1 on eigenvalues 2-4 is, as in the authors' code, 0.1 / 3 on their sum (0.1 on their mean)."""
    assert penalty_scale(0.1, 4) == pytest.approx(0.1 / 3)
    assert penalty_scale(0.1, 2) == pytest.approx(0.1)  # one eigenvalue: the weight itself
    assert penalty_scale(0.0, 12) == 0.0
    with pytest.raises(InputError, match="k must be an integer >= 2"):
        penalty_scale(0.1, 1)  # hostile: no eigenvalue to regularize


@pytest.mark.tf
def test_the_loss_gets_the_weight_times_the_mean_eigenvalue() -> None:
    pytest.importorskip("tensorflow_model_optimization")
    from clusterability.train.models import build_model
    from clusterability.train.regularizer import attach_regularizer
    from clusterability.train.runtime import import_tf

    tf, keras, _ = import_tf(threads=1, seed=0)
    model = build_model("mlp", input_shape=(3, 3), widths=(8, 8), n_classes=4, seed=0)
    callback = attach_regularizer(tf, keras, model, 0.3, 4)
    callback.on_epoch_begin(0)
    callback.on_train_batch_begin(0)  # the eigenvectors of the current weights
    kernels = [layer.kernel.numpy() for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    mean = eigenvalue_sum(kernels, 4) / 3
    assert float(tf.add_n(model.losses)) == pytest.approx(0.3 * mean, rel=1e-4)


@pytest.mark.tf
def test_weights_that_are_no_longer_finite_stop_training_with_one_line() -> None:
    pytest.importorskip("tensorflow_model_optimization")
    from clusterability.train.models import build_model
    from clusterability.train.regularizer import attach_regularizer
    from clusterability.train.runtime import import_tf

    tf, keras, _ = import_tf(threads=1, seed=0)
    model = build_model("mlp", input_shape=(3, 3), widths=(8, 8), n_classes=4, seed=0)
    callback = attach_regularizer(tf, keras, model, 0.1, 3)
    callback.on_epoch_begin(0)
    callback.on_train_batch_begin(0)  # finite: eigenvectors computed, the output scale recorded
    assert callback.eigenvalue_sums and callback.output_scales
    model.layers[-1].kernel.assign(np.full(model.layers[-1].kernel.shape, np.inf, dtype=np.float32))
    with pytest.raises(InputError, match="no longer finite after 0 steps .* try normalization: projection"):
        callback.on_train_batch_begin(1)


@pytest.mark.tf
def test_regularized_training_lowers_the_eigenvalues_and_keeps_input_norms(tmp_path) -> None:
    pytest.importorskip("tensorflow_model_optimization")
    from clusterability.io.npz import load_weights
    from clusterability.train.training import train_and_prune

    rng = np.random.default_rng(0)
    data = {}
    for split, n in (("train", 512), ("val", 64), ("test", 64)):
        x = rng.integers(0, 256, size=(n, 7, 7), dtype=np.uint8)
        data[f"x_{split}"] = x
        data[f"y_{split}"] = (x[:, :2, :].mean(axis=(1, 2)) // 26).astype(np.int64) % 10
    sums = {}
    for weight in (0.0, 3.0):
        config = TrainConfig(
            epochs=3, prune_epochs=1, batch_size=32, learning_rate=0.01, widths=(16, 16, 16), regularizer_weight=weight
        )
        metrics = train_and_prune(
            data, config, seed=3, threads=1, out_weights_unpruned=tmp_path / f"u{weight}.npz", out_metrics=None
        )
        unpruned = load_weights(tmp_path / f"u{weight}.npz")
        sums[weight] = eigenvalue_sum(unpruned.kernels, 4)
        if weight:
            recorded = metrics["regularizer_eigenvalue_sums"]
            assert set(recorded) == {"train", "prune"} and len(recorded["train"]) == 3 + 1
            assert recorded["train"][-1] == pytest.approx(sums[weight], rel=1e-4)
            for w, b in zip(unpruned.kernels[:-1], unpruned.biases[:-1]):
                np.testing.assert_allclose(np.sqrt((w**2).sum(axis=0) + b**2), INPUT_NORM, rtol=1e-4)
        else:
            assert "regularizer_eigenvalue_sums" not in metrics
    assert sums[3.0] < sums[0.0] - 0.2, sums


@pytest.mark.tf
def test_clusterable_init_in_training_changes_every_kernel_but_the_first(tmp_path) -> None:
    """The hidden layers' kernels and the output layer's, each output unit its own tag (the authors' code, which
    P2's Table A.13 comes from); the first kernel, from the inputs, as initialized."""
    pytest.importorskip("tensorflow_model_optimization")
    from clusterability.io.npz import load_weights
    from clusterability.train.training import train_and_prune

    rng = np.random.default_rng(1)
    data = {}
    for split, n in (("train", 64), ("val", 16), ("test", 16)):
        data[f"x_{split}"] = rng.integers(0, 256, size=(n, 7, 7), dtype=np.uint8)
        data[f"y_{split}"] = rng.integers(0, 10, size=n)
    kernels = {}
    for tags in (0, 10):
        config = TrainConfig(epochs=0, prune_epochs=0, widths=(40, 40, 40), init_tags=tags, init_beta=0.6)
        metrics = train_and_prune(data, config, seed=5, threads=1, out_weights_unpruned=tmp_path / f"{tags}.npz")
        kernels[tags] = load_weights(tmp_path / f"{tags}.npz").kernels
    assert metrics["clusterable_init_tag_counts"] == [[4] * 10] * 3 + [[1] * 10]
    for i, (plain, tagged) in enumerate(zip(kernels[0], kernels[10])):
        if i == 0:
            np.testing.assert_array_equal(plain, tagged)
        else:
            assert not np.array_equal(plain, tagged)
            np.testing.assert_allclose(np.abs(tagged).mean(), np.abs(plain).mean(), rtol=1e-5)
