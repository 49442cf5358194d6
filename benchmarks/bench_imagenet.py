"""Benchmark: seconds per clustering of P2's ImageNet models (Table A.11), and memory.

For each of VGG-16/19, ResNet-18/34/50 and Inception-V3, randomly initialized
with torchvision's shapes and wiring (:mod:`clusterability.io.torchvision`; the
weights' values do not change the cost), builds the channel graph and times,
on one thread:

* the network's spectral clustering with the ``fast`` solver at k = 12 and
  P2's 100 k-means restarts (ResNets and Inception: ARPACK on the implicit
  operator of :mod:`clusterability.core.dag_graph`; VGGs: the bipartite shortcut),
* one ``layer`` shuffle (shuffle + clustering + n-cut),

with this working tree's solver (``fast``) and with the ``fast`` solver at
``--reference-rev`` (``reference``, loaded from git as in ``bench_ncut.py``),
each model and solver in a fresh process (so that each gets its own peak
resident memory), the two solvers one after the other per model, their order
alternating from model to model. It prints the graph's size, the memory its
blocks take, the sparse adjacency the operator avoids, both solvers' times,
n-cuts and peak resident memory, and the reference's time over ours.
``--sklearn`` also clusters each graph with scikit-learn's ``arpack`` solver
(P2's reference, on the sparse adjacency) in the ``fast`` solver's process and
prints its n-cut and time (slow: minutes for the large models).

    python benchmarks/bench_imagenet.py [--models resnet18,resnet50] [--sklearn] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

from threadpoolctl import threadpool_limits  # noqa: E402

from clusterability.core import measure  # noqa: E402
from clusterability.core.build import network_graph  # noqa: E402
from clusterability.core.dag_graph import DagGraph  # noqa: E402
from clusterability.core.measure import cluster_network, shuffle_ncut  # noqa: E402
from clusterability.core.ncut import ncut  # noqa: E402
from clusterability.core.spectral import spectral_clusters  # noqa: E402
from clusterability.io.torchvision import TORCHVISION, random_torchvision_state, torchvision_weights  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ncut import REFERENCE_REV, load_reference  # noqa: E402

SOLVERS = ("fast", "reference")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reference_clusters(rev: str):
    """The reference's ``spectral_clusters``, taking this working tree's graphs."""
    reference = load_reference(rev)
    reference_dag = sys.modules["clusterability._ref_dag_graph"].DagGraph

    def clusters(graph, k, **kwargs):
        if isinstance(graph, DagGraph):  # the same fields, as the reference's class (no re-validation)
            converted = object.__new__(reference_dag)
            for field in ("sizes", "blocks", "sources"):
                object.__setattr__(converted, field, getattr(graph, field))
            graph = converted
        return reference.spectral_clusters(graph, k, **kwargs)

    return clusters


def measure_one(architecture: str, solver: str, n_init: int, sklearn: bool, rev: str) -> dict:
    """Clustering and one shuffle of ``architecture`` with ``solver`` (in this process)."""
    weights = torchvision_weights(random_torchvision_state(architecture, seed=0), architecture, architecture)
    graph = network_graph(weights)
    dag = isinstance(graph, DagGraph)
    edges = graph.n_edges if dag else int(sum(b.size for b in graph.blocks))
    row = {
        "model": architecture,
        "solver": solver,
        "graph": "DAG (operator)" if dag else "layered (bipartite)",
        "channels": graph.n_nodes,
        "edges": edges,
        "blocks_mb": sum(b.nbytes for b in graph.blocks) / 2**20,
        "sparse_adjacency_mb": 2 * edges * 12 / 2**20,  # what a CSR matrix of the edges would take
    }
    patch = (
        mock.patch.object(measure, "spectral_clusters", reference_clusters(rev))
        if solver == "reference"
        else mock.patch.object(measure, "spectral_clusters", measure.spectral_clusters)
    )
    with patch:
        start = time.perf_counter()
        row["ncut"] = cluster_network(graph, 12, seed=0, n_init=n_init).ncut
        row["seconds_per_clustering"] = time.perf_counter() - start
        start = time.perf_counter()
        row["shuffle_ncut"] = shuffle_ncut(graph, 12, seed=0, method="layer", index=0, n_init=n_init)
        row["seconds_per_shuffle"] = time.perf_counter() - start
    if sklearn:
        start = time.perf_counter()
        adjacency = graph.adjacency()
        labels = spectral_clusters(adjacency, 12, seed=0, solver="sklearn-arpack", n_init=n_init)
        row["sklearn_arpack_seconds"] = time.perf_counter() - start
        row["sklearn_arpack_ncut"] = ncut(adjacency, labels)
    row["peak_rss_mb"] = _peak_mb()
    return row


def run_child(architecture: str, solver: str, args: argparse.Namespace) -> dict:
    """:func:`measure_one` in a fresh process (its own peak memory); its row."""
    command = [sys.executable, __file__, "--child", solver, "--models", architecture, "--n-init", str(args.n_init)]
    command += ["--reference-rev", args.reference_rev] + (["--sklearn"] if args.sklearn and solver == "fast" else [])
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def print_pair(rows: dict[str, dict]) -> None:
    r, ref = rows["fast"], rows["reference"]
    line = (
        f"{r['model']:13s} {r['graph']:20s} {r['channels']:7,d} ch {r['edges']:11,d} edges  "
        f"blocks {r['blocks_mb']:6.1f} MB (sparse A {r['sparse_adjacency_mb']:5.0f} MB)  "
        f"clustering {r['seconds_per_clustering']:5.2f} s (ref {ref['seconds_per_clustering']:5.2f} s, "
        f"x{ref['seconds_per_clustering'] / r['seconds_per_clustering']:4.2f})  "
        f"shuffle {r['seconds_per_shuffle']:5.2f} s (ref {ref['seconds_per_shuffle']:5.2f} s, "
        f"x{ref['seconds_per_shuffle'] / r['seconds_per_shuffle']:4.2f})  "
        f"n-cut {r['ncut']:.3f} (ref {ref['ncut']:.3f}), "
        f"shuffle {r['shuffle_ncut']:.3f} (ref {ref['shuffle_ncut']:.3f})  "
        f"peak RSS {r['peak_rss_mb']:,.0f} MB (ref {ref['peak_rss_mb']:,.0f} MB)"
    )
    if "sklearn_arpack_seconds" in r:
        line += f"  sklearn-arpack {r['sklearn_arpack_seconds']:.1f} s, n-cut {r['sklearn_arpack_ncut']:.3f}"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(TORCHVISION), help="comma-separated architectures")
    parser.add_argument("--n-init", type=int, default=100, help="k-means restarts (P2: 100)")
    parser.add_argument("--sklearn", action="store_true", help="also time scikit-learn's arpack solver")
    parser.add_argument("--reference-rev", default=REFERENCE_REV, help="git revision of the reference solver")
    parser.add_argument("--child", choices=SOLVERS, help=argparse.SUPPRESS)
    parser.add_argument("--json", help="write the rows as JSON here")
    args = parser.parse_args()
    if args.child:
        with threadpool_limits(1):
            print(json.dumps(measure_one(args.models, args.child, args.n_init, args.sklearn, args.reference_rev)))
        return
    load_reference(args.reference_rev)  # write the reference's modules (and compile them) before the children
    rows = []
    for i, architecture in enumerate(args.models.split(",")):
        pair = {}
        for solver in SOLVERS if i % 2 == 0 else SOLVERS[::-1]:
            pair[solver] = run_child(architecture, solver, args)
        print_pair(pair)
        rows += [pair["fast"], pair["reference"]]
    peaks = {s: max(r["peak_rss_mb"] for r in rows if r["solver"] == s) for s in SOLVERS}
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, one thread, k = 12, "
        f"n_init = {args.n_init}; ref = the fast solver at {args.reference_rev[:12]}; a process per model and "
        f"solver; largest peak RSS: fast {peaks['fast']:,.0f} MB, ref {peaks['reference']:,.0f} MB"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"reference_rev": args.reference_rev, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
