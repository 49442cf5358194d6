"""Shuffled networks: the null distribution of n-cuts (P1 sections 3 and 3.3, P2 section 1.2).

Shuffles act on a network's graph blocks (|W| for an MLP layer, the slice-norm
matrix for a CNN layer; shuffling W and then taking |W| is the same thing):

``layer``
    Permute all entries of each block independently (P1's per-layer shuffle;
    for a CNN this is P2's channel-edge shuffle: which two channels each
    kernel slice connects).
``layer_nonzero``
    Permute only the non-zero entries of each block, keeping the topology.

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

from .errors import InputError
from .graph import LayeredGraph
from .seeds import seed_sequence

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


_SHUFFLERS = {"layer": shuffle_layer, "layer_nonzero": shuffle_layer_nonzero}


def shuffle_graph(graph: LayeredGraph, method: str, rng: np.random.Generator) -> LayeredGraph:
    """A shuffled copy of ``graph``: each block shuffled independently by ``method``."""
    if method not in _SHUFFLERS:
        raise InputError(f"unknown shuffle method {method!r}; choose one of {', '.join(SHUFFLE_METHODS)}")
    shuffler = _SHUFFLERS[method]
    return graph.with_blocks([shuffler(b, rng) for b in graph.blocks])


def shuffle_rngs(seed: int, method: str, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The generators of shuffle ``index``: one for the permutation, one for its clustering."""
    children = seed_sequence(seed, "shuffle", method, index).spawn(2)
    return np.random.default_rng(children[0]), np.random.default_rng(children[1])
