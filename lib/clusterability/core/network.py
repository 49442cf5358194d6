"""A network's weights in memory (:class:`NetworkWeights`) and their validation, whichever reader built them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clusterability import limits
from clusterability.errors import InputError

_REAL_KINDS = "iuf"


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
    """The kernels of a feed-forward network in layer order, plus optional extras.

    Every instance is validated (module docstring, "Validation"), whichever reader built it.
    """

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
        if len(self.biases) != n or len(self.batch_norms) != n:
            raise InputError(f"{self.source}: biases/batch norms do not match {n} kernels")
        kernels = tuple(as_array(k, f"kernel_{i}", self.source) for i, k in enumerate(self.kernels))
        if self.is_dag:
            validate_dag(kernels, self.sources, self.source)
        else:
            validate_kernels(kernels, self.source)
        object.__setattr__(self, "kernels", tuple(_float_kernel(k, i, self.source) for i, k in enumerate(kernels)))
        for i, bn in enumerate(self.batch_norms):
            if bn is not None:
                validate_batch_norm(bn, i, kernels[i].shape[-1], self.source)

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


# ---------------------------------------------------------------------------- validation


def as_array(value: Any, name: str, source: str) -> np.ndarray:
    """``value`` as an array, or an :class:`InputError` naming ``name`` if it is not one."""
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{source}: {name} is not an array ({one_line(exc)})") from None


def dtype_problem(dtype: np.dtype) -> str | None:
    """Why an array of ``dtype`` is not real numbers (float or integer), or None if it is."""
    if dtype.hasobject:
        return f"holds Python objects (dtype {dtype}), which are never unpickled; store plain numeric arrays"
    if dtype.kind not in _REAL_KINDS:
        return f"has dtype {dtype}; expected real numbers (a float or integer dtype)"
    return None


def _float_kernel(kernel: np.ndarray, i: int, source: str) -> np.ndarray:
    """``kernel`` itself if float32 or float64, else converted to float64 (see "Kernel dtypes")."""
    if kernel.dtype in (np.float32, np.float64):
        return kernel
    with np.errstate(over="ignore"):
        out = kernel.astype(np.float64)
    if not np.all(np.isfinite(out)):
        raise InputError(f"{source}: kernel_{i} ({kernel.dtype}) has entries beyond the float64 range")
    return out


def check_kernel_rank(kernel: np.ndarray, i: int, source: str, wired: bool) -> None:
    """Raise unless kernel ``i`` is dense (2-d) or a convolution (4-d); only convolutions if ``wired``."""
    if wired and kernel.ndim != 4:
        raise InputError(
            f"{source}: kernel_{i} has shape {kernel.shape}; a wired (sources_) network holds convolutions"
        )
    if kernel.ndim not in (2, 4):
        raise InputError(
            f"{source}: kernel_{i} has shape {kernel.shape}; expected (fan_in, fan_out) "
            "or (h, w, in_channels, out_channels)"
        )


def _check_kernel(kernel: np.ndarray, i: int, source: str, wired: bool) -> int:
    """Raise unless kernel ``i`` is a real, finite, non-empty 2-d or 4-d array within the caps; its bytes."""
    problem = dtype_problem(kernel.dtype)
    if problem is not None:
        raise InputError(f"{source}: kernel_{i} {problem}")
    check_kernel_rank(kernel, i, source, wired)
    nbytes = limits.check_declared_shape(kernel.shape, kernel.dtype.itemsize, f"{source}: kernel_{i}")
    if kernel.size == 0:
        raise InputError(
            f"{source}: kernel_{i} has shape {kernel.shape} with no entries; every layer needs at least one "
            "neuron (channel) and one input"
        )
    if not np.all(np.isfinite(kernel)):
        bad = int(np.size(kernel) - np.count_nonzero(np.isfinite(kernel)))
        raise InputError(f"{source}: kernel_{i} has {bad} NaN or infinite entries")
    return nbytes


def validate_kernels(kernels: tuple[np.ndarray, ...] | list[np.ndarray], source: str) -> None:
    """Raise :class:`InputError` unless ``kernels`` form a chainable feed-forward net."""
    if len(kernels) == 0:
        raise InputError(f"{source}: no kernel_0 found; expected kernel_0 ... kernel_{{L-1}}")
    limits.check_total_bytes(sum(_check_kernel(k, i, source, wired=False) for i, k in enumerate(kernels)), source)
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
    """Raise :class:`InputError` unless ``kernels`` are convolutions that ``sources`` wire validly.

    A convolution without sources reads the network's input, as the first one does (the convention of
    :class:`clusterability.io.wiring.DagBuilder`), so it has as many input channels; a wired one must get
    every input channel from some producer (a channel fed by nothing means the wiring is wrong).
    """
    if len(kernels) == 0:
        raise InputError(f"{source}: no kernel_0 found; expected kernel_0 ... kernel_{{L-1}}")
    limits.check_total_bytes(sum(_check_kernel(k, i, source, wired=True) for i, k in enumerate(kernels)), source)
    widths = np.array([k.shape[-1] for k in kernels], dtype=np.int64)
    for i, k in enumerate(kernels):
        if sources[i] is None:
            if k.shape[2] != kernels[0].shape[2]:
                raise InputError(
                    f"{source}: kernel_{i} has no sources_{i}, so it reads the network's input like kernel_0 "
                    f"({kernels[0].shape[2]} channels), but it has {k.shape[2]} input channels; give its sources_{i}"
                )
            continue
        _check_wiring(as_array(sources[i], f"sources_{i}", source), i, k.shape[2], widths, source)


def _check_wiring(rows: np.ndarray, i: int, n_in: int, widths: np.ndarray, source: str) -> None:
    """Raise unless ``rows`` (``sources_i``) feed each of convolution ``i``'s ``n_in`` input channels."""
    if rows.ndim != 2 or rows.shape[1] != 2 or rows.dtype.kind not in "iu":
        raise InputError(f"{source}: sources_{i} must be an integer (m, 2) array of (producer, start) rows")
    if rows.shape[0] == 0:
        raise InputError(f"{source}: sources_{i} is empty; leave it out for a kernel that reads the network's input")
    if rows.max() > 2**40 or rows.min() < -(2**40):
        raise InputError(f"{source}: sources_{i} holds out-of-range numbers ({rows.min()} ... {rows.max()})")
    rows = rows.astype(np.int64)
    producers, starts = rows[:, 0], rows[:, 1]
    late = (producers < 0) | (producers >= i)
    if late.any():
        raise InputError(f"{source}: sources_{i} names kernel_{producers[late][0]}; producers must be earlier kernels")
    ends = starts + widths[producers]
    outside = (starts < 0) | (ends > n_in)
    if outside.any():
        j = int(np.flatnonzero(outside)[0])
        raise InputError(
            f"{source}: sources_{i}: kernel_{producers[j]}'s {widths[producers[j]]} channels from input "
            f"channel {starts[j]} do not fit kernel_{i}'s {n_in} input channels"
        )
    if len(np.unique(rows, axis=0)) != len(rows):
        raise InputError(f"{source}: sources_{i} lists a (producer, start) row twice; each producer feeds once")
    fed = np.cumsum(np.bincount(starts, minlength=n_in + 1) - np.bincount(ends, minlength=n_in + 1))[:n_in]
    unfed = np.flatnonzero(fed == 0)
    if unfed.size:
        raise InputError(
            f"{source}: sources_{i} feed {n_in - unfed.size} of kernel_{i}'s {n_in} input channels (channel "
            f"{unfed[0]} is fed by no producer); the wiring is wrong: every input channel comes from an earlier kernel"
        )


