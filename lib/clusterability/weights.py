"""A network's weights: the ``.npz`` file format and its validation.

File format (``numpy.savez``; read with ``allow_pickle=False``)
-------------------------------------------------------------
``kernel_0`` ... ``kernel_{L-1}``
    The layers' kernels in layer order. A dense (MLP) kernel has shape
    ``(fan_in, fan_out)``; a convolution kernel has shape
    ``(h, w, in_channels, out_channels)``. Consecutive dense kernels must chain
    (``fan_out`` of one is ``fan_in`` of the next), and so must consecutive
    convolution kernels (``out_channels`` -> ``in_channels``). A dense kernel
    may follow a convolution kernel (flattening) without chaining.
``bias_{i}`` (optional)
    Bias of layer ``i``, shape ``(fan_out,)``. Ignored by the graph.
``bn_gamma_{i}``, ``bn_moving_variance_{i}``, ``bn_epsilon_{i}`` (optional, together)
    A batch-normalization layer applied to the outputs of layer ``i``:
    scale ``gamma`` and moving variance of shape ``(out_channels,)`` and a
    scalar ``epsilon``. ``bn_beta_{i}`` and ``bn_moving_mean_{i}`` may be
    stored too; the graph does not use them.

``sources_{i}`` (optional; residual and branching CNNs)
    An int array ``(m, 2)`` of ``(producer, start)`` rows: convolution ``i``
    reads the sum/concatenation of the outputs of kernels ``producer < i``,
    whose channels feed its input channels ``start ...``
    (:mod:`clusterability.dag_graph`). A file with any ``sources_`` holds only
    convolution kernels, and a kernel without ``sources_`` reads the network's
    input. Consecutive kernels need not chain then.

Nothing else in the file is read. All arrays must be finite.

Kernel dtypes
-------------
float32 and float64 kernels are kept as stored. Kernels of any other real
dtype -- integers (e.g. int8/int32 quantized weights) and float16 (half
precision from mixed-precision training), or longdouble -- are accepted and
converted to float64 when the weights are built. They are accepted rather than
refused because the graph only ever uses ``|W|`` in float64 (every kernel is
converted there anyway), and the conversion is exact for every float16 value
and every integer up to ``2**53`` (all of int8 ... int32): the network measured
is the one stored, and refusing would only make users convert by hand.
Converting once, when a :class:`NetworkWeights` is built, means every consumer
sees floating-point kernels. Booleans, complex numbers, strings and object
arrays are refused (object arrays are never unpickled).
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import write_npz
from .errors import InputError

_KERNEL = re.compile(r"^kernel_(\d+)$")


@dataclass(frozen=True)
class BatchNorm:
    """Batch-normalization statistics that act on one layer's output channels."""

    gamma: np.ndarray
    moving_variance: np.ndarray
    epsilon: float
    beta: np.ndarray | None = None
    moving_mean: np.ndarray | None = None

    def scale(self) -> np.ndarray:
        """Per-channel factor ``gamma / sqrt(moving_variance + epsilon)``."""
        return self.gamma / np.sqrt(self.moving_variance + self.epsilon)


@dataclass(frozen=True)
class NetworkWeights:
    """The kernels of a feed-forward network in layer order, plus optional extras."""

    kernels: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray | None, ...] = ()
    batch_norms: tuple[BatchNorm | None, ...] = ()
    source: str = field(default="<memory>", compare=False)
    sources: tuple[np.ndarray | None, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.kernels)
        if not self.biases:
            object.__setattr__(self, "biases", (None,) * n)
        if not self.batch_norms:
            object.__setattr__(self, "batch_norms", (None,) * n)
        if not self.sources:
            object.__setattr__(self, "sources", (None,) * n)
        if len(self.sources) != n:
            raise InputError(f"{self.source}: sources do not match {n} kernels")
        if self.is_dag:
            validate_dag(self.kernels, self.sources, self.source)
        else:
            validate_kernels(self.kernels, self.source)
        object.__setattr__(self, "kernels", tuple(_float_kernel(k, i, self.source) for i, k in enumerate(self.kernels)))
        if len(self.biases) != n or len(self.batch_norms) != n:
            raise InputError(f"{self.source}: biases/batch norms do not match {n} kernels")

    @property
    def n_layers(self) -> int:
        return len(self.kernels)

    @property
    def is_dag(self) -> bool:
        """Whether the convolutions are wired by ``sources`` (residual or branching) rather than a chain."""
        return any(s is not None for s in self.sources)

    def is_conv(self, i: int) -> bool:
        """Whether layer ``i`` is a convolution (4-d kernel)."""
        return self.kernels[i].ndim == 4

    @property
    def kind(self) -> str:
        """``"mlp"`` if every kernel is dense, else ``"cnn"``."""
        return "cnn" if any(k.ndim == 4 for k in self.kernels) else "mlp"

    def layer_widths(self) -> list[int]:
        """Neurons per layer of an MLP, inputs first: ``[fan_in_0, fan_out_0, ...]``."""
        return [self.kernels[0].shape[0]] + [k.shape[-1] for k in self.kernels]

    def with_kernels(self, kernels: list[np.ndarray] | tuple[np.ndarray, ...]) -> NetworkWeights:
        """A copy with the kernels replaced (same shapes), extras kept."""
        return NetworkWeights(tuple(kernels), self.biases, self.batch_norms, self.source, self.sources)


