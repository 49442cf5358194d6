"""The n-cut of a partition: hand-computed graphs, networkx's normalized_cut_size, degenerate clusters."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from planted import build_glorot_mlp

from clusterability.core.build import mlp_graph
from clusterability.core.layered_graph import LayeredGraph
from clusterability.core.measure import cluster_network
from clusterability.core.ncut import (
    DEGENERATE_MAX_CUT,
    DEGENERATE_MAX_SIZE,
    DEGENERATE_MAX_VOLUME,
    Degeneracy,
    cluster_cut_terms,
    degeneracy_of,
    ncut,
)
from clusterability.core.shuffles import shuffle_graph

# A 2+2 layered graph: a0-b0 (3), a0-b1 (1), a1-b1 (2).
# Degrees: a0 = 4, a1 = 2, b0 = 3, b1 = 3; node order a0, a1, b0, b1.
SMALL = LayeredGraph((np.array([[3.0, 1.0], [0.0, 2.0]]),))


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ([0, 1, 0, 1], 1 / 7 + 1 / 5),  # {a0,b0}: cut 1, vol 7; {a1,b1}: cut 1, vol 5
        ([0, 0, 1, 1], 6 / 6 + 6 / 6),  # layer against layer: every edge is cut
        ([0, 1, 0, 2], 1 / 7 + 2 / 2 + 3 / 3),  # singletons lose all their weight
        ([0, 0, 0, 0], 0.0),  # one cluster cuts nothing
        ([0, 1, 2, 3], 4.0),  # every node alone: each term is 1
        ([1, 0, 1, 0], 1 / 7 + 1 / 5),  # renaming clusters changes nothing
    ],
)
def test_hand_computed(labels: list[int], expected: float) -> None:
    labels = np.array(labels)
    for graph in (SMALL, SMALL.adjacency(), SMALL.adjacency().toarray()):
        assert ncut(graph, labels) == pytest.approx(expected, rel=1e-12)


def test_cut_terms_and_volumes_by_hand() -> None:
    terms, vol = cluster_cut_terms(SMALL, np.array([0, 1, 0, 1]))
    np.testing.assert_allclose(terms, [1 / 7, 1 / 5])
    np.testing.assert_allclose(vol, [7.0, 5.0])
    terms2, vol2 = cluster_cut_terms(SMALL.adjacency(), np.array([0, 1, 0, 1]))
    np.testing.assert_allclose(terms2, terms)
    np.testing.assert_allclose(vol2, vol)


def _random_graph(rng: np.random.Generator, n: int = 30, p: float = 0.3) -> np.ndarray:
    a = np.triu(rng.uniform(0.1, 2.0, (n, n)) * (rng.random((n, n)) < p), 1)
    return a + a.T


@pytest.mark.parametrize("seed", range(5))
def test_matches_networkx_normalized_cut_size_for_two_clusters(seed: int) -> None:
    # networkx: normalized_cut_size(G, S, T) = cut(S, T) * (1/vol(S) + 1/vol(T)), which is
    # exactly the papers' n-cut sum over the two clusters (no factor 1/2 either way).
    rng = np.random.default_rng(seed)
    a = _random_graph(rng)
    G = nx.from_numpy_array(a)
    labels = rng.integers(0, 2, a.shape[0])
    S = set(np.flatnonzero(labels == 0).tolist())
    T = set(np.flatnonzero(labels == 1).tolist())
    expected = nx.normalized_cut_size(G, S, T, weight="weight")
    assert ncut(a, labels) == pytest.approx(expected, rel=1e-10)
    assert ncut(sp.csr_matrix(a), labels) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("k", [3, 4, 7])
def test_matches_networkx_cut_and_volume_for_k_clusters(k: int) -> None:
    rng = np.random.default_rng(k)
    kernels = [rng.normal(size=(8, 6)), rng.normal(size=(6, 7)), rng.normal(size=(7, 3))]
    g = mlp_graph(kernels)
    G = nx.from_scipy_sparse_array(g.adjacency())
    labels = rng.integers(0, k, g.n_nodes)
    labels[:k] = np.arange(k)  # every cluster non-empty
    expected = 0.0
    for c in range(k):
        S = set(np.flatnonzero(labels == c).tolist())
        expected += nx.cut_size(G, S, weight="weight") / nx.volume(G, S, weight="weight")
    assert ncut(g, labels) == pytest.approx(expected, rel=1e-10)
    assert ncut(g.adjacency(), labels) == pytest.approx(expected, rel=1e-10)
    assert 0.0 <= expected <= k


def test_layered_and_sparse_routes_agree_with_unlabelled_nodes() -> None:
    rng = np.random.default_rng(7)
    g = mlp_graph([rng.normal(size=(20, 15)), rng.normal(size=(15, 10))])
    labels = rng.integers(-1, 4, g.n_nodes)  # some nodes left out (-1) although they have edges
    t1, v1 = cluster_cut_terms(g, labels)
    t2, v2 = cluster_cut_terms(g.adjacency(), labels)
    np.testing.assert_allclose(t1, t2, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(v1, v2, rtol=1e-12)
    # Volumes are the degree sums of each cluster's nodes.
    deg = g.degrees()
    np.testing.assert_allclose(v1, [deg[labels == c].sum() for c in range(4)])


def test_isolated_nodes_labelled_minus_one_are_ignored() -> None:
    k0 = np.array([[3.0, 1.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]])  # input 2 and hidden 2 isolated
    g = LayeredGraph((k0,))
    with_isolated = np.array([0, 1, -1, 0, 1, -1])
    assert ncut(g, with_isolated) == pytest.approx(1 / 7 + 1 / 5)
    assert ncut(g.adjacency(), with_isolated) == pytest.approx(1 / 7 + 1 / 5)


def test_zero_volume_cluster_contributes_nothing() -> None:
    g = LayeredGraph((np.array([[1.0, 0.0], [0.0, 0.0]]),))  # a1 and b1 isolated
    labels = np.array([0, 1, 0, 1])  # cluster 1 = {a1, b1}: volume 0
    terms, vol = cluster_cut_terms(g, labels)
    np.testing.assert_array_equal(vol, [2.0, 0.0])
    np.testing.assert_array_equal(terms, [0.0, 0.0])
    terms, vol = cluster_cut_terms(g.adjacency(), labels)
    np.testing.assert_array_equal(terms, [0.0, 0.0])


def test_label_count_must_match() -> None:
    with pytest.raises(ValueError):
        ncut(SMALL, np.array([0, 1, 0]))
    with pytest.raises(ValueError):
        ncut(SMALL.adjacency(), np.array([0, 1, 0]))


def test_all_unlabelled_gives_zero() -> None:
    assert ncut(SMALL, np.full(4, -1)) == 0.0
    assert ncut(SMALL.adjacency(), np.full(4, -1)) == 0.0


# --- degenerate clusters ----------------------------------------------------------


def _degeneracy(graph: LayeredGraph | sp.spmatrix, labels: np.ndarray) -> Degeneracy:
    """The degeneracy of the partition ``labels`` of ``graph``, from its cut terms and cluster sizes
    (what :func:`clusterability.core.measure.cluster_network` hands :func:`degeneracy_of`)."""
    terms, _ = cluster_cut_terms(graph, labels)
    return degeneracy_of(terms, np.bincount(labels[labels >= 0], minlength=terms.shape[0]))


def _two_block_graph(n: int = 64) -> tuple[LayeredGraph, np.ndarray]:
    """A 4-layer graph of two planted halves; returns it and the halves' labels."""
    rng = np.random.default_rng(0)
    groups = (np.arange(n) >= n // 2).astype(int)
    blocks = []
    for _ in range(3):
        same = groups[:, None] == groups[None, :]
        blocks.append(np.where(same, rng.uniform(0.5, 1.0, (n, n)), rng.uniform(0.0, 0.02, (n, n))))
    return LayeredGraph(tuple(blocks)), np.tile(groups, 4)


def test_balanced_modules_are_not_degenerate() -> None:
    g, labels = _two_block_graph()
    deg = _degeneracy(g, labels)
    assert not deg.degenerate and deg.clusters == () and deg.reason == ""


def _with_near_isolated_chain(g: LayeredGraph, labels: np.ndarray) -> tuple[LayeredGraph, np.ndarray]:
    """``g`` with a 3-neuron chain (node 0 of layers 0, 1, 2) tied to the rest by weights of 1e-4, as cluster 2."""
    blocks = [b.copy() for b in g.blocks]
    for l in (0, 1):
        blocks[l][0, :] = 1e-4
        blocks[l][:, 0] = 1e-4
        blocks[l][0, 0] = 1.0
    blocks[2][0, :] = 1e-4
    n = blocks[0].shape[0]
    labels = labels.copy()
    labels[[0, n, 2 * n]] = 2
    return LayeredGraph(tuple(blocks)), labels


def test_a_handful_of_near_isolated_neurons_is_degenerate() -> None:
    g, labels = _with_near_isolated_chain(*_two_block_graph())
    terms, _ = cluster_cut_terms(g, labels)
    assert terms[2] < 0.01  # it adds about 0 to the n-cut where an ordinary cluster adds about 1
    deg = _degeneracy(g, labels)
    assert deg.degenerate and deg.clusters == (2,)
    assert "cluster 2: 3 neurons" in deg.reason and "% of its weight leaves it" in deg.reason
    assert _degeneracy(g.adjacency(), labels) == deg  # the sparse route agrees


def test_small_clusters_whose_weight_leaves_them_are_ordinary() -> None:
    """k = 12 splits off clusters of 1-10 neurons in ordinary MLPs; most of their weight leaves them."""
    g, labels = _two_block_graph()
    labels = labels.copy()
    labels[[0, 64]] = 2  # an input and a first-layer neuron of one half: their weight goes to that half
    labels[100] = 3  # a singleton: cut term 1
    terms, _ = cluster_cut_terms(g, labels)
    assert terms[2] > 0.9 and terms[3] == 1.0
    assert not _degeneracy(g, labels).degenerate
    # A large cluster whose weight all leaves it (half of layer 1, no internal edge) is a poor cluster, not a
    # near-isolated one; and a planted half, nearly cut off but 128 neurons, is a module.
    labels = _two_block_graph()[1].copy()
    labels[64:96] = 2
    assert cluster_cut_terms(g, labels)[0][2] == pytest.approx(1.0)
    assert cluster_cut_terms(g, labels)[0][1] < 0.05
    assert not _degeneracy(g, labels).degenerate


def test_degeneracy_thresholds_are_a_fixed_size_and_cut_term() -> None:
    assert (DEGENERATE_MAX_SIZE, DEGENERATE_MAX_CUT) == (10, 0.1)
    sizes = np.array([10, 11, 3, 3, 0, 500])
    terms = np.array([0.05, 0.05, 0.1, 0.1001, 0.0, 0.01])
    deg = degeneracy_of(terms, sizes)
    assert deg.clusters == (0, 2)  # 11 neurons is no handful; the cut bound is inclusive; empty clusters are none
    assert degeneracy_of(terms, sizes, max_size=11).clusters == (0, 1, 2)
    assert degeneracy_of(terms, sizes, max_cut=0.2).clusters == (0, 2, 3)
    assert degeneracy_of(np.zeros(0), np.zeros(0, dtype=int)) == Degeneracy(False, (), "")


def test_paper_mlps_at_k12_are_flagged_only_when_neurons_are_cut_off(paper_mlp_kernels: list[np.ndarray]) -> None:
    """A 784-256x4-10 Glorot MLP at k = 12 (whose clusters include 1- and 2-neuron ones) is not degenerate;
    the same MLP with three neurons nearly disconnected (a chain input -> hidden 1 -> hidden 2) is."""
    graph = mlp_graph(paper_mlp_kernels)
    clustering = cluster_network(graph, 12, seed=0)
    assert clustering.cluster_sizes.min() <= 10 and not clustering.degeneracy.degenerate
    kernels = [k.copy() for k in paper_mlp_kernels]
    for l in (0, 1):
        kernels[l][0, :] *= 1e-4
        kernels[l][:, 0] *= 1e-4
        kernels[l][0, 0] = 1.0
    kernels[2][0, :] *= 1e-4
    cut_off = cluster_network(mlp_graph(kernels), 12, seed=0)
    assert cut_off.degeneracy.degenerate
    (cluster,) = cut_off.degeneracy.clusters
    assert cut_off.cluster_sizes[cluster] == 3 and cut_off.ncut < clustering.ncut - 0.5


def test_degeneracy_ignores_unlabelled_nodes() -> None:
    """Isolated neurons (labelled -1) belong to no cluster: they make none of the clusters a handful."""
    g, _ = _two_block_graph()
    blocks = [b.copy() for b in g.blocks]
    blocks[0][:3, :] = 0.0  # three inputs without any weight
    clustering = cluster_network(LayeredGraph(tuple(blocks)), 2, seed=0)
    assert (clustering.labels[:3] == -1).all() and (clustering.labels[3:] >= 0).all()
    assert sorted(clustering.cluster_sizes.tolist()) == [128 - 3, 128]  # the planted halves
    assert not clustering.degeneracy.degenerate


def test_collect_shuffles_takes_the_first_n_from_any_chunks() -> None:
    from clusterability.core.statistics import collect_shuffles
    from clusterability.errors import InputError

    chunks = [
        ("c1.json", {"method": "layer", "seed": 7, "k": 4, "indices": [2, 3], "ncuts": [2.2, 2.3]}),
        ("c0.json", {"method": "layer", "seed": 7, "k": 4, "indices": [0, 1], "ncuts": [2.0, 2.1]}),
    ]
    assert collect_shuffles(chunks, method="layer", seed=7, k=4, n_shuffles=3).tolist() == [2.0, 2.1, 2.2]
    with pytest.raises(InputError, match="shuffle 4 of 5 is in none of the chunks"):
        collect_shuffles(chunks, method="layer", seed=7, k=4, n_shuffles=5)
    with pytest.raises(InputError, match="c1.json: shuffle chunk of another network"):
        collect_shuffles(chunks, method="layer", seed=8, k=4, n_shuffles=2)


def test_a_shuffles_entries_give_the_cut_of_its_blocks() -> None:
    """A pruned network's shuffle measures its n-cut from its non-zero entries: the same terms and volumes as
    the dense blocks give (row sums first, as the blocks' products with the cluster indicators)."""
    kernels = [np.where(np.abs(w) > np.quantile(np.abs(w), 0.85), w, 0) for w in build_glorot_mlp((300, 200, 100, 10))]
    shuffled = shuffle_graph(mlp_graph(kernels), "layer", np.random.default_rng(4))
    assert shuffled.entries() is not None
    dense = LayeredGraph(tuple(shuffled.blocks))
    rng = np.random.default_rng(0)
    for k in (1, 4, 12):
        labels = rng.integers(-1, k, size=dense.n_nodes)
        terms, volumes = cluster_cut_terms(shuffled, labels)
        expected_terms, expected_volumes = cluster_cut_terms(dense, labels)
        np.testing.assert_allclose(terms, expected_terms, rtol=1e-14, atol=1e-15)
        np.testing.assert_array_equal(volumes, expected_volumes)
        assert ncut(shuffled, labels) == pytest.approx(ncut(dense, labels), rel=1e-14)


def test_neurons_with_negligible_weights_are_degenerate_whatever_their_size(
    paper_mlp_kernels: list[np.ndarray],
) -> None:
    """A dead neuron of an L2 network keeps weights near 1e-31: all its weight leaves it (cut term about 1), but
    it carries none of the network's; k = 12 splits such neurons off (P2 section 2's near-isolated groups)."""
    kernels = [k.copy() for k in paper_mlp_kernels]
    dead = np.arange(20)  # 20 neurons of the first hidden layer, more than a handful
    kernels[0][:, dead] *= 1e-30
    kernels[1][dead, :] *= 1e-30
    clustering = cluster_network(mlp_graph(kernels), 12, seed=0)
    assert clustering.degeneracy.degenerate
    flagged = list(clustering.degeneracy.clusters)
    members = np.flatnonzero(np.isin(clustering.labels, flagged))
    assert set(members) <= set(784 + dead)  # the flagged clusters are dead neurons, and only those
    assert clustering.cut_terms[flagged].min() > 0.9  # their weight leaves them: the cut-term rule alone misses them
    assert "of the network's edge weight" in clustering.degeneracy.reason
    # The volume rule by itself: shares at or below 1e-6 of the total, inclusive; overflowing volumes flag nothing.
    assert DEGENERATE_MAX_VOLUME == 1e-6
    terms, sizes = np.array([1.0, 1.0, 0.9]), np.array([30, 1, 500])
    volumes = np.array([1e-6, 2e-6, 1.0 - 3e-6])
    assert degeneracy_of(terms, sizes, volumes).clusters == (0,)
    assert degeneracy_of(terms, sizes, volumes, max_volume=2e-6).clusters == (0, 1)
    assert not degeneracy_of(terms, sizes, np.array([np.inf, 1.0, 1.0])).degenerate
    assert not degeneracy_of(terms, sizes, np.zeros(3)).degenerate
