"""The interface both kinds of network graph share (P1 section 2: neurons as nodes, ``|w|`` as edge weights).

:class:`~clusterability.core.layered_graph.LayeredGraph` (an MLP or a chain of convolutions) and
:class:`~clusterability.core.dag_graph.DagGraph` (residual and branching CNNs) both satisfy
:class:`Graph`; code that works on either takes a ``Graph`` and calls these methods, and only the
eigen-solver routes by kind (:mod:`clusterability.core.spectral`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from clusterability.core.layered_graph import LayeredGraph


@runtime_checkable
class Graph(Protocol):
    """A network's graph: node layers joined by non-negative blocks of edge weights."""

    blocks: tuple[np.ndarray, ...]

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Nodes per layer, first layer first."""

    @property
    def n_nodes(self) -> int:
        """All nodes."""

    def layer_offsets(self) -> np.ndarray:
        """Index of each layer's first node, plus the total."""

    def node_layers(self) -> np.ndarray:
        """The layer index of every node."""

    def degrees(self) -> np.ndarray:
        """Degrees ``d_i = sum_j A_ij`` of all nodes, in node order."""

    def adjacency(self) -> sp.csr_matrix:
        """The symmetric sparse adjacency matrix ``A``."""

    def with_blocks(self, blocks: list[np.ndarray] | tuple[np.ndarray, ...]) -> Graph:
        """The same wiring with new edge weights (e.g. shuffled)."""

    def scale_exponent(self) -> int:
        """The power of 4 that brings the largest weight into ``[1/2, 2)``."""

    def scaled(self, exponent: int) -> Graph:
        """The graph with every weight divided by ``4 ** exponent``."""

    def kept_blocks(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per block, the rows and columns of the non-isolated neurons (what a ``layer`` shuffle permutes)."""

    def cut_terms(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per cluster of ``labels``: its n-cut term ``W(X_c, complement) / vol(X_c)`` and its volume."""

    def as_layered(self) -> LayeredGraph | None:
        """The graph as a chain of layers if it is one (what the bipartite solver and drawings need), else None."""