def _float_kernel(kernel: np.ndarray, i: int, source: str) -> np.ndarray:
    """``kernel`` itself if float32 or float64, else converted to float64 (see "Kernel dtypes")."""
    if kernel.dtype in (np.float32, np.float64):
        return kernel
    with np.errstate(over="ignore"):
        out = kernel.astype(np.float64)
    if not np.all(np.isfinite(out)):
        raise InputError(f"{source}: kernel_{i} ({kernel.dtype}) has entries beyond the float64 range")
    return out


def validate_kernels(kernels: tuple[np.ndarray, ...] | list[np.ndarray], source: str) -> None:
    """Raise :class:`InputError` unless ``kernels`` form a chainable feed-forward net."""
    if len(kernels) == 0:
        raise InputError(f"{source}: no kernel_0 found; expected kernel_0 ... kernel_{{L-1}}")
    for i, k in enumerate(kernels):
        if k.ndim not in (2, 4):
            raise InputError(
                f"{source}: kernel_{i} has shape {k.shape}; expected (fan_in, fan_out) "
                "or (h, w, in_channels, out_channels)"
            )
        if not np.issubdtype(k.dtype, np.floating) and not np.issubdtype(k.dtype, np.integer):
            raise InputError(f"{source}: kernel_{i} has non-numeric dtype {k.dtype}")
        if not np.all(np.isfinite(k)):
            bad = int(np.size(k) - np.count_nonzero(np.isfinite(k)))
            raise InputError(f"{source}: kernel_{i} has {bad} NaN or infinite entries")
    for i in range(1, len(kernels)):
        prev, cur = kernels[i - 1], kernels[i]
        if prev.ndim == 4 and cur.ndim == 2:
            continue  # flatten between convolutions and dense layers
        if prev.ndim == 2 and cur.ndim == 4:
            raise InputError(
                f"{source}: kernel_{i} is a convolution after dense kernel_{i - 1}; "
                "only conv -> dense transitions are supported"
            )
        out_prev, in_cur = prev.shape[-1], cur.shape[-2]
        if out_prev != in_cur:
            raise InputError(
                f"{source}: kernel_{i - 1} has {out_prev} outputs but kernel_{i} has "
                f"{in_cur} inputs; layers must be stored in order and chain"
            )


def validate_dag(kernels: tuple[np.ndarray, ...] | list[np.ndarray], sources: tuple, source: str) -> None:
    """Raise :class:`InputError` unless ``kernels`` are convolutions that ``sources`` wire validly."""
    for i, k in enumerate(kernels):
        if k.ndim != 4:
            raise InputError(f"{source}: kernel_{i} has shape {k.shape}; a wired (sources_) network holds convolutions")
        if not np.issubdtype(k.dtype, np.number) or not np.all(np.isfinite(k)):
            raise InputError(f"{source}: kernel_{i} must be finite numbers")
        if sources[i] is None:
            continue
        rows = np.asarray(sources[i])
        if rows.ndim != 2 or rows.shape[1] != 2 or not np.issubdtype(rows.dtype, np.integer):
            raise InputError(f"{source}: sources_{i} must be an integer (m, 2) array of (producer, start) rows")
        for producer, start in rows.tolist():
            if not 0 <= producer < i:
                raise InputError(f"{source}: sources_{i} names kernel_{producer}; producers must be earlier kernels")
            if start < 0 or start + kernels[producer].shape[-1] > k.shape[2]:
                raise InputError(
                    f"{source}: sources_{i}: kernel_{producer}'s {kernels[producer].shape[-1]} channels from input "
                    f"channel {start} do not fit kernel_{i}'s {k.shape[2]} input channels"
                )


