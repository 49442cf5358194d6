"""Mixtures of two prepared datasets (P1 appendix A.5: LINES-MNIST, LINES-CIFAR-10, MNIST-CIFAR-10).

``overlapping`` (e.g. LINES-MNIST)
    every class holds examples of both datasets: the union of both datasets'
    examples, each keeping its label.
``separate`` (the ``-SEP`` versions)
    classes 0-4 come from the first dataset, 5-9 from the second: the first's
    examples with labels 0-4 and the second's with labels 5-9.

Each split (train, val, test) is mixed from the same split of both datasets
and then put in a random order drawn from ``generator(seed, name, split)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from clusterability.atomic import write_npz
from clusterability.data.prepare import N_CLASSES, SPLITS, Prepared
from clusterability.seeds import generator

#: Labels the first dataset contributes in a separate mixture; the second contributes the rest.
FIRST_CLASSES = range(N_CLASSES // 2)


def mix_split(
    first: tuple[np.ndarray, np.ndarray],
    second: tuple[np.ndarray, np.ndarray],
    separate: bool,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one split of the mixture of ``first`` and ``second`` (each ``(x, y)``)."""
    (x1, y1), (x2, y2) = first, second
    if separate:
        keep1 = np.isin(y1, FIRST_CLASSES)
        keep2 = ~np.isin(y2, FIRST_CLASSES)
        x1, y1, x2, y2 = x1[keep1], y1[keep1], x2[keep2], y2[keep2]
    x = np.concatenate([x1, x2])
    y = np.concatenate([y1, y2])
    order = rng.permutation(y.size)
    return x[order], y[order]


def mix_datasets(
    name: str,
    first: Prepared,
    second: Prepared,
    out_path: str | os.PathLike[str],
    *,
    separate: bool,
    seed: int,
) -> Path:
    """Write the mixture ``name`` of two prepared datasets as a prepared ``.npz``."""
    arrays: dict[str, np.ndarray] = {}
    for split in SPLITS:
        x, y = mix_split(
            (first[f"x_{split}"], first[f"y_{split}"]),
            (second[f"x_{split}"], second[f"y_{split}"]),
            separate,
            generator(seed, name, split),
        )
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    out_path = Path(out_path)
    write_npz(out_path, name=np.array(name), **arrays)
    return out_path
