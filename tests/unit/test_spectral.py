"""Normalized spectral clustering: planted modules, eigenvectors, fast vs scikit-learn, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from planted import PAPER_WIDTHS, build_glorot_mlp, build_planted_mlp, same_partition

from clusterability.core import spectral
from clusterability.core.build import mlp_graph
from clusterability.core.layered_graph import LayeredGraph
from clusterability.core.measure import cluster_network
from clusterability.core.ncut import ncut
from clusterability.core.shuffles import shuffle_graph
from clusterability.core.spectral import SOLVERS, spectral_clusters, spectral_embedding
from clusterability.errors import InputError

# (150, 150, 150, 150) puts 300 nodes on each side of the bipartite graph: the Gram-matrix
# shortcut of the fast solver; (20, 20, 20, 20) takes the dense route.
SMALL_WIDTHS = (20, 20, 20, 20)
GRAM_WIDTHS = (150, 150, 150, 150)


def _pruned(kernels: list[np.ndarray], keep: float) -> list[np.ndarray]:
    """Magnitude pruning: keep the top ``keep`` fraction of each kernel's entries."""
    return [np.where(np.abs(k) >= np.quantile(np.abs(k), 1 - keep), k, 0).astype(k.dtype) for k in kernels]


def test_shortcut_routes_are_the_ones_intended() -> None:
    rng = np.random.default_rng(0)
    small = mlp_graph(build_planted_mlp(SMALL_WIDTHS, 4)[0])
    gram = mlp_graph(build_planted_mlp(GRAM_WIDTHS, 4)[0])
    assert spectral._layered_embedding(small, 4, rng) is None
    assert spectral._layered_embedding(gram, 4, rng) is not None


@pytest.mark.parametrize("widths", [SMALL_WIDTHS, GRAM_WIDTHS, (100, 60, 60, 60, 30)])
@pytest.mark.parametrize("solver", SOLVERS)
def test_planted_modules_are_recovered(widths: tuple[int, ...], solver: str) -> None:
    kernels, modules = build_planted_mlp(widths, 4, seed=1)
    g = mlp_graph(kernels)
    labels = spectral_clusters(g, 4, seed=0, solver=solver)
    assert same_partition(labels, modules)
    assert ncut(g, labels) == pytest.approx(ncut(g, modules), rel=1e-12)
    assert ncut(g, labels) < 0.3


@pytest.mark.parametrize("widths", [(60, 40, 40, 30), GRAM_WIDTHS])
def test_embedding_holds_the_k_smallest_eigenvectors_of_L_rw(widths: tuple[int, ...]) -> None:
    # (D - A) x = lambda D x for each column, with the k smallest lambdas of the normalized Laplacian.
    g = mlp_graph(build_planted_mlp(widths, 4, seed=3, weak=0.1)[0])
    k = 4
    x = spectral_embedding(g, k, rng=np.random.default_rng(0))
    a = g.adjacency().toarray()
    d = a.sum(axis=1)
    assert x.shape == (g.n_nodes, k)
    lam = 1.0 - np.einsum("ij,ij->j", x, a @ x) / np.einsum("ij,ij->j", x, d[:, None] * x)
    residual = np.linalg.norm(a @ x - (1.0 - lam) * d[:, None] * x, axis=0) / np.linalg.norm(d[:, None] * x, axis=0)
    assert residual.max() < 1e-5
    l_sym = np.eye(g.n_nodes) - a / np.sqrt(np.outer(d, d))
    np.testing.assert_allclose(np.sort(lam), np.linalg.eigvalsh(l_sym)[:k], atol=1e-6)
    # The columns are independent (a basis of the eigenspace, not one vector repeated).
    assert np.linalg.matrix_rank(x, tol=1e-6 * np.abs(x).max()) == k


def test_fast_and_sklearn_agree_on_the_paper_mlp(paper_mlp_kernels: list[np.ndarray]) -> None:
    g = mlp_graph(paper_mlp_kernels)
    fast = cluster_network(g, 4, seed=0, solver="fast")
    arpack = cluster_network(g, 4, seed=0, solver="sklearn-arpack")
    amg = cluster_network(g, 4, seed=0, solver="sklearn-amg")
    # Same eigenproblem solved exactly: the same n-cut up to k-means' local optima.
    assert abs(fast.ncut - arpack.ncut) < 0.01
    # amg (lobpcg) eigenvectors are less accurate; its n-cuts scatter by a few hundredths.
    assert abs(fast.ncut - amg.ncut) < 0.05