def load_weights(path: str | os.PathLike[str]) -> NetworkWeights:
    """Read a network's weights from an ``.npz`` file (format in the module docstring)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a weights file")
    if not path.exists():
        raise InputError(f"{path}: no such weights file")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file; expected a .npz weights file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the weights file is empty")
    if not zipfile.is_zipfile(path):
        # np.load would return a bare array for a .npy file, or try to unpickle other files.
        raise InputError(f"{path}: not a .npz file (not a zip archive); save the kernels with numpy.savez")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npz file ({exc})") from None
    except ValueError as exc:  # pickled object arrays refuse to load
        raise InputError(f"{path}: cannot load without pickle ({exc}); store plain numeric arrays") from None
    return weights_from_arrays(arrays, source=str(path))


def weights_from_arrays(arrays: dict[str, np.ndarray], source: str = "<memory>") -> NetworkWeights:
    """Build :class:`NetworkWeights` from a mapping of ``.npz`` names to arrays."""
    indices = sorted(int(m.group(1)) for name in arrays if (m := _KERNEL.match(name)))
    if not indices:
        raise InputError(f"{source}: no kernel_0 found; expected kernel_0 ... kernel_{{L-1}}")
    if indices != list(range(len(indices))):
        missing = sorted(set(range(max(indices) + 1)) - set(indices))
        raise InputError(f"{source}: missing kernel_{missing[0]}; kernels must be numbered 0 ... L-1")
    kernels = tuple(np.asarray(arrays[f"kernel_{i}"]) for i in indices)
    sources = tuple(arrays.get(f"sources_{i}") for i in indices)
    if all(s is None for s in sources):
        validate_kernels(kernels, source)
    biases = tuple(arrays.get(f"bias_{i}") for i in indices)
    batch_norms = tuple(_batch_norm(arrays, i, kernels[i], source) for i in indices)
    return NetworkWeights(kernels, biases, batch_norms, source, sources)


def _batch_norm(arrays: dict[str, np.ndarray], i: int, kernel: np.ndarray, source: str) -> BatchNorm | None:
    keys = [f"bn_gamma_{i}", f"bn_moving_variance_{i}", f"bn_epsilon_{i}"]
    present = [k in arrays for k in keys]
    if not any(present):
        return None
    if not all(present):
        missing = next(k for k, p in zip(keys, present) if not p)
        raise InputError(f"{source}: batch norm of layer {i} is missing {missing}")
    gamma = np.asarray(arrays[keys[0]], dtype=np.float64)
    var = np.asarray(arrays[keys[1]], dtype=np.float64)
    eps = float(np.asarray(arrays[keys[2]]))
    n_out = kernel.shape[-1]
    if gamma.shape != (n_out,) or var.shape != (n_out,):
        raise InputError(f"{source}: batch norm of layer {i} must have shape ({n_out},)")
    if not (np.all(np.isfinite(gamma)) and np.all(np.isfinite(var)) and np.isfinite(eps)):
        raise InputError(f"{source}: batch norm of layer {i} has NaN or infinite entries")
    if np.any(var + eps <= 0):
        raise InputError(f"{source}: batch norm of layer {i} has non-positive variance + epsilon")
    return BatchNorm(gamma, var, eps, arrays.get(f"bn_beta_{i}"), arrays.get(f"bn_moving_mean_{i}"))


def weights_to_arrays(weights: NetworkWeights) -> dict[str, np.ndarray]:
    """The ``.npz`` mapping for ``weights`` (inverse of :func:`weights_from_arrays`)."""
    out: dict[str, np.ndarray] = {}
    for i, kernel in enumerate(weights.kernels):
        out[f"kernel_{i}"] = kernel
        if weights.sources[i] is not None:
            out[f"sources_{i}"] = np.asarray(weights.sources[i], dtype=np.int64)
        if weights.biases[i] is not None:
            out[f"bias_{i}"] = weights.biases[i]
        bn = weights.batch_norms[i]
        if bn is not None:
            out[f"bn_gamma_{i}"] = bn.gamma
            out[f"bn_moving_variance_{i}"] = bn.moving_variance
            out[f"bn_epsilon_{i}"] = np.asarray(bn.epsilon)
            if bn.beta is not None:
                out[f"bn_beta_{i}"] = bn.beta
            if bn.moving_mean is not None:
                out[f"bn_moving_mean_{i}"] = bn.moving_mean
    return out


def save_weights(path: str | os.PathLike[str], weights: NetworkWeights) -> None:
    """Write ``weights`` to ``path`` atomically in the ``.npz`` format."""
    write_npz(path, **weights_to_arrays(weights))
