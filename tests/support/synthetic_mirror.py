"""A small dataset mirror in the publishers' formats, made from scratch for tests.

``write_mirror(root)`` writes the layout the pipeline reads from a mirror:

    mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz          (gzipped IDX)
    fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz  (gzipped IDX)
    cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin          (CIFAR-10 binary records)
    MD5SUMS                                                         (md5sum format)

with few images per file. The images are learnable: each class is a bright
pattern at a class-dependent place (bars for the IDX datasets, coloured squares
for CIFAR-10) plus noise, so a tiny MLP reaches well above chance accuracy.
``MD5SUMS`` is the checksum list the pipeline takes as ``datasets.checksums``.

:class:`RawMirror` is a mirror with the md5s its files must match: the real one
with the publishers' md5s, or this one with its ``MD5SUMS`` (conftest's
``raw_mirror`` fixture picks whichever is there).
"""

from __future__ import annotations

import gzip
import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clusterability.data.sources import DatasetSource, get_source, with_checksums

IDX_FOLDERS = {"mnist": "mnist", "fashion_mnist": "fashion-mnist"}
CIFAR_FOLDER = "cifar-10-batches-bin"


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8) as an IDX file: magic (0, 0, 0x08, ndim), big-endian sizes, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _patterns(rng: np.random.Generator, labels: np.ndarray, side: int, vertical: bool) -> np.ndarray:
    """Noise plus a bright bar whose position encodes the label."""
    images = rng.integers(0, 90, size=(labels.size, side, side)).astype(np.int32)
    width = side // 10
    for c in range(10):
        rows = labels == c
        start = 1 + c * (side - 2) // 10
        if vertical:
            images[rows, :, start : start + width] += 160
        else:
            images[rows, start : start + width, :] += 160
    return np.clip(images, 0, 255).astype(np.uint8)


def _write_idx_dataset(folder: Path, rng: np.random.Generator, n_train: int, n_test: int, vertical: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        images = _patterns(rng, labels, 28, vertical)
        # mtime=0: the same content gives the same bytes, hence the same md5.
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images), mtime=0))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels), mtime=0))


def cifar_records(labels: np.ndarray, images: np.ndarray) -> bytes:
    """CIFAR-10 binary records: 1 label byte, then 1024 red, 1024 green, 1024 blue bytes."""
    planes = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.uint8).reshape(labels.size, 3072)
    return np.concatenate([labels.astype(np.uint8)[:, None], planes], axis=1).tobytes()


def _write_cifar(folder: Path, rng: np.random.Generator, per_batch: int, n_test: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in [(f"data_batch_{i}.bin", per_batch) for i in range(1, 6)] + [("test_batch.bin", n_test)]:
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        gray = _patterns(rng, labels, 32, vertical=False)
        colour = np.stack([gray, np.roll(gray, 3, axis=1), gray[:, ::-1]], axis=-1)
        (folder / name).write_bytes(cifar_records(labels, colour))


def write_mirror(root: str | Path, *, n_train: int = 1300, n_test: int = 500, seed: int = 0) -> Path:
    """Write the synthetic mirror under ``root``; return ``root``. Deterministic in ``seed``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    _write_idx_dataset(root / IDX_FOLDERS["mnist"], rng, n_train, n_test, vertical=False)
    _write_idx_dataset(root / IDX_FOLDERS["fashion_mnist"], rng, n_train, n_test, vertical=True)
    _write_cifar(root / CIFAR_FOLDER, rng, per_batch=-(-n_train // 5), n_test=n_test)
    lines = [
        f"{hashlib.md5(path.read_bytes()).hexdigest()}  {path.relative_to(root).as_posix()}"
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != "MD5SUMS"
    ]
    (root / "MD5SUMS").write_text("\n".join(lines) + "\n")
    return root


@dataclass(frozen=True)
class RawMirror:
    """A folder of raw dataset files in the publishers' layout, and the md5s its files must match."""

    root: Path
    #: An md5sum-format list (``datasets.checksums``) of the files' md5s; None: the publishers' official md5s.
    checksums: Path | None

    def source(self, name: str) -> DatasetSource:
        """Dataset ``name``'s registry entry with the md5s this mirror's files have."""
        source = get_source(name)
        return source if self.checksums is None else with_checksums(source, str(self.checksums))
