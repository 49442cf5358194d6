"""How much of a pruned network's n-cut comes from weights at noise level (config/papers/facts.yaml).

P2 Table A.19's L1-regularized polynomial MLPs after pruning (fact ``p2_polynomial_rows``; the MNIST L1 row,
``p2_mnist_l1_pruned_dead_neurons``, is the same story): a share of the weights that survive pruning sit
below ``--threshold`` (1e-3), where Adam leaves weights that only the L1 gradient moves. For each network of a
family in a work folder this prints that share, how many of its clusters (``network.json``, as the pipeline
made it) have every edge below the threshold and what their cut terms add up to, and its n-cut clustered
again as the pipeline does (same seed, solver and restarts): as it is, with the weights below the threshold
set to zero, and with them scaled by random factors in [0.5, 1.5] (three draws). With ``--shuffles N`` also
the mean n-cut of its first N layer shuffles, as it is and without those weights.

    python docs/check_noise_weights.py --workdir /tmp/verifyPoly --family polynomial_l1 [--runs 10] [--shuffles 20]

Single-threaded, as the pipeline's clustering jobs run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from clusterability.threads import limit_threads, set_thread_env  # noqa: E402

set_thread_env(1)

import numpy as np  # noqa: E402

from clusterability.core.build import network_graph  # noqa: E402
from clusterability.core.graph import Graph  # noqa: E402
from clusterability.core.measure import cluster_network, shuffle_ncuts  # noqa: E402
from clusterability.core.network import NetworkWeights  # noqa: E402
from clusterability.io.npz import load_weights  # noqa: E402


def _without_noise(weights: NetworkWeights, threshold: float, factors: np.random.Generator | None) -> NetworkWeights:
    """The weights below ``threshold`` set to zero, or (``factors`` given) scaled by random factors in [0.5, 1.5]."""
    kernels = []
    for k in weights.kernels:
        noise = (np.abs(k) < threshold) & (k != 0)
        if factors is None:
            kernels.append(np.where(noise, 0, k).astype(k.dtype))
        else:
            kernels.append(np.where(noise, k * factors.uniform(0.5, 1.5, k.shape), k).astype(k.dtype))
    return weights.with_kernels(kernels)


def _noise_clusters(graph: Graph, clustering: dict, threshold: float) -> tuple[int, float]:
    """Clusters every edge of which is below ``threshold``, and the sum of their cut terms."""
    adjacency = graph.adjacency().tocsr()
    labels = np.asarray(clustering["labels"])
    terms = np.asarray(clustering["cluster_cut_terms"])
    noise = []
    for c in range(clustering["k"]):
        rows = adjacency[np.flatnonzero(labels == c)]
        noise.append(rows.nnz > 0 and rows.data.max() < threshold)
    noise = np.asarray(noise)
    return int(noise.sum()), float(terms[noise[: terms.shape[0]]].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--family", default="polynomial_l1")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--stage", default="pruned")
    parser.add_argument("--k", type=int, default=12)
    parser.add_argument("--threshold", type=float, default=1e-3)
    parser.add_argument("--shuffles", type=int, default=0, help="also the mean n-cut of the first N layer shuffles")
    args = parser.parse_args()
    results = args.workdir / "results"
    with limit_threads(1):
        for run in range(args.runs):
            path = results / "networks" / args.family / f"run{run}" / f"weights_{args.stage}.npz"
            done = results / "clustering" / args.family / f"run{run}" / args.stage / f"k{args.k}" / "network.json"
            if not path.is_file() or not done.is_file():
                print(f"run{run}: not built ({path} or {done} missing)")
                continue
            weights, clustering = load_weights(path), json.loads(done.read_text())
            kept = np.concatenate([np.abs(k[k != 0]) for k in weights.kernels])
            settings = {"seed": clustering["seed"], "solver": clustering["solver"], "n_init": clustering["n_init"]}

            def ncut(graph: Graph, settings: dict = settings) -> float:
                return cluster_network(graph, args.k, **settings).ncut

            graph = network_graph(weights)
            clean = network_graph(_without_noise(weights, args.threshold, None))
            count, terms = _noise_clusters(graph, clustering, args.threshold)
            draws = np.random.default_rng(run)
            scaled = [ncut(network_graph(_without_noise(weights, args.threshold, draws))) for _ in range(3)]
            line = (
                f"run{run}: {np.mean(kept < args.threshold):.1%} of the kept weights below {args.threshold:g}; "
                f"{count} of {args.k} clusters all below it (cut terms {terms:.2f} of {clustering['ncut']:.2f}); "
                f"n-cut {ncut(graph):.2f}, without them {ncut(clean):.2f}, "
                f"scaled {', '.join(f'{s:.2f}' for s in scaled)}"
            )
            if args.shuffles:
                shuffle = {**settings, "method": "layer", "indices": range(args.shuffles)}
                kept_mean = shuffle_ncuts(graph, args.k, **shuffle).mean()
                clean_mean = shuffle_ncuts(clean, args.k, **shuffle).mean()
                line += f"; first {args.shuffles} shuffles {kept_mean:.3f}, without {clean_mean:.3f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
