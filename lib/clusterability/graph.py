"""The weighted graph of a network (P1 section 2.1, P2 section 1.1).

A network's graph is *layered*: nodes come in layers and edges only join
adjacent layers. It is stored as one non-negative dense block per pair of
adjacent layers, ``blocks[l]`` of shape ``(layer_sizes[l], layer_sizes[l+1])``,
holding the edge weights between node layer ``l`` and node layer ``l+1``.

* MLP: one node per neuron, inputs and logits included; ``blocks[l] = |W_l|``
  (biases ignored).
* CNN: one node per channel of the hidden convolutional layers (no input
  layer, no dense layers); the edge between input channel ``i`` and output
  channel ``o`` of convolution ``l >= 1`` is the entrywise L1 norm (or L2) of
  the kernel slice ``K_l[:, :, i, o]``. Batch normalization acting on the
  outputs of a convolution is folded into that convolution first: its slices
  into output channel ``o`` are multiplied by ``gamma_o / sqrt(var_o + eps)``.

Nodes are numbered layer by layer, in layer order, inputs first. Neurons with
no non-zero incident weight are *isolated*: clustering drops them and labels
them -1.

Scale: the spectral clustering and the n-cut do not change when every weight
is multiplied by one positive factor, but their sums (degrees, volumes) can
overflow float64 for weights near its maximum (and lose precision for tiny
ones). Graphs whose largest weight lies outside ``[2**-200, 2**200]`` are
therefore computed on :meth:`LayeredGraph.scaled` copies whose largest weight
lies in ``[1/2, 2)``. The factor is a power of 4, so scaling is
exact (short of underflowing weights some 300 orders of magnitude below the
largest) and commutes with the square roots of ``D^-1/2``: an ordinary graph
gives the same labels and n-cut as it did unscaled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .errors import InputError
from .weights import NetworkWeights


@dataclass(frozen=True)
class LayeredGraph:
    """Undirected weighted graph whose edges only join adjacent node layers."""

    blocks: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        if len(self.blocks) == 0:
            raise InputError("a layered graph needs at least one block of edges")
        for l in range(1, len(self.blocks)):
            if self.blocks[l - 1].shape[1] != self.blocks[l].shape[0]:
                raise InputError(
                    f"graph block {l - 1} has {self.blocks[l - 1].shape[1]} columns but "
                    f"block {l} has {self.blocks[l].shape[0]} rows"
                )
        for l, b in enumerate(self.blocks):
            if b.ndim != 2 or np.any(b < 0) or not np.all(np.isfinite(b)):
                raise InputError(f"graph block {l} must be a finite non-negative matrix")

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Nodes per layer, first layer first."""
        return (self.blocks[0].shape[0],) + tuple(b.shape[1] for b in self.blocks)

    @property
    def n_nodes(self) -> int:
        return int(sum(self.layer_sizes))

    def layer_offsets(self) -> np.ndarray:
        """Index of each layer's first node, plus the total: length ``n_layers + 1``."""
        return np.concatenate([[0], np.cumsum(self.layer_sizes)])

    def node_layers(self) -> np.ndarray:
        """The layer index of every node."""
        return np.repeat(np.arange(len(self.layer_sizes)), self.layer_sizes)

    def layer_degrees(self) -> list[np.ndarray]:
        """Degrees ``d_i = sum_j A_ij`` of each layer's nodes."""
        sizes = self.layer_sizes
        deg = [np.zeros(n) for n in sizes]
        for l, b in enumerate(self.blocks):
            deg[l] = deg[l] + b.sum(axis=1)
            deg[l + 1] = deg[l + 1] + b.sum(axis=0)
        return deg

    def degrees(self) -> np.ndarray:
        """Degrees of all nodes, in node order."""
        return np.concatenate(self.layer_degrees())

    def adjacency(self) -> sp.csr_matrix:
        """The symmetric sparse adjacency matrix ``A`` over all nodes."""
        offsets = self.layer_offsets()
        rows, cols, vals = [], [], []
        for l, b in enumerate(self.blocks):
            r, c = np.nonzero(b)
            rows.append(r + offsets[l])
            cols.append(c + offsets[l + 1])
            vals.append(b[r, c])
        r = np.concatenate(rows)
        c = np.concatenate(cols)
        v = np.concatenate(vals).astype(np.float64)
        n = self.n_nodes
        upper = sp.coo_matrix((v, (r, c)), shape=(n, n))
        return (upper + upper.T).tocsr()

    def with_blocks(self, blocks: list[np.ndarray] | tuple[np.ndarray, ...]) -> LayeredGraph:
        """A graph of the same layer sizes with new edge weights."""
        return LayeredGraph(tuple(blocks))

    def scale_exponent(self) -> int:
        """The even ``e`` that brings the largest weight times ``2**-e`` into ``[1/2, 2)`` (0 if all are 0)."""
        return unit_scale_exponent(max((float(b.max()) for b in self.blocks if b.size), default=0.0))

    def scaled(self, exponent: int) -> LayeredGraph:
        """This graph with every weight multiplied by ``2**-exponent`` (exact; ``self`` for 0)."""
        if exponent == 0:
            return self
        return LayeredGraph(tuple(np.ldexp(b, -exponent) for b in self.blocks))


_SAFE_RANGE = (2.0**-200, 2.0**200)  # weights whose sums and squares cannot overflow or underflow float64


