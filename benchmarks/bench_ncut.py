"""Benchmark: time per shuffle (shuffle + spectral clustering + n-cut) and n-cut quality per solver.

Builds Glorot-initialized 784-256-256-256-256-10 MLP weights, dense and pruned
to 90 % zeros (magnitude pruning per layer), and for k = 4 and k = 12 computes
the same shuffles with every solver on one thread. The solvers:

* ``fast``: this working tree's solver;
* ``reference``: the whole per-shuffle computation (graph, shuffle, ``fast``
  solver, n-cut) as it was at ``--reference-rev`` (by default commit 6eb5daf,
  before the shuffle was drawn in numba): its ``lib/clusterability`` read with
  ``git archive`` into ``benchmarks/out`` as a package of another name and
  imported beside the working tree's;
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

``--equality`` instead compares ``fast`` with ``reference`` value by value: on
eight trained-like paper MLPs (:func:`trained_like_mlp`) and ten shuffles each,
at k = 4 and 12, how many n-cuts are bit-for-bit equal, how many clusterings are
the same partition, the largest n-cut difference, and whether the shuffled
weight matrices are byte-identical.

    python benchmarks/bench_ncut.py [--shuffles 50] [--json out.json]
    python benchmarks/bench_ncut.py --equality
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import importlib  # noqa: E402

import numpy as np  # noqa: E402
from networks import PAPER_WIDTHS, glorot_mlp  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from clusterability.core.build import mlp_graph  # noqa: E402
from clusterability.core.measure import shuffle_ncut  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: The commit whose per-shuffle computation is the reference: the Lanczos solver with the shuffle drawn by numpy.
REFERENCE_REV = "6eb5daf4515abaa692d892723043f6029de3ffa1"
SOLVERS = ("fast", "reference", "sklearn-amg", "sklearn-arpack")


def load_reference(rev: str) -> ModuleType:
    """The package ``clusterability`` at ``rev``, importable beside the working tree's.

    ``lib/clusterability`` at ``rev`` is written to ``benchmarks/out/reference_<rev>/`` as the package
    ``clusterability_ref_<rev>`` (its own imports renamed to it; files rewritten only when they differ,
    so numba's cache of them stays valid), and that package is returned.
    """
    name = f"clusterability_ref_{rev[:12]}"
    folder = REPO / "benchmarks" / "out" / f"reference_{rev[:12]}"
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "lib/clusterability"], cwd=REPO, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.endswith(".py"):
                continue
            source = tar.extractfile(member).read().decode()
            source = re.sub(r"\bclusterability\b(?=[. ])", name, source)
            path = folder / name / Path(member.name).relative_to("lib/clusterability")
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists() or path.read_text() != source:
                path.write_text(source)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return importlib.import_module(name)


def reference_module(reference: ModuleType, name: str) -> ModuleType:
    """The reference package's module ``core.<name>`` (so the reference is a revision with the ``core``
    subpackage and ``core.measure.shuffle_ncut``: commit 6eb5daf or later)."""
    return importlib.import_module(f"{reference.__name__}.core.{name}")


def solver_calls(reference: ModuleType) -> dict[str, Callable[..., float]]:
    """Per solver, ``call(kernels, k, seed, index)``: the n-cut of that shuffle (each graph built once per network)."""
    ref_build, ref_measure = reference_module(reference, "build"), reference_module(reference, "measure")
    graphs: dict[int, tuple] = {}

    def graph_pair(kernels: list[np.ndarray]) -> tuple:
        key = id(kernels)
        if key not in graphs:
            graphs[key] = (mlp_graph(kernels), ref_build.mlp_graph(kernels), kernels)
        return graphs[key]

    def ours(solver: str) -> Callable[..., float]:
        return lambda kernels, k, seed, index: shuffle_ncut(
            graph_pair(kernels)[0], k, seed=seed, method="layer", index=index, solver=solver
        )

    def ref(kernels, k, seed, index):
        return ref_measure.shuffle_ncut(
            graph_pair(kernels)[1], k, seed=seed, method="layer", index=index, solver="fast"
        )

    return {
        "fast": ours("fast"),
        "reference": ref,
        "sklearn-amg": ours("sklearn-amg"),
        "sklearn-arpack": ours("sklearn-arpack"),
    }


def interleaved(calls: dict[str, Callable[..., float]], kernels, k: int, seed: int, n_shuffles: int) -> dict:
    """Wall and CPU seconds and n-cuts of shuffles ``0 .. n_shuffles - 1`` per solver, the solvers taking
    turns on each shuffle (their order rotating from one shuffle to the next)."""
    names = list(calls)
    out = {s: {"wall": [], "cpu": [], "ncut": []} for s in names}
    for solver in names:  # warm-up: imports, numba cache, first-call overheads
        calls[solver](kernels, k, seed, 10_000)
    for i in range(n_shuffles):
        for j in range(len(names)):
            solver = names[(i + j) % len(names)]
            start, start_cpu = time.perf_counter(), time.thread_time()
            value = calls[solver](kernels, k, seed, i)
            out[solver]["cpu"].append(time.thread_time() - start_cpu)
            out[solver]["wall"].append(time.perf_counter() - start)
            out[solver]["ncut"].append(value)
    return out


def bench(n_shuffles: int, seed: int, reference: ModuleType) -> list[dict]:
    rows = []
    calls = solver_calls(reference)
    for name, sparsity in (("pruned", 0.9), ("dense", 0.0)):
        kernels = glorot_mlp(PAPER_WIDTHS, seed=seed, sparsity=sparsity)
        for k in (4, 12):
            runs = interleaved({s: calls[s] for s in SOLVERS[:2]}, kernels, k, seed, n_shuffles)
            runs |= interleaved({s: calls[s] for s in SOLVERS[2:]}, kernels, k, seed, n_shuffles)
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


def trained_like_mlp(seed: int) -> list[np.ndarray]:
    """Paper-MLP kernels with what training and pruning leave behind (not a trained network; a stand-in).

    Glorot kernels (:func:`networks.glorot_mlp`, seed ``seed``) with heavier tails (each weight
    raised to a seed-dependent power), the inputs of a 28 x 28 image's border (2 to 4 pixels wide)
    cut off as MNIST's constant border pixels are, a few hidden neurons dead, and 90 % of every
    kernel pruned by magnitude; even seeds also get four planted modules (weights within a module
    doubled), so some networks are clusterable and some are not.
    """
    rng = np.random.default_rng(10_000 + seed)
    kernels = glorot_mlp(PAPER_WIDTHS, seed=seed)
    border = 2 + seed % 3
    pixel = np.arange(28)
    inner = (pixel >= border) & (pixel < 28 - border)
    alive = [(inner[:, None] & inner[None, :]).ravel()]
    alive += [rng.random(n) > 0.03 for n in PAPER_WIDTHS[1:-1]] + [np.ones(PAPER_WIDTHS[-1], dtype=bool)]
    power = 1.0 + 0.5 * (seed % 4)
    out = []
    for l, w in enumerate(kernels):
        w = np.sign(w) * np.abs(w) ** power * alive[l][:, None] * alive[l + 1][None, :]
        if seed % 2 == 0:
            groups = [np.arange(n) * 4 // n for n in w.shape]
            w = np.where(groups[0][:, None] == groups[1][None, :], 2.0 * w, w)
        w[np.abs(w) < np.quantile(np.abs(w), 0.9)] = 0.0
        out.append(w)
    return out


def equality(reference: ModuleType, n_networks: int, n_shuffles: int, seed: int) -> None:
    """Print, per k, how the working tree's shuffles and ``fast`` n-cuts compare with the reference's."""
    ref_build, ref_measure = reference_module(reference, "build"), reference_module(reference, "measure")
    ref_shuffles, ref_spectral = reference_module(reference, "shuffles"), reference_module(reference, "spectral")
    from clusterability.core.dag_graph import solver_input
    from clusterability.core.shuffles import shuffle_graph, shuffle_rngs
    from clusterability.core.spectral import spectral_clusters

    networks = [trained_like_mlp(s) for s in range(n_networks)]
    same_blocks = total_blocks = 0
    for k in (4, 12):
        equal = same_partition = 0
        diffs = []
        for kernels in networks:
            ours, theirs = mlp_graph(kernels), ref_build.mlp_graph(kernels)
            for i in range(n_shuffles):
                srng, crng = shuffle_rngs(seed, "layer", i)
                a = solver_input(shuffle_graph(ours, "layer", srng))
                srng_ref, crng_ref = ref_shuffles.shuffle_rngs(seed, "layer", i)
                b = ref_shuffles.shuffle_graph(theirs, "layer", srng_ref)
                if k == 4:
                    total_blocks += len(a.blocks)
                    same_blocks += sum(
                        x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
                        for x, y in zip(a.blocks, b.blocks, strict=True)
                    )
                la = spectral_clusters(a, k, seed=crng, solver="fast")
                lb = ref_spectral.spectral_clusters(b, k, seed=crng_ref, solver="fast")
                na = shuffle_ncut(ours, k, seed=seed, method="layer", index=i, solver="fast")
                nb = ref_measure.shuffle_ncut(theirs, k, seed=seed, method="layer", index=i, solver="fast")
                equal += na == nb
                same_partition += _same_partition(la, lb)
                diffs.append(abs(na - nb))
        n = len(diffs)
        print(
            f"k = {k:2d}: {equal}/{n} n-cuts bit-for-bit equal, {same_partition}/{n} the same partition, "
            f"largest difference {max(diffs):.3g}",
            flush=True,
        )
    print(f"shuffled weight matrices byte-identical: {same_blocks}/{total_blocks} blocks")


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or not np.array_equal(a < 0, b < 0):
        return False
    pairs = set(zip(a[a >= 0].tolist(), b[b >= 0].tolist()))
    return len(pairs) == len(set(a[a >= 0].tolist())) == len(set(b[b >= 0].tolist()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shuffles", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--reference-rev", default=REFERENCE_REV, help="git revision of the reference (with lib/clusterability/core)"
    )
    parser.add_argument("--json", help="also write the rows as JSON here")
    parser.add_argument("--equality", action="store_true", help="compare n-cuts and shuffles with the reference")
    args = parser.parse_args()
    reference = load_reference(args.reference_rev)
    with threadpool_limits(1):
        if args.equality:
            print(f"# fast against the reference ({args.reference_rev[:12]}): 8 trained-like MLPs x 10 shuffles")
            equality(reference, 8, 10, args.seed)
            return
        print(
            f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, 1 thread, {args.shuffles} "
            f"shuffles; fast and reference interleaved, then the sklearn back-ends; reference = shuffle + fast "
            f"solver + n-cut at {args.reference_rev[:12]}; medians; load average {os.getloadavg()[0]:.1f}"
        )
        print(HEADER)
        rows = bench(args.shuffles, args.seed, reference)
    print(f"# load average at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"reference_rev": args.reference_rev, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
