"""Benchmark: seconds per clustering of P2's ImageNet models (Table A.11), and memory.

For each of VGG-16/19, ResNet-18/34/50 and Inception-V3, randomly initialized
with torchvision's shapes and wiring (:mod:`clusterability.imagenet`; the
weights' values do not change the cost), builds the channel graph and times,
on one thread:

* the network's spectral clustering with the ``fast`` solver at k = 12 and
  P2's 100 k-means restarts (ResNets and Inception: ARPACK on the implicit
  operator of :mod:`clusterability.dag_graph`; VGGs: the bipartite shortcut),
* one ``layer`` shuffle (shuffle + clustering + n-cut),

and prints the graph's size, the memory its blocks take, the sparse adjacency
the operator avoids, and the peak resident memory of the process so far.
``--reference`` also clusters each graph with scikit-learn's ``arpack``
solver (P2's reference, on the sparse adjacency) in the same run and prints
both n-cuts and the time ratio (slow: minutes for the large models).

    python benchmarks/bench_imagenet.py [--models resnet18,resnet50] [--reference] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

from threadpoolctl import threadpool_limits  # noqa: E402

from clusterability.dag_graph import DagGraph  # noqa: E402
from clusterability.graph import network_graph  # noqa: E402
from clusterability.imagenet import TORCHVISION, random_torchvision_state, torchvision_weights  # noqa: E402
from clusterability.measure import cluster_network, shuffle_ncut  # noqa: E402
from clusterability.ncut import ncut  # noqa: E402
from clusterability.spectral import spectral_clusters  # noqa: E402


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(architecture: str, n_init: int, reference: bool) -> dict:
    weights = torchvision_weights(random_torchvision_state(architecture, seed=0), architecture, architecture)
    graph = network_graph(weights)
    dag = isinstance(graph, DagGraph)
    edges = graph.n_edges if dag else int(sum(b.size for b in graph.blocks))
    row = {
        "model": architecture,
        "graph": "DAG (operator)" if dag else "layered (bipartite)",
        "channels": graph.n_nodes,
        "edges": edges,
        "blocks_mb": sum(b.nbytes for b in graph.blocks) / 2**20,
        "sparse_adjacency_mb": 2 * edges * 12 / 2**20,  # what a CSR matrix of the edges would take
    }
    start = time.perf_counter()
    clustering = cluster_network(graph, 12, seed=0, n_init=n_init)
    row["seconds_per_clustering"] = time.perf_counter() - start
    row["ncut"] = clustering.ncut
    start = time.perf_counter()
    row["shuffle_ncut"] = shuffle_ncut(graph, 12, seed=0, method="layer", index=0, n_init=n_init)
    row["seconds_per_shuffle"] = time.perf_counter() - start
    if reference:
        start = time.perf_counter()
        adjacency = graph.adjacency()
        labels = spectral_clusters(adjacency, 12, seed=0, solver="sklearn-arpack", n_init=n_init)
        row["sklearn_arpack_seconds"] = time.perf_counter() - start
        row["sklearn_arpack_ncut"] = ncut(adjacency, labels)
        row["speedup"] = row["sklearn_arpack_seconds"] / row["seconds_per_clustering"]
    row["peak_rss_mb"] = _peak_mb()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(TORCHVISION), help="comma-separated architectures")
    parser.add_argument("--n-init", type=int, default=100, help="k-means restarts (P2: 100)")
    parser.add_argument("--reference", action="store_true", help="also time scikit-learn's arpack solver")
    parser.add_argument("--json", help="write the rows as JSON here")
    args = parser.parse_args()
    rows = []
    with threadpool_limits(1):
        for architecture in args.models.split(","):
            rows.append(measure(architecture, args.n_init, args.reference))
            r = rows[-1]
            line = (
                f"{r['model']:13s} {r['graph']:20s} {r['channels']:7,d} channels {r['edges']:11,d} edges  "
                f"blocks {r['blocks_mb']:6.1f} MB (sparse A would be {r['sparse_adjacency_mb']:6.0f} MB)  "
                f"clustering {r['seconds_per_clustering']:6.1f} s  shuffle {r['seconds_per_shuffle']:6.1f} s  "
                f"n-cut {r['ncut']:.3f} (shuffle {r['shuffle_ncut']:.3f})  peak RSS {r['peak_rss_mb']:,.0f} MB"
            )
            if args.reference:
                line += (
                    f"  sklearn-arpack {r['sklearn_arpack_seconds']:.1f} s, n-cut {r['sklearn_arpack_ncut']:.3f}"
                    f" ({r['speedup']:.1f}x)"
                )
            print(line, flush=True)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, one thread, k = 12, "
          f"n_init = {args.n_init}")  # fmt: skip
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
