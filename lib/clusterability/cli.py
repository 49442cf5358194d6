"""Command-line interface: ``clusterability ncut WEIGHTS --k 4 --shuffles 320 ...``, ``clusterability draw``.

``ncut`` measures the clusterability of a user's own network from its weights
(an ``.npz`` in the format of :mod:`clusterability.io.npz`, a saved Keras
model (read as data, without Keras), a PyTorch state dict as ``.safetensors`` or
``.pt``, or an ONNX model: :mod:`clusterability.io.network_files`): the n-cut of its spectral clustering, the
n-cuts of its shuffles, the p-value and Z-score. ``draw WEIGHTS --k 4 -o
net.png`` draws the network as layers of neurons coloured by cluster (P1
figure 1), as PNG, PDF or SVG.

Every mistake a user can fix -- a bad argument, an unreadable or malformed
weights file, a ``--json`` path that cannot be written -- ends the command
with one line on stderr naming the file or option, and exit status 2, before
any work where possible. Every line printed is one line whatever the paths
hold: control characters are shown as ``\\n``-style escapes and the bytes of a
file name that is not UTF-8 as ``\\xff`` (:func:`shown`). ``--json`` creates
missing folders, replaces an existing writable file atomically, and refuses a
directory, a path under a file, an existing read-only (or immutable) file, an
unwritable folder and the weights file itself (``-o`` too); a failed write
leaves nothing behind. The JSON is strict: a statistic that is not a finite
number (the Z-score of shuffles that all tie) is ``null``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from clusterability import __version__
from clusterability.atomic import write_json
from clusterability.core.build import network_graph
from clusterability.core.graph import Graph
from clusterability.core.measure import Clustering, cluster_network, shuffle_ncuts
from clusterability.core.network import NetworkWeights
from clusterability.core.shuffles import SHUFFLE_METHODS
from clusterability.core.spectral import SOLVERS
from clusterability.core.statistics import summarize
from clusterability.errors import InputError
from clusterability.io.network_files import read_network
from clusterability.threads import limit_threads


def shown(text: str | os.PathLike[str]) -> str:
    """``text`` (a message or a path) as one printable line.

    Control characters and line separators become their ``repr`` escapes
    (``\\n``, ``\\x1b``, ``\\u2028``) and the undecodable bytes of a file name
    (Python's surrogate escapes) become ``\\xff``, so a path can neither split
    an error line nor stop it from being printed.
    """
    out = []
    for char in os.fspath(text):
        category = unicodedata.category(char)
        if category == "Cs":
            code = ord(char)
            out.append(f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}")
        elif category in ("Cc", "Zl", "Zp"):
            out.append(repr(char)[1:-1])
        else:
            out.append(char)
    return "".join(out)


def _fail(exc: InputError) -> int:
    """Print ``exc`` as the one line of a user's mistake; the exit status 2."""
    print(f"clusterability: error: {shown(str(exc))}", file=sys.stderr)
    return 2


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, +-inf) as ``None``: strict JSON has no NaN."""
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def check_not_an_input(path: Path, inputs: Sequence[Path], option: str) -> None:
    """Raise :class:`InputError` if the output ``path`` is one of ``inputs`` (checked before any work).

    The same file by :func:`os.path.samefile` when both exist (so through a
    hard or symbolic link too), else by resolved path.
    """
    for source in inputs:
        try:
            if path.exists() and source.exists():
                same = os.path.samefile(path, source)
            else:
                same = path.resolve() == source.resolve()
        except (OSError, RuntimeError):  # e.g. a symbolic link loop: check_output_path names it
            same = False
        if same:
            raise InputError(
                f"{path}: {option} is the weights file {source}; writing it would replace the network, "
                "choose another file"
            )


def check_output_path(path: Path, option: str = "--json") -> None:
    """Raise :class:`InputError` unless a file can be written at ``path`` (checked before any work).

    Missing folders are fine (they are created when the result is written);
    the nearest existing one must be a folder this process can write into. An
    existing file is replaced only if it is a regular file with write
    permission: read-only files are refused by their mode bits (so for root
    too), immutable ones by ``os.access``, and devices, pipes and sockets
    because the atomic rename would replace the node itself.
    """
    try:
        if path.is_dir():
            raise InputError(f"{path}: {option} is a directory; give a file name")
        if path.exists():
            if not path.is_file():
                raise InputError(f"{path}: {option} is not a regular file (a device, pipe or socket)")
            if not path.stat().st_mode & 0o222 or not os.access(path, os.W_OK):
                raise InputError(f"{path}: {option} is a read-only or immutable file; remove it or choose another")
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise InputError(f"{path}: cannot create the {option} file, {folder} is not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise InputError(f"{path}: cannot write the {option} file into {folder} (read-only or no permission)")
    except OSError as exc:  # e.g. a name too long for the file system
        raise InputError(f"{path}: unusable {option} path ({exc.strerror or exc})") from None


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


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give module names separated by commas")
    return names


_WEIGHTS_HELP = "weights .npz (kernel_0 ... kernel_{L-1}), Keras .keras/.h5, PyTorch .safetensors/.pt state dict, .onnx"
_LAYERS_HELP = "PyTorch state dicts: the Linear/Conv2d modules in forward order, comma-separated (e.g. fc1,fc2)"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block), with exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {shown(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="clusterability", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"clusterability {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ncut", help="n-cut of a network and of its shuffles")
    p.add_argument("weights", type=Path, help=_WEIGHTS_HELP)
    p.add_argument("--k", type=_positive_int, default=4, help="number of clusters (default 4)")
    p.add_argument("--shuffles", type=_non_negative_int, default=320, help="number of shuffles (default 320)")
    p.add_argument("--shuffle-method", choices=SHUFFLE_METHODS, default="layer")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="master seed of every random draw")
    p.add_argument("--solver", choices=SOLVERS, default="fast")
    p.add_argument("--n-init", type=_positive_int, default=10, help="k-means restarts (default 10)")
    p.add_argument("--norm", choices=("l1", "l2"), default="l1", help="CNN kernel-slice norm")
    p.add_argument("--threads", type=_positive_int, default=1, help="BLAS/OpenMP threads (default 1)")
    p.add_argument("--json", type=Path, help="write the full result as JSON here")
    p.add_argument("--layers", type=_names, help=_LAYERS_HELP)
    d = sub.add_parser("draw", help="draw the network's layers, neurons coloured by cluster (P1 figure 1)")
    d.add_argument("weights", type=Path, help=_WEIGHTS_HELP)
    d.add_argument("-o", "--output", type=Path, required=True, help="image file: .png, .pdf or .svg")
    d.add_argument("--k", type=_positive_int, default=4, help="number of clusters (default 4)")
    d.add_argument("--seed", type=_non_negative_int, default=0, help="seed of the clustering")
    d.add_argument("--solver", choices=SOLVERS, default="fast")
    d.add_argument("--n-init", type=_positive_int, default=10, help="k-means restarts (default 10)")
    d.add_argument("--norm", choices=("l1", "l2"), default="l1", help="CNN kernel-slice norm")
    d.add_argument("--max-edges", type=_positive_int, default=20000, help="draw the heaviest edges only")
    d.add_argument("--threads", type=_positive_int, default=1, help="BLAS/OpenMP threads (default 1)")
    d.add_argument("--layers", type=_names, help=_LAYERS_HELP)
    return parser


IMAGE_SUFFIXES = (".png", ".pdf", ".svg")


def _clustered(args: argparse.Namespace) -> tuple[NetworkWeights, Graph, Clustering]:
    """The weights of ``args.weights``, their graph and its clustering (errors name the weights file)."""
    weights = read_network(args.weights, args.layers)
    try:
        graph = network_graph(weights, norm=args.norm)
        n_connected = int(np.count_nonzero(graph.scaled(graph.scale_exponent()).degrees() > 0))
        if n_connected == 0:
            raise InputError("every weight of the graph is zero; there is nothing to cluster")
        if args.k > n_connected:
            raise InputError(f"--k {args.k} is more than the {n_connected} connected neurons; use a smaller --k")
        return weights, graph, cluster_network(graph, args.k, seed=args.seed, solver=args.solver, n_init=args.n_init)
    except InputError as exc:  # name the weights file in messages that do not
        message = str(exc)
        raise InputError(message if str(args.weights) in message else f"{args.weights}: {message}") from None


def run_draw(args: argparse.Namespace) -> str:
    """Draw the clustered network of ``args.weights`` to ``args.output``; returns a one-line summary."""
    from clusterability.report.figures import draw_network, save_figure

    weights, graph, clustering = _clustered(args)
    layered = graph.as_layered()
    if layered is None:
        raise InputError(f"{args.weights}: draw shows chains of layers; this network is residual or branching")
    fig = draw_network(layered.blocks, clustering.labels, max_edges=args.max_edges)
    title = f"{shown(args.weights.name)}: k = {clustering.k}, n-cut {clustering.ncut:.4f}"
    save_figure(fig, [args.output], title)
    return f"{shown(args.output)}: {weights.kind} with layers {list(graph.layer_sizes)}, n-cut {clustering.ncut:.4f}"


def run_ncut(args: argparse.Namespace) -> dict:
    """Measure the network of ``args.weights``; returns the JSON-ready result (non-finite numbers as None)."""
    weights, graph, clustering = _clustered(args)
    try:
        shuffles = shuffle_ncuts(
            graph,
            args.k,
            seed=args.seed,
            method=args.shuffle_method,
            indices=range(args.shuffles),
            solver=args.solver,
            n_init=args.n_init,
        )
    except InputError as exc:  # name the weights file in messages that do not
        message = str(exc)
        raise InputError(message if str(args.weights) in message else f"{args.weights}: {message}") from None
    result = {
        "weights": os.fsencode(args.weights).decode("utf-8", "backslashreplace"),  # valid UTF-8 for strict parsers
        "network_kind": weights.kind,
        "layer_sizes": list(graph.layer_sizes),
        "n_init": args.n_init,
        **clustering.to_dict(),
        "shuffle_method": args.shuffle_method,
        "shuffle_ncuts": shuffles.tolist(),
        **summarize(clustering.ncut, shuffles),
        "version": __version__,
    }
    return json_safe(result)


def summary(result: dict) -> str:
    """A short human-readable summary of :func:`run_ncut`'s result."""
    lines = [
        (
            f"{shown(result['weights'])}: {result['network_kind']} with layers {result['layer_sizes']}, "
            f"{result['n_isolated']} isolated neurons dropped"
        ),
        f"n-cut (k={result['k']}, solver={result['solver']}, seed={result['seed']}): {result['ncut']:.4f}",
        f"cluster sizes: {result['cluster_sizes']}",
    ]
    if result["n_shuffles"]:
        sd = result["shuffle_std"]
        spread = f" +- {sd:.4f}" if sd is not None else ""  # one shuffle has no spread
        lines.append(
            f"{result['n_shuffles']} '{result['shuffle_method']}' shuffles: {result['shuffle_mean']:.4f}{spread}"
        )
        z = result["z_score"]
        lines.append(f"p = {result['p_value']:.4g}, Z = {z:.2f}" if z is not None else f"p = {result['p_value']:.4g}")
        if result["significant"]:
            lines.append("significant: lower than every shuffle")
    if result["degenerate"]:
        lines.append(f"WARNING: degenerate clustering ({result['degenerate_reason']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "draw":
        return _main_draw(args)
    try:
        if args.json:
            check_output_path(args.json)
            check_not_an_input(args.json, [args.weights], "--json")
        with limit_threads(args.threads):
            result = run_ncut(args)
        if args.json:
            try:
                write_json(args.json, result)
            except OSError as exc:  # nothing is left behind: atomic_path removes what it made
                raise InputError(f"{args.json}: cannot write the --json result ({exc.strerror or exc})") from None
    except InputError as exc:
        return _fail(exc)
    print(summary(result))
    return 0


def _main_draw(args: argparse.Namespace) -> int:
    try:
        if args.output.suffix.lower() not in IMAGE_SUFFIXES:
            raise InputError(f"{args.output}: -o must end in {', '.join(IMAGE_SUFFIXES)}")
        check_output_path(args.output, "-o")
        check_not_an_input(args.output, [args.weights], "-o")
        with limit_threads(args.threads):
            try:
                line = run_draw(args)
            except OSError as exc:
                raise InputError(f"{args.output}: cannot write the drawing ({exc.strerror or exc})") from None
    except InputError as exc:
        return _fail(exc)
    print(line)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
