"""Shuffled networks: the null distribution of n-cuts (P1 sections 3 and 3.3, P2 section 1.2).

Shuffles act on a network's graph blocks (|W| for an MLP layer, the slice-norm
matrix for a CNN layer; shuffling W and then taking |W| is the same thing):

``layer``
    Permute all entries of each block independently (P1's per-layer shuffle;
    for a CNN this is P2's channel-edge shuffle: which two channels each
    kernel slice connects), among the *non-isolated* neurons only: neurons
    (channels) with no non-zero weight, such as the MNIST border pixels or the
    neurons pruning cut off, are dropped first, as the authors' code did
    (``shuffle_smaller_model``; SPEC section 1), so no weight lands on them. A
    neuron that the shuffle leaves without weight is isolated in the shuffled
    network and the clustering drops it there (the isolated neurons are
    recomputed). For a residual/branching network
    (:class:`~clusterability.core.dag_graph.DagGraph`) a block's row (an input
    channel) is kept when one of the channels that feed it is.
``layer_nonzero``
    Permute only the non-zero entries of each block, keeping the topology (so
    dropping the isolated neurons changes nothing).

Drawing: :func:`shuffle_layer_within` (and so :func:`shuffle_layer`) defines the
draw, ``Generator.choice(n_positions, n_nonzero, replace=False)``. For float64
blocks :func:`shuffle_graph` makes exactly the same draws from the same
generator, in numba (:func:`_draw_layer_shuffle`: NumPy's tail shuffle or
Floyd's algorithm, whichever NumPy 2's ``choice`` takes, its bounded integers
drawn from the generator's own bit generator through numba's bindings), for
all blocks in one call and without the intermediate arrays, so the shuffled
weight matrices are byte for byte those of the NumPy functions
(``tests/unit/test_shuffles.py`` checks it on both algorithms). A shuffle of a
sparse :class:`~clusterability.core.layered_graph.LayeredGraph`
(:data:`~clusterability.core.layered_graph.SPARSE_FRACTION`, e.g. a network
pruned to 90 % zeros) never writes dense blocks: the same call lists the
non-zero entries it placed, row by row, and sums the degrees in NumPy's order
(:func:`_entries_degrees`), and the shuffled graph is held as those
(:meth:`~clusterability.core.layered_graph.LayeredGraph.from_entries`). What the
draw needs from the network (its non-isolated neurons, the non-zero values in
order) is computed once per graph (:func:`_layer_plan`), never carried from
one shuffle to the next.

Seeds: shuffle ``i`` of a network uses
``SeedSequence(seed, spawn_key=("shuffle", method, i))`` (the names hashed to
integers by :func:`clusterability.seeds.seed_sequence`), spawned into two
children: the first seeds the permutation, the second the clustering of that
shuffled network (:func:`shuffle_rngs`). So each shuffle is independent of the
others, reproducible on its own, and the same whether shuffles are computed in
one process, in chunks, or in any order.
"""

from __future__ import annotations

import numba
import numpy as np
from numba.np.random.generator_core import next_uint32
from numba.np.random.random_methods import bounded_lemire_uint64, buffered_bounded_lemire_uint32

from clusterability.core.graph import Graph
from clusterability.core.layered_graph import SPARSE_FRACTION, BlockEntries, LayeredGraph
from clusterability.errors import InputError
from clusterability.seeds import seed_sequence

SHUFFLE_METHODS = ("layer", "layer_nonzero")