def test_fast_and_sklearn_agree_on_a_pruned_mlp_with_dead_neurons() -> None:
    kernels = _pruned(build_glorot_mlp((300, 128, 128, 10), seed=4), keep=0.1)
    kernels[0][:, :5] = 0.0  # five first-layer neurons lose their inputs ...
    kernels[1][:5, :] = 0.0  # ... and their outputs: isolated
    g = mlp_graph(kernels)
    isolated = g.degrees() == 0
    assert isolated.sum() >= 5
    results = {s: cluster_network(g, 4, seed=0, solver=s) for s in SOLVERS}
    for c in results.values():
        np.testing.assert_array_equal(c.labels < 0, isolated)
        assert sorted(set(c.labels[~isolated].tolist())) == [0, 1, 2, 3]
    assert abs(results["fast"].ncut - results["sklearn-arpack"].ncut) < 0.02
    assert abs(results["fast"].ncut - results["sklearn-amg"].ncut) < 0.05


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_init_mlp_ncut_in_papers_range(seed: int, paper_mlp_kernels: list[np.ndarray]) -> None:
    # P1: randomly initialized 784-256x4-10 MLPs have n-cuts of 2.3-2.45 at k = 4.
    kernels = paper_mlp_kernels if seed == 0 else build_glorot_mlp(PAPER_WIDTHS, seed=seed)
    c = cluster_network(mlp_graph(kernels), 4, seed=seed)
    assert 2.3 <= c.ncut <= 2.45
    assert not c.degeneracy.degenerate


def test_random_init_mlp_ncut_in_papers_range_k12(paper_mlp_kernels: list[np.ndarray]) -> None:
    # P1: 10.2-10.4 at k = 12.
    assert 10.2 <= cluster_network(mlp_graph(paper_mlp_kernels), 12, seed=0).ncut <= 10.4


# --- edge cases -------------------------------------------------------------------


@pytest.mark.parametrize("widths", [(10, 10, 10), (200, 200, 200)])
@pytest.mark.parametrize("solver", SOLVERS)
def test_disconnected_graph_with_k_components(widths: tuple[int, ...], solver: str) -> None:
    kernels, modules = build_planted_mlp(widths, 3, seed=2, weak=0.0)  # no edges between modules
    g = mlp_graph(kernels)
    labels = spectral_clusters(g, 3, seed=0, solver=solver)
    assert same_partition(labels, modules)
    assert ncut(g, labels) == 0.0


@pytest.mark.parametrize("widths", [(10, 10, 10), (200, 200, 200)])
def test_disconnected_graph_with_more_components_than_k(widths: tuple[int, ...]) -> None:
    kernels, modules = build_planted_mlp(widths, 5, seed=2, weak=0.0)
    g = mlp_graph(kernels)
    labels = spectral_clusters(g, 3, seed=0)
    # Whole components are merged, never split: nothing is cut.
    for m in range(5):
        assert len(set(labels[modules == m].tolist())) == 1
    assert len(set(labels.tolist())) == 3
    assert ncut(g, labels) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.filterwarnings("ignore:AMG solver does not work well:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:k >= N:RuntimeWarning")
@pytest.mark.parametrize("solver", SOLVERS)
def test_fewer_nodes_than_k(solver: str) -> None:
    g = LayeredGraph((np.ones((2, 2)),))  # four nodes
    with pytest.raises(InputError, match="k=5"):
        spectral_clusters(g, 5, seed=0, solver=solver)
    # Isolated nodes do not count: 3 connected nodes of 6. Exactly k nodes is fine (one per cluster).
    g2 = LayeredGraph((np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]),))
    with pytest.raises(InputError, match="3 non-isolated"):
        spectral_clusters(g2, 4, seed=0, solver=solver)
    assert sorted(spectral_clusters(g2, 3, seed=0, solver=solver).tolist()) == [-1, -1, -1, 0, 1, 2]


def test_all_zero_network_is_an_input_error() -> None:
    g = mlp_graph([np.zeros((5, 4)), np.zeros((4, 3))])
    with pytest.raises(InputError):
        spectral_clusters(g, 2, seed=0)


@pytest.mark.parametrize("solver", SOLVERS)
def test_all_zero_middle_layer_splits_the_network(solver: str) -> None:
    rng = np.random.default_rng(5)
    kernels = [rng.normal(size=(12, 10)), np.zeros((10, 10)), rng.normal(size=(10, 8))]
    g = mlp_graph(kernels)
    labels = spectral_clusters(g, 2, seed=0, solver=solver)
    assert np.all(labels >= 0)  # every neuron still has an edge
    assert same_partition(labels, np.repeat([0, 0, 1, 1], [12, 10, 10, 8]))
    assert ncut(g, labels) == 0.0


