"""Normalized spectral clustering (Shi & Malik 2000; von Luxburg 2007, P1 algorithm 1).

The k eigenvectors of ``L_rw = D^-1 (D - A)`` with the smallest eigenvalues
embed each node in R^k; k-means on the embedded nodes gives the clusters.
Equivalently, with ``M = D^-1/2 A D^-1/2`` (the normalized adjacency,
``L_sym = I - M``), the embedding is ``D^-1/2 U`` where ``U`` holds the k
eigenvectors of ``M`` with the largest eigenvalues.

Solvers
-------
``"sklearn-amg"``, ``"sklearn-arpack"``
    scikit-learn's ``SpectralClustering(affinity="precomputed")`` with the
    named eigen-solver: the papers' reference (amg in P1, arpack in P2).
``"fast"``
    This package's solver. A layered network's graph is bipartite (edges only
    join even to odd layers), so ``M = [[0, B], [B^T, 0]]`` and its top
    eigenvectors are ``[u; v] / sqrt(2)`` from the top singular triplets
    ``B v = s u`` of the off-diagonal block. These come from the top
    eigenvectors of the small dense Gram matrix ``B^T B`` (over the smaller
    side, e.g. 522 of 1,818 neurons for the 784-256x4-10 MLP), found with
    ARPACK (``eigsh``, ``which="LA"``). k-means is :func:`clusterability.kmeans.kmeans`.
    Graphs that are not layered, or too small for the shortcut, use
    ``eigsh`` (or a dense ``eigh``) on ``M`` itself; a residual or branching
    network's :class:`~clusterability.dag_graph.DagGraph` as a linear operator.

Isolated nodes (degree 0) are left out of the clustering and get label -1.
Every solver works on a copy of a graph with extreme weights scaled by a power
of 4 so that its largest weight lies in ``[1/2, 2)`` (:mod:`clusterability.graph`): the
clustering does not depend on the scale, and degrees of weights near the
float64 maximum would otherwise overflow.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from .bipartite import bipartite_eigenpairs
from .dag_graph import DagGraph, dag_embedding
from .eigensolver import DENSE_FALLBACK_LIMIT, top_eigenpairs
from .errors import InputError
from .graph import LayeredGraph, unit_scaled_adjacency
from .kmeans import kmeans

SOLVERS = ("fast", "sklearn-amg", "sklearn-arpack")
_DENSE_LIMIT = 300  # below this many nodes a dense eigen-decomposition is fastest


def spectral_clusters(
    graph: LayeredGraph | DagGraph | sp.spmatrix | np.ndarray,
    k: int,
    *,
    seed: int | np.random.Generator,
    solver: str = "fast",
    n_init: int = 10,
) -> np.ndarray:
    """Labels ``0..k-1`` of normalized spectral clustering, -1 for isolated nodes.

    ``graph`` is a :class:`LayeredGraph` or a symmetric non-negative adjacency
    matrix; ``seed`` fixes every random choice (eigen-solver start, k-means).
    """
    if solver not in SOLVERS:
        raise InputError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    if k < 1:
        raise InputError(f"k must be a positive number of clusters, got {k}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    graph = _unit_scaled(graph)
    degrees = graph.degrees() if isinstance(graph, (LayeredGraph, DagGraph)) else _adjacency_degrees(graph)
    kept = degrees > 0
    n_kept = int(kept.sum())
    if n_kept < k:
        raise InputError(f"the graph has {n_kept} non-isolated nodes, fewer than k={k} clusters; use a smaller k")
    labels = np.full(degrees.shape[0], -1, dtype=np.int64)
    if solver == "fast":
        embedding = spectral_embedding(graph, k, rng=rng)
        labels[kept] = kmeans(embedding, k, seed=rng, n_init=n_init)[0]
    else:
        labels[kept] = _sklearn_labels(graph, kept, k, solver, rng, n_init)
    return labels


def spectral_embedding(
    graph: LayeredGraph | sp.spmatrix | np.ndarray, k: int, *, rng: np.random.Generator
) -> np.ndarray:
    """Rows of the k smallest eigenvectors of ``L_rw`` for the non-isolated nodes, in node order."""
    graph = _unit_scaled(graph)
    if isinstance(graph, DagGraph):
        return dag_embedding(graph, k, rng)
    if isinstance(graph, LayeredGraph):
        emb = _layered_embedding(graph, k, rng)
        if emb is not None:
            return emb
        adjacency = graph.adjacency()
    else:
        adjacency = sp.csr_matrix(graph, dtype=np.float64)
    degrees = _adjacency_degrees(adjacency)
    kept = degrees > 0
    a = adjacency[kept][:, kept]
    inv_sqrt = 1.0 / np.sqrt(degrees[kept])
    m = sp.diags(inv_sqrt) @ a @ sp.diags(inv_sqrt)
    vecs = _top_eigenvectors(m, k, rng)
    return vecs * inv_sqrt[:, None]


def _unit_scaled(graph: LayeredGraph | sp.spmatrix | np.ndarray) -> LayeredGraph | sp.spmatrix | np.ndarray:
    """``graph`` scaled by the power of 4 that brings its largest weight into ``[1/2, 2)``."""
    if isinstance(graph, (LayeredGraph, DagGraph)):
        return graph.scaled(graph.scale_exponent())
    return unit_scaled_adjacency(graph)[0]


def _adjacency_degrees(adjacency: sp.spmatrix | np.ndarray) -> np.ndarray:
    return np.asarray(adjacency.sum(axis=1), dtype=np.float64).ravel()


def _top_eigenvectors(m: sp.spmatrix | np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Eigenvectors of the symmetric ``m`` with the k largest eigenvalues, as columns."""
    n = m.shape[0]
    if n <= max(_DENSE_LIMIT, 2 * k + 2):
        dense = m.toarray() if sp.issparse(m) else np.asarray(m)
        _, vecs = scipy.linalg.eigh(dense, subset_by_index=[n - k, n - 1])
        return vecs
    v0 = rng.uniform(0.5, 1.5, size=n)
    _, vecs = top_eigenpairs(m, k, v0=v0, tol=1e-10, dense=lambda: m.toarray() if sp.issparse(m) else np.asarray(m))
    return vecs


