"""Caps on what a network file may declare, checked before anything is allocated.

Files users load are untrusted: a header may claim a tensor of 10**10 entries
or a layer of 10**11 neurons in a few hundred bytes. Every reader checks the
shapes and sizes a file *declares* against these caps, and against the bytes
the file actually holds, before it reads or allocates anything.

==========================  =================  ======================================
cap                         value              what still fits
==========================  =================  ======================================
:data:`MAX_TENSOR_BYTES`    4 GiB              VGG-19's 102-million-weight dense layer
                                               (392 MiB in float32) ten times over
:data:`MAX_TOTAL_BYTES`     8 GiB              every tensor of one file together
:data:`MAX_DIMENSION`       2**24 (16.7 M)     a 50,000-neuron layer, ImageNet's
                                               1,000 classes, a 25,088-wide flatten
:data:`MAX_NDIM`            8                  a convolution kernel has 4
==========================  =================  ======================================

A zero-size tensor allocates nothing but still declares its dimensions, which
the graph then allocates (a layer of ``n`` neurons), so every dimension is
capped too, zero-size tensors included.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from clusterability.errors import InputError

#: Largest single tensor a network file may declare, in bytes (after upcasting to its stored dtype).
MAX_TENSOR_BYTES = 4 * 2**30
#: Largest sum of the tensors of one file, in bytes.
MAX_TOTAL_BYTES = 8 * 2**30
#: Largest length of any one dimension of a tensor (a layer's width, a kernel's fan-in).
MAX_DIMENSION = 2**24
#: Most dimensions a tensor may have.
MAX_NDIM = 8


def check_declared_shape(shape: Sequence[int], itemsize: int, what: str) -> int:
    """Raise :class:`InputError` unless a declared ``shape`` is within the caps; returns its size in bytes.

    ``what`` names the file and tensor in the message (``"net.pt: tensor 'fc1.weight'"``).
    """
    try:
        dims = [int(n) for n in shape]
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{what} declares a shape that is not a list of integers ({shape!r})") from None
    if len(dims) > MAX_NDIM:
        raise InputError(f"{what} declares {len(dims)} dimensions; at most {MAX_NDIM} are read")
    for n in dims:
        if n < 0:
            raise InputError(f"{what} declares a negative dimension ({n})")
        if n > MAX_DIMENSION:
            raise InputError(
                f"{what} declares a dimension of {n:,}, over the cap of {MAX_DIMENSION:,} "
                "(clusterability.limits.MAX_DIMENSION); the file is corrupt or not a network"
            )
    nbytes = math.prod(dims) * int(itemsize)
    if nbytes > MAX_TENSOR_BYTES:
        raise InputError(
            f"{what} declares {nbytes / 2**30:.1f} GiB, over the cap of {MAX_TENSOR_BYTES // 2**30} GiB per tensor "
            "(clusterability.limits.MAX_TENSOR_BYTES)"
        )
    return nbytes


def check_total_bytes(total: int, what: str) -> None:
    """Raise :class:`InputError` if the tensors of one file declare more than :data:`MAX_TOTAL_BYTES` together."""
    if total > MAX_TOTAL_BYTES:
        raise InputError(
            f"{what} declares {total / 2**30:.1f} GiB of tensors, over the cap of {MAX_TOTAL_BYTES // 2**30} GiB "
            "per file (clusterability.limits.MAX_TOTAL_BYTES)"
        )
