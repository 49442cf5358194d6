"""Clusterable initialization (P2 section 4.2).

After the usual initialization every hidden neuron (an MLP's hidden units, a
CNN's convolution channels: the hidden nodes of the network's graph) gets one
of ``c`` tags. A weight between two neurons of different tags is multiplied by
``beta`` and one between two neurons of the same tag by ``1 + (1 - beta)(c - 1)``
(P2: ``c = 10``, ``beta = 0.6`` for MLPs and 0.8 for CNNs).

Which kernels change: an MLP's every kernel but the first (from the inputs),
its output units tagged too, one tag each when there are ``c`` of them (the
authors' code tied output unit ``i`` to tag ``i``; P2's text tags "each neuron
in the hidden layers" only, but its Table A.13 comes from the code: with the
last kernel left as initialized, the shuffles' mean n-cuts came out 0.04-0.15
above P2's in all four rows, with it on P2's; docs/reproducibility.md); a
CNN's convolutions after the first (its first convolution, from the image
channels, and its dense layers are left as initialized, as in the authors'
code).

The tags are balanced (every tag on ``floor`` or ``ceil(width / c)`` neurons
of a layer, placed at random) and the factors preserve a layer's mean ``|w|`` in
expectation (P2); each layer is then rescaled by the small remaining ratio so
that its mean ``|w|`` is preserved exactly. The ratio of a same-tag to a
different-tag weight is ``(1 + (1 - beta)(c - 1)) / beta`` either way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from clusterability.errors import InputError


def balanced_tags(width: int, n_tags: int, rng: np.random.Generator) -> np.ndarray:
    """Tags ``0..n_tags-1`` of ``width`` neurons, each on ``width // n_tags`` or one more, in random order."""
    return rng.permutation(np.arange(width) % n_tags)


def tag_factors(tags_in: np.ndarray, tags_out: np.ndarray, n_tags: int, beta: float) -> np.ndarray:
    """The ``(len(tags_in), len(tags_out))`` factors: ``1 + (1 - beta)(c - 1)`` within a tag, ``beta`` across."""
    same = tags_in[:, None] == tags_out[None, :]
    return np.where(same, 1.0 + (1.0 - beta) * (n_tags - 1), beta)


def clusterable_kernels(
    kernels: Sequence[np.ndarray], n_tags: int, beta: float, rng: np.random.Generator
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Clusterably initialized copies of a chain of kernels between hidden layers, and the tags.

    ``kernels[i]`` maps hidden layer ``i`` to hidden layer ``i + 1`` (a dense
    ``(in, out)`` kernel or a convolution ``(h, w, in, out)``: the channels are
    the last two axes). Returns the scaled kernels (same dtypes) and the tags of
    the ``len(kernels) + 1`` hidden layers, drawn from ``rng``.
    """
    if n_tags < 1:
        raise InputError(f"clusterable initialization: tags must be a positive number, got {n_tags}")
    if not 0.0 < beta <= 1.0:
        raise InputError(f"clusterable initialization: beta must be in (0, 1], got {beta}")
    for i in range(1, len(kernels)):
        if kernels[i].shape[-2] != kernels[i - 1].shape[-1]:
            raise InputError(
                f"clusterable initialization: kernel {i} takes {kernels[i].shape[-2]} inputs, "
                f"but kernel {i - 1} has {kernels[i - 1].shape[-1]} outputs"
            )
    if not kernels:
        return [], []
    widths = [kernels[0].shape[-2]] + [k.shape[-1] for k in kernels]
    tags = [balanced_tags(w, n_tags, rng) for w in widths]
    out = []
    for i, kernel in enumerate(kernels):
        scaled = kernel.astype(np.float64) * tag_factors(tags[i], tags[i + 1], n_tags, beta)
        before, after = np.mean(np.abs(kernel, dtype=np.float64)), np.mean(np.abs(scaled))
        if after > 0:
            scaled *= before / after
        out.append(scaled.astype(kernel.dtype))
    return out, tags


def hidden_chain(architecture: str, n_kernels: int, n_conv: int) -> range:
    """Indices of the kernels (in layer order) that clusterable initialization scales.

    MLP: every kernel but the first (the last, into the outputs, included: the
    authors' code); CNN (``n_conv`` convolutions first): the convolutions after
    the first.
    """
    if architecture == "mlp":
        return range(1, n_kernels)
    return range(1, n_conv)
