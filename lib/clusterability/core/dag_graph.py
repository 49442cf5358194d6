"""The channel graph of a CNN whose convolutions are not a chain: residual and branching networks.

In a ResNet a block's output is the *sum* of its last convolution's output and
its input (the shortcut), and in an Inception network a module's output is the
*concatenation* of its branches. The channel graph (P2 section 1.1: one node per
output channel of each convolution, edge weight = the L1 norm of the kernel
slice, batch norm folded in) is defined for these networks as follows:

* every convolution is a layer of nodes, one per output channel;
* the tensor a convolution reads is the sum (``Add``) and/or concatenation
  (``Concatenate``) of convolution outputs, through layers without weights
  (activations, pooling, padding). Each input channel ``c`` of the
  convolution is therefore a sum of output channels of one or more
  *producer* convolutions; the edge between producer channel ``p`` and output
  channel ``o`` gets the weight of the kernel slice ``K[:, :, c, o]`` for
  every producer ``p`` contributing to ``c`` (an identity shortcut thus joins
  a block's next convolution to every earlier convolution whose output still
  flows down the residual stream, each with the same weight);
* the input image is no layer (the first convolution's channels have no
  incoming edges), dense layers and auxiliary classifiers are left out.

A chain (each convolution reads the previous one) is exactly the layered graph
of :func:`clusterability.core.build.cnn_graph`; :meth:`DagGraph.as_layered` returns
it so that the fast bipartite solver applies. Other graphs are clustered with
ARPACK on the normalized adjacency as a linear operator (:meth:`DagGraph.matmat`:
two products per convolution block; :func:`dag_embedding` does both in one
pass over a float32 copy of each block), so neither a dense ``n x n`` matrix nor
the sparse adjacency (whose residual edges repeat each block once per
producer: about 80 million entries for ResNet-50) is formed; the
scikit-learn reference solvers get the sparse adjacency.

Shuffles act on ``blocks`` (each convolution's slice-norm matrix), as for a
layered graph: one permutation per convolution, shared by all its producers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp

from clusterability.core.graph import Graph
from clusterability.core.layered_graph import LayeredGraph, unit_scale_exponent
from clusterability.errors import InputError

#: Where a layer's input channels come from: ``(producer layer, first input channel)``; the producer's
#: output channels ``0 .. sizes[producer] - 1`` feed input channels ``start .. start + sizes[producer] - 1``.
Source = tuple[int, int]


@dataclass(frozen=True)
class DagGraph:
    """Channel graph with layers ``0 .. L-1`` of ``sizes[l]`` nodes each.

    ``blocks[l]`` is layer ``l``'s ``(input channels, sizes[l])`` matrix of edge
    weights and ``sources[l]`` the producers of its input channels (empty for a
    layer that reads the network's input: it has no incoming edges).
    """

    sizes: tuple[int, ...]
    blocks: tuple[np.ndarray, ...]
    sources: tuple[tuple[Source, ...], ...]

    def __post_init__(self) -> None:
        if not (len(self.sizes) == len(self.blocks) == len(self.sources)) or not self.sizes:
            raise InputError("a DAG graph needs one size, block and source list per layer")
        for l, (block, sources) in enumerate(zip(self.blocks, self.sources)):
            if block.ndim != 2 or block.shape[1] != self.sizes[l]:
                raise InputError(f"DAG graph layer {l}: block must have {self.sizes[l]} columns, got {block.shape}")
            if np.any(block < 0) or not np.all(np.isfinite(block)):
                raise InputError(f"DAG graph layer {l}: edge weights must be finite and non-negative")
            for producer, start in sources:
                if not 0 <= producer < l:
                    raise InputError(f"DAG graph layer {l}: producer {producer} must be an earlier layer")
                if start < 0 or start + self.sizes[producer] > block.shape[0]:
                    raise InputError(
                        f"DAG graph layer {l}: producer {producer} ({self.sizes[producer]} channels from input "
                        f"channel {start}) does not fit its {block.shape[0]} input channels"
                    )

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return self.sizes

    @property
    def n_nodes(self) -> int:
        return int(sum(self.sizes))

    @property
    def n_edges(self) -> int:
        """Edges (with multiplicity) of the graph: one per producer channel and output channel."""
        return int(sum(self.sizes[p] * self.sizes[l] for l, src in enumerate(self.sources) for p, _ in src))

    def layer_offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.sizes)])

    def adjacency(self) -> sp.csr_matrix:
        """The symmetric sparse adjacency matrix ``A`` over all nodes (parallel edges summed)."""
        offsets = self.layer_offsets()
        rows, cols, vals = [], [], []
        for l, (block, sources) in enumerate(zip(self.blocks, self.sources)):
            for producer, start in sources:
                part = block[start : start + self.sizes[producer]]
                r, c = np.nonzero(part)
                rows.append(r + offsets[producer])
                cols.append(c + offsets[l])
                vals.append(part[r, c])
        n = self.n_nodes
        if not rows:
            return sp.csr_matrix((n, n))
        upper = sp.coo_matrix(
            (np.concatenate(vals).astype(np.float64), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
        )
        return (upper + upper.T).tocsr()

    def matmat(self, x: np.ndarray) -> np.ndarray:
        """``A @ x`` for ``x`` of shape ``(n_nodes,)`` or ``(n_nodes, m)``, from the blocks alone.

        Each layer costs two products with its block, however many producers
        feed it: the producers' rows of ``x`` are summed into the layer's input
        channels (``B^T`` carries them to the layer's nodes) and ``B @ x_l`` is
        handed back to each producer. Memory: the blocks (about the network's
        parameters over ``kh * kw``), never an ``n x n`` matrix.
        """
        x = np.asarray(x, dtype=np.float64)
        vector = x.ndim == 1
        x2 = x[:, None] if vector else x
        offsets = self.layer_offsets()
        out = np.zeros_like(x2)
        for l, (block, sources) in enumerate(zip(self.blocks, self.sources)):
            if not sources:
                continue
            gathered = np.zeros((block.shape[0], x2.shape[1]))
            for producer, start in sources:
                gathered[start : start + self.sizes[producer]] += x2[offsets[producer] : offsets[producer + 1]]
            out[offsets[l] : offsets[l + 1]] += block.T @ gathered
            back = block @ x2[offsets[l] : offsets[l + 1]]
            for producer, start in sources:
                out[offsets[producer] : offsets[producer + 1]] += back[start : start + self.sizes[producer]]
        return out[:, 0] if vector else out

    def degrees(self) -> np.ndarray:
        """Degrees ``d_i = sum_j A_ij`` of all nodes, in node order."""
        return self.matmat(np.ones(self.n_nodes))

    def node_layers(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.sizes)), self.sizes)

    def with_blocks(self, blocks: list[np.ndarray] | tuple[np.ndarray, ...]) -> DagGraph:
        """The same wiring with new edge weights (e.g. shuffled)."""
        return DagGraph(self.sizes, tuple(blocks), self.sources)

    def scale_exponent(self) -> int:
        return unit_scale_exponent(max((float(b.max()) for b in self.blocks if b.size), default=0.0))

    def scaled(self, exponent: int) -> DagGraph:
        if exponent == 0:
            return self
        return self.with_blocks([np.ldexp(b, -exponent) for b in self.blocks])

    def kept_blocks(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per block ``l``: the input channels fed by a non-isolated producer channel (rows) and layer ``l``'s
        non-isolated channels (columns)."""
        degrees = self.scaled(self.scale_exponent()).degrees()
        offsets = self.layer_offsets()
        kept = [degrees[offsets[l] : offsets[l + 1]] > 0 for l in range(len(offsets) - 1)]
        out = []
        for l, (block, sources) in enumerate(zip(self.blocks, self.sources)):
            fed = np.zeros(block.shape[0], dtype=bool)
            for producer, start in sources:
                fed[start : start + self.sizes[producer]] |= kept[producer]
            out.append((np.flatnonzero(fed), np.flatnonzero(kept[l])))
        return out

    def cut_terms(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per cluster: ``W(X_c, complement) / vol(X_c)`` and ``vol(X_c)`` (:func:`dag_cut_terms`)."""
        return dag_cut_terms(self, labels)

    def as_layered(self) -> LayeredGraph | None:
        """The layered graph if the layers form a chain (each reads all of the previous one), else None."""
        if self.sources[0] or len(self.sizes) < 2:
            return None
        for l in range(1, len(self.sizes)):
            if self.sources[l] != ((l - 1, 0),) or self.blocks[l].shape[0] != self.sizes[l - 1]:
                return None
        return LayeredGraph(tuple(self.blocks[1:]))


def dag_embedding(
    graph: DagGraph,
    k: int,
    rng: np.random.Generator,
    eigen_tol: float | None = None,
    degrees: np.ndarray | None = None,
) -> np.ndarray:
    """Rows of the k smallest eigenvectors of ``L_rw`` for the non-isolated nodes (spectral clustering's
    embedding), from ``eigsh`` on ``M = D^-1/2 A D^-1/2`` as a linear operator (:func:`_operator_product`)
    within :mod:`clusterability.core.eigensolver`'s budget of products.

    The operator reads float32 copies of the blocks (half the memory traffic of float64; the
    products are summed in float64, so ARPACK sees one fixed matrix, the adjacency with its
    weights rounded to float32, and reaches ``eigen_tol``, by default
    :data:`~clusterability.core.eigensolver.EIGEN_TOLS`'s ``channel``); the degrees
    (``graph.degrees()`` unless given) are exact.
    """
    from scipy.sparse.linalg import LinearOperator

    from clusterability.core.eigensolver import eigen_tol_for, top_eigenpairs

    degrees = graph.degrees() if degrees is None else degrees
    kept = degrees > 0
    inv_sqrt = np.where(kept, 1.0 / np.sqrt(np.where(kept, degrees, 1.0)), 0.0)
    # Held in a list emptied at the end: scipy's eigsh leaves reference cycles behind, and the copies
    # (51 MB for ResNet-50) should not wait for the garbage collector.
    held = [_float32_blocks(graph.blocks)]

    def product(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 2:
            return np.column_stack([product(column) for column in x.T])
        return inv_sqrt * _operator_product(graph, held[0], inv_sqrt * x)

    n = graph.n_nodes
    operator = LinearOperator((n, n), matvec=product, matmat=product, dtype=np.float64)
    v0 = rng.uniform(0.5, 1.5, size=n) * kept
    try:
        _, vecs = top_eigenpairs(
            operator,
            k,
            v0=v0,
            tol=eigen_tol_for("channel", eigen_tol),
            rng=rng,
            dense=lambda: product(np.eye(n)),
            what="the channel graph",
        )
    finally:
        held.clear()
    return (vecs * inv_sqrt[:, None])[kept]


def _float32_blocks(blocks: tuple[np.ndarray, ...]) -> list[tuple[np.ndarray, bool]]:
    """Each block as ``(matrix, transposed)``: a float32 copy of the block, or of its transpose when the
    block is stored column-major, C-contiguous either way.

    The copies share one buffer: a large one is mapped and unmapped whole, so the memory goes back
    to the system when the embedding is done (many separate copies of a few MB would stay in the
    allocator's heap and raise the process's peak memory at its next step).
    """
    buffer = np.empty(sum(b.size for b in blocks), dtype=np.float32)
    out = []
    start = 0
    for block in blocks:
        transposed = block.flags.f_contiguous and not block.flags.c_contiguous
        source = block.T if transposed else block
        matrix = buffer[start : start + block.size].reshape(source.shape)
        matrix[...] = source
        out.append((matrix, bool(transposed)))
        start += block.size
    return out


def _operator_product(graph: DagGraph, blocks: list[tuple[np.ndarray, bool]], x: np.ndarray) -> np.ndarray:
    """``A @ x`` for a vector ``x``, as :meth:`DagGraph.matmat`, with each block (``blocks``: from
    :func:`_float32_blocks`) read once for both of its products (:func:`_both_products`)."""
    offsets = graph.layer_offsets()
    out = np.zeros(x.shape[0])
    for l, ((matrix, transposed), sources) in enumerate(zip(blocks, graph.sources)):
        if not sources:
            continue
        n_in = matrix.shape[1] if transposed else matrix.shape[0]
        gathered = np.zeros(n_in)
        for producer, start in sources:
            gathered[start : start + graph.sizes[producer]] += x[offsets[producer] : offsets[producer + 1]]
        back = np.zeros(n_in)
        x_l, out_l = x[offsets[l] : offsets[l + 1]], out[offsets[l] : offsets[l + 1]]
        if transposed:  # matrix = block^T: rows are the layer's nodes
            _both_products(matrix, gathered, x_l, out_l, back)
        else:
            _both_products(matrix, x_l, gathered, back, out_l)
        for producer, start in sources:
            out[offsets[producer] : offsets[producer + 1]] += back[start : start + graph.sizes[producer]]
    return out


@numba.njit(cache=True, nogil=True, fastmath={"contract", "reassoc"})
def _both_products(matrix, u, v, rows_out, cols_out):
    """``rows_out += matrix @ u`` and ``cols_out += matrix.T @ v`` in one pass over ``matrix`` (row-major),
    summed in float64."""
    n_rows = matrix.shape[0]
    for r in range(n_rows):
        row = matrix[r]
        vr = v[r]
        s = 0.0
        for c in range(row.shape[0]):
            s += row[c] * u[c]
            cols_out[c] += row[c] * vr
        rows_out[r] += s


def dag_cut_terms(graph: DagGraph, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cluster ``W(X_c, complement) / vol(X_c)`` and ``vol(X_c)``, from ``A @ onehot`` (no sparse matrix)."""
    labels = np.asarray(labels)
    if labels.shape[0] != graph.n_nodes:
        raise ValueError(f"graph of {graph.n_nodes} nodes does not match {labels.shape[0]} labels")
    n_clusters = int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0
    onehot = (labels[:, None] == np.arange(n_clusters)[None, :]).astype(np.float64)
    a_onehot = graph.matmat(onehot)
    internal = np.einsum("ic,ic->c", onehot, a_onehot)
    volume = np.bincount(labels[labels >= 0], weights=graph.degrees()[labels >= 0], minlength=n_clusters)
    safe = np.where(volume > 0, volume, 1.0)
    return np.clip(np.where(volume > 0, (volume - internal) / safe, 0.0), 0.0, None), volume


def solver_input(graph: Graph) -> Graph:
    """A graph that is a chain as the layered graph (for the bipartite solver), else ``graph``."""
    layered = graph.as_layered()
    return layered if layered is not None else graph
