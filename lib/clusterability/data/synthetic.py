"""Datasets made rather than downloaded (P1 sections 3.2 and A.5), in the prepared format.

``lines`` (LINES)
    1-10 full-height white vertical lines (distinct columns, pixel value 255)
    on black; label = number of lines - 1, uniform over 0-9.
``random`` (the unlearnable random dataset)
    i.i.d. uniform pixels 0-255 and i.i.d. uniform labels 0-9, independent of
    each other, so nothing can be learnt beyond memorizing the training set.
``random_authors`` (the memorization set)
    The same distribution, but the authors' own draw (:func:`authors_random_splits`):
    their code made one random dataset with numpy's legacy global seed 42, and the
    memorization runs trained on its first 3,000 images. The papers say only
    "i.i.d. uniformly random pixel values, associated with random labels".
``polynomial`` (P2 appendix A.7, a regression task)
    inputs ``x, y ~ N(0, 1)`` (``float32 (n, 2)``) and 512 targets, one per
    polynomial with coefficients in {0, 1} on the 9 monomials ``x^a y^b``,
    ``a, b in {0, 1, 2}``: target ``j`` sums the monomials whose bit is set in
    ``j`` (:func:`polynomial_targets`). Written as a regression dataset
    (``task = "regression"``, see :func:`~clusterability.data.prepare.load_prepared`).
``polynomial_authors`` (P2 Table A.19's dataset)
    The same task on the authors' own draw of the inputs (:func:`authors_polynomial_splits`):
    numpy's legacy seed 42, 60,000 training inputs, then 10,000 test inputs. P2 A.7 says
    only "independently normally distributed with mean 0 and variance 1"; the MSE of
    these targets is heavy-tailed (one input can hold a quarter of a test set's), so
    Table A.19's losses depend on the draw.

:func:`make_dataset` draws every split from ``generator(seed, kind, split)``
(``random_authors``, ``polynomial_authors``: from the authors' seed, whatever ``seed``) and writes the
same ``.npz`` layout as :func:`~clusterability.data.prepare.prepare_dataset`,
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

#: The kinds drawn from the pipeline's seeds (:func:`synthetic_split`), and all kinds.
SEEDED_KINDS = ("lines", "random", "polynomial")
KINDS = (*SEEDED_KINDS, "random_authors", "polynomial_authors")
#: The kinds of the polynomial regression task (P2 A.7): written with ``task = "regression"``.
POLYNOMIAL_KINDS = ("polynomial", "polynomial_authors")
#: The authors' random dataset (nn_modularity and clusterability_in_neural_networks,
#: src/generate_datasets.py, ``-s random``): after ``np.random.seed(42)``, ``randint(0, 256, (60000, 28, 28))``,
#: ``randint(0, 10, 60000)``, then the same for 10,000 test images. Their memorization runs
#: (prepare_all.sh, ``n_train=3000``) trained on ``X_train[:3000]`` in this order.
AUTHORS_RANDOM_SEED = 42
AUTHORS_RANDOM_SIZES = {"train": 60000, "test": 10000}
_DRAW_CHUNK = 5000  # images per randint call: numpy's legacy stream does not depend on the chunking
#: The authors' polynomial dataset (clusterability_in_neural_networks, src/generate_datasets.py,
#: ``polynomial_regression_dataset``, ``-s poly``): after ``np.random.seed(42)``, ``normal(size=(60000, 2))``
#: for the training inputs, then ``normal(size=(10000, 2))`` for the test inputs, float64.
AUTHORS_POLYNOMIAL_SEED = 42
AUTHORS_POLYNOMIAL_SIZES = {"train": 60000, "test": 10000}
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
    raise InputError(f"synthetic dataset kind {kind!r} is unknown; choose one of {', '.join(SEEDED_KINDS)}")


def _authors_draw(state: np.random.RandomState, n_images: int, keep: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_images`` images, then their labels, drawn from ``state`` as the authors' code; the first ``keep`` of each."""
    kept = []
    for start in range(0, n_images, _DRAW_CHUNK):
        # int64 (randint's default on Linux, where the authors ran): another dtype draws another stream.
        chunk = state.randint(0, 256, size=(min(_DRAW_CHUNK, n_images - start), SIDE, SIDE), dtype=np.int64)
        if start < keep:
            kept.append(chunk[: keep - start].astype(np.uint8))
    labels = state.randint(0, N_CLASSES, size=n_images, dtype=np.int64)[:keep].astype(np.uint8)
    images = np.concatenate(kept) if kept else np.empty((0, SIDE, SIDE), dtype=np.uint8)
    return images, labels


