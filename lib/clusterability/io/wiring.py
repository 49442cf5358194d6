"""A wired channel graph built convolution by convolution: residual sums and concatenations as ``sources``.

The builder the ImageNet wirings (:mod:`clusterability.io.torchvision`) and the Keras readers
(:mod:`clusterability.train.keras_model`, :mod:`clusterability.io.keras_files`) share; see
:mod:`clusterability.core.dag_graph` for the graph it describes.
"""

from __future__ import annotations

import numpy as np

from clusterability.core.network import BatchNorm, NetworkWeights
from clusterability.errors import InputError

#: Producers of a tensor: ``(convolution index, first channel)`` pairs (empty: the network's input).
Producers = tuple[tuple[int, int], ...]


class DagBuilder:
    """Collects convolutions and their wiring into :class:`NetworkWeights` with ``sources``."""

    def __init__(self, source: str, input_channels: int = 3) -> None:
        self.source = source
        self.input_channels = input_channels
        self.kernels: list[np.ndarray] = []
        self.norms: list[BatchNorm | None] = []
        self.sources: list[np.ndarray | None] = []
        self.names: list[str] = []

    def width(self, x: Producers) -> int:
        """Channels of a tensor."""
        if not x:
            return self.input_channels
        return max(start + self.kernels[i].shape[-1] for i, start in x)

    def conv(self, name: str, kernel: np.ndarray, x: Producers) -> Producers:
        """A convolution (kernel ``(kh, kw, in, out)``) reading ``x``."""
        if kernel.ndim != 4 or kernel.shape[2] != self.width(x):
            raise InputError(
                f"{self.source}: convolution {name!r} has kernel {kernel.shape} but reads {self.width(x)} channels"
            )
        self.kernels.append(np.asarray(kernel))
        self.norms.append(None)
        self.sources.append(np.asarray(x, dtype=np.int64).reshape(-1, 2) if x else None)
        self.names.append(name)
        return ((len(self.kernels) - 1, 0),)

    def norm(self, x: Producers, bn: BatchNorm, name: str) -> Producers:
        """A batch norm on ``x``: folded into the convolution that produced it (P2 section 1.1)."""
        if len(x) != 1 or x[0][1] != 0 or self.norms[x[0][0]] is not None:
            raise InputError(
                f"{self.source}: batch norm {name!r} does not directly follow one convolution; "
                "batch norms after a sum or concatenation (pre-activation networks) are not supported"
            )
        i = x[0][0]
        if bn.moving_variance.shape != (self.kernels[i].shape[-1],):
            raise InputError(f"{self.source}: batch norm {name!r} does not match convolution {self.names[i]!r}")
        self.norms[i] = bn
        return x

    def add(self, *xs: Producers, name: str = "add") -> Producers:
        """The element-wise sum of tensors of equal width (a residual connection)."""
        widths = {self.width(x) for x in xs}
        if len(widths) != 1 or any(not x for x in xs):
            raise InputError(f"{self.source}: {name!r} adds tensors of different widths {sorted(widths)}")
        return tuple(dict.fromkeys(p for x in xs for p in x))

    def concat(self, *xs: Producers, name: str = "concat") -> Producers:
        """The channel-wise concatenation of tensors (Inception's branches)."""
        out: list[tuple[int, int]] = []
        offset = 0
        for x in xs:
            if not x:
                raise InputError(f"{self.source}: {name!r} concatenates the network's input; not supported")
            out += [(i, start + offset) for i, start in x]
            offset += self.width(x)
        return tuple(out)

    def weights(self) -> NetworkWeights:
        if not self.kernels:
            raise InputError(f"{self.source}: no convolution found")
        return NetworkWeights(
            tuple(self.kernels), (None,) * len(self.kernels), tuple(self.norms), self.source, tuple(self.sources)
        )
