"""Command-line interface: ``clusterability ncut WEIGHTS --k 4 --shuffles 320 ...``.

Measures the clusterability of a user's own network from its weights (an
``.npz`` in the format of :mod:`clusterability.weights`, or a saved Keras model
when TensorFlow is installed): the n-cut of its spectral clustering, the
n-cuts of its shuffles, the p-value and Z-score.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from . import __version__
from .atomic import write_json
from .errors import InputError
from .graph import network_graph
from .measure import cluster_network, shuffle_ncuts
from .shuffles import SHUFFLE_METHODS
from .spectral import SOLVERS
from .statistics import is_significant, p_value, z_score
from .threads import limit_threads
from .weights import NetworkWeights, load_weights

_KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def read_network(path: Path) -> NetworkWeights:
    """Weights from an ``.npz`` file or, with TensorFlow installed, a saved Keras model."""
    if path.suffix in _KERAS_SUFFIXES:
        if not path.is_file():
            raise InputError(f"{path}: no such model file")
        try:
            from .training import load_keras_model_weights
        except ImportError as exc:  # TensorFlow not installed
            raise InputError(
                f"{path}: reading a Keras model needs TensorFlow ({exc}); "
                "install clusterability[tf] or export the kernels to .npz"
            ) from None
        return load_keras_model_weights(path)
    return load_weights(path)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clusterability", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"clusterability {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ncut", help="n-cut of a network and of its shuffles")
    p.add_argument("weights", type=Path, help="weights .npz (kernel_0 ... kernel_{L-1}) or Keras model")
    p.add_argument("--k", type=_positive_int, default=4, help="number of clusters (default 4)")
    p.add_argument("--shuffles", type=_non_negative_int, default=320, help="number of shuffles (default 320)")
    p.add_argument("--shuffle-method", choices=SHUFFLE_METHODS, default="layer")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="master seed of every random draw")
    p.add_argument("--solver", choices=SOLVERS, default="fast")
    p.add_argument("--n-init", type=_positive_int, default=10, help="k-means restarts (default 10)")
    p.add_argument("--norm", choices=("l1", "l2"), default="l1", help="CNN kernel-slice norm")
    p.add_argument("--threads", type=_positive_int, default=1, help="BLAS/OpenMP threads (default 1)")
    p.add_argument("--json", type=Path, help="write the full result as JSON here")
    return parser


def run_ncut(args: argparse.Namespace) -> dict:
    """Measure the network of ``args.weights``; returns the JSON-ready result."""
    weights = read_network(args.weights)
    graph = network_graph(weights, norm=args.norm)
    clustering = cluster_network(graph, args.k, seed=args.seed, solver=args.solver, n_init=args.n_init)
    shuffles = shuffle_ncuts(
        graph,
        args.k,
        seed=args.seed,
        method=args.shuffle_method,
        indices=range(args.shuffles),
        solver=args.solver,
        n_init=args.n_init,
    )
    result = {
        "weights": str(args.weights),
        "network_kind": weights.kind,
        "layer_sizes": list(graph.layer_sizes),
        "k": args.k,
        "solver": args.solver,
        "n_init": args.n_init,
        "seed": args.seed,
        "ncut": clustering.ncut,
        "labels": clustering.labels.tolist(),
        "n_isolated": int(np.count_nonzero(clustering.labels < 0)),
        "cluster_sizes": clustering.cluster_sizes.tolist(),
        "cluster_cut_terms": clustering.cut_terms.tolist(),
        "degenerate": clustering.degeneracy.degenerate,
        "degenerate_reason": clustering.degeneracy.reason,
        "shuffle_method": args.shuffle_method,
        "n_shuffles": int(shuffles.size),
        "shuffle_ncuts": shuffles.tolist(),
        "shuffle_mean": float(shuffles.mean()) if shuffles.size else None,
        "shuffle_std": float(shuffles.std(ddof=1)) if shuffles.size > 1 else None,
        "p_value": p_value(clustering.ncut, shuffles) if shuffles.size else None,
        "z_score": z_score(clustering.ncut, shuffles) if shuffles.size > 1 else None,
        "significant": is_significant(clustering.ncut, shuffles) if shuffles.size else None,
        "version": __version__,
    }
    return result


def summary(result: dict) -> str:
    """A short human-readable summary of :func:`run_ncut`'s result."""
    lines = [
        f"{result['weights']}: {result['network_kind']} with layers {result['layer_sizes']}, "
        f"{result['n_isolated']} isolated neurons dropped",
        f"n-cut (k={result['k']}, solver={result['solver']}, seed={result['seed']}): {result['ncut']:.4f}",
        f"cluster sizes: {result['cluster_sizes']}",
    ]
    if result["n_shuffles"]:
        sd = result["shuffle_std"]
        lines.append(
            f"{result['n_shuffles']} '{result['shuffle_method']}' shuffles: "
            f"{result['shuffle_mean']:.4f} +- {sd:.4f}" if sd is not None else f"{result['shuffle_mean']:.4f}"
        )
        z = result["z_score"]
        lines.append(
            f"p = {result['p_value']:.4g}, Z = {z:.2f}" if z is not None else f"p = {result['p_value']:.4g}"
        )
        if result["significant"]:
            lines.append("significant: lower than every shuffle")
    if result["degenerate"]:
        lines.append(f"WARNING: degenerate clustering ({result['degenerate_reason']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with limit_threads(args.threads):
            result = run_ncut(args)
        if args.json:
            write_json(args.json, result)
    except InputError as exc:
        print(f"clusterability: error: {exc}", file=sys.stderr)
        return 2
    print(summary(result))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
