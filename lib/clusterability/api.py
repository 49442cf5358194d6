"""The public Python API: read a network, build its graph, cluster it, compare it with its shuffles, draw it.

Everything a user's script needs is here; the rest of the package is internal and may move::

    from clusterability import api

    network = api.read_network("model.onnx")            # .npz, .keras/.h5, .pt/.pth, .safetensors, .onnx
    graph = api.network_graph(network)                   # P1 section 2: neurons as nodes, |w| as edges
    clustering = api.cluster_network(graph, 4, seed=0)   # normalized spectral clustering and its n-cut
    ncuts = api.shuffle_ncuts(graph, 4, seed=0, method="layer", indices=range(320))
    api.summarize(clustering.ncut, ncuts)                # p-value, Z, significant (lower than every shuffle)
    api.draw(graph, clustering, "network.png")           # P1 figure 1

or all at once, the same result as ``clusterability ncut --json``: ``api.measure("model.onnx", k=4)``.
Files are untrusted input: a bad one raises :class:`InputError` with one line naming it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from clusterability.core.build import network_graph
from clusterability.core.dag_graph import DagGraph
from clusterability.core.graph import Graph
from clusterability.core.layered_graph import LayeredGraph
from clusterability.core.measure import Clustering, cluster_network, shuffle_ncuts
from clusterability.core.network import NetworkWeights
from clusterability.core.statistics import summarize
from clusterability.errors import InputError
from clusterability.io.network_files import read_network
from clusterability.io.npz import load_weights, save_weights

__all__ = [
    "Clustering",
    "DagGraph",
    "Graph",
    "InputError",
    "LayeredGraph",
    "NetworkWeights",
    "cluster_network",
    "draw",
    "load_weights",
    "measure",
    "network_graph",
    "read_network",
    "save_weights",
    "shuffle_ncuts",
    "summarize",
]


def measure(
    network: str | os.PathLike[str] | NetworkWeights,
    k: int = 4,
    *,
    shuffles: int = 320,
    method: str = "layer",
    seed: int = 0,
    solver: str = "fast",
    n_init: int = 10,
    norm: str = "l1",
) -> dict[str, Any]:
    """A network's clustering, its n-cut and how it compares with ``shuffles`` shuffles (P1 section 3).

    ``network`` is a file (any format :func:`read_network` reads) or weights in memory. The result has
    the fields of ``clusterability ncut --json``: ``ncut``, ``labels``, ``cluster_sizes``, ``degenerate``,
    ``shuffle_ncuts``, ``shuffle_mean``, ``shuffle_std``, ``p_value``, ``z_score``, ``significant``, ...
    """
    weights = network if isinstance(network, NetworkWeights) else read_network(network)
    graph = network_graph(weights, norm=norm)
    clustering = cluster_network(graph, k, seed=seed, solver=solver, n_init=n_init)
    ncuts = shuffle_ncuts(graph, k, seed=seed, method=method, indices=range(shuffles), solver=solver, n_init=n_init)
    return {
        "network_kind": weights.kind,
        "layer_sizes": list(graph.layer_sizes),
        "n_init": n_init,
        **clustering.to_dict(),
        "shuffle_method": method,
        "shuffle_ncuts": ncuts.tolist(),
        **summarize(clustering.ncut, ncuts),
    }


def draw(graph: Graph, clustering: Clustering, path: str | os.PathLike[str], *, max_edges: int = 20000) -> Path:
    """Draw ``graph``'s layers of neurons coloured by ``clustering`` to ``path`` (.png, .pdf, .svg): P1 figure 1.

    Only chains of layers can be drawn; a residual or branching network raises :class:`InputError`.
    """
    from clusterability.report.figures import draw_network, save_figure

    layered = graph.as_layered()
    if layered is None:
        raise InputError("draw shows chains of layers; this network is residual or branching")
    path = Path(path)
    if path.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise InputError(f"{path}: the drawing's file must end in .png, .pdf or .svg")
    figure = draw_network(layered.blocks, clustering.labels, max_edges=max_edges)
    save_figure(figure, [path], f"k = {clustering.k}, n-cut {clustering.ncut:.4f}")
    return path
