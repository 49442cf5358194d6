"""Compiling numba's cached functions once, on the paths the workflow's clustering jobs take.

The numerical core's numba functions (``cache=True``) are compiled on their first call and cached
beside their modules. On a fresh install every clustering job that starts before that cache exists
compiles them itself: about 25 CPU seconds a job, so a run with many cores spends minutes compiling
the same code while each of its first jobs waits. ``make install`` runs this module once instead
(``python -m clusterability.workflow.precompile``; again after editing ``lib/clusterability/core``,
before a wide run): it clusters, into each number of clusters the papers use, and shuffles, as the
``cluster_network``, ``shuffle_chunk`` and ``gather_shuffles`` jobs do, a dense and a pruned MLP of P1's
shape (784-256x4-10: large enough for the iterative eigensolver), a small CNN and a small residual
network (a wired channel graph).
It first writes the library's bytecode (:func:`compile_bytecode`): Python reads it but, where
``PYTHONDONTWRITEBYTECODE`` is set or the library is read-only, never writes it, and each job then
compiled the modules it imports from source (0.03-0.06 CPU s a job).
No job imports this module, so no job depends on it.
"""

from __future__ import annotations

import compileall
import time
from pathlib import Path

import numpy as np

from clusterability.core.build import network_graph
from clusterability.core.measure import cluster_network
from clusterability.core.network import NetworkWeights
from clusterability.core.shuffle_chunks import shuffle_chunk
from clusterability.core.shuffles import SHUFFLE_METHODS
from clusterability.io.wiring import DagBuilder

#: The clusterability package, whose bytecode :func:`compile_bytecode` writes.
PACKAGE = Path(__file__).resolve().parents[1]


def example_networks(seed: int = 0) -> dict[str, NetworkWeights]:
    """One network of each kind the jobs cluster, with float32 kernels as training writes them."""
    rng = np.random.default_rng(seed)

    def kernel(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    mlp = [kernel(784, 256), kernel(256, 256), kernel(256, 256), kernel(256, 256), kernel(256, 10)]
    pruned = [np.where(rng.random(k.shape) < 0.9, np.float32(0), k) for k in mlp]
    cnn = [kernel(3, 3, 1, 8), kernel(3, 3, 8, 8), kernel(3, 3, 8, 8), kernel(8 * 49, 16), kernel(16, 10)]
    builder = DagBuilder("precompile", input_channels=3)
    stem = builder.conv("stem", kernel(3, 3, 3, 8), ())
    block = builder.conv("b", kernel(3, 3, 8, 8), builder.conv("a", kernel(3, 3, 8, 8), stem))
    builder.conv("head", kernel(1, 1, 8, 8), builder.add(block, stem))
    return {
        "mlp": NetworkWeights(kernels=tuple(mlp), source="precompile mlp"),
        "pruned mlp": NetworkWeights(kernels=tuple(pruned), source="precompile pruned mlp"),
        "cnn": NetworkWeights(kernels=tuple(cnn), source="precompile cnn"),
        "residual": builder.weights(),
    }


#: The numbers of clusters of the papers' tables: some compile code of their own (k = 7 and 10 after 4).
K_VALUES = (2, 4, 5, 7, 10, 12)


def precompile(ks: tuple[int, ...] = K_VALUES, n_shuffles: int = 2) -> dict[str, float]:
    """Cluster each of :func:`example_networks` into each number of clusters in ``ks`` and shuffle it by
    every method; the seconds each network took."""
    seconds = {}
    for name, weights in example_networks().items():
        start = time.perf_counter()
        graph = network_graph(weights)
        for k in ks:
            cluster_network(graph, k, seed=0)
        for method in SHUFFLE_METHODS:
            shuffle_chunk(graph, ks[0], seed=0, method=method, indices=range(n_shuffles))
        seconds[name] = time.perf_counter() - start
    return seconds


def compile_bytecode(root: Path = PACKAGE) -> bool:
    """Write the bytecode of every module under ``root`` (timestamp-checked: an edited module is compiled
    again); whether every module compiled."""
    return bool(compileall.compile_dir(root, quiet=1))


def main() -> None:
    """Compile, and say how long each network took (the first pays for most of the compiling)."""
    if not compile_bytecode():  # an optimization only: a read-only library, say, still works without it
        print(f"precompile: the bytecode of a module under {PACKAGE} could not be compiled or written (above)")
    seconds = precompile()
    print("numba functions compiled and cached: " + ", ".join(f"{name} {s:.1f} s" for name, s in seconds.items()))


if __name__ == "__main__":
    main()
