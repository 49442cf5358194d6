"""Graphs of networks: MLP neurons with |W| edges; CNN channels with kernel-slice norms and folded batch norm."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from clusterability.core.build import cnn_graph, conv_slice_norms, mlp_graph, network_graph
from clusterability.core.layered_graph import BlockEntries, LayeredGraph
from clusterability.core.network import BatchNorm, NetworkWeights
from clusterability.errors import InputError

# --- MLP graphs -------------------------------------------------------------------


def test_mlp_graph_nodes_and_edges() -> None:
    rng = np.random.default_rng(0)
    kernels = [rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(3, 2)).astype(np.float32)]
    g = mlp_graph(kernels)
    assert g.layer_sizes == (4, 3, 2)
    assert g.n_nodes == 9
    np.testing.assert_array_equal(g.layer_offsets(), [0, 4, 7, 9])
    np.testing.assert_array_equal(g.node_layers(), [0, 0, 0, 0, 1, 1, 1, 2, 2])
    for block, kernel in zip(g.blocks, kernels):
        assert block.dtype == np.float64
        np.testing.assert_array_equal(block, np.abs(kernel.astype(np.float64)))

    a = g.adjacency().toarray()
    expected = np.zeros((9, 9))
    expected[0:4, 4:7] = np.abs(kernels[0])
    expected[4:7, 7:9] = np.abs(kernels[1])
    expected += expected.T
    np.testing.assert_array_equal(a, expected)
    # Degrees are the weighted row sums of the adjacency, per layer and overall.
    np.testing.assert_allclose(g.degrees(), a.sum(axis=1))
    for deg, (lo, hi) in zip(g.layer_degrees(), zip(g.layer_offsets()[:-1], g.layer_offsets()[1:])):
        np.testing.assert_allclose(deg, a[lo:hi].sum(axis=1))


def test_mlp_graph_ignores_biases_and_signs() -> None:
    rng = np.random.default_rng(1)
    kernels = (rng.normal(size=(5, 4)), rng.normal(size=(4, 3)))
    with_bias = NetworkWeights(kernels, biases=(rng.normal(size=4) * 100, rng.normal(size=3) * 100))
    flipped = NetworkWeights(tuple(-k for k in kernels))
    g1, g2, g3 = network_graph(with_bias), network_graph(NetworkWeights(kernels)), network_graph(flipped)
    for a, b, c in zip(g1.blocks, g2.blocks, g3.blocks):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_zero_weights_give_no_edges_and_isolated_neurons_have_degree_zero() -> None:
    k0 = np.ones((3, 4))
    k1 = np.ones((4, 2))
    k0[:, 1] = 0.0  # hidden neuron 1 has no input ...
    k1[1, :] = 0.0  # ... and no output: isolated
    k0[2, :] = 0.0  # input 2 has no outgoing weights: isolated
    g = mlp_graph([k0, k1])
    deg = g.degrees()
    np.testing.assert_array_equal(np.flatnonzero(deg == 0), [2, 4])
    assert g.adjacency().nnz == 2 * (np.count_nonzero(k0) + np.count_nonzero(k1))


def test_mlp_graph_rejects_conv_kernels() -> None:
    with pytest.raises(InputError):
        mlp_graph([np.ones((3, 3, 2, 4))])


def test_layered_graph_validation() -> None:
    with pytest.raises(InputError):
        LayeredGraph(())
    with pytest.raises(InputError):
        LayeredGraph((np.ones((2, 3)), np.ones((4, 2))))  # does not chain
    with pytest.raises(InputError):
        LayeredGraph((-np.ones((2, 3)),))  # negative weights
    with pytest.raises(InputError):
        LayeredGraph((np.full((2, 3), np.nan),))
    g = LayeredGraph((np.ones((2, 3)), np.ones((3, 1))))
    g2 = g.with_blocks([np.zeros((2, 3)), np.full((3, 1), 2.0)])
    assert g2.layer_sizes == g.layer_sizes
    with pytest.raises(InputError):
        g.with_blocks([np.zeros((2, 3)), -np.ones((3, 1))])


def test_adjacency_has_only_adjacent_layer_edges(paper_mlp_kernels: list[np.ndarray]) -> None:
    g = mlp_graph(paper_mlp_kernels)
    a = g.adjacency().tocoo()
    layers = g.node_layers()
    assert g.n_nodes == 784 + 4 * 256 + 10
    assert np.all(np.abs(layers[a.row] - layers[a.col]) == 1)
    assert abs(a - a.T).max() == 0
    np.testing.assert_allclose(np.asarray(g.adjacency().sum(axis=1)).ravel(), g.degrees(), rtol=1e-12)


# --- CNN graphs -------------------------------------------------------------------


def _cnn(rng: np.random.Generator, channels=(3, 4, 5, 6), dense_out=10) -> list[np.ndarray]:
    """Kernels of a CNN: convs with the given channel counts (input first), then one dense layer."""
    kernels = [rng.normal(size=(3, 3, cin, cout)) for cin, cout in itertools.pairwise(channels)]
    kernels.append(rng.normal(size=(7 * channels[-1], dense_out)))
    return kernels


def _slice_norms_by_hand(kernel: np.ndarray, norm: str) -> np.ndarray:
    out = np.zeros(kernel.shape[2:])
    for i in range(kernel.shape[2]):
        for o in range(kernel.shape[3]):
            s = kernel[:, :, i, o]
            out[i, o] = np.abs(s).sum() if norm == "l1" else np.sqrt((s**2).sum())
    return out


def test_conv_slice_norms_by_hand() -> None:
    kernel = np.zeros((2, 2, 1, 2))
    kernel[:, :, 0, 0] = [[1.0, -2.0], [3.0, -4.0]]
    kernel[:, :, 0, 1] = [[0.0, 3.0], [-4.0, 0.0]]
    np.testing.assert_allclose(conv_slice_norms(kernel, "l1"), [[10.0, 7.0]])
    np.testing.assert_allclose(conv_slice_norms(kernel, "l2"), [[np.sqrt(30.0), 5.0]])
    # Not the matrix 1-norm of the slice (max column sum), the original code's mistake.
    assert conv_slice_norms(kernel, "l1")[0, 0] != np.linalg.norm(kernel[:, :, 0, 0], 1)
    with pytest.raises(InputError):
        conv_slice_norms(kernel, "max")


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_cnn_graph_channels_and_slice_norms(norm: str) -> None:
    rng = np.random.default_rng(2)
    kernels = _cnn(rng)
    g = cnn_graph(NetworkWeights(tuple(kernels)), norm=norm)
    # Nodes: the output channels of the three convs (4, 5, 6); no input layer (3 channels), no dense layer.
    assert g.layer_sizes == (4, 5, 6)
    assert len(g.blocks) == 2
    np.testing.assert_allclose(g.blocks[0], _slice_norms_by_hand(kernels[1], norm), rtol=1e-12)
    np.testing.assert_allclose(g.blocks[1], _slice_norms_by_hand(kernels[2], norm), rtol=1e-12)


def test_cnn_graph_ignores_first_conv_and_dense_layers() -> None:
    rng = np.random.default_rng(3)
    kernels = _cnn(rng)
    other = list(kernels)
    other[0] = rng.normal(size=kernels[0].shape) * 50  # first conv: input -> first hidden layer
    other[3] = rng.normal(size=kernels[3].shape) * 50  # dense layer after the convs
    g1 = cnn_graph(NetworkWeights(tuple(kernels)))
    g2 = cnn_graph(NetworkWeights(tuple(other)))
    for a, b in zip(g1.blocks, g2.blocks):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_cnn_batch_norm_scales_output_channels_of_the_conv_it_follows(norm: str) -> None:
    rng = np.random.default_rng(4)
    kernels = tuple(_cnn(rng))
    plain = cnn_graph(NetworkWeights(kernels), norm=norm)

    def bn(n: int) -> BatchNorm:
        gamma = rng.uniform(0.2, 3.0, n) * rng.choice([-1.0, 1.0], n)  # negative gammas too
        return BatchNorm(gamma, rng.uniform(0.1, 4.0, n), 1e-3, rng.normal(size=n), rng.normal(size=n))

    bn0, bn1, bn2 = bn(4), bn(5), bn(6)
    folded = cnn_graph(NetworkWeights(kernels, batch_norms=(bn0, bn1, bn2, None)), norm=norm)
    s1 = np.abs(bn1.gamma) / np.sqrt(bn1.moving_variance + 1e-3)
    s2 = np.abs(bn2.gamma) / np.sqrt(bn2.moving_variance + 1e-3)
    # BN after conv l multiplies conv l's slices into output channel o: column o of block l-1.
    np.testing.assert_allclose(folded.blocks[0], plain.blocks[0] * s1[None, :], rtol=1e-12)
    np.testing.assert_allclose(folded.blocks[1], plain.blocks[1] * s2[None, :], rtol=1e-12)
    # Folding by hand into the kernels gives the same graph.
    by_hand = (
        kernels[0],
        kernels[1] * (bn1.gamma / np.sqrt(bn1.moving_variance + 1e-3)),
        kernels[2] * (bn2.gamma / np.sqrt(bn2.moving_variance + 1e-3)),
        kernels[3],
    )
    for a, b in zip(folded.blocks, cnn_graph(NetworkWeights(by_hand), norm=norm).blocks):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    # BN after the first conv acts on edges from the (excluded) input layer only.
    only_bn0 = cnn_graph(NetworkWeights(kernels, batch_norms=(bn0, None, None, None)), norm=norm)
    for a, b in zip(only_bn0.blocks, plain.blocks):
        np.testing.assert_array_equal(a, b)


def test_cnn_graph_needs_two_leading_convs() -> None:
    rng = np.random.default_rng(5)
    one_conv = NetworkWeights((rng.normal(size=(3, 3, 1, 4)), rng.normal(size=(36, 10)), rng.normal(size=(10, 3))))
    with pytest.raises(InputError, match="two convolution"):
        cnn_graph(one_conv)
    with pytest.raises(InputError):
        network_graph(one_conv)


def test_network_graph_dispatch() -> None:
    rng = np.random.default_rng(6)
    mlp = NetworkWeights((rng.normal(size=(6, 5)), rng.normal(size=(5, 2))))
    assert network_graph(mlp).layer_sizes == (6, 5, 2)
    cnn = NetworkWeights(tuple(_cnn(rng, channels=(1, 8, 8))))
    g_l1, g_l2 = network_graph(cnn), network_graph(cnn, norm="l2")
    assert g_l1.layer_sizes == (8, 8)
    # For any slice, L2 <= L1 <= sqrt(9) * L2 (nine entries per 3x3 slice).
    assert np.all(g_l2.blocks[0] <= g_l1.blocks[0] + 1e-12)
    assert np.all(g_l1.blocks[0] <= 3 * g_l2.blocks[0] + 1e-12)


# --- what a graph derives from its blocks ----------------------------------------------


def test_a_graph_derives_degrees_and_kept_neurons_once_and_hands_them_out_read_only() -> None:
    blocks = (np.array([[1.0, 0.0], [0.0, 0.0], [2.0, 3.0]]), np.array([[0.0], [4.0]]))
    g = LayeredGraph(blocks)
    first = g.layer_degrees()
    assert [d.tolist() for d in first] == [[1.0, 0.0, 5.0], [3.0, 7.0], [4.0]]
    assert all(a is b for a, b in zip(first, g.layer_degrees(), strict=True))  # derived once
    with pytest.raises(ValueError, match="read-only"):
        first[0][0] = 9.0
    assert [(r.tolist(), c.tolist()) for r, c in g.kept_blocks()] == [([0, 2], [0, 1]), ([0, 1], [0])]
    assert g.degrees().flags.writeable  # a fresh array each time
    calls = []
    assert g.cached("x", lambda: calls.append(1) or 42) == 42 and g.cached("x", lambda: calls.append(1)) == 42
    assert calls == [1]
    assert g.entries() is None  # only a shuffle records the non-zero entries


def test_a_graph_held_as_its_entries_builds_the_same_blocks() -> None:
    blocks = (np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0]]), np.array([[0.0], [3.0], [0.5]]))
    dense = LayeredGraph(blocks)
    indptr = np.array([0, 2, 2, 2, 2, 3, 4])  # per block its rows' pointers: block 1's begin where block 0's end
    entries = BlockEntries(
        indptr, np.array([0, 2, 0, 0], dtype=np.int32), np.array([1.0, 2.0, 3.0, 0.5]), np.array([0, 3, 7])
    )
    g = LayeredGraph.from_entries(
        np.array([[2, 3], [3, 1]]), entries, scale_exponent=0, layer_degrees=[d.copy() for d in dense.layer_degrees()]
    )
    assert g.layer_sizes == (2, 3, 1) and g.n_nodes == 6 and g.entries() is entries
    for l in range(2):
        np.testing.assert_array_equal(entries.block(l)[0], [[0, 2, 2], [0, 0, 1, 2]][l])
    for a, b in zip(g.blocks, blocks, strict=True):
        assert a.tobytes() == b.tobytes() and a.shape == b.shape
    assert g.blocks is g.blocks  # built once
    labels = np.array([0, 1, 0, 1, 1, 0])
    for a, b in zip(g.cut_terms(labels), dense.cut_terms(labels), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(g.adjacency().toarray(), dense.adjacency().toarray())
