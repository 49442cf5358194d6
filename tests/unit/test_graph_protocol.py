"""Both kinds of graph through one interface (:class:`clusterability.core.graph.Graph`), and one ``eigen_tol``."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from planted import build_planted_mlp

from clusterability.core import bipartite, eigensolver, spectral
from clusterability.core.build import mlp_graph
from clusterability.core.dag_graph import DagGraph, solver_input
from clusterability.core.graph import Graph
from clusterability.core.layered_graph import LayeredGraph
from clusterability.core.measure import cluster_network, shuffle_ncuts
from clusterability.core.shuffles import kept_blocks
from clusterability.errors import InputError


def _chain_as_dag(graph: LayeredGraph) -> DagGraph:
    """The same chain as a DAG graph: an input layer, then each layer reading all of the previous one."""
    sizes = graph.layer_sizes
    blocks = (np.zeros((0, sizes[0])), *graph.blocks)
    sources = ((), *(((l, 0),) for l in range(len(graph.blocks))))
    return DagGraph(tuple(sizes), blocks, sources)


def _branching() -> DagGraph:
    rng = np.random.default_rng(0)
    sizes = (6, 5, 5, 4)
    blocks = (np.zeros((0, 6)), rng.random((6, 5)), rng.random((11, 5)), rng.random((10, 4)))
    sources = ((), ((0, 0),), ((0, 0), (1, 6)), ((1, 0), (2, 5)))
    return DagGraph(sizes, blocks, sources)


@pytest.fixture
def layered() -> LayeredGraph:
    kernels, _ = build_planted_mlp((30, 30, 30, 30), 3, seed=1)
    kernels[1][:, 4] = 0.0  # an isolated neuron
    kernels[2][4, :] = 0.0
    return mlp_graph(kernels)


def test_both_kinds_are_graphs(layered: LayeredGraph) -> None:
    assert isinstance(layered, Graph) and isinstance(_branching(), Graph)
    assert not isinstance(layered.adjacency(), Graph)


def test_a_chain_is_the_same_graph_either_way(layered: LayeredGraph) -> None:
    dag = _chain_as_dag(layered)
    assert dag.as_layered() == layered and layered.as_layered() is layered
    assert solver_input(dag) == layered
    branching = _branching()
    assert solver_input(branching) is branching and branching.as_layered() is None
    np.testing.assert_array_equal(dag.degrees(), layered.degrees())
    for (r1, c1), (r2, c2) in zip(kept_blocks(layered), dag.kept_blocks()[1:], strict=True):
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(c1, c2)
    assert 4 not in kept_blocks(layered)[1][1] and 4 not in kept_blocks(layered)[2][0]
    a = cluster_network(dag, 3, seed=2)
    b = cluster_network(layered, 3, seed=2)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_default_eigen_tol_is_each_routes_own(layered: LayeredGraph) -> None:
    """None gives the same labels, bit for bit, as each route's documented default passed explicitly."""
    for graph, route in ((layered, "gram"), (_branching(), "channel")):
        default = spectral.spectral_clusters(graph, 3, seed=5)
        explicit = spectral.spectral_clusters(graph, 3, seed=5, eigen_tol=eigensolver.EIGEN_TOLS[route])
        np.testing.assert_array_equal(default, explicit)


def test_one_eigen_tol_reaches_every_route(layered: LayeredGraph, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, float]] = []

    def recording(name, function):
        def call(*args, **kwargs):
            seen.append((name, kwargs["tol"]))
            return function(*args, **kwargs)

        return call

    monkeypatch.setattr(spectral, "lanczos_top_eigenpairs", recording("lanczos", eigensolver.lanczos_top_eigenpairs))
    monkeypatch.setattr(spectral, "top_eigenpairs", recording("adjacency", eigensolver.top_eigenpairs))
    monkeypatch.setattr(eigensolver, "top_eigenpairs", recording("arpack", eigensolver.top_eigenpairs))
    monkeypatch.setattr(spectral, "_DENSE_LIMIT", 8)
    big = _branching()
    spectral.spectral_clusters(layered, 3, seed=0, eigen_tol=1e-7)  # Gram route: Lanczos
    spectral.spectral_clusters(big, 3, seed=0, eigen_tol=1e-7)  # channel route: ARPACK on the operator
    matrix = sp.csr_matrix(layered.adjacency())
    spectral.spectral_clusters(matrix, 3, seed=0, eigen_tol=1e-7)  # a plain adjacency matrix
    solve = spectral._arpack_gram_solver(np.random.default_rng(0), 1e-7)
    assert bipartite.bipartite_eigenpairs(layered, 3, solve=solve) is not None
    assert {name for name, _ in seen} >= {"lanczos", "adjacency", "arpack"}
    assert all(tol == 1e-7 for _, tol in seen), seen
    shuffles = shuffle_ncuts(layered, 3, seed=0, method="layer", indices=range(2), eigen_tol=1e-7)
    assert shuffles.shape == (2,)


@pytest.mark.parametrize("bad", [0.0, -1e-6, float("nan")])
def test_eigen_tol_must_be_positive(layered: LayeredGraph, bad: float) -> None:
    with pytest.raises(InputError, match="eigen_tol must be a positive number"):
        spectral.spectral_clusters(layered, 3, seed=0, eigen_tol=bad)