@pytest.mark.parametrize("solver", SOLVERS)
def test_neurons_between_zero_layers_are_isolated(solver: str) -> None:
    rng = np.random.default_rng(6)
    kernels = [np.zeros((12, 10)), np.zeros((10, 9)), rng.normal(size=(9, 8)), rng.normal(size=(8, 4))]
    g = mlp_graph(kernels)
    labels = spectral_clusters(g, 3, seed=0, solver=solver)
    np.testing.assert_array_equal(labels[:22], -1)  # inputs and first hidden layer: no edges
    assert np.all(labels[22:] >= 0)
    assert sorted(set(labels[22:].tolist())) == [0, 1, 2]


@pytest.mark.parametrize("solver", SOLVERS)
def test_isolated_neurons_get_minus_one(solver: str) -> None:
    kernels, modules = build_planted_mlp((30, 30, 30), 3, seed=7)
    kernels[0][:, 4] = 0.0
    kernels[1][4, :] = 0.0  # hidden neuron 4 (node 34) isolated
    kernels[0][7, :] = 0.0  # input 7 isolated
    labels = spectral_clusters(mlp_graph(kernels), 3, seed=0, solver=solver)
    np.testing.assert_array_equal(np.flatnonzero(labels < 0), [7, 34])
    keep = labels >= 0
    assert same_partition(labels[keep], modules[keep])


@pytest.mark.parametrize("solver", SOLVERS)
def test_plain_adjacency_input(solver: str) -> None:
    # A ring of four 8-cliques joined by single weak edges: not layered, not bipartite.
    n, k = 8, 4
    a = np.zeros((n * k, n * k))
    for c in range(k):
        a[c * n : (c + 1) * n, c * n : (c + 1) * n] = 1.0
        nxt = ((c + 1) % k) * n
        a[c * n, nxt + 1] = a[nxt + 1, c * n] = 0.05
    np.fill_diagonal(a, 0.0)
    truth = np.repeat(np.arange(k), n)
    for graph in (a, sp.csr_matrix(a)):
        labels = spectral_clusters(graph, k, seed=0, solver=solver)
        assert same_partition(labels, truth)


@pytest.mark.parametrize("solver", SOLVERS)
def test_same_seed_same_labels(solver: str) -> None:
    g = mlp_graph(build_glorot_mlp((50, 40, 40, 10), seed=8))
    a = spectral_clusters(g, 4, seed=123, solver=solver)
    b = spectral_clusters(g, 4, seed=123, solver=solver)
    np.testing.assert_array_equal(a, b)
    c = spectral_clusters(g, 4, seed=np.random.default_rng(123), solver=solver)
    np.testing.assert_array_equal(a, c)
    assert a.dtype == np.int64 and a.shape == (g.n_nodes,)
    assert sorted(set(a.tolist())) == [0, 1, 2, 3]


def test_same_seed_bit_for_bit_on_the_gram_route(paper_mlp_kernels: list[np.ndarray]) -> None:
    g = mlp_graph(paper_mlp_kernels)
    a = cluster_network(g, 4, seed=9)
    b = cluster_network(g, 4, seed=9)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.ncut == b.ncut  # exactly, not approximately
    np.testing.assert_array_equal(a.cut_terms, b.cut_terms)


def test_argument_validation() -> None:
    g = mlp_graph(build_glorot_mlp((6, 5, 4), seed=0))
    with pytest.raises(InputError, match="solver"):
        spectral_clusters(g, 2, seed=0, solver="lobpcg")
    with pytest.raises(InputError):
        spectral_clusters(g, 0, seed=0)


def test_bipartite_eigenpairs_arpack_and_dense_agree() -> None:
    """The shortcut shared by the fast solver (ARPACK) and the regularizer (dense eigh): the same eigenpairs of M."""
    from clusterability.core.bipartite import bipartite_eigenpairs

    kernels = build_glorot_mlp((60, 40, 30, 20, 10), seed=3)
    kernels[1][:, 5] = 0  # neuron 5 of layer 2 loses its inputs ...
    kernels[2][5, :] = 0  # ... and its outputs: isolated
    graph = mlp_graph(kernels)
    dense = bipartite_eigenpairs(graph, 5, gram_dtype=np.float64)
    arpack_solver = spectral._arpack_gram_solver(np.random.default_rng(0), None)
    arpack = bipartite_eigenpairs(graph, 5, solve=arpack_solver, gram_dtype=np.float64)
    m = graph.adjacency().toarray()
    d = m.sum(axis=1)
    keep = d > 0
    m = m[np.ix_(keep, keep)] / np.sqrt(np.outer(d[keep], d[keep]))
    top = np.linalg.eigvalsh(m)[-5:]
    for sigma, parts, _ in (dense, arpack):
        np.testing.assert_allclose(sigma, top, rtol=1e-6)  # ascending, like the solvers
        vectors = np.concatenate(parts) / np.sqrt(2)
        assert np.all(vectors[~keep] == 0) and not keep[60 + 40 + 5]
        np.testing.assert_allclose(vectors.T @ vectors, np.eye(5), atol=1e-6)
        np.testing.assert_allclose(m @ vectors[keep], vectors[keep] * sigma, atol=1e-6)


