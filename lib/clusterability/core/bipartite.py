"""Top eigenpairs of a layered graph's normalized adjacency through its bipartite structure.

A layered network's graph (:class:`clusterability.core.layered_graph.LayeredGraph`) only
joins adjacent layers, so it is bipartite (even against odd layers) and its
normalized adjacency is ``M = D^-1/2 A D^-1/2 = [[0, B], [B^T, 0]]``. The top
eigenpairs of ``M`` are the top singular triplets of ``B``, found from the
small Gram matrix over the smaller side (522 x 522 for the 784-256x4-10 MLP
instead of 1,818 x 1,818). The fast spectral clustering
(:mod:`clusterability.core.spectral`) embeds nodes with them, and the clusterability
regularizer (:mod:`clusterability.train.regularizer`) differentiates the smallest
eigenvalues of ``L_sym = I - M``. This module needs only NumPy and SciPy: the
regularizer decomposes the Gram matrix densely, and a caller that wants another
eigen-solver passes it in (``solve``), so a training job that uses the regularizer
does not depend on the clustering's eigen-solvers (editing them retrains nothing).
The fast spectral clustering forms the same Gram matrix its own way and solves it
with Lanczos (:func:`clusterability.core.spectral._layered_embedding`); it comes
here, with ARPACK as ``solve``, when Lanczos cannot answer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.linalg

from clusterability.core.layered_graph import LayeredGraph

#: An eigen-solver for the Gram matrix: ``solve(gram, k)`` -> its k largest eigenvalues (ascending) and their
#: eigenvectors (columns).
GramSolver = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]

GRAM_DTYPE = np.float32  # default precision of the Gram-matrix products (the clustering's)


def bipartite_eigenpairs(
    graph: LayeredGraph,
    k: int,
    *,
    solve: GramSolver | None = None,
    gram_dtype: type = GRAM_DTYPE,
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]] | None:
    """The k largest eigenvalues of ``M = D^-1/2 A D^-1/2`` of a layered graph and their eigenvectors.

    The graph is bipartite (even against odd layers), so ``M = [[0, B], [B^T, 0]]``
    and its top eigenpairs are the top singular triplets ``B v = s u`` of ``B``:
    eigenvalue ``s``, eigenvector ``[u; v] / sqrt(2)``. ``v`` comes from the
    top eigenvectors of the Gram matrix ``B^T B`` over the smaller side, built
    block by block (each layer of the other side couples its two neighbours)
    in ``gram_dtype`` and restricted to non-isolated nodes, with ``solve``
    (the clustering passes ARPACK, :func:`clusterability.core.spectral._arpack_gram_solver`)
    or, where it is None, a dense ``eigh`` (exact, deterministic); ``u = B v / s``.

    Returns ``(s, parts, inv_sqrt)``: ``s`` ascending, ``parts[l]`` the
    ``(layer_sizes[l], k)`` rows of ``sqrt(2)`` times the eigenvectors for
    layer ``l`` (zero for isolated nodes), ``inv_sqrt[l]`` that layer's
    ``D^-1/2`` (0 for isolated nodes). None when fewer than k singular values
    are above 1e-6 (then ``u = B v / s`` is undefined).
    """
    degrees = graph.layer_degrees()
    kept = [d > 0 for d in degrees]
    inv_sqrt = [np.where(m, 1.0 / np.sqrt(np.where(m, d, 1.0)), 0.0) for d, m in zip(degrees, kept)]
    # Normalized blocks D^-1/2 |W| D^-1/2 between adjacent layers.
    norm = [
        (inv_sqrt[l][:, None] * b * inv_sqrt[l + 1][None, :]).astype(gram_dtype) for l, b in enumerate(graph.blocks)
    ]
    sizes = list(graph.layer_sizes)
    n_layers = len(sizes)
    kept_sizes = [int(m.sum()) for m in kept]
    small = int(np.argmin([sum(kept_sizes[0::2]), sum(kept_sizes[1::2])]))  # the side whose Gram matrix we form
    small_layers = list(range(small, n_layers, 2))
    big_layers = list(range(1 - small, n_layers, 2))
    offset = dict(zip(small_layers, np.concatenate([[0], np.cumsum([sizes[l] for l in small_layers])])))
    n_small = int(sum(sizes[l] for l in small_layers))

    def block(big: int, sml: int) -> np.ndarray:
        """B restricted to rows of big-side layer ``big`` and columns of small-side layer ``sml``."""
        return norm[big] if sml == big + 1 else norm[sml].T

    # Gram matrix C = B^T B over the small side: each big-side layer couples its neighbours.
    gram = np.zeros((n_small, n_small))
    for big in big_layers:
        nbrs = [s for s in (big - 1, big + 1) if 0 <= s < n_layers]
        for s in nbrs:
            for t in nbrs:
                if t < s:
                    continue
                prod = block(big, s).T @ block(big, t)
                gram[offset[s] : offset[s] + sizes[s], offset[t] : offset[t] + sizes[t]] += prod
                if t != s:
                    gram[offset[t] : offset[t] + sizes[t], offset[s] : offset[s] + sizes[s]] += prod.T
    small_kept = np.concatenate([kept[l] for l in small_layers])
    gram = gram[np.ix_(small_kept, small_kept)]
    if not 1 <= k <= gram.shape[0]:
        return None
    if solve is None:
        n = gram.shape[0]
        vals, v_kept = scipy.linalg.eigh(gram, subset_by_index=[n - k, n - 1])
    else:
        vals, v_kept = solve(gram, k)
    sigma = np.sqrt(np.clip(vals, 0.0, None))
    if sigma.min() < 1e-6:
        return None
    v = np.zeros((n_small, k))
    v[small_kept] = v_kept
    parts: dict[int, np.ndarray] = {}
    for sml in small_layers:
        parts[sml] = v[offset[sml] : offset[sml] + sizes[sml]]
    for big in big_layers:
        acc = np.zeros((sizes[big], k))
        for s in (big - 1, big + 1):
            if 0 <= s < n_layers:
                acc += block(big, s) @ parts[s]
        parts[big] = acc / sigma
        parts[big][~kept[big]] = 0.0
    return sigma, [parts[l] for l in range(n_layers)], inv_sqrt
