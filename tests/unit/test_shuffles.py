"""Shuffled networks and their seeds: preserved entries, independence, determinism across processes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from planted import build_glorot_mlp, build_planted_mlp

from clusterability.core import spectral
from clusterability.core.build import mlp_graph
from clusterability.core.dag_graph import DagGraph
from clusterability.core.layered_graph import LayeredGraph
from clusterability.core.measure import cluster_network, shuffle_ncut, shuffle_ncuts
from clusterability.core.shuffles import (
    SHUFFLE_METHODS,
    kept_blocks,
    shuffle_graph,
    shuffle_layer,
    shuffle_layer_nonzero,
    shuffle_layer_within,
    shuffle_rngs,
)
from clusterability.core.spectral import spectral_clusters
from clusterability.core.statistics import is_significant, p_value
from clusterability.errors import InputError
from clusterability.seeds import derive_seed, generator, name_key, seed_sequence


def _pruned_block(rng: np.random.Generator, shape=(30, 20), keep=0.3) -> np.ndarray:
    return np.abs(rng.normal(size=shape)) * (rng.random(shape) < keep)


# --- shuffle_layer / shuffle_layer_nonzero ----------------------------------------


def test_layer_shuffle_keeps_the_multiset_of_entries() -> None:
    rng = np.random.default_rng(0)
    for block in (_pruned_block(rng), np.abs(rng.normal(size=(7, 9))), np.zeros((4, 5))):
        before = block.copy()
        out = shuffle_layer(block, rng)
        np.testing.assert_array_equal(block, before)  # input untouched
        assert out.shape == block.shape and out.dtype == block.dtype
        np.testing.assert_array_equal(np.sort(out, axis=None), np.sort(block, axis=None))


def test_layer_shuffle_moves_zeros_too() -> None:
    rng = np.random.default_rng(1)
    block = _pruned_block(rng, shape=(40, 40), keep=0.2)
    out = shuffle_layer(block, rng)
    # The topology changes (about 80 % of the 320 non-zeros land on a former zero).
    assert np.count_nonzero((out != 0) != (block != 0)) > 200


def test_layer_nonzero_shuffle_keeps_the_zero_pattern_exactly() -> None:
    rng = np.random.default_rng(2)
    block = _pruned_block(rng)
    out = shuffle_layer_nonzero(block, rng)
    np.testing.assert_array_equal(out != 0, block != 0)
    np.testing.assert_array_equal(np.sort(out[out != 0]), np.sort(block[block != 0]))
    assert not np.array_equal(out, block)


def test_layer_shuffle_is_uniform_over_positions() -> None:
    rng = np.random.default_rng(3)
    block = np.zeros((2, 3))
    block[0, 0] = 5.0
    n = 3000
    counts = Counter(int(np.flatnonzero(shuffle_layer(block, rng))[0]) for _ in range(n))
    assert sorted(counts) == list(range(6))
    # Each cell expects 500 hits (sd about 20).
    assert all(400 < c < 600 for c in counts.values()), counts


def test_layer_nonzero_shuffle_is_uniform_over_permutations() -> None:
    rng = np.random.default_rng(4)
    block = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]])
    n = 3000
    counts = Counter(tuple(shuffle_layer_nonzero(block, rng)[block != 0].tolist()) for _ in range(n))
    assert len(counts) == 6  # all 3! orders of the non-zeros
    assert all(400 < c < 600 for c in counts.values()), counts


@pytest.mark.parametrize("method", SHUFFLE_METHODS)
def test_shuffle_graph_shuffles_each_block_independently(method: str) -> None:
    rng = np.random.default_rng(5)
    block = _pruned_block(rng, shape=(20, 20), keep=0.5)
    g = LayeredGraph((block, block.copy(), np.zeros((20, 6))))  # two identical blocks and a zero layer
    out = shuffle_graph(g, method, np.random.default_rng(6))
    assert out.layer_sizes == g.layer_sizes
    for a, b in zip(out.blocks, g.blocks):
        np.testing.assert_array_equal(np.sort(a, axis=None), np.sort(b, axis=None))
    assert not np.array_equal(out.blocks[0], out.blocks[1])  # not the same permutation twice
    assert not np.any(out.blocks[2])  # an all-zero layer stays all zero
    if method == "layer_nonzero":
        for a, b in zip(out.blocks, g.blocks):
            np.testing.assert_array_equal(a != 0, b != 0)


def test_unknown_method() -> None:
    g = LayeredGraph((np.ones((2, 2)),))
    with pytest.raises(InputError, match="layer_nonzero"):
        shuffle_graph(g, "global", np.random.default_rng(0))


# --- the layer shuffle of a pruned network: isolated neurons dropped first ----------


def _pruned_mlp_graph(seed: int = 0) -> tuple[LayeredGraph, np.ndarray]:
    """A pruned 12-10-8-4 MLP graph with dead "border pixels" (inputs 0-2), a dead hidden neuron
    (layer 1, neuron 4) and a dead output; returns it and the mask of its isolated nodes."""
    rng = np.random.default_rng(seed)
    blocks = [_pruned_block(rng, shape, keep=0.5) + 0.0 for shape in ((12, 10), (10, 8), (8, 4))]
    blocks[0][:3] = 0  # border pixels: no weight left
    blocks[0][:, 4] = 0  # a hidden neuron pruning cut off: nothing in ...
    blocks[1][4] = 0  # ... nothing out
    blocks[2][:, 3] = 0  # an output nothing reaches
    graph = LayeredGraph(tuple(blocks))
    isolated = graph.degrees() == 0
    assert np.flatnonzero(isolated).tolist() == [0, 1, 2, 16, 33]
    return graph, isolated


def test_layer_shuffle_puts_no_weight_on_isolated_neurons() -> None:
    graph, isolated = _pruned_mlp_graph()
    for i in range(50):
        shuffled = shuffle_graph(graph, "layer", shuffle_rngs(0, "layer", i)[0])
        assert np.all(shuffled.degrees()[isolated] == 0), i  # border pixels and the pruned neurons stay empty
        for a, b in zip(shuffled.blocks, graph.blocks, strict=True):
            np.testing.assert_array_equal(np.sort(a, axis=None), np.sort(b, axis=None))


def test_layer_shuffle_is_uniform_over_the_non_isolated_positions() -> None:
    # Inputs 0, 1 and hidden 0, 1 are connected; input 2 and hidden 2 are isolated. The weight 5
    # lands on each of the 2 x 2 kept positions a quarter of the time, never on the 5 others.
    block0 = np.zeros((3, 3))
    block0[0, 0], block0[1, 1] = 5.0, 1.0
    graph = LayeredGraph((block0, np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])))
    rng = np.random.default_rng(7)
    n = 2000
    counts = Counter(int(np.flatnonzero(shuffle_graph(graph, "layer", rng).blocks[0] == 5.0)[0]) for _ in range(n))
    assert sorted(counts) == [0, 1, 3, 4]  # (0, 0), (0, 1), (1, 0), (1, 1) of the 3 x 3 block
    assert all(400 < c < 600 for c in counts.values()), counts  # 500 expected each (sd about 19)


def test_without_isolated_neurons_the_layer_shuffle_permutes_whole_blocks() -> None:
    """An unpruned network has no isolated neuron: its shuffles are the whole-block permutations, draw for draw."""
    graph = mlp_graph(build_glorot_mlp((20, 15, 15, 5), seed=4))
    assert np.all(graph.degrees() > 0)
    out = shuffle_graph(graph, "layer", np.random.default_rng(9))
    rng = np.random.default_rng(9)
    for a, b in zip(out.blocks, graph.blocks, strict=True):
        np.testing.assert_array_equal(a, shuffle_layer(b, rng))


def test_layer_nonzero_is_unaffected_by_the_isolated_neurons() -> None:
    graph, _ = _pruned_mlp_graph(seed=1)
    out = shuffle_graph(graph, "layer_nonzero", np.random.default_rng(3))
    rng = np.random.default_rng(3)
    for a, b in zip(out.blocks, graph.blocks, strict=True):
        np.testing.assert_array_equal(a, shuffle_layer_nonzero(b, rng))  # the same draws as before
        np.testing.assert_array_equal(a != 0, b != 0)


def test_neurons_a_shuffle_leaves_without_weight_are_dropped_from_its_clustering() -> None:
    # Sparse kept blocks: some shuffles leave a kept neuron with no weight; it is isolated there.
    graph, isolated = _pruned_mlp_graph(seed=2)
    graph = graph.with_blocks([np.where(np.random.default_rng(5).random(b.shape) < 0.4, b, 0) for b in graph.blocks])
    before = graph.degrees() == 0
    assert np.all(before[isolated])
    grown = 0
    for i in range(20):
        shuffle_rng, cluster_rng = shuffle_rngs(1, "layer", i)
        shuffled = shuffle_graph(graph, "layer", shuffle_rng)
        after = shuffled.degrees() == 0
        assert np.all(after[before])  # isolated before: isolated after
        grown += int(after.sum() > before.sum())
        labels = spectral_clusters(shuffled, 2, seed=cluster_rng)
        np.testing.assert_array_equal(labels < 0, after)  # recomputed on the shuffled network
    assert grown > 0


def _dag() -> DagGraph:
    """Layer 0 (3 channels, reads the image) -> layer 1 (3); layer 2 (2) reads concat(layer 0, layer 1).

    Channel 2 of layer 0 is isolated (no weight in layer 1's or layer 2's block), and so is channel 1
    of layer 2 (nothing reaches it).
    """
    rng = np.random.default_rng(0)
    b1 = rng.uniform(0.1, 1, (3, 3))
    b1[2] = 0
    b2 = rng.uniform(0.1, 1, (6, 2))
    b2[2] = 0
    b2[:, 1] = 0
    return DagGraph((3, 3, 2), (np.zeros((0, 3)), b1, b2), ((), ((0, 0),), ((0, 0), (1, 3))))


def test_dag_layer_shuffle_drops_isolated_channels_within_each_block() -> None:
    graph = _dag()
    isolated = graph.degrees() == 0
    assert np.flatnonzero(isolated).tolist() == [2, 7]
    kept = kept_blocks(graph)
    assert [r.tolist() for r, _ in kept] == [[], [0, 1], [0, 1, 3, 4, 5]]
    assert [c.tolist() for _, c in kept] == [[0, 1], [0, 1, 2], [0]]
    for i in range(30):
        shuffled = shuffle_graph(graph, "layer", np.random.default_rng(i))
        assert shuffled.sources == graph.sources
        assert np.all(shuffled.degrees()[isolated] == 0)
        for a, b in zip(shuffled.blocks, graph.blocks, strict=True):
            np.testing.assert_array_equal(np.sort(a, axis=None), np.sort(b, axis=None))


def test_a_chain_dag_shuffles_like_its_layered_graph() -> None:
    blocks = _pruned_mlp_graph(seed=3)[0].blocks
    chain = DagGraph((12, 10, 8, 4), (np.zeros((0, 12)), *blocks), ((), ((0, 0),), ((1, 0),), ((2, 0),)))
    layered = chain.as_layered()
    assert layered is not None
    a = shuffle_graph(chain, "layer", np.random.default_rng(8))
    b = shuffle_graph(layered, "layer", np.random.default_rng(8))
    for x, y in zip(a.blocks[1:], b.blocks, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("method", SHUFFLE_METHODS)
def test_hostile_graphs_shuffle_without_error(method: str) -> None:
    rng = np.random.default_rng(0)
    empty = LayeredGraph((np.zeros((3, 4)), np.zeros((4, 2))))  # every neuron isolated
    assert not any(b.any() for b in shuffle_graph(empty, method, rng).blocks)
    one = LayeredGraph((np.zeros((3, 4)), np.zeros((4, 2))))
    one.blocks[1][2, 1] = 7.0  # a single edge: it can only stay where it is
    np.testing.assert_array_equal(shuffle_graph(one, method, rng).blocks[1], one.blocks[1])
    dead_layer = LayeredGraph((np.ones((2, 3)), np.zeros((3, 3)), np.ones((3, 2))))  # a wholly pruned layer
    out = shuffle_graph(dead_layer, method, rng)
    assert not out.blocks[1].any() and out.blocks[0].sum() == 6 and out.blocks[2].sum() == 6


_BLOCK_SHAPES = st.lists(st.integers(1, 6), min_size=2, max_size=4)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(widths=_BLOCK_SHAPES, density=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1))
def test_shuffle_properties_on_random_pruned_graphs(widths: list[int], density: float, seed: int) -> None:
    """Any pruned graph: each block keeps its entries; isolated neurons stay isolated; reproducible."""
    rng = np.random.default_rng(seed)
    graph = LayeredGraph(
        tuple(_pruned_block(rng, (a, b), keep=density) for a, b in zip(widths[:-1], widths[1:], strict=True))
    )
    isolated = graph.degrees() == 0
    for method in SHUFFLE_METHODS:
        out = shuffle_graph(graph, method, np.random.default_rng(seed))
        again = shuffle_graph(graph, method, np.random.default_rng(seed))
        assert np.all(out.degrees()[isolated] == 0)
        for a, b, c in zip(out.blocks, graph.blocks, again.blocks, strict=True):
            np.testing.assert_array_equal(np.sort(a, axis=None), np.sort(b, axis=None))
            np.testing.assert_array_equal(a, c)
            if method == "layer_nonzero":
                np.testing.assert_array_equal(a != 0, b != 0)


# --- the compiled draw: NumPy's draw, byte for byte ---------------------------------


def _numpy_layer_shuffle(graph, rng: np.random.Generator) -> list[np.ndarray]:
    """The ``layer`` shuffle as the NumPy functions draw it (the definition the compiled draw follows)."""
    return [shuffle_layer_within(b, r, c, rng) for b, (r, c) in zip(graph.blocks, kept_blocks(graph), strict=True)]


def _sparse_block(rng: np.random.Generator, shape: tuple[int, int], nonzero: int) -> np.ndarray:
    block = np.zeros(shape)
    block.flat[rng.choice(block.size, size=nonzero, replace=False)] = rng.uniform(0.1, 2.0, size=nonzero)
    return block


@pytest.mark.parametrize(
    "shapes_and_nonzeros",
    [
        # NumPy's choice: a tail shuffle (over 10,000 positions, over a fiftieth drawn) ...
        [((120, 100), 2000), ((100, 110), 11000)],
        # ... else Floyd's algorithm (at most 10,000 positions, or at most a fiftieth drawn).
        [((90, 100), 1000), ((100, 120), 200), ((120, 3), 1)],
        # The paper MLP's shapes, pruned to 90 % zeros; a dense block (every position drawn).
        [((784, 256), 20071), ((256, 256), 6554), ((256, 10), 256)],
        [((40, 30), 1200), ((30, 20), 0), ((20, 5), 100)],
        # Rows of 2,000 columns: NumPy sums them pairwise in four levels of halves.
        [((30, 2000), 5000), ((2000, 7), 1000)],
    ],
)
def test_the_compiled_draw_is_numpys_byte_for_byte(shapes_and_nonzeros: list) -> None:
    rng = np.random.default_rng(len(shapes_and_nonzeros))
    graph = LayeredGraph(tuple(_sparse_block(rng, shape, nz) for shape, nz in shapes_and_nonzeros))
    for i in range(3):
        ours, theirs = np.random.default_rng(i), np.random.default_rng(i)
        out = shuffle_graph(graph, "layer", ours)
        expected = _numpy_layer_shuffle(graph, theirs)
        for a, b in zip(out.blocks, expected, strict=True):
            assert a.dtype == b.dtype and a.shape == b.shape and a.flags.c_contiguous
            assert a.tobytes() == b.tobytes()
        assert ours.bit_generator.state == theirs.bit_generator.state  # the same number of draws taken
        for deg, ref in zip(out.layer_degrees(), LayeredGraph(tuple(expected)).layer_degrees(), strict=True):
            assert deg.tobytes() == ref.tobytes()


def test_the_compiled_draw_keeps_the_isolated_neurons_and_dag_wiring_of_numpys() -> None:
    graph, _ = _pruned_mlp_graph(seed=4)
    for source in (graph, _dag()):
        for i in range(5):
            out = shuffle_graph(source, "layer", np.random.default_rng(i))
            for a, b in zip(out.blocks, _numpy_layer_shuffle(source, np.random.default_rng(i)), strict=True):
                assert a.tobytes() == b.tobytes()
    float32 = LayeredGraph(tuple(b.astype(np.float32) for b in graph.blocks))  # NumPy's own draw: same blocks
    for a, b in zip(
        shuffle_graph(float32, "layer", np.random.default_rng(0)).blocks,
        _numpy_layer_shuffle(float32, np.random.default_rng(0)),
        strict=True,
    ):
        assert a.dtype == np.float32 and a.tobytes() == b.tobytes()


def test_a_sparse_shuffle_is_held_as_its_entries_with_numpys_degrees() -> None:
    """A pruned network's shuffle lists its non-zero entries and degrees (the clustering and the n-cut use
    them) and builds the dense blocks, byte for byte, only when they are asked for."""
    graph = mlp_graph([np.where(np.abs(w) > np.quantile(np.abs(w), 0.9), w, 0) for w in build_glorot_mlp(seed=2)])
    shuffled = shuffle_graph(graph, "layer", np.random.default_rng(1))
    entries = shuffled.entries()
    assert entries is not None and shuffled.layer_sizes == graph.layer_sizes
    dense = LayeredGraph(tuple(_numpy_layer_shuffle(graph, np.random.default_rng(1))))
    for deg, expected in zip(shuffled.layer_degrees(), dense.layer_degrees(), strict=True):
        assert deg.tobytes() == expected.tobytes()  # NumPy's summation order, reproduced
        assert not deg.flags.writeable
    labels = np.random.default_rng(0).integers(-1, 5, size=graph.n_nodes)
    for ours, theirs in zip(shuffled.cut_terms(labels), dense.cut_terms(labels), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-14)
    for l, (block, expected) in enumerate(zip(shuffled.blocks, dense.blocks, strict=True)):
        indptr, columns, values = entries.block(l)
        csr = sp.csr_matrix(expected)
        np.testing.assert_array_equal(indptr, csr.indptr)
        np.testing.assert_array_equal(columns, csr.indices)
        assert values.tobytes() == csr.data.tobytes()
        assert block.tobytes() == expected.tobytes()
    # A dense network's shuffle is held as its blocks.
    assert shuffle_graph(mlp_graph(build_glorot_mlp(seed=2)), "layer", np.random.default_rng(1)).entries() is None


@pytest.mark.parametrize("sparsity", [0.9, 0.0])
def test_a_shuffle_is_the_same_alone_and_after_other_shuffles(sparsity: float) -> None:
    """No state carries over from one shuffle to the next (the graph only remembers what it derived from
    its own blocks): a shuffle's n-cut and clustering are the same in a fresh process-like state (a graph
    object never shuffled) and after other shuffles of the same graph, in any order."""
    kernels = build_glorot_mlp(seed=7)
    if sparsity:
        kernels = [np.where(np.abs(w) > np.quantile(np.abs(w), sparsity), w, 0) for w in kernels]
    used = mlp_graph(kernels)
    for i in (5, 1, 3):
        shuffle_ncut(used, 4, seed=3, method="layer", index=i)
    for i in (3, 0):
        alone = shuffle_ncut(mlp_graph(kernels), 4, seed=3, method="layer", index=i)
        assert shuffle_ncut(used, 4, seed=3, method="layer", index=i) == alone
        fresh, warm = (shuffle_graph(g, "layer", shuffle_rngs(3, "layer", i)[0]) for g in (mlp_graph(kernels), used))
        a = spectral_clusters(fresh, 4, seed=shuffle_rngs(3, "layer", i)[1])
        np.testing.assert_array_equal(a, spectral_clusters(warm, 4, seed=shuffle_rngs(3, "layer", i)[1]))


# --- seeds ------------------------------------------------------------------------


def test_name_keys_are_stable_hashes() -> None:
    assert name_key(7) == 7
    assert name_key(np.int64(7)) == 7
    expected = int.from_bytes(hashlib.sha256(b"layer_nonzero").digest()[:4], "little")
    assert name_key("layer_nonzero") == expected
    assert name_key("layer") != name_key("layer_nonzero")
    assert name_key(2**40) == int.from_bytes(hashlib.sha256(str(2**40).encode()).digest()[:4], "little")


def test_seed_sequences_and_derived_seeds() -> None:
    ss = seed_sequence(5, "shuffle", "layer", 3)
    assert ss.entropy == 5
    assert ss.spawn_key == (name_key("shuffle"), name_key("layer"), 3)
    s = derive_seed(5, "a", 1)
    assert s == derive_seed(5, "a", 1)
    assert 0 <= s < 2**63
    assert len({derive_seed(5, "a", i) for i in range(100)}) == 100
    assert derive_seed(5, "a", 1) != derive_seed(6, "a", 1)
    np.testing.assert_array_equal(generator(5, "x").random(4), np.random.default_rng(seed_sequence(5, "x")).random(4))
    with pytest.raises(ValueError):
        seed_sequence(-1, "x")


def test_shuffle_rngs_are_reproducible_and_distinct() -> None:
    def draws(seed: int, method: str, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = shuffle_rngs(seed, method, i)
        return a.random(8), b.random(8)

    first = draws(0, "layer", 3)
    again = draws(0, "layer", 3)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], first[1])  # permutation and clustering streams differ
    seen = {first[0].tobytes()}
    for other in [(0, "layer", 4), (0, "layer_nonzero", 3), (1, "layer", 3), (0, "layer", 0)]:
        x = draws(*other)[0].tobytes()
        assert x not in seen
        seen.add(x)


# --- n-cuts of shuffles -----------------------------------------------------------


@pytest.mark.parametrize("method", SHUFFLE_METHODS)
def test_different_shuffle_indices_give_different_networks(method: str) -> None:
    g = mlp_graph(build_glorot_mlp((40, 30, 30, 10), seed=1))
    graphs = [shuffle_graph(g, method, shuffle_rngs(0, method, i)[0]) for i in range(5)]
    for i in range(5):
        for j in range(i):
            assert not np.array_equal(graphs[i].blocks[0], graphs[j].blocks[0])
    cuts = shuffle_ncuts(g, 3, seed=0, method=method, indices=range(5))
    assert len(set(cuts.tolist())) == 5


@pytest.mark.parametrize("method", SHUFFLE_METHODS)
def test_shuffle_ncuts_are_reproducible_in_any_order(method: str) -> None:
    g = mlp_graph(build_glorot_mlp((40, 30, 30, 10), seed=2))
    full = shuffle_ncuts(g, 3, seed=11, method=method, indices=range(6))
    again = shuffle_ncuts(g, 3, seed=11, method=method, indices=range(6))
    np.testing.assert_array_equal(full, again)  # bit for bit
    picked = shuffle_ncuts(g, 3, seed=11, method=method, indices=[5, 2, 0])
    np.testing.assert_array_equal(picked, full[[5, 2, 0]])
    assert shuffle_ncut(g, 3, seed=11, method=method, index=4) == full[4]
    other_seed = shuffle_ncuts(g, 3, seed=12, method=method, indices=range(6))
    assert not np.array_equal(other_seed, full)
    assert shuffle_ncuts(g, 3, seed=11, method=method, indices=[]).shape == (0,)


@pytest.mark.parametrize("method", SHUFFLE_METHODS)
@pytest.mark.parametrize("widths", [(40, 40, 40, 40), (200, 200, 200, 200)])
def test_planted_modules_are_far_below_their_shuffles(method: str, widths: tuple[int, ...]) -> None:
    kernels, _ = build_planted_mlp(widths, 4, seed=3)
    g = mlp_graph(kernels)
    n = 20
    clustering = cluster_network(g, 4, seed=0)
    shuffled = shuffle_ncuts(g, 4, seed=0, method=method, indices=range(n))
    assert clustering.ncut < 0.25 * shuffled.min()
    assert p_value(clustering.ncut, shuffled) == 1 / (n + 1)
    assert is_significant(clustering.ncut, shuffled)


_WORKER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from clusterability.core.layered_graph import LayeredGraph
    from clusterability.core.measure import shuffle_ncuts

    src, out, method, first, last = sys.argv[1:]
    with np.load(src) as npz:
        graph = LayeredGraph(tuple(npz[f"block_{i}"] for i in range(len(npz.files))))
    cuts = shuffle_ncuts(graph, 4, seed=2024, method=method, indices=range(int(first), int(last)))
    np.save(out, cuts)
    """
)