# --- the Gram-matrix route: Lanczos on B^T B ----------------------------------------------------


def _subspace_gap(a: np.ndarray, b: np.ndarray) -> float:
    """1 - the smallest cosine between the column spaces of ``a`` and ``b``."""
    qa, qb = np.linalg.qr(a)[0], np.linalg.qr(b)[0]
    return 1.0 - float(np.linalg.svd(qa.T @ qb, compute_uv=False).min())


def _exact_embedding(g: LayeredGraph, k: int) -> np.ndarray:
    """The embedding from a dense float64 eigen-decomposition of the Gram matrix (the regularizer's route)."""
    from clusterability.core.bipartite import bipartite_eigenpairs

    return spectral._embedding_from_pairs(
        bipartite_eigenpairs(g, k, gram_dtype=np.float64), [d > 0 for d in g.layer_degrees()]
    )


@pytest.mark.parametrize(("keep", "k"), [(1.0, 3), (0.1, 3), (0.1, 7), (0.3, 5)])
def test_gram_route_gives_the_exact_embedding(keep: float, k: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lanczos on the Gram matrix (sparse or dense, isolated neurons included) spans the exact eigenvectors."""
    kernels = _pruned(build_glorot_mlp((400, 320, 200, 330, 10), seed=int(10 * keep) + k), keep=keep)
    kernels[1][:, :3] = 0.0  # three neurons of layer 2 lose their inputs ...
    kernels[2][:3, :] = 0.0  # ... and their outputs: isolated
    g = mlp_graph(kernels)

    def no_fallback(*args, **kwargs):
        raise AssertionError("fell back to ARPACK")

    monkeypatch.setattr(spectral, "bipartite_eigenpairs", no_fallback)
    x = spectral_embedding(g, k, rng=np.random.default_rng(0))
    monkeypatch.undo()
    assert x.shape == (int(np.count_nonzero(g.degrees())), k)
    assert _subspace_gap(x, _exact_embedding(g, k)) < 1e-8


def test_sparse_and_dense_gram_matrices_agree() -> None:
    kernels = _pruned(build_glorot_mlp((350, 300, 310, 20), seed=6), keep=0.15)
    kernels[0][:, 7] = 0.0  # isolated neuron 7 of layer 1
    kernels[1][7, :] = 0.0
    for g in (mlp_graph(kernels), LayeredGraph(tuple(np.asfortranarray(w) for w in mlp_graph(kernels).blocks))):
        degrees = g.layer_degrees()
        inv_sqrt = [np.where(d > 0, 1.0 / np.sqrt(np.where(d > 0, d, 1.0)), 0.0) for d in degrees]
        for small in (0, 1):
            sparse, entries = spectral._bipartite_gram(g, inv_sqrt, small)
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(spectral, "_SPARSE_GRAM", 0.0)  # every graph through BLAS
                dense, no_entries = spectral._bipartite_gram(g, inv_sqrt, small)
            assert no_entries is None
            n = sum(g.layer_sizes[small::2])
            b = sp.csr_matrix(g.adjacency().toarray())
            side = np.concatenate([np.arange(o, o + s) for o, s in zip(g.layer_offsets(), g.layer_sizes)][small::2])
            other = np.setdiff1d(np.arange(g.n_nodes), side)
            d = np.concatenate(inv_sqrt)
            block = (b[other][:, side].toarray() * d[other][:, None]) * d[side][None, :]
            exact = np.triu(block.T @ block)
            big, sml, vals = entries  # B's non-zero entries, numbered within each side
            np.testing.assert_allclose(sp.coo_matrix((vals, (big, sml)), shape=block.shape).toarray(), block)
            # Both hold the upper triangle row by row (what the Lanczos solver reads), in float32.
            assert sparse.shape == dense.shape == (n * (n + 1) // 2,) and sparse.dtype == dense.dtype == np.float32
            np.testing.assert_allclose(_unpacked(sparse, n), exact, atol=1e-7)
            np.testing.assert_allclose(_unpacked(dense, n), exact, atol=1e-6)


def _unpacked(upper: np.ndarray, n: int) -> np.ndarray:
    """The square upper-triangular matrix whose upper triangle ``upper`` lists row by row."""
    out = np.zeros((n, n))
    out[np.triu_indices(n)] = upper
    return out


@pytest.mark.parametrize("k", [2, 3, 5])
def test_a_graph_that_falls_apart_on_the_gram_route_goes_to_arpack(k: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three modules with no edges between them: eigenvalue 1 three times, which one Lanczos vector
    cannot resolve; the route notices it (eigenvalue 1 left after deflating the trivial vector)."""
    kernels, modules = build_planted_mlp((400, 400, 400), 3, seed=2, weak=0.0)
    g = mlp_graph(kernels)
    calls = []
    original = spectral.bipartite_eigenpairs
    monkeypatch.setattr(spectral, "bipartite_eigenpairs", lambda *a, **kw: calls.append(1) or original(*a, **kw))
    labels = spectral_clusters(g, k, seed=0)
    assert calls == [1]
    for m in range(3):  # whole components, never split
        assert len(set(labels[modules == m].tolist())) == 1 or k > 3
    assert ncut(g, labels) == pytest.approx(0.0, abs=1e-12) if k <= 3 else ncut(g, labels) < 3


def test_twin_networks_and_extreme_weights_on_the_gram_route() -> None:
    """Hostile inputs: two identical disconnected copies (every eigenvalue repeated); weights of 1e-150
    and 1e150 (unit scaling keeps degrees finite); k = 1; a single cluster per component."""
    kernels = _pruned(build_glorot_mlp((320, 310, 300), seed=7), keep=0.2)
    twins = mlp_graph([np.block([[w, np.zeros_like(w)], [np.zeros_like(w), w]]) for w in kernels])
    labels = spectral_clusters(twins, 2, seed=0)
    halves = np.concatenate([np.repeat([0, 1], s // 2) for s in twins.layer_sizes])
    assert same_partition(labels, halves)
    g = mlp_graph(kernels)
    reference = spectral_clusters(g, 4, seed=3)
    for scale in (1e-150, 1e150):
        scaled = mlp_graph([w.astype(np.float64) * scale for w in kernels])
        np.testing.assert_array_equal(spectral_clusters(scaled, 4, seed=3), reference)
    assert set(spectral_clusters(g, 1, seed=0).tolist()) == {0}


def test_a_clustering_does_not_depend_on_what_ran_before() -> None:
    """No state carries over between calls (the shuffles of a network are computed in any order)."""
    a = mlp_graph(_pruned(build_glorot_mlp((400, 330, 300, 10), seed=1), keep=0.1))
    b = mlp_graph(build_glorot_mlp((350, 310, 320, 10), seed=2))
    first = spectral_clusters(a, 6, seed=11)
    spectral_clusters(b, 12, seed=5)
    spectral_clusters(b, 3, seed=6)
    np.testing.assert_array_equal(spectral_clusters(a, 6, seed=11), first)


def test_a_shuffles_gram_matrix_from_its_entries_is_the_one_from_its_blocks() -> None:
    """A pruned network's shuffle hands its non-zero entries to the Gram route, which then reads no block:
    the same Gram matrix and entries, bit for bit, as the blocks give."""
    kernels = _pruned(build_glorot_mlp((350, 300, 310, 20), seed=6), keep=0.15)
    shuffled = shuffle_graph(mlp_graph(kernels), "layer", np.random.default_rng(2))
    dense = LayeredGraph(tuple(np.array(b) for b in shuffled.blocks))
    inv_sqrt = [np.where(d > 0, 1.0 / np.sqrt(np.where(d > 0, d, 1.0)), 0.0) for d in dense.layer_degrees()]
    for small in (0, 1):
        ours = spectral._bipartite_gram(
            LayeredGraph.from_entries(
                np.array([b.shape for b in dense.blocks]),
                shuffled.entries(),
                scale_exponent=0,
                layer_degrees=[d.copy() for d in dense.layer_degrees()],
            ),
            inv_sqrt,
            small,
        )
        theirs = spectral._bipartite_gram(dense, inv_sqrt, small)
        assert ours[0].tobytes() == theirs[0].tobytes()
        for a, b in zip(ours[1], theirs[1], strict=True):
            np.testing.assert_array_equal(a, b)