def shuffle_layer(block: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """All entries of ``block`` in uniformly random positions.

    Drawn as random distinct positions for the non-zero entries (the zeros are
    interchangeable), which is a uniform permutation of the whole matrix in
    distribution but costs O(non-zeros) for a pruned layer.
    """
    flat = block.ravel()
    nz = np.flatnonzero(flat)
    positions = rng.choice(flat.size, size=nz.size, replace=False)
    out = np.zeros_like(flat)
    out[positions] = flat[nz]
    return out.reshape(block.shape)


def shuffle_layer_nonzero(block: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The non-zero entries of ``block`` permuted among the non-zero positions."""
    flat = block.ravel()
    nz = np.flatnonzero(flat)
    out = np.zeros_like(flat)
    out[nz] = flat[rng.permutation(nz)]
    return out.reshape(block.shape)


def shuffle_layer_within(block: np.ndarray, rows: np.ndarray, cols: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """:func:`shuffle_layer` of the sub-matrix ``block[rows][:, cols]``; every other entry of ``block`` must be 0.

    The same draw as ``shuffle_layer(block[np.ix_(rows, cols)], rng)`` put back in
    place, in O(non-zeros): positions drawn in the sub-matrix are mapped to
    the block's without copying the sub-matrix.
    """
    flat = block.ravel()
    nz = np.flatnonzero(flat)  # row-major, so in the sub-matrix's row-major order too
    positions = rng.choice(rows.size * cols.size, size=nz.size, replace=False)
    out = np.zeros_like(flat)
    out[rows[positions // cols.size] * block.shape[1] + cols[positions % cols.size]] = flat[nz]
    return out.reshape(block.shape)


def kept_blocks(graph: Graph) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per block, the rows and columns of the non-isolated neurons (those with a non-zero weight).

    A :class:`LayeredGraph`'s block ``l`` joins node layers ``l`` and ``l + 1``;
    a :class:`DagGraph`'s block ``l`` maps input channels (rows: kept when a
    non-isolated producer channel feeds them) to layer ``l`` (columns).
    """
    return graph.kept_blocks()


def shuffle_graph(graph: Graph, method: str, rng: np.random.Generator) -> Graph:
    """A shuffled copy of ``graph``: each block shuffled independently by ``method``.

    ``layer`` permutes each block among its non-isolated neurons only (see the module docstring).
    """
    if method not in SHUFFLE_METHODS:
        raise InputError(f"unknown shuffle method {method!r}; choose one of {', '.join(SHUFFLE_METHODS)}")
    if method == "layer_nonzero":
        return graph.with_blocks([shuffle_layer_nonzero(b, rng) for b in graph.blocks])
    if not all(b.dtype == np.float64 and b.size < 2**31 for b in graph.blocks):  # what the compiled draw handles
        kept = kept_blocks(graph)
        blocks = [shuffle_layer_within(b, r, c, rng) for b, (r, c) in zip(graph.blocks, kept, strict=True)]
        return graph.with_blocks(blocks)
    layered = isinstance(graph, LayeredGraph)
    plan = graph.cached("layer_shuffle_plan", lambda: _layer_plan(graph)) if layered else _layer_plan(graph)
    shapes, rows, row_off, cols, col_off, values, val_off, out_off, sparse = plan
    sparse = sparse and layered  # a DAG graph has no use for the entries
    out, indptr, columns, entry_values, row_start, degrees = _draw_layer_shuffle(
        rng, shapes, rows, row_off, cols, col_off, values, val_off, out_off, sparse
    )
    if sparse:
        layer_off = np.concatenate([[0], np.cumsum(graph.layer_sizes)])
        return LayeredGraph.from_entries(
            shapes,
            BlockEntries(indptr, columns, entry_values, row_start),
            scale_exponent=graph.scale_exponent(),
            layer_degrees=[degrees[layer_off[l] : layer_off[l + 1]] for l in range(len(layer_off) - 1)],
        )
    blocks = tuple(out[out_off[l] : out_off[l + 1]].reshape(shapes[l]) for l in range(shapes.shape[0]))
    if not layered:
        return graph.with_blocks(blocks)
    return LayeredGraph.shuffled(blocks, scale_exponent=graph.scale_exponent())


def _layer_plan(graph: Graph) -> tuple:
    """What a ``layer`` shuffle of ``graph`` draws from: per block (concatenated, with offsets) its shape, the
    non-isolated rows and columns, its non-zero values in row-major order; where each block starts in the
    output; and whether the graph is sparse (:data:`~clusterability.core.layered_graph.SPARSE_FRACTION`)."""
    kept = kept_blocks(graph)
    shapes = np.array([b.shape for b in graph.blocks], dtype=np.int64).reshape(-1, 2)
    flats = [b.ravel() for b in graph.blocks]  # row-major, as shuffle_layer_within reads them
    values = [f[np.flatnonzero(f)] for f in flats]

    def offsets(arrays: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([[0], np.cumsum([a.size for a in arrays])]).astype(np.int64)

    def joined(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate([np.asarray(a, dtype=dtype) for a in arrays]) if arrays else np.zeros(0, dtype=dtype)

    nnz = sum(v.size for v in values)
    size = sum(f.size for f in flats)
    return (
        shapes,
        joined([r for r, _ in kept], np.int64),
        offsets([r for r, _ in kept]),
        joined([c for _, c in kept], np.int64),
        offsets([c for _, c in kept]),
        joined(values, np.float64),
        offsets(values),
        offsets(flats),
        bool(nnz <= SPARSE_FRACTION * size),
    )


@numba.njit(cache=True, nogil=True)
def _bounded(bitgen, high):
    """A uniform integer in ``[0, high]`` as NumPy draws it (``random_bounded_uint64`` without masking:
    Lemire's method on 32-bit draws when ``high`` fits in 32 bits, on 64-bit draws otherwise)."""
    bound = np.uint64(high)
    if bound == 0:
        return np.int64(0)
    if bound <= np.uint64(0xFFFFFFFF):
        if bound == np.uint64(0xFFFFFFFF):
            return np.int64(next_uint32(bitgen))
        return np.int64(buffered_bounded_lemire_uint32(bitgen, np.uint32(bound)))
    return np.int64(bounded_lemire_uint64(bitgen, bound))


@numba.njit(cache=True, nogil=True)
def _choice_without_replacement(bitgen, population, size, work):
    """``Generator.choice(population, size, replace=False)``, draw for draw, as a view of ``work`` (int32 scratch
    of at least ``population`` entries; the population is below ``2**31``).

    As NumPy does: for a population over 10,000 of which more than a fiftieth is drawn, the last
    ``size`` places of a Fisher-Yates shuffle of ``arange(population)`` run from the end; else Floyd's
    algorithm (a hash set of what is drawn: open addressing over ``2**m`` slots, ``2**m - 1`` the
    smallest such number at least ``int(1.2 * size)``) followed by a Fisher-Yates shuffle of the sample.
    """
    if population > 10000 and size > population // 50:
        idx = work[:population]
        for i in range(population):
            idx[i] = i
        for i in range(population - 1, max(population - size, 1) - 1, -1):
            j = _bounded(bitgen, i)
            t = idx[j]
            idx[j] = idx[i]
            idx[i] = t
        return idx[population - size :]
    out = work[:size]
    bits = np.uint64(1.2 * size)
    for shift in (1, 2, 4, 8, 16, 32):
        bits |= bits >> np.uint64(shift)
    mask = np.int64(bits)
    table = np.full(mask + 1, -1, dtype=np.int64)
    for j in range(population - size, population):
        val = _bounded(bitgen, j)
        loc = val & mask
        while table[loc] != -1 and table[loc] != val:
            loc = (loc + 1) & mask
        if table[loc] == -1:  # val not drawn before
            table[loc] = val
            out[j - population + size] = val
        else:  # drawn before: j instead
            loc = j & mask
            while table[loc] != -1:
                loc = (loc + 1) & mask
            table[loc] = j
            out[j - population + size] = j
    for i in range(size - 1, 0, -1):
        j = _bounded(bitgen, i)
        t = out[j]
        out[j] = out[i]
        out[i] = t
    return out


@numba.njit(cache=True, nogil=True)
def _draw_layer_shuffle(rng, shapes, rows, row_off, cols, col_off, values, val_off, out_off, sparse):
    """The ``layer`` shuffle of every block (:func:`_layer_plan`'s arrays), as :func:`shuffle_layer_within`
    draws it block after block from ``rng``.

    Returns the shuffled blocks, concatenated (row-major), or, if ``sparse``, instead of them (an empty
    array) their non-zero entries (:class:`~clusterability.core.layered_graph.BlockEntries`' ``indptr``,
    ``columns``, ``values`` and ``row_start``) and the degrees of all nodes (:func:`_entries_degrees`).
    """
    bitgen = rng.bit_generator
    n_blocks = shapes.shape[0]
    out = np.zeros(0 if sparse else out_off[n_blocks])
    row_start = np.zeros(n_blocks + 1, dtype=np.int64)
    for l in range(n_blocks):
        row_start[l + 1] = row_start[l] + shapes[l, 0] + 1
    n_entries = val_off[n_blocks] if sparse else 0
    indptr = np.zeros(row_start[n_blocks] if sparse else 0, dtype=np.int64)
    columns = np.empty(n_entries, dtype=np.int32)
    entry_values = np.empty(n_entries)
    largest = 0  # scratch, once for all blocks: the largest population and sample
    most = 0
    for l in range(n_blocks):
        largest = max(largest, (row_off[l + 1] - row_off[l]) * (col_off[l + 1] - col_off[l]))
        most = max(most, val_off[l + 1] - val_off[l])
    work = np.empty(largest, dtype=np.int32)
    row_at = np.empty(most, dtype=np.int32)
    col_at = np.empty(most, dtype=np.int32)
    for l in range(n_blocks):
        m = shapes[l, 1]
        r = rows[row_off[l] : row_off[l + 1]]
        c = cols[col_off[l] : col_off[l + 1]]
        v = values[val_off[l] : val_off[l + 1]]
        nc = c.shape[0]
        positions = _choice_without_replacement(bitgen, r.shape[0] * nc, v.shape[0], work)
        if not sparse:
            block = out[out_off[l] : out_off[l + 1]]
            row_of = row_at[: v.shape[0]]
            col_of = col_at[: v.shape[0]]
            _divide(positions, nc, row_of, col_of)
            for t in range(v.shape[0]):
                block[r[row_of[t]] * m + c[col_of[t]]] = v[t]
            continue
        row_of = row_at[: v.shape[0]]  # of the kept rows and columns
        col_of = col_at[: v.shape[0]]
        _divide(positions, nc, row_of, col_of)
        ptr = indptr[row_start[l] : row_start[l + 1]]
        _list_entries(row_of, col_of, v, r, c, shapes[l, 0], val_off[l], ptr, columns, entry_values)
    degrees = _entries_degrees(shapes, indptr, columns, entry_values, row_start) if sparse else np.zeros(0)
    return out, indptr, columns, entry_values, row_start, degrees


@numba.njit(cache=True, nogil=True)
def _divide(positions, n, quotients, remainders):
    """``positions // n`` and ``positions % n`` (non-negative, below ``2**31``), by a multiplication with ``1 / n``
    in float64 and one correction (exact: the product is within one of the quotient), which, unlike an integer
    division, vectorizes."""
    inverse = 1.0 / max(n, 1)  # no positions when n is 0
    for t in range(positions.shape[0]):
        p = positions[t]
        q = np.int64(p * inverse)
        q -= q * n > p
        q += (q + 1) * n <= p
        quotients[t] = q
        remainders[t] = p - q * n


@numba.njit(cache=True, nogil=True)
def _list_entries(row_of, col_of, values, rows, cols, n_rows, first, indptr, columns, entry_values):
    """A block's entries ``values[t]`` at kept row ``row_of[t]`` and column ``col_of[t]`` (indices into ``rows`` and
    ``cols``, the block's kept rows and columns, ascending), row by row with columns ascending, written from
    ``first`` on into ``columns`` and ``entry_values``, and the block's ``n_rows + 1`` row pointers into
    ``indptr``: a radix sort, by column and then, stably, by row (linear in the entries and the kept neurons)."""
    count = np.zeros(max(rows.shape[0], cols.shape[0]) + 1, dtype=np.int64)
    by_column = np.empty(values.shape[0], dtype=np.int64)
    for t in range(values.shape[0]):
        count[col_of[t] + 1] += 1
    for j in range(cols.shape[0]):
        count[j + 1] += count[j]
    for t in range(values.shape[0]):
        by_column[count[col_of[t]]] = t
        count[col_of[t]] += 1
    count[:] = 0
    for t in range(values.shape[0]):
        count[row_of[t] + 1] += 1
    for i in range(rows.shape[0]):
        count[i + 1] += count[i]
    indptr[0] = first
    kept = 0
    for i in range(n_rows):
        if kept < rows.shape[0] and rows[kept] == i:
            kept += 1
        indptr[i + 1] = first + count[kept]
    for u in range(values.shape[0]):
        t = by_column[u]
        slot = first + count[row_of[t]]
        count[row_of[t]] += 1
        columns[slot] = cols[col_of[t]]
        entry_values[slot] = values[t]


@numba.njit(cache=True, nogil=True)
def _entries_degrees(shapes, indptr, columns, values, row_start):
    """The degrees of all nodes from the blocks' non-zero entries, bit for bit as
    :meth:`~clusterability.core.layered_graph.LayeredGraph.layer_degrees` sums the dense blocks: each
    row's sum in NumPy's pairwise order (:func:`_pairwise_sum`; the zeros it adds change nothing), each
    column's in row order, a layer's column sums from the block before it first."""
    n_blocks = shapes.shape[0]
    n_nodes = shapes[0, 0]
    for l in range(n_blocks):
        n_nodes += shapes[l, 1]
    degrees = np.zeros(n_nodes)
    lanes = np.zeros(8)
    segments = np.empty((130, 5), dtype=np.int64)  # a split leaves 2 more; at most 63 levels of splits
    sums = np.empty(130)
    first = 0
    for l in range(n_blocks):
        n, m = shapes[l, 0], shapes[l, 1]
        ptr = indptr[row_start[l] : row_start[l + 1]]
        for i in range(n):
            total = _pairwise_sum(columns, values, ptr[i], ptr[i + 1], m, lanes, segments, sums)
            degrees[first + i] = degrees[first + i] + total
        for p in range(ptr[0], ptr[n]):
            degrees[first + n + columns[p]] += values[p]
        first += n
    return degrees


@numba.njit(cache=True, nogil=True)
def _pairwise_sum(columns, values, lo, hi, n, lanes, seg, sums):
    """NumPy's pairwise sum of a row of ``n`` entries whose non-zero ones are ``values[lo:hi]`` at
    ``columns[lo:hi]`` (ascending); ``lanes`` (8), ``seg`` (130 x 5) and ``sums`` (130) are scratch.

    NumPy sums fewer than 8 entries in order; up to 128 in 8 interleaved partial sums (every eighth
    entry) added as a tree, then the entries after the last multiple of 8; more it splits in two at a
    multiple of 8 near the middle and adds the halves' sums. Here the splits are walked with an explicit
    stack (numba's cache cannot hold recursive functions), and only the non-zero entries are added:
    adding a zero changes no sum of non-negative numbers.
    """
    # Stack of segments (first column, length, entries lo..hi, halves done); sums of finished halves.
    top = 0
    n_sums = 0
    seg[0, 0], seg[0, 1], seg[0, 2], seg[0, 3], seg[0, 4] = 0, n, lo, hi, 0
    while top >= 0:
        start, size, a, b, done = seg[top, 0], seg[top, 1], seg[top, 2], seg[top, 3], seg[top, 4]
        if size > 128 and done == 0:  # split: the right half below the left on the stack
            half = size // 2
            half -= half % 8
            split = a
            while split < b and columns[split] < start + half:
                split += 1
            seg[top, 4] = 1
            seg[top + 1, 0], seg[top + 1, 1], seg[top + 1, 2], seg[top + 1, 3], seg[top + 1, 4] = (
                start + half,
                size - half,
                split,
                b,
                0,
            )
            seg[top + 2, 0], seg[top + 2, 1], seg[top + 2, 2], seg[top + 2, 3], seg[top + 2, 4] = (
                start,
                half,
                a,
                split,
                0,
            )
            top += 2
            continue
        if size > 128:  # both halves summed
            n_sums -= 1
            sums[n_sums - 1] = sums[n_sums - 1] + sums[n_sums]
        elif size < 8:
            total = 0.0
            for p in range(a, b):
                total += values[p]
            sums[n_sums] = total
            n_sums += 1
        else:
            lanes[:] = 0.0
            body = start + size - size % 8
            p = a
            while p < b and columns[p] < body:
                lanes[(columns[p] - start) % 8] += values[p]
                p += 1
            total = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
            while p < b:
                total += values[p]
                p += 1
            sums[n_sums] = total
            n_sums += 1
        top -= 1
    return sums[0]


def shuffle_rngs(seed: int, method: str, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The generators of shuffle ``index``: one for the permutation, one for its clustering."""
    children = seed_sequence(seed, "shuffle", method, index).spawn(2)
    return np.random.default_rng(children[0]), np.random.default_rng(children[1])
