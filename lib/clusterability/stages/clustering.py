"""Jobs of the clustering stage: a network's n-cut, its shuffles in chunks, the gathered statistics."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..atomic import write_json
from ..errors import InputError

log = logging.getLogger("clusterability")


def _graph_of(weights_path: str):
    from ..graph import network_graph
    from ..weights import load_weights

    return network_graph(load_weights(weights_path))

def cluster_network(weights_path: str, k: int, solver: str, n_init: int, seed: int, out_json: str) -> None:
    """The n-cut and clusters of one network's weights (its own clustering, no shuffles)."""
    from ..measure import cluster_network as cluster

    graph = _graph_of(weights_path)
    c = cluster(graph, k, seed=seed, solver=solver, n_init=n_init)
    if c.degeneracy.degenerate:
        log.warning("degenerate clustering of %s: %s", weights_path, c.degeneracy.reason)
    write_json(
        out_json,
        {
            "weights": weights_path,
            "layer_sizes": list(graph.layer_sizes),
            "k": k,
            "solver": solver,
            "n_init": n_init,
            "seed": seed,
            "ncut": c.ncut,
            "labels": c.labels.tolist(),
            "cluster_sizes": c.cluster_sizes.tolist(),
            "cluster_cut_terms": c.cut_terms.tolist(),
            "degenerate": c.degeneracy.degenerate,
            "degenerate_reason": c.degeneracy.reason,
        },
    )
    log.info("n-cut %.4f (k=%d)", c.ncut, k)

def shuffle_chunk(
    weights_path: str,
    k: int,
    solver: str,
    n_init: int,
    seed: int,
    method: str,
    start: int,
    stop: int,
    out_json: str,
) -> None:
    """n-cuts of shuffles ``start .. stop-1`` of one network (one job of the fan-out)."""
    from ..measure import shuffle_ncuts

    graph = _graph_of(weights_path)
    indices = list(range(start, stop))
    ncuts = shuffle_ncuts(graph, k, seed=seed, method=method, indices=indices, solver=solver, n_init=n_init)
    write_json(
        out_json,
        {"method": method, "seed": seed, "k": k, "solver": solver, "indices": indices, "ncuts": ncuts.tolist()},
    )
    log.info("%d '%s' shuffles: mean n-cut %.4f", len(indices), method, float(ncuts.mean()) if indices else float("nan"))

def gather_shuffles(network_json: str, chunk_jsons: Sequence[str], method: str, n_shuffles: int, out_json: str) -> None:
    """All shuffles of one network and method, in index order, with the statistics."""
    from ..statistics import is_significant, p_value, z_score

    network = json.loads(Path(network_json).read_text())
    by_index: dict[int, float] = {}
    for path in chunk_jsons:
        chunk = json.loads(Path(path).read_text())
        if chunk["method"] != method or chunk["seed"] != network["seed"] or chunk["k"] != network["k"]:
            raise InputError(f"{path}: shuffle chunk does not belong to {network_json}; rerun its job")
        by_index.update(zip(chunk["indices"], chunk["ncuts"]))
    if sorted(by_index) != list(range(n_shuffles)):
        raise InputError(f"{out_json}: expected shuffles 0..{n_shuffles - 1}, got {len(by_index)}; rerun the fan-out")
    ncuts = np.array([by_index[i] for i in range(n_shuffles)])
    value = network["ncut"]
    write_json(
        out_json,
        {
            "method": method,
            "seed": network["seed"],
            "k": network["k"],
            "ncut": value,
            "n_shuffles": n_shuffles,
            "shuffle_ncuts": ncuts.tolist(),
            "shuffle_mean": float(ncuts.mean()) if n_shuffles else None,
            "shuffle_std": float(ncuts.std(ddof=1)) if n_shuffles > 1 else None,
            "p_value": p_value(value, ncuts) if n_shuffles else None,
            "z_score": z_score(value, ncuts) if n_shuffles > 1 else None,
            "significant": is_significant(value, ncuts) if n_shuffles else None,
        },
    )
