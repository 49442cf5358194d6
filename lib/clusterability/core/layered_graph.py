"""The weighted graph of a layered network (P1 section 2): one biadjacency block per pair of consecutive layers.

A graph is immutable: its blocks must not be changed in place once it is built. It remembers what it
has derived from them (degrees, the non-isolated neurons, the scale exponent, a shuffle's plan) and
hands out read-only arrays of those, because spectral clustering and the n-cut of one network ask for
them several times, and a network's shuffles all start from the same plan. A shuffle
(:func:`clusterability.core.shuffles.shuffle_graph`) of a sparse graph (:data:`SPARSE_FRACTION`, e.g. a
network pruned to 90 % zeros) is held as the non-zero entries it placed (:class:`BlockEntries`,
:meth:`LayeredGraph.from_entries`): its clustering and n-cut read those, and its dense blocks are only
built if something asks for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numba
import numpy as np
import scipy.sparse as sp

from clusterability.errors import InputError

#: A graph with at most this fraction of its block entries non-zero (e.g. a network pruned to 90 % zeros)
#: is *sparse*: its shuffles record their non-zero entries, and the clustering and the n-cut work from them.
SPARSE_FRACTION = 0.2

T = TypeVar("T")


@dataclass(frozen=True)
class BlockEntries:
    """The non-zero entries of a graph's blocks, each block row by row (columns ascending), all blocks
    concatenated: block ``l``'s row ``i`` holds ``values[p]`` at column ``columns[p]`` for ``p`` in
    ``indptr[row_start[l] + i] .. indptr[row_start[l] + i + 1] - 1`` (``indptr`` counts from the first
    block's first entry, so it is ``(number of rows + number of blocks)`` long and each block's pointers
    end where the next block's begin)."""

    indptr: np.ndarray  # int64
    columns: np.ndarray  # int32
    values: np.ndarray  # float64
    row_start: np.ndarray  # int64, per block: where its rows' pointers begin in indptr

    def block(self, l: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Block ``l``'s CSR arrays: row pointers (from 0), columns and values."""
        ptr = self.indptr[self.row_start[l] : self.row_start[l + 1]]
        lo, hi = int(ptr[0]), int(ptr[-1])
        return ptr - lo, self.columns[lo:hi], self.values[lo:hi]


@dataclass(frozen=True)
class LayeredGraph:
    """Undirected weighted graph whose edges only join adjacent node layers."""

    blocks: tuple[np.ndarray, ...]
    #: What the graph has derived from its blocks (see the module docstring); not part of its value.
    _derived: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def shuffled(cls, blocks: tuple[np.ndarray, ...], *, scale_exponent: int) -> LayeredGraph:
        """The graph of ``blocks``, a shuffle of a valid graph's (each block's entries permuted), so not checked
        again; its :meth:`scale_exponent` (that of the graph shuffled) is recorded."""
        graph = object.__new__(cls)
        object.__setattr__(graph, "blocks", tuple(blocks))
        object.__setattr__(graph, "_derived", {"scale_exponent": int(scale_exponent)})
        return graph

    @classmethod
    def from_entries(
        cls,
        shapes: np.ndarray,
        entries: BlockEntries,
        *,
        scale_exponent: int,
        layer_degrees: list[np.ndarray],
    ) -> LayeredGraph:
        """The graph whose blocks have the ``(rows, columns)`` ``shapes`` and the non-zero ``entries``, a shuffle of
        a valid sparse graph's (so not checked again), with its :meth:`scale_exponent` and ``layer_degrees`` (they
        must be the blocks' own). Its dense blocks are built when first asked for: clustering it and measuring
        its n-cut work from the entries alone."""
        graph = object.__new__(_EntriesGraph)
        derived = {
            "shapes": np.array(shapes, dtype=np.int64).reshape(-1, 2),
            "scale_exponent": int(scale_exponent),
            "entries": entries,
            "layer_degrees": _read_only(layer_degrees),
        }
        object.__setattr__(graph, "_derived", derived)
        return graph

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
        """Degrees ``d_i = sum_j A_ij`` of each layer's nodes (read-only arrays)."""
        deg = self._derived.get("layer_degrees")
        if deg is None:
            deg = [np.zeros(n) for n in self.layer_sizes]
            for l, b in enumerate(self.blocks):
                deg[l] = deg[l] + b.sum(axis=1)
                deg[l + 1] = deg[l + 1] + b.sum(axis=0)
            deg = self._derived.setdefault("layer_degrees", _read_only(deg))
        return list(deg)

    def degrees(self) -> np.ndarray:
        """Degrees of all nodes, in node order."""
        return np.concatenate(self.layer_degrees())

    def kept_blocks(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per block ``l`` (node layers ``l`` and ``l + 1``), the rows and columns of the non-isolated neurons.

        Read from the blocks' non-zero pattern, so weights near the float64 maximum cannot overflow a degree.
        The arrays are read-only.
        """
        out = self._derived.get("kept_blocks")
        if out is None:
            rows = [np.any(b != 0, axis=1) for b in self.blocks]
            cols = [np.any(b != 0, axis=0) for b in self.blocks]
            kept = _read_only(
                [np.flatnonzero(m) for m in [rows[0], *(c | r for c, r in zip(cols[:-1], rows[1:])), cols[-1]]]
            )
            out = self._derived.setdefault("kept_blocks", [(kept[l], kept[l + 1]) for l in range(len(self.blocks))])
        return list(out)

    def cached(self, name: str, compute: Callable[[], T]) -> T:
        """``compute()``, computed once per graph and remembered under ``name`` (for what other modules derive
        from the blocks alone, such as a shuffle's plan of the non-zero entries it permutes)."""
        if name not in self._derived:
            self._derived[name] = compute()
        return self._derived[name]

    def entries(self) -> BlockEntries | None:
        """The blocks' non-zero entries if the graph recorded them (a shuffle of a sparse graph does), else None."""
        return self._derived.get("entries")

    def cut_terms(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per cluster ``c`` of ``labels`` (-1: left out): ``W(X_c, complement) / vol(X_c)`` and ``vol(X_c)``
        (:func:`clusterability.core.ncut.cluster_cut_terms`), from the blocks, without a sparse matrix."""
        if labels.shape[0] != self.n_nodes:
            raise ValueError(f"graph of {self.n_nodes} nodes does not match {labels.shape[0]} labels")
        entries = self.entries()
        if entries is not None:  # held as its non-zero entries: summed from them (the same sums, row by row)
            degrees = self.cached("degrees", lambda: _read_only([self.degrees()])[0])
            return entries_cut_terms(entries, labels, self.layer_offsets(), degrees)
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
        exponent = self._derived.get("scale_exponent")
        if exponent is None:
            exponent = unit_scale_exponent(max((float(b.max()) for b in self.blocks if b.size), default=0.0))
            self._derived["scale_exponent"] = exponent
        return exponent

    def scaled(self, exponent: int) -> LayeredGraph:
        """This graph with every weight multiplied by ``2**-exponent`` (exact; ``self`` for 0)."""
        if exponent == 0:
            return self
        return LayeredGraph(tuple(np.ldexp(b, -exponent) for b in self.blocks))


class _EntriesGraph(LayeredGraph):
    """A :class:`LayeredGraph` held as its blocks' non-zero entries (:meth:`LayeredGraph.from_entries`); its dense
    blocks, when asked for, are built from them once (byte for byte the blocks they list). Asking includes
    ``isinstance(graph, Graph)``: the protocol's check reads every member, so code that routes graphs tests
    ``LayeredGraph`` first."""

    @property
    def blocks(self) -> tuple[np.ndarray, ...]:  # type: ignore[override]
        blocks = self._derived.get("blocks")
        if blocks is None:
            entries = self._derived["entries"]
            dense = []
            for l, (n, m) in enumerate(self._derived["shapes"].tolist()):
                indptr, columns, values = entries.block(l)
                block = np.zeros((n, m))
                block[np.repeat(np.arange(n), np.diff(indptr)), columns] = values
                dense.append(block)
            blocks = self._derived.setdefault("blocks", tuple(dense))
        return blocks

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        shapes = self._derived["shapes"]
        return (int(shapes[0, 0]),) + tuple(int(m) for m in shapes[:, 1])


def _read_only(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """``arrays``, each made read-only (they are shared by everyone who asks the graph)."""
    for a in arrays:
        a.flags.writeable = False
    return arrays


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


def entries_cut_terms(
    entries: BlockEntries, labels: np.ndarray, offsets: np.ndarray, degrees: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`clusterability.core.ncut.cluster_cut_terms` of a layered graph given by its non-zero entries
    (:class:`BlockEntries`), its node ``offsets`` per layer and its
    ``degrees``: each cluster's internal weight summed over the entries, block by block."""
    return _entries_cut_terms(
        entries.indptr,
        entries.columns,
        entries.values,
        entries.row_start,
        np.asarray(offsets, dtype=np.int64),
        np.asarray(labels, dtype=np.int64),
        degrees,
    )


@numba.njit(cache=True, nogil=True)
def _entries_cut_terms(indptr, columns, values, row_start, offsets, labels, degrees):
    n_clusters = 0
    for i in range(labels.shape[0]):
        n_clusters = max(n_clusters, labels[i] + 1)
    internal = np.zeros(n_clusters)  # counted from both ends, as sum_ij A_ij
    within = np.zeros(n_clusters)
    for l in range(row_start.shape[0] - 1):
        within[:] = 0.0
        rows = labels[offsets[l] : offsets[l + 1]]
        cols = labels[offsets[l + 1] : offsets[l + 2]]
        for i in range(rows.shape[0]):
            a = rows[i]
            if a < 0:
                continue
            row = 0.0  # the row's weight inside its cluster (adding the zeros of the others changes nothing)
            for p in range(indptr[row_start[l] + i], indptr[row_start[l] + i + 1]):
                row += values[p] * (cols[columns[p]] == a)
            within[a] += row
        for c in range(n_clusters):
            internal[c] += 2.0 * within[c]
    volume = np.zeros(n_clusters)
    for i in range(labels.shape[0]):
        if labels[i] >= 0:
            volume[labels[i]] += degrees[i]
    terms = np.zeros(n_clusters)
    for c in range(n_clusters):
        if volume[c] > 0:
            terms[c] = (volume[c] - internal[c]) / volume[c]
            if terms[c] < 0.0:
                terms[c] = 0.0
    return terms, volume
