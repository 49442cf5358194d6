"""A fan-out chunk of a network's shuffles: the n-cuts of some of its shuffles, with what they were made with.

The workflow's ``shuffle_chunk`` jobs write chunks, and ``gather_shuffles`` makes one itself where a network's
shuffles fit one chunk; :func:`clusterability.core.statistics.collect_shuffles` reads them. Apart from
:mod:`clusterability.core.measure` so that the jobs that only cluster do not depend on the chunks' format.
"""

from __future__ import annotations

from clusterability.core.graph import Graph
from clusterability.core.measure import shuffle_ncuts


def shuffle_chunk(
    graph: Graph, k: int, *, seed: int, method: str, indices: range | list[int], solver: str = "fast", n_init: int = 10
) -> dict[str, object]:
    """The n-cuts of the shuffles numbered ``indices`` (:func:`~clusterability.core.measure.shuffle_ncuts`) with
    what they were made with: a fan-out chunk as the workflow writes it and
    :func:`~clusterability.core.statistics.collect_shuffles` reads it."""
    indices = [int(i) for i in indices]
    ncuts = shuffle_ncuts(graph, k, seed=seed, method=method, indices=indices, solver=solver, n_init=n_init)
    return {"method": method, "seed": seed, "k": k, "solver": solver, "indices": indices, "ncuts": ncuts.tolist()}
