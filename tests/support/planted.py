"""Networks the numerical tests build: planted-partition MLPs, Glorot-initialized MLPs (the benchmarks' own),
and a check that two labellings are the same partition."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from types import ModuleType

import numpy as np

from workflow_helpers import REPO


def _benchmark_networks() -> ModuleType:
    """``benchmarks/networks.py``, the random networks the benchmarks measure, loaded by its path
    (the benchmarks are scripts, not a package; they never import from the tests)."""
    spec = importlib.util.spec_from_file_location("benchmark_networks", REPO / "benchmarks" / "networks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_NETWORKS = _benchmark_networks()
#: The MLP of both papers: 784-256-256-256-256-10.
PAPER_WIDTHS: tuple[int, ...] = _NETWORKS.PAPER_WIDTHS


def build_planted_mlp(
    widths: Sequence[int],
    k: int,
    *,
    seed: int = 0,
    strong: float = 1.0,
    weak: float = 0.02,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Kernels of an MLP with ``k`` planted modules, and each neuron's module.

    Every layer's neurons are split into ``k`` contiguous groups (as equal as
    possible); weights between neurons of the same group have magnitude
    ``U(0.5, 1) * strong``, between different groups ``U(0, 1) * weak``, with
    random signs. Returns the kernels (``(fan_in, fan_out)``, float32, as Keras
    stores them) and the module of every neuron in node order (inputs first).
    """
    rng = np.random.default_rng(seed)
    groups = [np.minimum(np.arange(n) * k // n, k - 1) for n in widths]
    kernels = []
    for l in range(len(widths) - 1):
        same = groups[l][:, None] == groups[l + 1][None, :]
        shape = (widths[l], widths[l + 1])
        magnitude = np.where(same, rng.uniform(0.5, 1.0, shape) * strong, rng.uniform(0.0, 1.0, shape) * weak)
        sign = rng.choice([-1.0, 1.0], size=shape)
        kernels.append((magnitude * sign).astype(np.float32))
    return kernels, np.concatenate(groups)


def build_glorot_mlp(widths: Sequence[int] = PAPER_WIDTHS, *, seed: int = 0) -> list[np.ndarray]:
    """Kernels of an MLP at Keras' default initialization (Glorot uniform), float32 as Keras stores them:
    the benchmarks' networks (``benchmarks/networks.py``, ``glorot_mlp``), dense."""
    return [k.astype(np.float32) for k in _NETWORKS.glorot_mlp(widths, seed=seed)]


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two labellings are the same partition up to renaming the clusters (-1 must match)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or not np.array_equal(a < 0, b < 0):
        return False
    pairs = set(zip(a[a >= 0].tolist(), b[b >= 0].tolist()))
    return len(pairs) == len(set(a[a >= 0].tolist())) == len(set(b[b >= 0].tolist()))
