"""Datasets made rather than downloaded (P1 sections 3.2 and A.5), in the prepared format.

``lines`` (LINES)
    1-10 full-height white vertical lines (distinct columns, pixel value 255)
    on black; label = number of lines - 1, uniform over 0-9.
``random`` (the unlearnable random dataset; also the memorization set)
    i.i.d. uniform pixels 0-255 and i.i.d. uniform labels 0-9, independent of
    each other, so nothing can be learnt beyond memorizing the training set.
``polynomial`` (P2 appendix A.7, a regression task)
    inputs ``x, y ~ N(0, 1)`` (``float32 (n, 2)``) and 512 targets, one per
    polynomial with coefficients in {0, 1} on the 9 monomials ``x^a y^b``,
    ``a, b in {0, 1, 2}``: target ``j`` sums the monomials whose bit is set in
    ``j`` (:func:`polynomial_targets`). Written as a regression dataset
    (``task = "regression"``, see :func:`~clusterability.data.prepare.load_prepared`).

:func:`make_dataset` draws every split from ``generator(seed, kind, split)``
and writes the same ``.npz`` layout as :func:`~clusterability.data.prepare.prepare_dataset`,
so training reads them like MNIST.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from clusterability.atomic import write_npz
from clusterability.data.prepare import N_CLASSES, SIDE, SPLITS
from clusterability.errors import InputError
from clusterability.seeds import generator

KINDS = ("lines", "random", "polynomial")
#: The exponents ``(a, b)`` of the monomials ``x^a y^b`` of the polynomial dataset, bit ``m`` of a target's index.
MONOMIALS = tuple((a, b) for a in range(3) for b in range(3))


def lines_images(labels: np.ndarray, rng: np.random.Generator, side: int = SIDE) -> np.ndarray:
    """LINES images for ``labels``: ``label + 1`` distinct full-height white columns each."""
    labels = np.asarray(labels)
    # A random permutation of the columns per image; the first label+1 of them are lit.
    order = np.argsort(rng.random((labels.size, side)), axis=1)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(side)[None, :], axis=1)
    lit = rank <= labels[:, None]
    return np.repeat((lit * np.uint8(255))[:, None, :], side, axis=1).astype(np.uint8)


def random_images(n: int, rng: np.random.Generator, side: int = SIDE) -> np.ndarray:
    """``n`` images of i.i.d. uniform pixels 0-255."""
    return rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)


def polynomial_targets(inputs: np.ndarray) -> np.ndarray:
    """The 512 targets of ``inputs`` ``(n, 2)``: column ``j`` sums the monomials ``m`` whose bit is set in ``j``."""
    x, y = inputs[:, 0].astype(np.float64), inputs[:, 1].astype(np.float64)
    monomials = np.stack([x**a * y**b for a, b in MONOMIALS], axis=1)  # (n, 9)
    bits = (np.arange(2 ** len(MONOMIALS))[None, :] >> np.arange(len(MONOMIALS))[:, None]) & 1  # (9, 512)
    return (monomials @ bits).astype(np.float32)


def synthetic_split(kind: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` inputs and labels (targets, for ``polynomial``) of dataset ``kind``."""
    if kind == "polynomial":
        inputs = rng.standard_normal((n, 2)).astype(np.float32)
        return inputs, polynomial_targets(inputs)
    labels = rng.integers(0, N_CLASSES, size=n).astype(np.uint8)
    if kind == "lines":
        return lines_images(labels, rng), labels
    if kind == "random":
        return random_images(n, rng), labels
    raise InputError(f"synthetic dataset kind {kind!r} is unknown; choose one of {', '.join(KINDS)}")


def make_dataset(
    name: str,
    kind: str,
    out_path: str | os.PathLike[str],
    *,
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int,
) -> Path:
    """Write synthetic dataset ``name`` of ``kind`` with the given split sizes as a prepared ``.npz``."""
    if kind not in KINDS:
        raise InputError(f"datasets.synthetic.{name}.kind: {kind!r} is unknown; choose one of {', '.join(KINDS)}")
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    arrays: dict[str, np.ndarray] = {}
    for split in SPLITS:
        x, y = synthetic_split(kind, sizes[split], generator(seed, name, split))
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    if kind == "polynomial":
        arrays["task"] = np.array("regression")
    out_path = Path(out_path)
    write_npz(out_path, name=np.array(name), **arrays)
    return out_path
