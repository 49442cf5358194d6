"""Turn raw datasets into one uniform format: uint8 28x28 grayscale train/val/test splits.

A dataset can also be prepared *native*: at its own size and colours (CIFAR-10
as 32x32 RGB, for P2's VGG), with the same splits as the 28x28 version, or
*resized* from a prepared one (:func:`resize_prepared`: MNIST at 7x7 for P2's
clusterability regularizer, section 4.1), the same images downsampled.

MNIST and Fashion-MNIST are used as they are. CIFAR-10 is converted to
grayscale with the ITU-R 601 luma weights (0.299 R + 0.587 G + 0.114 B, as
``tf.image.rgb_to_grayscale``) and downsampled 32 -> 28 with anti-aliasing: a
separable resampling matrix whose triangle (bilinear) filter is widened by the
scale factor 32/28 (as PIL's and TensorFlow's antialiased bilinear resize),
rounded and clipped to uint8.

Prepared file format (``.npz``, read with ``allow_pickle=False``)
----------------------------------------------------------------
``x_train``, ``x_val``, ``x_test``: ``uint8 (n, 28, 28)`` (or ``(n, h, w, channels)``:
a native dataset, P2's two-channel stack datasets); ``y_train``,
``y_val``, ``y_test``: ``uint8 (n,)`` with labels 0-9; ``name``: 0-d string
array holding the dataset's registry name.

A regression dataset (the polynomial dataset of :mod:`clusterability.data.synthetic`)
has ``task``: the 0-d string ``"regression"``, and float32 ``x_*`` ``(n, features)``
and ``y_*`` ``(n, targets)`` instead.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import TypedDict

import numpy as np

from clusterability.atomic import write_npz
from clusterability.data.formats import read_cifar10_bin, read_idx
from clusterability.data.sources import DatasetSource, canonical_name, get_source
from clusterability.errors import InputError
from clusterability.seeds import generator

SIDE = 28
N_CLASSES = 10
LUMA_601 = (0.299, 0.587, 0.114)
SPLITS = ("train", "val", "test")
#: What a prepared dataset is for: image classification (10 classes) or regression (the polynomial dataset).
TASKS = ("classification", "regression")
_CHUNK = 8192


class Prepared(TypedDict, total=False):
    """A prepared dataset: uint8 images ``(n, 28, 28)`` and uint8 labels ``(n,)`` per split.

    ``task`` is ``"regression"`` for float inputs ``(n, features)`` and targets ``(n, targets)``.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def antialias_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The ``(n_out, n_in)`` 1-D resampling matrix of an antialiased bilinear resize.

    Output pixel ``i`` (centre ``(i + 0.5) * scale`` in input coordinates) is a
    triangle-weighted mean of input pixels; when downsampling the triangle's
    half-width is the scale factor ``n_in / n_out`` (pixels beyond the border
    are dropped and the weights renormalized, as in PIL).
    """
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale
    dist = (np.arange(n_in) + 0.5)[None, :] - centres[:, None]
    weights = np.clip(1.0 - np.abs(dist) / support, 0.0, None)
    return weights / weights.sum(axis=1, keepdims=True)


def resize_antialiased(images: np.ndarray, side: int = SIDE) -> np.ndarray:
    """Resize float images ``(n, h, w)`` to ``(n, side, side)`` with the antialiased bilinear filter."""
    rows = antialias_matrix(images.shape[1], side)
    cols = antialias_matrix(images.shape[2], side)
    return rows @ images @ cols.T  # the separable resampling, batched over all images


def resize_prepared(source: Prepared, out_path: str | os.PathLike[str], side: int, label: str | None = None) -> Path:
    """Write ``source``'s images downsampled to ``side x side`` (antialiased) with the same splits and labels.

    P2 section 4.1 trains its regularized MLPs on MNIST "downsampled to 7x7":
    28 -> 7 averages each output pixel over a triangle of half-width 4 input
    pixels (:func:`antialias_matrix`). ``label`` is the name stored in the file.
    """
    if source.get("task", "classification") != "classification":
        raise InputError(f"resizing {source['name']}: only image datasets can be resized")
    if not 1 <= side <= min(source["x_train"].shape[1:3]):
        raise InputError(
            f"resizing {source['name']}: side must be between 1 and its image side "
            f"{min(source['x_train'].shape[1:3])}, got {side}"
        )
    arrays: dict[str, np.ndarray] = {}
    for split in SPLITS:
        x = source[f"x_{split}"]
        if x.ndim != 3:
            raise InputError(f"resizing {source['name']}: only single-channel (n, h, w) images, got {x.shape}")
        out = np.empty((len(x), side, side), dtype=np.uint8)
        for start in range(0, len(x), _CHUNK):  # bounds the float64 memory
            small = resize_antialiased(x[start : start + _CHUNK].astype(np.float64), side)
            out[start : start + _CHUNK] = np.clip(np.rint(small), 0, 255).astype(np.uint8)
        arrays[f"x_{split}"] = out
        arrays[f"y_{split}"] = source[f"y_{split}"]
    out_path = Path(out_path)
    write_npz(out_path, name=np.array(label or f"{source['name']}_{side}x{side}"), **arrays)
    return out_path


def cifar_to_gray28(images: np.ndarray) -> np.ndarray:
    """uint8 RGB images ``(n, 32, 32, 3)`` -> uint8 luma images ``(n, 28, 28)``, antialiased."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected RGB images (n, h, w, 3), got shape {images.shape}")
    out = np.empty((images.shape[0], SIDE, SIDE), dtype=np.uint8)
    luma = np.asarray(LUMA_601, dtype=np.float64)
    for start in range(0, images.shape[0], _CHUNK):  # bounds the float64 memory
        gray = images[start : start + _CHUNK].astype(np.float64) @ luma
        small = resize_antialiased(gray, SIDE)
        out[start : start + _CHUNK] = np.clip(np.rint(small), 0, 255).astype(np.uint8)
    return out