def _layered_embedding(graph: LayeredGraph, k: int, rng: np.random.Generator) -> np.ndarray | None:
    """The embedding through the bipartite shortcut (:func:`bipartite_eigenpairs`), or None where it does not apply.

    Isolated nodes stay in place in the normalized blocks as zero rows and
    columns (their ``D^-1/2`` is set to 0), so the blocks and their products
    keep the full layer sizes; their rows are dropped from the embedding at
    the end.
    """
    sizes = graph.layer_sizes
    kept_sizes = [int(np.count_nonzero(d)) for d in graph.layer_degrees()]
    smaller_side = min(sum(kept_sizes[0::2]), sum(kept_sizes[1::2]))
    if smaller_side < max(_DENSE_LIMIT, 2 * k + 2):
        return None  # tiny graph: the generic dense route is exact and cheap
    if smaller_side > DENSE_FALLBACK_LIMIT:
        return None  # the dense Gram matrix would be larger than the sparse graph (e.g. a long chain of small layers)
    pairs = bipartite_eigenpairs(graph, k, rng=rng)
    if pairs is None:
        return None  # zero singular values: the shortcut cannot give u = B v / s
    _, parts, inv_sqrt = pairs
    return np.concatenate([(parts[l] * inv_sqrt[l][:, None])[inv_sqrt[l] > 0] for l in range(len(sizes))])


def _sklearn_labels(
    graph: LayeredGraph | sp.spmatrix | np.ndarray,
    kept: np.ndarray,
    k: int,
    solver: str,
    rng: np.random.Generator,
    n_init: int,
) -> np.ndarray:
    from sklearn.cluster import SpectralClustering

    adjacency = graph.adjacency() if isinstance(graph, (LayeredGraph, DagGraph)) else sp.csr_matrix(graph)
    a = adjacency[kept][:, kept]
    if a.shape[0] <= k:
        a = a.toarray()  # scikit-learn's k >= n fallback (dense eigh) fails on sparse input
    model = SpectralClustering(
        n_clusters=k,
        affinity="precomputed",
        eigen_solver=solver.removeprefix("sklearn-"),
        random_state=int(rng.integers(2**31 - 1)),
        n_init=n_init,
        assign_labels="kmeans",
    )
    with warnings.catch_warnings():
        # lobpcg's tolerance and "graph is not fully connected" warnings are expected here.
        warnings.simplefilter("ignore", UserWarning)
        return model.fit(a).labels_.astype(np.int64)
