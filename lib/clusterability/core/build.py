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

import numpy as np

from clusterability.core.layered_graph import LayeredGraph, unit_scale_exponent
from clusterability.core.network import NetworkWeights
from clusterability.errors import InputError


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
    residual/branching network (``sources``) its :class:`~clusterability.core.dag_graph.DagGraph`
    (the layered graph when its wiring is a chain after all)."""
    if weights.is_dag:
        from clusterability.core.dag_graph import DagGraph

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
