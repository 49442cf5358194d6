"""The weighted graph of a layered network (P1 section 2): one biadjacency block per pair of consecutive layers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from clusterability.errors import InputError


@dataclass(frozen=True)
class LayeredGraph:
    """Undirected weighted graph whose edges only join adjacent node layers."""

    blocks: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        if len(self.blocks) == 0:
            raise InputError("a layered graph needs at least one block of edges")
        for l in range(1, len(self.blocks)):
            if self.blocks[l - 1].shape[1] != self.blocks[l].shape[0]:
                raise InputError(
                    f"graph block {l - 1} has {self.blocks[l - 1].shape[1]} columns but "
                    f"block {l} has {self.blocks[l].shape[0]} rows"
                )
        for l, b in enumerate(self.blocks):
            if b.ndim != 2 or np.any(b < 0) or not np.all(np.isfinite(b)):
                raise InputError(f"graph block {l} must be a finite non-negative matrix")

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Nodes per layer, first layer first."""
        return (self.blocks[0].shape[0],) + tuple(b.shape[1] for b in self.blocks)

    @property
    def n_nodes(self) -> int:
        return int(sum(self.layer_sizes))

    def layer_offsets(self) -> np.ndarray:
        """Index of each layer's first node, plus the total: length ``n_layers + 1``."""
        return np.concatenate([[0], np.cumsum(self.layer_sizes)])

    def node_layers(self) -> np.ndarray:
        """The layer index of every node."""
        return np.repeat(np.arange(len(self.layer_sizes)), self.layer_sizes)

    def layer_degrees(self) -> list[np.ndarray]:
        """Degrees ``d_i = sum_j A_ij`` of each layer's nodes."""
        sizes = self.layer_sizes
        deg = [np.zeros(n) for n in sizes]
        for l, b in enumerate(self.blocks):
            deg[l] = deg[l] + b.sum(axis=1)
            deg[l + 1] = deg[l + 1] + b.sum(axis=0)
        return deg

    def degrees(self) -> np.ndarray:
        """Degrees of all nodes, in node order."""
        return np.concatenate(self.layer_degrees())

    def kept_blocks(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per block ``l`` (node layers ``l`` and ``l + 1``), the rows and columns of the non-isolated neurons.

        Read from the blocks' non-zero pattern, so weights near the float64 maximum cannot overflow a degree.
        """
        rows = [np.any(b != 0, axis=1) for b in self.blocks]
        cols = [np.any(b != 0, axis=0) for b in self.blocks]
        kept = [rows[0], *(c | r for c, r in zip(cols[:-1], rows[1:])), cols[-1]]
        return [(np.flatnonzero(kept[l]), np.flatnonzero(kept[l + 1])) for l in range(len(self.blocks))]

    def cut_terms(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per cluster ``c`` of ``labels`` (-1: left out): ``W(X_c, complement) / vol(X_c)`` and ``vol(X_c)``
        (:func:`clusterability.core.ncut.cluster_cut_terms`), from the blocks, without a sparse matrix."""
        if labels.shape[0] != self.n_nodes:
            raise ValueError(f"graph of {self.n_nodes} nodes does not match {labels.shape[0]} labels")
        n_clusters = int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0
        offsets = self.layer_offsets()
        onehot = [
            (labels[offsets[l] : offsets[l + 1], None] == np.arange(n_clusters)[None, :]).astype(np.float64)
            for l in range(len(offsets) - 1)
        ]
        internal = np.zeros(n_clusters)
        for l, b in enumerate(self.blocks):
            # Weight of edges with both ends in cluster c, counted from both ends as in sum_ij A_ij.
            internal += 2.0 * np.einsum("ic,ic->c", onehot[l], b @ onehot[l + 1])
        degrees = self.degrees()
        valid = labels >= 0
        volume = np.bincount(labels[valid], weights=degrees[valid], minlength=n_clusters)
        safe = np.where(volume > 0, volume, 1.0)
        terms = np.where(volume > 0, (volume - internal) / safe, 0.0)
        return np.clip(terms, 0.0, None), volume

    def as_layered(self) -> LayeredGraph:
        """Itself: a layered graph is a chain."""
        return self

    def adjacency(self) -> sp.csr_matrix:
        """The symmetric sparse adjacency matrix ``A`` over all nodes."""
        offsets = self.layer_offsets()
        rows, cols, vals = [], [], []
        for l, b in enumerate(self.blocks):
            r, c = np.nonzero(b)
            rows.append(r + offsets[l])
            cols.append(c + offsets[l + 1])
            vals.append(b[r, c])
        r = np.concatenate(rows)
        c = np.concatenate(cols)
        v = np.concatenate(vals).astype(np.float64)
        n = self.n_nodes
        upper = sp.coo_matrix((v, (r, c)), shape=(n, n))
        return (upper + upper.T).tocsr()

    def with_blocks(self, blocks: list[np.ndarray] | tuple[np.ndarray, ...]) -> LayeredGraph:
        """A graph of the same layer sizes with new edge weights."""
        return LayeredGraph(tuple(blocks))

    def scale_exponent(self) -> int:
        """The even ``e`` that brings the largest weight times ``2**-e`` into ``[1/2, 2)`` (0 if all are 0)."""
        return unit_scale_exponent(max((float(b.max()) for b in self.blocks if b.size), default=0.0))

    def scaled(self, exponent: int) -> LayeredGraph:
        """This graph with every weight multiplied by ``2**-exponent`` (exact; ``self`` for 0)."""
        if exponent == 0:
            return self
        return LayeredGraph(tuple(np.ldexp(b, -exponent) for b in self.blocks))


_SAFE_RANGE = (2.0**-200, 2.0**200)  # weights whose sums and squares cannot overflow or underflow float64


def unit_scale_exponent(largest: float) -> int:
    """The even ``e`` with ``largest * 2**-e`` in ``[1/2, 2)``; 0 for 0 (see the module docstring).

    Also 0 when ``largest`` lies in ``[2**-200, 2**200]``: there degrees, volumes and squared
    slice norms are safe, and the copy a rescaling costs (about a tenth of a shuffle's time for
    the papers' MLP) is saved.
    """
    if not np.isfinite(largest) or largest <= 0 or _SAFE_RANGE[0] <= largest <= _SAFE_RANGE[1]:
        return 0
    exponent = int(np.frexp(largest)[1])  # largest = m * 2**exponent with m in [1/2, 1)
    return exponent - exponent % 2


def unit_scaled_adjacency(adjacency: sp.spmatrix | np.ndarray) -> tuple[sp.spmatrix | np.ndarray, int]:
    """``adjacency * 2**-e`` and ``e`` (:func:`unit_scale_exponent` of its largest entry)."""
    data = adjacency.data if sp.issparse(adjacency) else np.asarray(adjacency)
    exponent = unit_scale_exponent(float(np.abs(data).max()) if data.size else 0.0)
    if exponent == 0:
        return adjacency, 0
    if sp.issparse(adjacency):
        scaled = sp.csr_matrix(adjacency, dtype=np.float64, copy=True)
        scaled.data = np.ldexp(scaled.data, -exponent)
        return scaled, exponent
    return np.ldexp(np.asarray(adjacency, dtype=np.float64), -exponent), exponent
