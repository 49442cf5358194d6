"""Benchmark: time per shuffle (shuffle + spectral clustering + n-cut) and n-cut quality per solver.

Builds Glorot-initialized 784-256-256-256-256-10 MLP weights, dense and pruned
to 90 % zeros (magnitude pruning per layer), and for k = 4 and k = 12 computes
the same shuffles with every solver on one thread. The solvers:

* ``fast``: this working tree's solver;
* ``reference``: the ``fast`` solver as it was at ``--reference-rev`` (by default
  the commit before the Lanczos solver): its modules (``spectral``, ``bipartite``,
  ``eigensolver``, ``kmeans``, ``dag_graph``) read with ``git show`` into
  ``benchmarks/out`` and imported beside the working tree's, which supplies the
  rest (graphs, shuffles, n-cut) to both;
* ``sklearn-amg``, ``sklearn-arpack``: scikit-learn's spectral clustering.

Two phases per network and k, each interleaving its solvers shuffle by shuffle
(the order rotating) so that they are measured side by side under the same
machine load: ``fast`` against ``reference``, then the two scikit-learn
back-ends. (Interleaved with scikit-learn's large allocations, the small
solvers' timings depend on the C allocator's state, how much freed memory it
keeps or returns: up to 3 ms per shuffle for the dense network.) Per solver it
prints the median wall-clock milliseconds per shuffle and the median CPU
milliseconds of the thread (less sensitive to other processes on a shared
machine), how many times faster ``fast`` is (wall and CPU), and the mean n-cut
against the better scikit-learn back-end.

    python benchmarks/bench_ncut.py [--shuffles 50] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from unittest import mock

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import importlib.util  # noqa: E402

import numpy as np  # noqa: E402
from networks import PAPER_WIDTHS, glorot_mlp  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from clusterability.core import measure  # noqa: E402
from clusterability.core.build import mlp_graph  # noqa: E402
from clusterability.core.measure import shuffle_ncut  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: The last commit with the ARPACK-only ``fast`` solver (the bounded eigen-solver, issue 19).
REFERENCE_REV = "41517df026dfa8fb41706d684d572f3b23920697"
#: The modules of the ``fast`` solver, in import order.
SOLVER_MODULES = ("eigensolver", "kmeans", "bipartite", "dag_graph", "spectral")
SOLVERS = ("fast", "reference", "sklearn-amg", "sklearn-arpack")


def load_reference(rev: str) -> ModuleType:
    """The ``spectral`` module of the ``fast`` solver at ``rev``, importable beside the working tree's.

    Each solver module is written to ``benchmarks/out/reference_<rev>/`` and imported as
    ``clusterability._ref_<name>``, its imports of the other solver modules pointed at their
    reference copies; everything else (graphs, errors, limits) is the working tree's.
    """
    folder = REPO / "benchmarks" / "out" / f"reference_{rev[:12]}"
    folder.mkdir(parents=True, exist_ok=True)
    modules = {}
    for name in SOLVER_MODULES:
        source = subprocess.run(
            ["git", "show", f"{rev}:lib/clusterability/{name}.py"], cwd=REPO, check=True, capture_output=True, text=True
        ).stdout
        source = re.sub(rf"from \.({'|'.join(SOLVER_MODULES)}) import", r"from ._ref_\1 import", source)
        # Its graph types are today's (the reference rev had them in graph.py, before the core/ subpackage).
        source = source.replace("from .graph import", "from clusterability.core.layered_graph import")
        path = folder / f"_ref_{name}.py"
        if not path.exists() or path.read_text() != source:  # rewriting would void numba's cache
            path.write_text(source)
        full = f"clusterability._ref_{name}"
        spec = importlib.util.spec_from_file_location(full, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        spec.loader.exec_module(module)
        modules[name] = module
    return modules["spectral"]


def solver_call(solver: str, reference: ModuleType) -> Callable[..., float]:
    """``shuffle_ncut`` with ``solver`` (``reference``: the reference's ``spectral_clusters``, solver ``fast``)."""
    if solver != "reference":
        return lambda graph, k, seed, index: shuffle_ncut(
            graph, k, seed=seed, method="layer", index=index, solver=solver
        )

    def call(graph, k, seed, index):
        with mock.patch.object(measure, "spectral_clusters", reference.spectral_clusters):
            return shuffle_ncut(graph, k, seed=seed, method="layer", index=index, solver="fast")

    return call


def interleaved(calls: dict[str, Callable[..., float]], graph, k: int, seed: int, n_shuffles: int) -> dict:
    """Wall and CPU seconds and n-cuts of shuffles ``0 .. n_shuffles - 1`` per solver, the solvers taking
    turns on each shuffle (their order rotating from one shuffle to the next)."""
    names = list(calls)
    out = {s: {"wall": [], "cpu": [], "ncut": []} for s in names}
    for solver in names:  # warm-up: imports, numba cache, first-call overheads
        calls[solver](graph, k, seed, 10_000)
    for i in range(n_shuffles):
        for j in range(len(names)):
            solver = names[(i + j) % len(names)]
            start, start_cpu = time.perf_counter(), time.thread_time()
            value = calls[solver](graph, k, seed, i)
            out[solver]["cpu"].append(time.thread_time() - start_cpu)
            out[solver]["wall"].append(time.perf_counter() - start)
            out[solver]["ncut"].append(value)
    return out


def bench(n_shuffles: int, seed: int, reference: ModuleType) -> list[dict]:
    rows = []
    calls = {s: solver_call(s, reference) for s in SOLVERS}
    for name, sparsity in (("pruned", 0.9), ("dense", 0.0)):
        graph = mlp_graph(glorot_mlp(PAPER_WIDTHS, seed=seed, sparsity=sparsity))
        for k in (4, 12):
            runs = interleaved({s: calls[s] for s in SOLVERS[:2]}, graph, k, seed, n_shuffles)
            runs |= interleaved({s: calls[s] for s in SOLVERS[2:]}, graph, k, seed, n_shuffles)
            best_sklearn = min(np.mean(runs[s]["ncut"]) for s in SOLVERS if s.startswith("sklearn"))
            for solver in SOLVERS:
                rows.append(
                    {
                        "network": name,
                        "k": k,
                        "solver": solver,
                        "median_ms": 1e3 * float(np.median(runs[solver]["wall"])),
                        "median_cpu_ms": 1e3 * float(np.median(runs[solver]["cpu"])),
                        "mean_ncut": float(np.mean(runs[solver]["ncut"])),
                        "ncut_vs_best_sklearn_pct": 100 * (float(np.mean(runs[solver]["ncut"])) / best_sklearn - 1),
                        "n_shuffles": n_shuffles,
                    }
                )
            print_rows(rows[-len(SOLVERS) :])
    return rows


HEADER = (
    f"{'network':7s} {'k':>3s} {'solver':15s} {'ms/shuffle':>10s} {'cpu ms':>7s} {'fast x':>7s} "
    f"{'fast x cpu':>10s} {'mean n-cut':>10s} {'vs best sklearn':>15s}"
)


def print_rows(rows: list[dict]) -> None:
    """One line per solver; ``fast x``: how many times faster ``fast`` is than that solver (wall and CPU)."""
    fast = next(r for r in rows if r["solver"] == "fast")
    for r in rows:
        print(
            f"{r['network']:7s} {r['k']:3d} {r['solver']:15s} {r['median_ms']:10.1f} {r['median_cpu_ms']:7.1f} "
            f"{r['median_ms'] / fast['median_ms']:7.2f} {r['median_cpu_ms'] / fast['median_cpu_ms']:10.2f} "
            f"{r['mean_ncut']:10.4f} {r['ncut_vs_best_sklearn_pct']:+14.2f}%",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shuffles", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference-rev", default=REFERENCE_REV, help="git revision of the reference solver")
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args()
    reference = load_reference(args.reference_rev)
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, 1 thread, {args.shuffles} "
        f"shuffles; fast and reference interleaved, then the sklearn back-ends; reference = the fast solver at "
        f"{args.reference_rev[:12]}; medians"
    )
    print(HEADER)
    with threadpool_limits(1):
        rows = bench(args.shuffles, args.seed, reference)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"reference_rev": args.reference_rev, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
