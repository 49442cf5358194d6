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
It first writes the bytecode of the library and of its environment (:func:`compile_bytecode`, on every
core): Python reads it but, where ``PYTHONDONTWRITEBYTECODE`` is set or the library is read-only, never
writes it, and each job then compiled the modules it imports from source (0.03-0.06 CPU s a job).
``make install`` asks pip not to compile (``--no-compile``): pip compiles one file after the other, this
step on every core.
With two cores or more the numba step runs in two processes (:func:`precompile`): one compiles k-means,
the other everything else. No two processes compile the same function, so they never write the same
cache entry.
No job imports this module, so no job depends on it.
"""

from __future__ import annotations

import compileall
import contextlib
import multiprocessing
import os
import sysconfig
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from unittest import mock

import numpy as np

from clusterability.core import spectral
from clusterability.core.build import network_graph
from clusterability.core.kmeans import kmeans
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


def precompile(ks: tuple[int, ...] = K_VALUES, n_shuffles: int = 2, workers: int = 1) -> dict[str, float]:
    """Cluster each of :func:`example_networks` into each number of clusters in ``ks`` and shuffle it by
    every method; the seconds each network took.

    With ``workers`` of 2 or more, k-means is first compiled in a second process for every number of clusters
    (:func:`compile_kmeans`) while this one clusters and shuffles each network into ``ks[0]`` clusters with
    round-robin labels in place of k-means (:func:`_without_kmeans`). The pass over every number of clusters
    then finds every function compiled; the seconds are those of that pass.
    """
    networks = example_networks()
    if workers > 1:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            kmeans_compiled = pool.submit(compile_kmeans, ks)
            with _without_kmeans():
                _cluster_and_shuffle(networks, ks[:1], n_shuffles)
            kmeans_compiled.result()
    return _cluster_and_shuffle(networks, ks, n_shuffles)


def _cluster_and_shuffle(networks: dict[str, NetworkWeights], ks: tuple[int, ...], n_shuffles: int) -> dict[str, float]:
    seconds = {}
    for name, weights in networks.items():
        start = time.perf_counter()
        graph = network_graph(weights)
        for k in ks:
            cluster_network(graph, k, seed=0)
        for method in SHUFFLE_METHODS:
            shuffle_chunk(graph, ks[0], seed=0, method=method, indices=range(n_shuffles))
        seconds[name] = time.perf_counter() - start
    return seconds


def compile_kmeans(ks: tuple[int, ...] = K_VALUES, n_points: int = 64) -> None:
    """k-means into each number of clusters in ``ks``, on an embedding of as many columns as spectral
    clustering gives it: the padded dimension of its distance kernels is part of their type."""
    rng = np.random.default_rng(0)
    for k in ks:
        kmeans(rng.standard_normal((n_points, k)), k, seed=0, n_init=1)


def _round_robin_labels(embedding: np.ndarray, k: int, **_: object) -> tuple[np.ndarray, float]:
    return np.arange(embedding.shape[0], dtype=np.int64) % k, 0.0


@contextlib.contextmanager
def _without_kmeans() -> Iterator[None]:
    """Spectral clustering with round-robin labels instead of k-means, whose functions another process is
    compiling: only for compiling the rest."""
    with mock.patch.object(spectral, "kmeans", _round_robin_labels):
        yield


def compile_bytecode(root: Path = PACKAGE, workers: int = 1, quiet: int = 1) -> bool:
    """Write the bytecode of every module under ``root`` (timestamp-checked: an edited module is compiled
    again) in ``workers`` processes; whether every module compiled (``quiet=2``: without naming those that
    did not)."""
    return bool(compileall.compile_dir(root, quiet=quiet, workers=workers))


def environment_packages() -> list[Path]:
    """The folders of the running environment's installed packages (pure and platform-specific)."""
    paths = sysconfig.get_paths()
    return sorted({Path(paths[key]) for key in ("purelib", "platlib") if Path(paths[key]).is_dir()})


def usable_cores() -> int:
    """The cores this process may run on (its affinity where the system reports one, e.g. in a SLURM job)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def main() -> None:
    """Write the bytecode, compile numba's functions, and say how long the numba step took."""
    workers = usable_cores()
    # Optimizations only: a read-only library or environment still works without them. Like pip, this leaves
    # the environment's few modules that do not compile (examples, templates) unnamed.
    for packages in environment_packages():
        compile_bytecode(packages, workers=workers, quiet=2)
    if not compile_bytecode(workers=workers):
        print(f"precompile: the bytecode of a module under {PACKAGE} could not be compiled or written (above)")
    start, processes = time.perf_counter(), min(workers, 2)
    precompile(workers=processes)
    print(f"numba functions compiled and cached in {time.perf_counter() - start:.1f} s ({processes} processes)")


if __name__ == "__main__":
    main()