@pytest.mark.parametrize("method", SHUFFLE_METHODS)
def test_shuffles_in_two_processes_equal_shuffles_in_one(tmp_path: Path, method: str) -> None:
    # A graph big enough for the fast solver's Gram-matrix route, pruned so the two methods differ.
    kernels = build_glorot_mlp((160, 150, 150, 150, 10), seed=5)
    kernels = [np.where(np.abs(k) > np.quantile(np.abs(k), 0.5), k, 0) for k in kernels]
    graph = mlp_graph(kernels)
    assert spectral._layered_embedding(graph, 4, np.random.default_rng(0)) is not None
    src = tmp_path / "graph.npz"
    np.savez(src, **{f"block_{i}": b for i, b in enumerate(graph.blocks)})
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    procs = []
    for first, last in ((0, 5), (5, 10)):
        out = tmp_path / f"cuts_{first}.npy"
        cmd = [sys.executable, str(script), str(src), str(out), method, str(first), str(last)]
        procs.append((out, subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)))
    in_one = shuffle_ncuts(graph, 4, seed=2024, method=method, indices=range(10))
    parts = []
    for out, proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        parts.append(np.load(out))
    in_two = np.concatenate(parts)
    np.testing.assert_array_equal(in_two, in_one)  # bit for bit
    assert len(set(in_one.tolist())) == 10
