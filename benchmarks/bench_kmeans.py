"""Benchmark: the generic k-means kernel against the hand-unrolled one and scikit-learn.

On the spectral embeddings that the pipeline clusters (shuffles of Glorot-initialized
784-256-256-256-256-10 MLPs, dense and pruned to 90 % zeros, embedded by
``clusterability.core.spectral.spectral_embedding`` with the generators of
``clusterability.core.measure.shuffle_ncut``), for k = 4 and k = 12, times side by side
(interleaved repetitions, rotating order, medians, one thread):

* ``old``: ``clusterability/core/kmeans.py`` at ``--old-rev`` (default: the commit with the
  hand-unrolled kernels), read with ``git show`` into a module under ``benchmarks/out``;
* ``new``: ``clusterability.core.kmeans.kmeans`` of the working tree;
* ``sklearn``: ``sklearn.cluster.k_means`` with ``init="k-means++"``, ``n_init=10``;
* per shuffle: whole ``shuffle_ncut`` calls (shuffle, embedding, k-means, n-cut) with the
  old and the new k-means (``clusterability.core.spectral.kmeans`` swapped), interleaved with
  each other in a second phase: the quantity of the per-shuffle targets (15 / 30 ms at
  k = 4 / 12 on the pruned network, 100 / 200 ms on the dense one).

Labels (and inertia) of old and new should be identical on every embedding and seed;
sklearn's inertia is reported relative to ours (mean over the calls).

    python benchmarks/bench_kmeans.py [--shuffles 10] [--repeats 10] [--shuffle-repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from unittest import mock

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402
from networks import PAPER_WIDTHS, glorot_mlp  # noqa: E402
from sklearn.cluster import k_means  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from clusterability.core import spectral  # noqa: E402
from clusterability.core.build import mlp_graph  # noqa: E402
from clusterability.core.kmeans import kmeans  # noqa: E402
from clusterability.core.layered_graph import LayeredGraph  # noqa: E402
from clusterability.core.measure import shuffle_ncut  # noqa: E402
from clusterability.core.shuffles import shuffle_graph, shuffle_rngs  # noqa: E402
from clusterability.core.spectral import spectral_embedding  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
UNROLLED_REV = "7b7c787416c27794b53cd41c860149cf99c9f6f6"  # kmeans.py with the unrolled kernels
NETWORKS = (("pruned", 0.9), ("dense", 0.0))
TARGET_MS = {("pruned", 4): 15.0, ("pruned", 12): 30.0, ("dense", 4): 100.0, ("dense", 12): 200.0}
METHODS = ("old", "new", "sklearn")
N_INIT = 10


def load_old_kmeans(rev: str) -> ModuleType:
    """``clusterability/core/kmeans.py`` at ``rev`` as a module (its numba cache kept under benchmarks/out)."""
    source = subprocess.run(
        ["git", "show", f"{rev}:lib/clusterability/kmeans.py"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout
    path = REPO / "benchmarks" / "out" / f"kmeans_{rev[:12]}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != source:  # rewriting would void numba's cache
        path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def run(method: str, old: ModuleType, k: int, index: int, emb: np.ndarray, rng: np.random.Generator) -> tuple:
    """One timed k-means call: ``(labels, inertia)``."""
    if method == "old":
        return old.kmeans(emb, k, seed=rng, n_init=N_INIT)
    if method == "new":
        return kmeans(emb, k, seed=rng, n_init=N_INIT)
    _, labels, inertia = k_means(emb, k, init="k-means++", n_init=N_INIT, random_state=index)
    return labels, float(inertia)


def shuffle_ms(old: ModuleType, graph: LayeredGraph, k: int, seed: int, n_shuffles: int, repeats: int) -> dict:
    """Median ms per ``shuffle_ncut`` with the old and with the new k-means, and whether the n-cuts agree."""
    kmeans_of = {"old": old.kmeans, "new": kmeans}
    times = {m: [] for m in kmeans_of}
    ncuts = {m: [] for m in kmeans_of}
    for fn in kmeans_of.values():  # warm-up
        with mock.patch.object(spectral, "kmeans", fn):
            shuffle_ncut(graph, k, seed=seed, method="layer", index=0)
    for r in range(repeats):
        for i in range(n_shuffles):
            for j in range(len(kmeans_of)):
                m = ("old", "new")[(r + i + j) % 2]
                with mock.patch.object(spectral, "kmeans", kmeans_of[m]):
                    start = time.perf_counter()
                    ncuts[m].append(shuffle_ncut(graph, k, seed=seed, method="layer", index=i))
                    times[m].append(time.perf_counter() - start)
    out = {f"shuffle_{m}_ms": 1e3 * float(np.median(t)) for m, t in times.items()}
    out["shuffle_ncuts_equal"] = ncuts["old"] == ncuts["new"]
    return out


def bench(old: ModuleType, n_shuffles: int, repeats: int, shuffle_repeats: int, seed: int) -> list[dict]:
    rows = []
    for name, sparsity in NETWORKS:
        graph = mlp_graph(glorot_mlp(PAPER_WIDTHS, seed=seed, sparsity=sparsity))
        for k in (4, 12):
            # The embeddings and k-means generators of shuffles 0 .. n_shuffles - 1, as in shuffle_ncut.
            cases = []
            for i in range(n_shuffles):
                shuffle_rng, cluster_rng = shuffle_rngs(seed, "layer", i)
                emb = spectral_embedding(shuffle_graph(graph, "layer", shuffle_rng), k, rng=cluster_rng)
                cases.append((i, emb, cluster_rng))

            for method in METHODS:  # warm-up: compilation (numba cache), imports, first calls
                run(method, old, k, cases[0][0], cases[0][1], copy.deepcopy(cases[0][2]))
            times = {m: [] for m in METHODS}
            same = 0
            rel_inertia = []
            for r in range(repeats):
                for c, case in enumerate(cases):
                    out = {}
                    for j in range(len(METHODS)):
                        method = METHODS[(r + c + j) % len(METHODS)]
                        rng = copy.deepcopy(case[2])  # every method starts from the same generator state
                        start = time.perf_counter()
                        out[method] = run(method, old, k, case[0], case[1], rng)
                        times[method].append(time.perf_counter() - start)
                    same += bool(np.array_equal(out["old"][0], out["new"][0]) and out["old"][1] == out["new"][1])
                    rel_inertia.append(out["sklearn"][1] / out["new"][1] - 1)
            ms = {m: 1e3 * float(np.median(times[m])) for m in METHODS}
            rows.append(
                {
                    "network": name,
                    "k": k,
                    "old_ms": ms["old"],
                    "new_ms": ms["new"],
                    "sklearn_ms": ms["sklearn"],
                    "new_over_old": ms["new"] / ms["old"],
                    "new_over_sklearn": ms["new"] / ms["sklearn"],
                    "labels_equal": same,
                    "calls": len(times["new"]),
                    "sklearn_inertia_vs_ours_pct": 100 * float(np.mean(rel_inertia)),
                    **shuffle_ms(old, graph, k, seed, n_shuffles, shuffle_repeats),
                    "shuffle_target_ms": TARGET_MS[name, k],
                }
            )
            print_row(rows[-1])
    return rows


HEADER = (
    f"{'network':7s} {'k':>3s} {'old ms':>8s} {'new ms':>8s} {'sklearn ms':>10s} {'new/old':>8s} "
    f"{'new/sklearn':>11s} {'labels new==old':>15s} {'sklearn inertia':>15s} "
    f"{'ms/shuffle old':>14s} {'ms/shuffle new':>14s} {'target':>7s}"
)


def print_row(r: dict) -> None:
    print(
        f"{r['network']:7s} {r['k']:3d} {r['old_ms']:8.2f} {r['new_ms']:8.2f} {r['sklearn_ms']:10.2f} "
        f"{r['new_over_old']:8.3f} {r['new_over_sklearn']:11.3f} {r['labels_equal']:>7d}/{r['calls']:<7d} "
        f"{r['sklearn_inertia_vs_ours_pct']:+14.3f}% {r['shuffle_old_ms']:14.1f} {r['shuffle_new_ms']:14.1f} "
        f"{r['shuffle_target_ms']:7.0f}" + ("" if r["shuffle_ncuts_equal"] else "  (n-cuts differ)"),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shuffles", type=int, default=10, help="embeddings (shuffles) per network and k")
    parser.add_argument("--repeats", type=int, default=10, help="timed k-means calls per embedding and method")
    parser.add_argument(
        "--shuffle-repeats", type=int, default=5, help="timed shuffle_ncut calls per shuffle and k-means"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--old-rev", default=UNROLLED_REV, help="git revision of the old kmeans.py")
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args()
    old = load_old_kmeans(args.old_rev)
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, 1 thread; "
        f"old = kmeans.py at {args.old_rev[:12]}; {args.shuffles} embeddings x {args.repeats} repeats; "
        f"k-means n_init={N_INIT}; medians"
    )
    print(HEADER)
    with threadpool_limits(1):
        rows = bench(old, args.shuffles, args.repeats, args.shuffle_repeats, args.seed)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"old_rev": args.old_rev, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
