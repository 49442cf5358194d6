"""Benchmark: time per shuffle (shuffle + spectral clustering + n-cut) and n-cut quality per solver.

Builds Glorot-initialized 784-256-256-256-256-10 MLP weights, dense and pruned
to 90 % zeros (magnitude pruning per layer), and for k = 4 and k = 12 computes
the same shuffles with every solver, interleaved so that the solvers are
measured side by side under the same machine load. Runs on one thread.

    python benchmarks/bench_ncut.py [--shuffles 50] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from clusterability.graph import mlp_graph  # noqa: E402
from clusterability.measure import shuffle_ncut  # noqa: E402
from clusterability.spectral import SOLVERS  # noqa: E402

WIDTHS = (784, 256, 256, 256, 256, 10)


def glorot_mlp(seed: int, sparsity: float) -> list[np.ndarray]:
    """Glorot-uniform kernels; the smallest ``sparsity`` fraction of each set to zero."""
    rng = np.random.default_rng(seed)
    kernels = []
    for fan_in, fan_out in zip(WIDTHS[:-1], WIDTHS[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-limit, limit, size=(fan_in, fan_out))
        if sparsity > 0:
            w[np.abs(w) < np.quantile(np.abs(w), sparsity)] = 0.0
        kernels.append(w)
    return kernels


def bench(n_shuffles: int, seed: int) -> list[dict]:
    rows = []
    for name, sparsity in (("pruned", 0.9), ("dense", 0.0)):
        graph = mlp_graph(glorot_mlp(seed, sparsity))
        for k in (4, 12):
            times = {s: [] for s in SOLVERS}
            ncuts = {s: [] for s in SOLVERS}
            for solver in SOLVERS:  # warm-up: imports, numba cache, first-call overheads
                shuffle_ncut(graph, k, seed=seed, method="layer", index=10_000, solver=solver)
            for i in range(n_shuffles):
                for solver in SOLVERS:
                    start = time.perf_counter()
                    value = shuffle_ncut(graph, k, seed=seed, method="layer", index=i, solver=solver)
                    times[solver].append(time.perf_counter() - start)
                    ncuts[solver].append(value)
            best_sklearn = min(np.mean(ncuts[s]) for s in SOLVERS if s.startswith("sklearn"))
            for solver in SOLVERS:
                rows.append(
                    {
                        "network": name,
                        "k": k,
                        "solver": solver,
                        "median_ms": 1e3 * float(np.median(times[solver])),
                        "mean_ncut": float(np.mean(ncuts[solver])),
                        "ncut_vs_best_sklearn_pct": 100 * (float(np.mean(ncuts[solver])) / best_sklearn - 1),
                        "n_shuffles": n_shuffles,
                    }
                )
            print_rows(rows[-len(SOLVERS) :])
    return rows


def print_rows(rows: list[dict]) -> None:
    amg = next(r["median_ms"] for r in rows if r["solver"] == "sklearn-amg")
    for r in rows:
        print(
            f"{r['network']:7s} k={r['k']:<3d} {r['solver']:15s} {r['median_ms']:8.1f} ms/shuffle  "
            f"x{amg / r['median_ms']:5.2f} vs amg   mean n-cut {r['mean_ncut']:.4f} "
            f"({r['ncut_vs_best_sklearn_pct']:+.2f}% vs best sklearn)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shuffles", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, 1 thread, {args.shuffles} shuffles")
    with threadpool_limits(1):
        rows = bench(args.shuffles, args.seed)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