def unit_scale_exponent(largest: float) -> int:
    """The even ``e`` with ``largest * 2**-e`` in ``[1/2, 2)``; 0 for 0 (see the module docstring).

    Also 0 when ``largest`` lies in ``[2**-200, 2**200]``: there degrees, volumes and squared
    slice norms are safe, and the copy a rescaling costs (about a tenth of a shuffle's time for
    the papers' MLP) is saved.
    """
    if not np.isfinite(largest) or largest <= 0 or _SAFE_RANGE[0] <= largest <= _SAFE_RANGE[1]:
        return 0
    exponent = int(np.frexp(largest)[1])  # largest = m * 2**exponent with m in [1/2, 1)
    return exponent - exponent % 2


def unit_scaled_adjacency(adjacency: sp.spmatrix | np.ndarray) -> tuple[sp.spmatrix | np.ndarray, int]:
    """``adjacency * 2**-e`` and ``e`` (:func:`unit_scale_exponent` of its largest entry)."""
    data = adjacency.data if sp.issparse(adjacency) else np.asarray(adjacency)
    exponent = unit_scale_exponent(float(np.abs(data).max()) if data.size else 0.0)
    if exponent == 0:
        return adjacency, 0
    if sp.issparse(adjacency):
        scaled = sp.csr_matrix(adjacency, dtype=np.float64, copy=True)
        scaled.data = np.ldexp(scaled.data, -exponent)
        return scaled, exponent
    return np.ldexp(np.asarray(adjacency, dtype=np.float64), -exponent), exponent


def mlp_graph(kernels: tuple[np.ndarray, ...] | list[np.ndarray]) -> LayeredGraph:
    """Graph of an MLP: edges ``|W_l|`` between neurons of adjacent layers."""
    for i, k in enumerate(kernels):
        if k.ndim != 2:
            raise InputError(f"kernel_{i} has shape {k.shape}; an MLP graph needs 2-d kernels")
    return LayeredGraph(tuple(np.abs(np.asarray(k, dtype=np.float64)) for k in kernels))


def conv_slice_norms(kernel: np.ndarray, norm: str = "l1") -> np.ndarray:
    """Norm of each 2-d slice ``K[:, :, i, o]``: an ``(in_channels, out_channels)`` matrix.

    ``norm="l1"`` is the entrywise L1 norm (sum of absolute values; P2's
    definition); ``norm="l2"`` the Frobenius norm.
    """
    k = np.asarray(kernel, dtype=np.float64)
    if norm not in ("l1", "l2"):
        raise InputError(f"unknown slice norm {norm!r}; use 'l1' or 'l2'")
    # Summed in a unit scale (an exact power of 2), so the squares of huge weights do not overflow.
    exponent = unit_scale_exponent(float(np.abs(k).max()) if k.size else 0.0)
    k = np.ldexp(k, -exponent)
    out = np.abs(k).sum(axis=(0, 1)) if norm == "l1" else np.sqrt(np.square(k).sum(axis=(0, 1)))
    with np.errstate(over="ignore"):
        return np.ldexp(out, exponent)


def cnn_graph(weights: NetworkWeights, norm: str = "l1") -> LayeredGraph:
    """Channel graph of the hidden convolutional layers of a CNN (P2 section 1.1).

    Uses the leading run of convolutions; dense layers after them are left out,
    and so is the input layer (so the first convolution contributes no edges).
    """
    conv = []
    for i in range(weights.n_layers):
        if not weights.is_conv(i):
            break
        conv.append(_folded(weights, i))
    if len(conv) < 2:
        raise InputError(
            f"{weights.source}: a CNN graph needs at least two convolution kernels "
            f"at the start of the network, found {len(conv)}"
        )
    blocks = tuple(conv_slice_norms(k, norm) for k in conv[1:])
    for i, b in enumerate(blocks, start=1):
        if not np.all(np.isfinite(b)):
            raise InputError(
                f"{weights.source}: the {norm} norms of kernel_{i}'s slices (batch norm folded in) "
                "exceed the float64 range; scale the weights down"
            )
    return LayeredGraph(blocks)


def _folded(weights: NetworkWeights, i: int) -> np.ndarray:
    """Kernel ``i`` in float64 with the batch norm on its outputs folded in."""
    kernel = np.asarray(weights.kernels[i], dtype=np.float64)
    bn = weights.batch_norms[i]
    if bn is not None:
        with np.errstate(over="ignore"):
            kernel = kernel * bn.scale()[None, None, None, :]
    return kernel


def network_graph(weights: NetworkWeights, norm: str = "l1") -> LayeredGraph:
    """The graph of a network: :func:`mlp_graph` or :func:`cnn_graph` by kernel shapes, or for a
    residual/branching network (``sources``) its :class:`~clusterability.dag_graph.DagGraph`
    (the layered graph when its wiring is a chain after all)."""
    if weights.is_dag:
        from .dag_graph import DagGraph

        blocks, sources = [], []
        for i, kernel in enumerate(weights.kernels):
            rows = weights.sources[i]
            wired = () if rows is None else tuple((int(p), int(s)) for p, s in np.asarray(rows).tolist())
            blocks.append(conv_slice_norms(_folded(weights, i), norm) if wired else np.zeros((0, kernel.shape[-1])))
            sources.append(wired)
        graph = DagGraph(tuple(k.shape[-1] for k in weights.kernels), tuple(blocks), tuple(sources))
        return graph.as_layered() or graph
    if weights.kind == "mlp":
        return mlp_graph(weights.kernels)
    return cnn_graph(weights, norm)
