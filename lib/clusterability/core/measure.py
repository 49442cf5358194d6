"""Measure a network's clusterability: its n-cut and the n-cuts of its shuffles.

This is the unit of work of the pipeline and of the ``clusterability ncut``
command: cluster a graph, compute the n-cut, and compute the n-cuts of any
subset of its shuffles (so shuffles can be fanned out over processes and
gathered in any order with identical results).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clusterability.core.dag_graph import solver_input
from clusterability.core.graph import Graph
from clusterability.core.ncut import Degeneracy, cluster_cut_terms, degeneracy_of
from clusterability.core.shuffles import shuffle_graph, shuffle_rngs
from clusterability.core.spectral import spectral_clusters
from clusterability.seeds import seed_sequence


@dataclass(frozen=True)
class Clustering:
    """A network's spectral clustering and its n-cut."""

    ncut: float
    labels: np.ndarray  # one per node, in node order; -1 for isolated nodes
    cluster_sizes: np.ndarray
    cut_terms: np.ndarray  # W(X_c, rest) / vol(X_c) per cluster
    degeneracy: Degeneracy
    k: int
    solver: str
    seed: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready fields (what the workflow and the CLI write)."""
        return {
            "k": self.k,
            "solver": self.solver,
            "seed": self.seed,
            "ncut": self.ncut,
            "labels": self.labels.tolist(),
            "n_isolated": int(np.count_nonzero(self.labels < 0)),
            "cluster_sizes": self.cluster_sizes.tolist(),
            "cluster_cut_terms": self.cut_terms.tolist(),
            "degenerate": self.degeneracy.degenerate,
            "degenerate_reason": self.degeneracy.reason,
        }


def cluster_network(
    graph: Graph, k: int, *, seed: int, solver: str = "fast", n_init: int = 10, eigen_tol: float | None = None
) -> Clustering:
    """Spectrally cluster ``graph`` into ``k`` clusters and measure the n-cut (``eigen_tol``: the
    eigen-solver's accuracy, :func:`~clusterability.core.spectral.spectral_clusters`)."""
    rng = np.random.default_rng(seed_sequence(seed, "network"))
    graph = solver_input(graph)
    labels = spectral_clusters(graph, k, seed=rng, solver=solver, n_init=n_init, eigen_tol=eigen_tol)
    terms, volumes = cluster_cut_terms(graph, labels)
    sizes = np.bincount(labels[labels >= 0], minlength=k)
    return Clustering(
        ncut=float(terms.sum()),
        labels=labels,
        cluster_sizes=sizes,
        cut_terms=terms,
        degeneracy=degeneracy_of(terms, sizes[: terms.shape[0]], volumes),
        k=k,
        solver=solver,
        seed=seed,
    )


def shuffle_ncut(
    graph: Graph,
    k: int,
    *,
    seed: int,
    method: str,
    index: int,
    solver: str = "fast",
    n_init: int = 10,
    eigen_tol: float | None = None,
) -> float:
    """The n-cut of shuffle number ``index`` of ``graph`` (its own seed from ``(seed, method, index)``)."""
    shuffle_rng, cluster_rng = shuffle_rngs(seed, method, index)
    shuffled = solver_input(shuffle_graph(graph, method, shuffle_rng))
    labels = spectral_clusters(shuffled, k, seed=cluster_rng, solver=solver, n_init=n_init, eigen_tol=eigen_tol)
    terms, _ = cluster_cut_terms(shuffled, labels)
    return float(terms.sum())


def shuffle_ncuts(
    graph: Graph,
    k: int,
    *,
    seed: int,
    method: str,
    indices: range | list[int] | np.ndarray,
    solver: str = "fast",
    n_init: int = 10,
    eigen_tol: float | None = None,
) -> np.ndarray:
    """n-cuts of the shuffles numbered ``indices`` (see :func:`shuffle_ncut`)."""
    return np.array(
        [
            shuffle_ncut(
                graph, k, seed=seed, method=method, index=int(i), solver=solver, n_init=n_init, eigen_tol=eigen_tol
            )
            for i in indices
        ],
        dtype=np.float64,
    )