def _real_vector(value: Any, n: int) -> np.ndarray | None:
    """``value`` as an array if it is ``n`` real numbers (shape ``(n,)``), else None."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        return None
    return array if array.shape == (n,) and dtype_problem(array.dtype) is None else None


def _describe(value: Any) -> str:
    """``value``'s type, and its shape and dtype if it is an array, for a message."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"a {type(value).__name__}"


def validate_batch_norm(bn: BatchNorm, i: int, n_out: int, source: str) -> None:
    """Raise :class:`InputError` unless ``bn`` can act on the ``n_out`` output channels of layer ``i``.

    gamma and the moving variance: ``n_out`` finite real numbers, the variance >= 0; epsilon: one finite real
    number >= 0; ``variance + epsilon > 0`` (the scale ``gamma / sqrt(variance + epsilon)`` is defined).
    """
    where = f"{source}: batch norm of layer {i}"
    if not isinstance(bn, BatchNorm):
        raise InputError(f"{where} is a {type(bn).__name__}, not a BatchNorm")
    for label, value, required in (
        ("gamma", bn.gamma, True),
        ("moving variance", bn.moving_variance, True),
        ("beta", bn.beta, False),
        ("moving mean", bn.moving_mean, False),
    ):
        if value is None and not required:
            continue
        array = _real_vector(value, n_out)
        if array is None:
            raise InputError(
                f"{where}: its {label} must be {n_out} real numbers (shape ({n_out},), one per output channel), "
                f"got {_describe(value)}"
            )
        if required and not np.all(np.isfinite(array)):
            raise InputError(f"{where} has NaN or infinite {label} entries")
    try:
        eps = np.asarray(bn.epsilon)
    except (ValueError, TypeError):
        eps = np.asarray(None)
    if eps.ndim != 0 or dtype_problem(eps.dtype) is not None:
        raise InputError(f"{where}: its epsilon must be one real number, got {_describe(bn.epsilon)}")
    if not np.isfinite(eps) or eps < 0:
        raise InputError(f"{where} has epsilon {eps}; expected a finite number >= 0")
    variance = np.asarray(bn.moving_variance)
    if np.any(variance < 0):
        raise InputError(
            f"{where} has a negative moving variance ({variance.min()} for channel {int(np.argmin(variance))}); "
            "a variance is never negative: the file is corrupt"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        zero = ~(variance + bn.epsilon > 0)  # as BatchNorm.scale adds them
    if np.any(zero):
        raise InputError(
            f"{where} has moving variance + epsilon = 0 (channel {int(np.argmax(zero))}); "
            "its scale gamma / sqrt(variance + epsilon) is undefined"
        )


def one_line(exc: BaseException, limit: int = 200) -> str:
    """``exc``'s message on one line, at most ``limit`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
