"""P2's two-image datasets: 'halves' (section 2.1, for MLPs) and 'stack' (section 3.2, for CNNs).

A *halves* image is two images shrunk to 28x14, side by side; a *stack* image
is two full 28x28 images as the two channels of one ``(28, 28, 2)`` image
(convolutions followed by pooling are nearly invariant to where in a channel
something is, so the CNNs get the images in different channels). Either is


``same`` (MNIST-halves-same, Fashion-stack-same, ...)
    both images show the same class; the label is that class.
``diff`` (MNIST-halves-diff, Fashion-stack-diff, ...)
    the images are independent random images; the label is the sum of their
    classes modulo 10.

Each split (train, val, test) is built from the same split of a prepared
source dataset and has as many images: image ``i`` of the source is the left
half (the first channel) of image ``i``, and the right half (second channel)
is drawn, from ``generator(seed, name, split)``, among the source split's
images of the same class (``same``) or among all of them (``diff``). Halves
are shrunk (width 28 -> 14) as the authors' code shrinks them (P2 only says
"shrunk in width"): :func:`shrink_width`, and rounded to uint8, so a halves
dataset is a prepared 28x28 dataset that trains like MNIST.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import ndimage

from clusterability.atomic import write_npz
from clusterability.data.prepare import N_CLASSES, SIDE, SPLITS, Prepared
from clusterability.errors import InputError
from clusterability.seeds import generator

#: The halves of a halves image, each ``SIDE`` x ``HALF`` pixels.
HALF = SIDE // 2


def shrink_width(images: np.ndarray, width: int = HALF) -> np.ndarray:
    """uint8 images ``(n, h, 2 * width)`` -> uint8 ``(n, h, width)``, halved along the width as the authors'
    code does it (``skimage.transform.resize`` of scikit-image 0.15, ``generate_datasets.py``): a Gaussian of
    sigma (factor - 1) / 2 = 0.5 along the width, edges mirrored, filtered *in uint8* (0.15 filters before it
    converts to floats, and scipy's uint8 output truncates), then as floats in [0, 1] (``img_as_float``) the
    mean of columns 2j and 2j + 1 (bilinear sampling at their midpoint), times 255 and rounded (the code's
    ``round(X * 255 / max)``: max is 1 on MNIST's and Fashion-MNIST's training and test sets). Output
    column j weighs input columns 2j - 1 .. 2j + 2 by about 0.053, 0.447, 0.447, 0.053."""
    if images.dtype != np.uint8:
        raise ValueError(f"shrink_width takes uint8 images, got {images.dtype}")
    if images.shape[2] != 2 * width:
        raise ValueError(f"shrink_width halves the width: {images.shape[2]} columns to {width}")
    smooth = ndimage.gaussian_filter1d(images, sigma=0.5, axis=2, mode="mirror")  # uint8 out: truncated
    unit = np.multiply(smooth, 1.0 / 255, dtype=np.float64)
    out = 0.5 * unit[..., 0::2] + 0.5 * unit[..., 1::2]
    return np.clip(np.round(out * 255), 0, 255).astype(np.uint8)


def partners(labels: np.ndarray, same: bool, rng: np.random.Generator) -> np.ndarray:
    """For each image, the index of its right half: a random image of its class (``same``) or any."""
    labels = np.asarray(labels)
    if not same:
        return rng.integers(0, labels.size, size=labels.size)
    out = np.empty(labels.size, dtype=np.int64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        out[members] = members[rng.integers(0, members.size, size=members.size)]
    return out


def halves_split(x: np.ndarray, y: np.ndarray, same: bool, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one split of a halves dataset made from ``(x, y)`` (uint8 28x28 images)."""
    if x.ndim != 3 or x.shape[1:] != (SIDE, SIDE):
        raise InputError(f"halves: source images must be (n, {SIDE}, {SIDE}), got {x.shape}")
    right = partners(y, same, rng)
    small = shrink_width(x)
    images = np.concatenate([small, small[right]], axis=2)
    labels = y if same else (y.astype(np.int64) + y[right]) % N_CLASSES
    return images, labels.astype(np.uint8)


def stack_split(x: np.ndarray, y: np.ndarray, same: bool, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 28, 28, 2)`` and labels of one split of a stack dataset made from ``(x, y)``."""
    if x.ndim != 3 or x.shape[1:] != (SIDE, SIDE):
        raise InputError(f"stack: source images must be (n, {SIDE}, {SIDE}), got {x.shape}")
    second = partners(y, same, rng)
    labels = y if same else (y.astype(np.int64) + y[second]) % N_CLASSES
    return np.stack([x, x[second]], axis=-1), labels.astype(np.uint8)


#: How the two images are combined: side by side, shrunk (``halves``), or as two channels (``stack``).
LAYOUTS = {"halves": halves_split, "stack": stack_split}


def make_paired(
    name: str,
    source: Prepared,
    out_path: str | os.PathLike[str],
    *,
    same: bool,
    seed: int,
    layout: str = "halves",
) -> Path:
    """Write the two-image dataset ``name`` (``layout``: halves or stack) made from the prepared
    dataset ``source`` as a prepared ``.npz``."""
    if layout not in LAYOUTS:
        raise InputError(f"{name}: unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    arrays: dict[str, np.ndarray] = {}
    for split in SPLITS:
        x, y = LAYOUTS[layout](source[f"x_{split}"], source[f"y_{split}"], same, generator(seed, name, split))
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    out_path = Path(out_path)
    write_npz(out_path, name=np.array(name), **arrays)
    return out_path