def _check_authors_sizes(what: str, sizes: dict[str, int], n_train: int, n_val: int, n_test: int, where: str) -> None:
    """Refuse more images (inputs) than the authors' dataset ``what`` has (``sizes``), naming the config entry."""
    if n_train + n_val > sizes["train"] or n_test > sizes["test"]:
        raise InputError(
            f"{where}: the authors' {what} has {sizes['train']} training and {sizes['test']} test examples; got "
            f"n_train + validation_size = {n_train + n_val} and n_test = {n_test}: lower them"
        )


def authors_random_splits(
    n_train: int, n_val: int, n_test: int, where: str = "datasets.synthetic"
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The authors' random dataset (:data:`AUTHORS_RANDOM_SEED`): images and labels per split.

    ``train`` is its first ``n_train`` training images, ``val`` the next ``n_val`` (the pipeline
    trains on both, in this order: the authors' first ``n_train + n_val``), ``test`` its first
    ``n_test`` test images. ``where`` names the config entry in the error when they are too many.
    """
    _check_authors_sizes("random dataset", AUTHORS_RANDOM_SIZES, n_train, n_val, n_test, where)
    state = np.random.RandomState(AUTHORS_RANDOM_SEED)
    x, y = _authors_draw(state, AUTHORS_RANDOM_SIZES["train"], n_train + n_val)
    test = _authors_draw(state, AUTHORS_RANDOM_SIZES["test"], n_test)
    return {"train": (x[:n_train], y[:n_train]), "val": (x[n_train:], y[n_train:]), "test": test}


def authors_polynomial_splits(
    n_train: int, n_val: int, n_test: int, where: str = "datasets.synthetic"
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The authors' polynomial dataset (:data:`AUTHORS_POLYNOMIAL_SEED`): inputs and targets per split.

    ``train`` is its first ``n_train`` training inputs, ``val`` the next ``n_val`` (the pipeline
    trains on both, in this order: the authors' first ``n_train + n_val``), ``test`` its first
    ``n_test`` test inputs. Targets come from the float64 inputs (:func:`polynomial_targets`, this
    module's column order: the authors' ``itertools.product`` order is a permutation of the columns);
    inputs and targets are stored as float32, which is what Keras trained on.
    """
    _check_authors_sizes("polynomial dataset", AUTHORS_POLYNOMIAL_SIZES, n_train, n_val, n_test, where)
    state = np.random.RandomState(AUTHORS_POLYNOMIAL_SEED)
    x_train = state.normal(size=(AUTHORS_POLYNOMIAL_SIZES["train"], 2))[: n_train + n_val]
    x_test = state.normal(size=(AUTHORS_POLYNOMIAL_SIZES["test"], 2))[:n_test]

    def split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x.astype(np.float32), polynomial_targets(x)

    return {"train": split(x_train[:n_train]), "val": split(x_train[n_train:]), "test": split(x_test)}


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
    """Write synthetic dataset ``name`` of ``kind`` with the given split sizes as a prepared ``.npz``.

    ``seed`` draws every kind but ``random_authors`` and ``polynomial_authors``, the authors' fixed draws.
    """
    if kind not in KINDS:
        raise InputError(f"datasets.synthetic.{name}.kind: {kind!r} is unknown; choose one of {', '.join(KINDS)}")
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    if kind == "random_authors":
        splits = authors_random_splits(n_train, n_val, n_test, where=f"datasets.synthetic.{name}")
    elif kind == "polynomial_authors":
        splits = authors_polynomial_splits(n_train, n_val, n_test, where=f"datasets.synthetic.{name}")
    else:
        splits = {split: synthetic_split(kind, sizes[split], generator(seed, name, split)) for split in SPLITS}
    arrays: dict[str, np.ndarray] = {}
    for split in SPLITS:
        arrays[f"x_{split}"], arrays[f"y_{split}"] = splits[split]
    if kind in POLYNOMIAL_KINDS:
        arrays["task"] = np.array("regression")
    out_path = Path(out_path)
    write_npz(out_path, name=np.array(name), **arrays)
    return out_path
