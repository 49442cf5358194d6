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
    side, e.g. 522 of 1,818 neurons for the 784-256x4-10 MLP; formed from
    ``B``'s non-zero entries for a pruned network, those a shuffle recorded
    when it has, :meth:`~clusterability.core.layered_graph.LayeredGraph.entries`;
    stored as its upper triangle row by row), the first of which is
    known (``sqrt(d)``, eigenvalue 1) and the others found by Lanczos on its
    complement (:func:`clusterability.core.eigensolver.lanczos_top_eigenpairs`;
    ARPACK where that cannot answer). k-means is :func:`clusterability.core.kmeans.kmeans`.
    Graphs that are not layered, or too small for the shortcut, use
    ``eigsh`` (or a dense ``eigh``) on ``M`` itself; a residual or branching
    network's :class:`~clusterability.core.dag_graph.DagGraph` as a linear operator.

Isolated nodes (degree 0) are left out of the clustering and get label -1.
Every solver works on a copy of a graph with extreme weights scaled by a power
of 4 so that its largest weight lies in ``[1/2, 2)`` (:mod:`clusterability.core.build`): the
clustering does not depend on the scale, and degrees of weights near the
float64 maximum would otherwise overflow.
"""

from __future__ import annotations

import warnings

import numba
import numpy as np
import scipy.linalg
import scipy.sparse as sp

from clusterability.core.bipartite import GramSolver, bipartite_eigenpairs
from clusterability.core.dag_graph import DagGraph, dag_embedding
from clusterability.core.eigensolver import (
    DENSE_FALLBACK_LIMIT,
    eigen_tol_for,
    lanczos_top_eigenpairs,
    packed_upper,
    top_eigenpairs,
)
from clusterability.core.graph import Graph
from clusterability.core.kmeans import kmeans
from clusterability.core.layered_graph import SPARSE_FRACTION, LayeredGraph, unit_scaled_adjacency
from clusterability.errors import InputError

SOLVERS = ("fast", "sklearn-amg", "sklearn-arpack")
_DENSE_LIMIT = 300  # below this many nodes a dense eigen-decomposition is fastest
# Graphs with at most this fraction of non-zero weights form the Gram matrix entry by entry.
_SPARSE_GRAM = SPARSE_FRACTION
_MAX_ENTRIES = 2**31 - 1  # the sparse Gram matrix's indices are int32
_CONNECTED = 1.0 - 1e-9  # a second eigenvalue of M above this: the graph falls apart (see _layered_embedding)


def spectral_clusters(
    graph: Graph | sp.spmatrix | np.ndarray,
    k: int,
    *,
    seed: int | np.random.Generator,
    solver: str = "fast",
    n_init: int = 10,
    eigen_tol: float | None = None,
) -> np.ndarray:
    """Labels ``0..k-1`` of normalized spectral clustering, -1 for isolated nodes.

    ``graph`` is a :class:`~clusterability.core.graph.Graph` (layered or DAG) or a symmetric non-negative
    adjacency matrix; ``seed`` fixes every random choice (eigen-solver start, k-means); ``eigen_tol`` is
    the eigen-solver's accuracy on every route (None: each route's default,
    :data:`~clusterability.core.eigensolver.EIGEN_TOLS`).
    """
    if solver not in SOLVERS:
        raise InputError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    if k < 1:
        raise InputError(f"k must be a positive number of clusters, got {k}")
    if eigen_tol is not None:
        eigen_tol_for("gram", eigen_tol)  # checked here, whichever route the graph takes
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    graph = _unit_scaled(graph)
    if isinstance(graph, LayeredGraph):  # degrees known per layer (the bipartite route uses them)
        known = graph.layer_degrees()
        degrees = np.concatenate(known)
    elif isinstance(graph, Graph):
        known = degrees = graph.degrees()
    else:
        known, degrees = None, _adjacency_degrees(graph)
    kept = degrees > 0
    n_kept = int(kept.sum())
    if n_kept < k:
        raise InputError(f"the graph has {n_kept} non-isolated nodes, fewer than k={k} clusters; use a smaller k")
    labels = np.full(degrees.shape[0], -1, dtype=np.int64)
    if solver == "fast":
        embedding = _embedding(graph, k, rng, known, eigen_tol)
        labels[kept] = kmeans(embedding, k, seed=rng, n_init=n_init)[0]
    else:
        labels[kept] = _sklearn_labels(graph, kept, k, solver, rng, n_init)
    return labels


def spectral_embedding(
    graph: LayeredGraph | sp.spmatrix | np.ndarray, k: int, *, rng: np.random.Generator
) -> np.ndarray:
    """Rows of the k smallest eigenvectors of ``L_rw`` for the non-isolated nodes, in node order."""
    return _embedding(_unit_scaled(graph), k, rng, None)


def _embedding(
    graph: Graph | sp.spmatrix | np.ndarray,
    k: int,
    rng: np.random.Generator,
    degrees: list[np.ndarray] | np.ndarray | None,
    eigen_tol: float | None = None,
) -> np.ndarray:
    """:func:`spectral_embedding` of a unit-scaled graph (``degrees``, if known: a layered graph's
    per layer, a DAG graph's as one array)."""
    if isinstance(graph, DagGraph):
        return dag_embedding(graph, k, rng, eigen_tol=eigen_tol, degrees=degrees)
    if isinstance(graph, LayeredGraph):
        emb = _layered_embedding(graph, k, rng, degrees, eigen_tol)
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
    vecs = _top_eigenvectors(m, k, rng, eigen_tol)
    return vecs * inv_sqrt[:, None]


def _unit_scaled(graph: Graph | sp.spmatrix | np.ndarray) -> Graph | sp.spmatrix | np.ndarray:
    """``graph`` scaled by the power of 4 that brings its largest weight into ``[1/2, 2)``."""
    if isinstance(graph, (LayeredGraph, Graph)):  # LayeredGraph first: the protocol's check reads the blocks
        return graph.scaled(graph.scale_exponent())
    return unit_scaled_adjacency(graph)[0]


def _adjacency_degrees(adjacency: sp.spmatrix | np.ndarray) -> np.ndarray:
    return np.asarray(adjacency.sum(axis=1), dtype=np.float64).ravel()


def _top_eigenvectors(
    m: sp.spmatrix | np.ndarray, k: int, rng: np.random.Generator, eigen_tol: float | None = None
) -> np.ndarray:
    """Eigenvectors of the symmetric ``m`` with the k largest eigenvalues, as columns."""
    n = m.shape[0]
    if n <= max(_DENSE_LIMIT, 2 * k + 2):
        dense = m.toarray() if sp.issparse(m) else np.asarray(m)
        _, vecs = scipy.linalg.eigh(dense, subset_by_index=[n - k, n - 1])
        return vecs
    v0 = rng.uniform(0.5, 1.5, size=n)
    _, vecs = top_eigenpairs(
        m,
        k,
        v0=v0,
        tol=eigen_tol_for("adjacency", eigen_tol),
        rng=rng,
        dense=lambda: m.toarray() if sp.issparse(m) else np.asarray(m),
    )
    return vecs


def _layered_embedding(
    graph: LayeredGraph,
    k: int,
    rng: np.random.Generator,
    layer_degrees: list[np.ndarray] | None = None,
    eigen_tol: float | None = None,
) -> np.ndarray | None:
    """The embedding through the bipartite shortcut, or None where it does not apply.

    ``M = [[0, B], [B^T, 0]]`` (:mod:`clusterability.core.bipartite`): the top
    eigenvectors ``v`` of the Gram matrix ``B^T B`` over the smaller side
    (:func:`_bipartite_gram`) give ``u = B v / s``. Its top eigenvector is
    known: ``sqrt(d)`` on the small side, eigenvalue 1 (``D^1/2 1`` is the
    eigenvector of ``M`` with eigenvalue 1). The other k - 1 come from Lanczos
    (:func:`clusterability.core.eigensolver.lanczos_top_eigenpairs`) on its
    orthogonal complement, started from ``rng``. If that complement has the
    eigenvalue 1 too, the graph falls apart into several pieces (eigenvalue 1
    repeated), which a single Lanczos vector cannot resolve; that case, and
    a Lanczos run that does not converge within its budget, go to
    :func:`bipartite_eigenpairs` (ARPACK, then a dense decomposition).

    Isolated nodes keep zero rows and columns (their ``D^-1/2`` is set to 0),
    so the blocks and products keep the full layer sizes; their rows are
    dropped from the embedding at the end.
    """
    degrees = graph.layer_degrees() if layer_degrees is None else layer_degrees
    sizes = graph.layer_sizes
    n_layers = len(sizes)
    kept = [d > 0 for d in degrees]
    kept_sizes = [int(np.count_nonzero(m)) for m in kept]
    sides = [sum(kept_sizes[0::2]), sum(kept_sizes[1::2])]
    if min(sides) < max(_DENSE_LIMIT, 2 * k + 2):
        return None  # tiny graph: the generic dense route is exact and cheap
    if min(sides) > DENSE_FALLBACK_LIMIT:
        return None  # the dense Gram matrix would be larger than the sparse graph (e.g. a long chain of small layers)
    small = int(np.argmin(sides))  # the side whose Gram matrix we form (as bipartite_eigenpairs)
    small_layers = list(range(small, n_layers, 2))
    inv_sqrt = [np.where(m, 1.0 / np.sqrt(np.where(m, d, 1.0)), 0.0) for d, m in zip(degrees, kept)]
    gram, entries = _bipartite_gram(graph, inv_sqrt, small)
    trivial = np.sqrt(np.concatenate([degrees[l] for l in small_layers]))
    trivial /= np.linalg.norm(trivial)
    vals, vecs = np.ones(1), trivial[:, None]
    if k > 1:
        # The start vector takes the draws bipartite_eigenpairs' ARPACK start took (one per non-isolated
        # node), so k-means gets the same random numbers as before; the fallback rewinds to them.
        before = rng.bit_generator.state
        v0 = np.zeros(trivial.shape[0])
        v0[trivial > 0] = rng.uniform(0.5, 1.5, size=int(np.count_nonzero(trivial)))
        pairs = lanczos_top_eigenpairs(gram, k - 1, v0=v0, tol=eigen_tol_for("gram", eigen_tol), deflate=vecs)
        if pairs is None or pairs[0][-1] > _CONNECTED:
            rng.bit_generator.state = before
            pairs = bipartite_eigenpairs(graph, k, solve=_arpack_gram_solver(rng, eigen_tol))
            return _embedding_from_pairs(pairs, kept)
        vals, vecs = np.append(pairs[0], 1.0), np.column_stack([pairs[1], trivial])
    sigma = np.sqrt(np.clip(vals, 0.0, None))
    if sigma.min() < 1e-6:
        return None  # zero singular values: the shortcut cannot give u = B v / s
    # Rows of D^-1/2 [u; v] (times sqrt 2): v on the small side, u = B v / s = D^-1/2 W D^-1/2 v / s on the other.
    rows: list[np.ndarray] = [np.empty(0)] * n_layers
    start = 0
    for l in small_layers:
        rows[l] = vecs[start : start + sizes[l]] * inv_sqrt[l][:, None]
        start += sizes[l]
    # B v from B's non-zero entries (a sparse graph), else from the blocks (BLAS).
    product = None if entries is None else _entries_product(*entries, vecs, int(sum(sizes[1 - small :: 2])))
    start = 0
    for big in range(1 - small, n_layers, 2):
        if product is not None:
            acc = product[start : start + sizes[big]] * inv_sqrt[big][:, None]
            start += sizes[big]
        else:
            acc = np.zeros((sizes[big], k))
            if big > 0:
                acc += graph.blocks[big - 1].T @ rows[big - 1]
            if big < n_layers - 1:
                acc += graph.blocks[big] @ rows[big + 1]
            acc *= (inv_sqrt[big] ** 2)[:, None]
        rows[big] = acc / sigma
    return np.concatenate([rows[l][kept[l]] for l in range(n_layers)])


def _arpack_gram_solver(rng: np.random.Generator, eigen_tol: float | None) -> GramSolver:
    """ARPACK for :func:`bipartite_eigenpairs`' Gram matrix: started from ``rng`` (one draw per row), within a
    bounded number of products, then the dense decomposition (:func:`top_eigenpairs`)."""

    def solve(gram: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        v0 = rng.uniform(0.5, 1.5, size=gram.shape[0])
        tol = eigen_tol_for("gram", eigen_tol)
        return top_eigenpairs(gram, k, v0=v0, tol=tol, rng=rng, dense=lambda: gram)

    return solve


def _embedding_from_pairs(
    pairs: tuple[np.ndarray, list[np.ndarray], list[np.ndarray]] | None, kept: list[np.ndarray]
) -> np.ndarray | None:
    """The embedding rows from :func:`bipartite_eigenpairs`' result (None stays None)."""
    if pairs is None:
        return None
    _, parts, inv_sqrt = pairs
    return np.concatenate([(parts[l] * inv_sqrt[l][:, None])[kept[l]] for l in range(len(parts))])


def _bipartite_gram(
    graph: LayeredGraph, inv_sqrt: list[np.ndarray], small: int
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """The Gram matrix ``B^T B`` over the layers ``small, small + 2, ...`` in float32, its upper triangle
    row by row (:func:`~clusterability.core.eigensolver.packed_upper`); and for a sparse graph ``B``'s
    non-zero entries (big-side node, small-side node, value).

    ``B = D^-1/2 W D^-1/2`` joins the two sides. A sparse graph (at most
    :data:`_SPARSE_GRAM` of its weights non-zero, e.g. a pruned network) sums
    the products of ``B``'s non-zero entries row by row (:func:`_sparse_gram`,
    float64); a dense one multiplies its normalized blocks (float32,
    :func:`_normalized`) with BLAS, as
    :func:`clusterability.core.bipartite.bipartite_eigenpairs` does: each layer of
    the other side couples its neighbours ``s <= t`` in block ``(s, t)``. Only
    the upper triangle is formed:
    :func:`clusterability.core.eigensolver.lanczos_top_eigenpairs` reads that alone.
    A shuffle's graph hands over its non-zero entries (:meth:`LayeredGraph.entries`);
    its blocks are not read then.
    """
    sizes = graph.layer_sizes
    n_layers = len(sizes)
    # Nodes are numbered within each side, layer by layer: layer l starts at first[l].
    first = [int(sum(sizes[l % 2 : l : 2])) for l in range(n_layers)]
    n_small = int(sum(sizes[small::2]))
    n_big = int(sum(sizes[1 - small :: 2]))
    known = graph.entries()  # a shuffle's record of the non-zero entries: the blocks are not read at all
    size = sum(sizes[l] * sizes[l + 1] for l in range(n_layers - 1))
    if known is not None and known.values.shape[0] <= min(_SPARSE_GRAM * size, _MAX_ENTRIES):
        nnz = known.values.shape[0]
        big, sml, vals = (np.empty(nnz, dtype=t) for t in (np.int32, np.int32, np.float64))
        done = 0
        for l in range(n_layers - 1):  # row by row, as a C-ordered block is read below
            args = (inv_sqrt[l], inv_sqrt[l + 1], first[l], first[l + 1], l % 2 != small, big, sml, vals, done)
            done = _listed_entries(*known.block(l), *args)
        return _sparse_gram(big, sml, vals, n_big, n_small), (big, sml, vals)
    # Each block in memory order (a Fortran-ordered block as its transpose), with the layers of its rows and columns.
    blocks = []
    for l, b in enumerate(graph.blocks):
        fortran = b.flags.f_contiguous and not b.flags.c_contiguous
        blocks.append((b.T, l + 1, l) if fortran else (b, l, l + 1))
    nnz = sum(_count_nonzero(b) for b, _, _ in blocks)
    if nnz <= min(_SPARSE_GRAM * size, _MAX_ENTRIES):
        big, sml, vals = (np.empty(nnz + 1, dtype=t) for t in (np.int32, np.int32, np.float64))  # + 1: scratch
        done = 0
        for b, rows, cols in blocks:
            left_big = rows % 2 != small
            done = _block_entries(
                b, inv_sqrt[rows], inv_sqrt[cols], first[rows], first[cols], left_big, big, sml, vals, done
            )
        entries = (big[:nnz], sml[:nnz], vals[:nnz])
        return _sparse_gram(*entries, n_big, n_small), entries
    norm = []
    for b, rows, cols in blocks:
        scaled = _normalized(b, inv_sqrt[rows], inv_sqrt[cols])
        norm.append(scaled.T if rows > cols else scaled)  # rows: layer l's nodes again
    gram = np.zeros((n_small, n_small), dtype=np.float32)
    for b in range(1 - small, n_layers, 2):
        # The normalized blocks transposed: rows for the small layer's nodes, columns for the big layer's.
        nbrs = {}
        if b > 0:
            nbrs[b - 1] = norm[b - 1]
        if b < n_layers - 1:
            nbrs[b + 1] = norm[b].T
        for s, left in nbrs.items():
            for t, right in nbrs.items():
                if t >= s:
                    gram[first[s] : first[s] + sizes[s], first[t] : first[t] + sizes[t]] += left @ right.T
    return packed_upper(gram), None


@numba.njit(cache=True, nogil=True)
def _entries_product(big, small, vals, v, n_big):
    """``B @ v`` from ``B``'s non-zero entries ``B[big, small] = vals``."""
    out = np.zeros((n_big, v.shape[1]))
    for p in range(vals.shape[0]):
        row = out[big[p]]
        src = v[small[p]]
        x = vals[p]
        for c in range(row.shape[0]):
            row[c] += x * src[c]
    return out


@numba.njit(cache=True, nogil=True)
def _count_nonzero(block):
    """The non-zero entries of a C-contiguous matrix (a loop numba vectorizes)."""
    count = 0
    for i in range(block.shape[0]):
        row = block[i]
        for j in range(row.shape[0]):
            count += row[j] != 0.0
    return count


@numba.njit(cache=True, nogil=True, inline="always")
def _put_nodes(big, small, p, left_node, right_node, left_big):
    """Entry ``p``'s big-side and small-side nodes, from its left (row) and right (column) node."""
    if left_big:
        big[p] = left_node
        small[p] = right_node
    else:
        big[p] = right_node
        small[p] = left_node


@numba.njit(cache=True, nogil=True)
def _block_entries(block, left, right, left_base, right_base, left_big, big, small, vals, start):
    """The non-zero entries of ``diag(left) block diag(right)`` appended at ``start`` as (big-side node,
    small-side node, value), rows in order; returns the new end.

    Every entry is written and only the non-zero ones are kept (the end moves past them), so
    the loop has no branch to mispredict; the arrays hold one slot more than the entries.
    """
    n, m = block.shape
    p = start
    for i in range(n):
        li = left[i]
        row = block[i]
        for j in range(m):
            w = row[j]
            vals[p] = w * li * right[j]
            _put_nodes(big, small, p, left_base + i, right_base + j, left_big)
            p += w != 0.0
    return p


@numba.njit(cache=True, nogil=True)
def _listed_entries(indptr, columns, values, left, right, left_base, right_base, left_big, big, small, vals, start):
    """:func:`_block_entries` of a block given by its non-zero entries (row pointers from 0, columns, values; row
    by row, columns ascending), in the same order and with the same products."""
    p = start
    for i in range(indptr.shape[0] - 1):
        li = left[i]
        for q in range(indptr[i], indptr[i + 1]):
            j = columns[q]
            vals[p] = values[q] * li * right[j]
            _put_nodes(big, small, p, left_base + i, right_base + j, left_big)
            p += 1
    return p


@numba.njit(cache=True, nogil=True)
def _sparse_gram(big, small, vals, n_big, n_small):
    """Upper triangle of ``B^T B`` (float32), row by row (:func:`~clusterability.core.eigensolver.packed_upper`),
    from the entries ``B[big, small] = vals``.

    Row ``a`` of the result is ``sum_i B[i, a] B[i, c]`` over the big-side nodes ``i``
    adjacent to ``a`` and their entries ``c >= a``: the entries are sorted by big-side node
    (then small-side node, as appended) and by small-side node, each knowing its place in the
    first order, and summed in a dense row.
    """
    nnz = vals.shape[0]
    row_start = np.zeros(n_big + 1, dtype=np.int64)
    col_start = np.zeros(n_small + 1, dtype=np.int64)
    for p in range(nnz):
        row_start[big[p] + 1] += 1
        col_start[small[p] + 1] += 1
    for i in range(n_big):
        row_start[i + 1] += row_start[i]
    for a in range(n_small):
        col_start[a + 1] += col_start[a]
    row_small = np.empty(nnz, dtype=np.uint32)  # unsigned: numba indexes without a negative-index test
    row_vals = np.empty(nnz)
    col_place = np.empty(nnz, dtype=np.int32)  # for each entry of column a: its place among its row's entries,
    col_end = np.empty(nnz, dtype=np.int32)  # and where that row's entries end (fewer than 2**31 entries)
    row_fill = row_start[:-1].copy()
    col_fill = col_start[:-1].copy()
    for p in range(nnz):
        q = row_fill[big[p]]
        row_fill[big[p]] += 1
        row_small[q] = small[p]
        row_vals[q] = vals[p]
        r = col_fill[small[p]]
        col_fill[small[p]] += 1
        col_place[r] = q
        col_end[r] = row_start[big[p] + 1]
    gram = np.empty(n_small * (n_small + 1) // 2, dtype=np.float32)
    acc = np.zeros(n_small)
    offset = 0
    for a in range(n_small):
        for r in range(col_start[a], col_start[a + 1]):
            v = row_vals[col_place[r]]
            index = row_small[col_place[r] : col_end[r]]  # slices: loops from 0 (no negative-index test)
            value = row_vals[col_place[r] : col_end[r]]
            for t in range(index.shape[0]):
                acc[index[t]] += v * value[t]
        out = gram[offset : offset + n_small - a]
        offset += n_small - a
        rest = acc[a:]
        for c in range(rest.shape[0]):
            out[c] = rest[c]
            rest[c] = 0.0
    return gram


@numba.njit(cache=True, nogil=True)
def _normalized(block, left, right):
    """``diag(left) block diag(right)`` in float32 (one pass)."""
    n, m = block.shape
    out = np.empty((n, m), dtype=np.float32)
    for i in range(n):
        li = left[i]
        src = block[i]
        dst = out[i]
        for j in range(m):
            dst[j] = src[j] * li * right[j]
    return out


def _sklearn_labels(
    graph: LayeredGraph | sp.spmatrix | np.ndarray,
    kept: np.ndarray,
    k: int,
    solver: str,
    rng: np.random.Generator,
    n_init: int,
) -> np.ndarray:
    from sklearn.cluster import SpectralClustering

    adjacency = graph.adjacency() if isinstance(graph, Graph) else sp.csr_matrix(graph)
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
