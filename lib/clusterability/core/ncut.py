"""The normalized cut (n-cut) of a partition (Shi & Malik 2000; P1 section 2.1).

``n-cut(X_1, ..., X_k) = sum_i W(X_i, complement of X_i) / vol(X_i)``, where
``W(X, Y)`` is the total weight of the edges between X and Y and ``vol(X)`` is
the sum of the degrees of X's nodes. This is the papers' convention: without
the factor 1/2 that some texts put in front of the sum, each cluster's term lies
in [0, 1] and k clusters give an n-cut in [0, k].

The n-cut of a *network* is the n-cut of its spectral clustering
(:mod:`clusterability.core.spectral`). Nodes labelled -1 (isolated) are ignored.

The n-cut does not change when every weight is multiplied by one factor. A
graph whose largest weight lies outside ``[2**-200, 2**200]`` is therefore
measured on a copy scaled by the power of 4 that brings that weight into
``[1/2, 2)`` (:func:`clusterability.core.layered_graph.unit_scale_exponent`;
:mod:`clusterability.core.build`, "Scale"): weights near the float64 maximum
give the n-cut of the same network scaled down, not NaN.

A clustering is *degenerate* (:func:`degeneracy_of`) when one of its clusters
is a handful of neurons nearly cut off from the rest of the network, or neurons
whose weights are negligible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from clusterability.core.graph import Graph
from clusterability.core.layered_graph import LayeredGraph, unit_scaled_adjacency


def cluster_cut_terms(adjacency: Graph | sp.spmatrix | np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cluster ``c``: ``W(X_c, complement) / vol(X_c)`` and ``vol(X_c)``.

    A cluster of zero volume contributes 0 (it has no edges to cut). Volumes
    are in the graph's own scale (``inf`` where that overflows float64).
    """
    labels = np.asarray(labels)
    if isinstance(adjacency, (LayeredGraph, Graph)):  # LayeredGraph first: the protocol's check reads the blocks
        exponent = adjacency.scale_exponent()
        terms, volume = adjacency.scaled(exponent).cut_terms(labels)
    else:
        scaled, exponent = unit_scaled_adjacency(adjacency)
        terms, volume = _sparse_cut_terms(scaled, labels)
    with np.errstate(over="ignore"):
        return terms, np.ldexp(volume, exponent)


def _sparse_cut_terms(adjacency: sp.spmatrix | np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cluster_cut_terms` of a square adjacency matrix."""
    a = sp.coo_matrix(adjacency)
    if a.shape[0] != a.shape[1] or a.shape[0] != labels.shape[0]:
        raise ValueError(f"adjacency of shape {a.shape} does not match {labels.shape[0]} labels")
    n_clusters = int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0
    valid = labels >= 0
    degrees = np.asarray(sp.csr_matrix(a).sum(axis=1)).ravel()
    volume = np.bincount(labels[valid], weights=degrees[valid], minlength=n_clusters)
    row_lab, col_lab = labels[a.row], labels[a.col]
    same = (row_lab == col_lab) & (row_lab >= 0)
    internal = np.bincount(row_lab[same], weights=a.data[same], minlength=n_clusters)
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(volume > 0, (volume - internal) / np.where(volume > 0, volume, 1.0), 0.0)
    return terms, volume


def ncut(adjacency: Graph | sp.spmatrix | np.ndarray, labels: np.ndarray) -> float:
    """The n-cut of the partition given by ``labels`` (-1 = node left out)."""
    terms, _ = cluster_cut_terms(adjacency, labels)
    return float(terms.sum())


#: A degenerate cluster has at most this many neurons (a fixed count: k = 12 clusters of an ordinary
#: MLP include clusters of 1-10 neurons, but their weight leaves them) ...
DEGENERATE_MAX_SIZE = 10
#: ... and at most this share of its edge weight leaving it (its cut term): a near-isolated group.
#: Measured at k = 4 and 12: ordinary clusters of <= 10 neurons have cut terms of 0.80-1.0 (Glorot
#: MLPs, trained MNIST MLPs before and after pruning), three nearly disconnected neurons 0.002.
DEGENERATE_MAX_CUT = 0.1
#: A cluster of any size is also degenerate when it holds at most this share of the graph's volume: neurons
#: whose every weight is negligible (L2 with Adam leaves a dead neuron's weights near 1e-31, not 0), cut off
#: from the rest although all their weight leaves them (cut term about 1). An ordinary neuron of a
#: 784-256x4-10 MLP holds about 1e-4 of the volume.
DEGENERATE_MAX_VOLUME = 1e-6


@dataclass(frozen=True)
class Degeneracy:
    """Why a clustering is degenerate, if it is."""

    degenerate: bool
    clusters: tuple[int, ...]
    reason: str


def degeneracy_of(
    terms: np.ndarray,
    sizes: np.ndarray,
    volumes: np.ndarray | None = None,
    *,
    max_size: int = DEGENERATE_MAX_SIZE,
    max_cut: float = DEGENERATE_MAX_CUT,
    max_volume: float = DEGENERATE_MAX_VOLUME,
) -> Degeneracy:
    """Flag clusters that are not modules but a handful of near-isolated neurons.

    ``terms``, ``sizes`` and ``volumes`` are each cluster's cut term ``W(X, rest) / vol(X)``,
    its number of neurons and ``vol(X)`` (:func:`cluster_cut_terms`). A cluster is
    degenerate when it has at most ``max_size`` neurons and at most ``max_cut``
    of its edge weight leaves it: a group of neurons nearly cut off from the
    rest of the network. It adds about 0 to the n-cut where an ordinary cluster
    adds about 1, so a few of them drive the n-cut towards zero without saying
    anything about the bulk of the network (P2 section 2 retrained such
    L2-regularized networks). A cluster holding at most ``max_volume`` of the
    graph's volume is degenerate too, whatever its size: its neurons' weights are
    negligible, so they are cut off although their weight leaves them (the
    authors' code adds 1e-8 to each volume, so such a cluster added about 0 there;
    here, as in the paper's formula, about 1). Small clusters whose weight leaves
    them (a single neuron has cut term 1) are ordinary and not flagged; empty
    clusters are none.
    """
    terms = np.asarray(terms, dtype=np.float64)
    sizes = np.asarray(sizes)
    cut_off = (sizes > 0) & (sizes <= max_size) & (terms <= max_cut)
    share, negligible = np.ones_like(terms), np.zeros_like(cut_off)
    total = 0.0 if volumes is None else float(np.sum(volumes, dtype=np.float64))
    if 0 < total < np.inf:  # (volumes that overflow float64 are no negligible ones)
        share = np.asarray(volumes, dtype=np.float64) / total
        negligible = (sizes > 0) & (share <= max_volume)
    bad = np.flatnonzero(cut_off | negligible)
    if bad.size == 0:
        return Degeneracy(False, (), "")
    parts = [
        f"cluster {c}: {sizes[c]} neurons, "
        + (
            f"{share[c]:.1e} of the network's edge weight"
            if negligible[c] and not cut_off[c]
            else f"{100 * terms[c]:.1f}% of its weight leaves it"
        )
        for c in bad
    ]
    return Degeneracy(True, tuple(int(c) for c in bad), "; ".join(parts))
