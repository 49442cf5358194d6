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

Seeds: shuffle ``i`` of a network uses
``SeedSequence(seed, spawn_key=("shuffle", method, i))`` (the names hashed to
integers by :func:`clusterability.seeds.seed_sequence`), spawned into two
children: the first seeds the permutation, the second the clustering of that
shuffled network (:func:`shuffle_rngs`). So each shuffle is independent of the
others, reproducible on its own, and the same whether shuffles are computed in
one process, in chunks, or in any order.
"""

from __future__ import annotations

import numpy as np

from clusterability.core.graph import Graph
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
    kept = kept_blocks(graph)
    return graph.with_blocks([shuffle_layer_within(b, r, c, rng) for b, (r, c) in zip(graph.blocks, kept, strict=True)])


def shuffle_rngs(seed: int, method: str, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The generators of shuffle ``index``: one for the permutation, one for its clustering."""
    children = seed_sequence(seed, "shuffle", method, index).spawn(2)
    return np.random.default_rng(children[0]), np.random.default_rng(children[1])