def _raw_folder(source: DatasetSource, raw_dir: Path) -> Path:
    """``raw_dir`` itself, or ``raw_dir/<subfolder>`` when the files live there (a mirror)."""
    if not all((raw_dir / f).is_file() for f in source.files):
        nested = raw_dir / source.subfolder
        if all((nested / f).is_file() for f in source.files):
            return nested
    return raw_dir


def _check_images(
    where: str, x: np.ndarray, y: np.ndarray, shape: tuple[int, ...], names: tuple[str, str], fix: str
) -> None:
    """Raise :class:`InputError` unless ``x`` is uint8 ``(n, *shape)`` and ``y`` uint8 labels 0-9."""
    x_name, y_name = names
    if x.dtype != np.uint8 or x.ndim != len(shape) + 1 or x.shape[1:] != shape:
        raise InputError(
            f"{where}: {x_name} has shape {x.shape} dtype {x.dtype}; expected uint8 "
            f"(n, {', '.join(map(str, shape))}); {fix}"
        )
    if y.dtype != np.uint8 or y.shape != (x.shape[0],):
        raise InputError(
            f"{where}: {y_name} has shape {y.shape} dtype {y.dtype}; expected uint8 "
            f"({x.shape[0]},) to match the {x_name}; {fix}"
        )
    if y.size and int(y.max()) >= N_CLASSES:
        raise InputError(f"{where}: {y_name} has label {int(y.max())} outside 0-{N_CLASSES - 1}; {fix}")


def _check_split(source: DatasetSource, where: str, x: np.ndarray, y: np.ndarray, shape: tuple[int, ...]) -> None:
    _check_images(where, x, y, shape, ("image array", "label array"), f"re-fetch the {source.name} raw files")


def _read_native(source: DatasetSource, raw_dir: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The raw splits as stored: IDX images ``(n, 28, 28)`` or CIFAR RGB ``(n, 32, 32, 3)``."""
    folder = _raw_folder(source, Path(raw_dir))
    out: dict[str, np.ndarray] = {}
    for split, files in (("train", source.train_files), ("test", source.test_files)):
        paths = [folder / f for f in files]
        if source.kind == "cifar10_bin":
            x, y = read_cifar10_bin(paths)
            _check_split(source, str(paths[0].parent), x, y, (32, 32, 3))
        else:
            x, y = read_idx(paths[0]), read_idx(paths[1])
            _check_split(source, f"{paths[0]} / {paths[1].name}", x, y, (SIDE, SIDE))
        out[f"x_{split}"], out[f"y_{split}"] = x, y
    return out


def _to_gray28(source: DatasetSource, images: np.ndarray) -> np.ndarray:
    return cifar_to_gray28(images) if source.kind == "cifar10_bin" else np.ascontiguousarray(images)


def load_raw(name: str, raw_dir: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Dataset ``name``'s official train/test splits from ``raw_dir`` as uint8 28x28 grayscale.

    Returns ``x_train, y_train, x_test, y_test``. ``raw_dir`` holds the raw files
    (as written by :func:`~clusterability.data.fetch.fetch_raw`) or is a mirror
    holding them under the dataset's sub-folder.
    """
    source = get_source(name)
    native = _read_native(source, raw_dir)
    return {key: _to_gray28(source, arr) if key.startswith("x_") else arr for key, arr in native.items()}


def _check_count(key: str, value: int | None, available: int, minimum: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not minimum <= value <= available:
        raise InputError(f"{key}={value!r} must be an integer between {minimum} and {available} for this dataset")


def split_indices(
    name: str,
    n_train_total: int,
    n_test_total: int,
    val_size: int,
    seed: int,
    n_train: int | None = None,
    n_test: int | None = None,
) -> dict[str, np.ndarray]:
    """Sorted indices of the train/val (into the official train set) and test splits.

    The validation set is a random ``val_size`` subset of the official training
    set (``generator(seed, name, "validation")``); the remaining training images
    and the test set are optionally subsampled to ``n_train``/``n_test``
    (``generator(seed, name, "subsample", "train"/"test")``).
    """
    name = canonical_name(name)
    _check_count("val_size", val_size, n_train_total - 1, 0)
    _check_count("n_train", n_train, n_train_total - val_size, 1)
    _check_count("n_test", n_test, n_test_total, 1)
    perm = generator(seed, name, "validation").permutation(n_train_total)
    val, train = np.sort(perm[:val_size]), np.sort(perm[val_size:])
    test = np.arange(n_test_total)
    if n_train is not None and n_train < train.size:
        train = np.sort(generator(seed, name, "subsample", "train").choice(train, size=n_train, replace=False))
    if n_test is not None and n_test < test.size:
        test = np.sort(generator(seed, name, "subsample", "test").choice(test, size=n_test, replace=False))
    return {"train": train, "val": val, "test": test}


def prepare_dataset(
    name: str,
    raw_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    val_size: int,
    seed: int,
    n_train: int | None = None,
    n_test: int | None = None,
    *,
    native: bool = False,
    label: str | None = None,
) -> Path:
    """Write dataset ``name`` as a prepared ``.npz`` (see the module docstring) to ``out_path``.

    ``val_size`` training images become the validation set; ``n_train``/``n_test``
    optionally subsample the rest (deterministic from ``seed``). ``native`` keeps
    the images as stored (CIFAR-10: 32x32 RGB) instead of 28x28 grayscale; the
    splits depend on ``seed`` only, so both versions hold the same images.
    ``label`` is the name stored in the file (default: the dataset's). Returns ``out_path``.
    """
    source = get_source(name)
    raw = _read_native(source, raw_dir)
    idx = split_indices(source.name, raw["y_train"].size, raw["y_test"].size, val_size, seed, n_train, n_test)
    arrays: dict[str, np.ndarray] = {}
    for split, origin in (("train", "train"), ("val", "train"), ("test", "test")):
        images = raw[f"x_{origin}"][idx[split]]
        arrays[f"x_{split}"] = np.ascontiguousarray(images) if native else _to_gray28(source, images)
        arrays[f"y_{split}"] = raw[f"y_{origin}"][idx[split]]
    out_path = Path(out_path)
    write_npz(out_path, name=np.array(label or source.name), **arrays)
    return out_path


def load_prepared(path: str | os.PathLike[str]) -> Prepared:
    """Read and validate a prepared dataset ``.npz`` written by :func:`prepare_dataset`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such prepared dataset; run the prepare step first")
    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":
            raise InputError(f"{path}: not a readable .npz file (no zip header); prepare the dataset again")
    keys = ["name"] + [f"{xy}_{s}" for s in SPLITS for xy in ("x", "y")]
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise InputError(f"{path}: missing arrays {', '.join(missing)}; prepare the dataset again")
            arrays = {k: npz[k] for k in keys}
            task_array = npz["task"] if "task" in npz.files else np.array("classification")
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npz file ({exc}); prepare the dataset again") from None
    except ValueError as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path}: cannot load without pickle ({exc}); prepare the dataset again") from None
    name = arrays.pop("name")
    if name.shape != () or name.dtype.kind != "U":
        raise InputError(
            f"{path}: 'name' must be a 0-d string array, got shape {name.shape} "
            f"dtype {name.dtype}; prepare the dataset again"
        )
    task = str(task_array)
    if task_array.shape != () or task not in TASKS:
        raise InputError(f"{path}: 'task' must be one of {', '.join(TASKS)}; prepare the dataset again")
    shape = image_shape(str(path), arrays["x_train"]) if task == "classification" else ()
    for s in SPLITS:
        if task == "regression":
            _check_regression(str(path), arrays[f"x_{s}"], arrays[f"y_{s}"], s)
            continue
        _check_images(
            str(path),
            arrays[f"x_{s}"],
            arrays[f"y_{s}"],
            shape,
            (f"x_{s}", f"y_{s}"),
            "prepare the dataset again",
        )
    extra = {"task": task} if task == "regression" else {}
    return Prepared(name=str(name), **arrays, **extra)  # type: ignore[typeddict-item]


#: Channels a prepared image may have (gray, P2's two-image stacks, RGB, RGBA).
MAX_CHANNELS = 4


def image_shape(where: str, x: np.ndarray) -> tuple[int, ...]:
    """The image shape of a prepared split, ``(h, w)`` or ``(h, w, channels)``; checked."""
    shape = tuple(int(d) for d in x.shape[1:])
    if len(shape) not in (2, 3) or min(shape, default=0) < 1 or (len(shape) == 3 and shape[2] > MAX_CHANNELS):
        raise InputError(
            f"{where}: x_train has shape {x.shape}; expected images (n, h, w) or (n, h, w, channels) "
            f"with at most {MAX_CHANNELS} channels; prepare the dataset again"
        )
    return shape


def _check_regression(where: str, x: np.ndarray, y: np.ndarray, split: str) -> None:
    """Raise :class:`InputError` unless ``x``, ``y`` are float32 ``(n, features)``, ``(n, targets)``."""
    for key, a in ((f"x_{split}", x), (f"y_{split}", y)):
        if a.dtype != np.float32 or a.ndim != 2:
            raise InputError(
                f"{where}: {key} has shape {a.shape} dtype {a.dtype}; a regression dataset has float32 "
                "(n, features) inputs and (n, targets) targets; prepare the dataset again"
            )
    if len(x) != len(y):
        raise InputError(f"{where}: x_{split} has {len(x)} rows but y_{split} has {len(y)}; prepare the dataset again")
