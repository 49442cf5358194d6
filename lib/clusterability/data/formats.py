"""Parsers for the raw dataset formats: IDX (MNIST, Fashion-MNIST) and CIFAR-10 binary.

IDX: two zero bytes, a dtype code, the number of dimensions ``d``, then ``d``
big-endian uint32 sizes and the data in big-endian C order; files may be
gzipped (detected by the gzip magic, not the file name).

CIFAR-10 binary: records of 1 label byte and 3072 image bytes (the R, G and B
planes of a 32x32 image, each row-major).
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import numpy as np

from clusterability.errors import InputError

IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
CIFAR_RECORD_BYTES = 1 + 3 * 32 * 32
_MAX_IDX_BYTES = 1 << 33  # 8 GiB: a larger gzipped IDX header is corrupt
_FIX = "re-fetch the dataset's raw files"


def _read_exact(fh: IO[bytes], buffer: memoryview) -> int:
    """Fill ``buffer`` from ``fh``; return how many bytes were read (less at end of file)."""
    filled = 0
    while filled < len(buffer):
        n = fh.readinto(buffer[filled:])  # type: ignore[attr-defined]
        if not n:
            break
        filled += n
    return filled


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """The array stored in the (optionally gzipped) IDX file at ``path``, in native byte order."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such IDX file; {_FIX}")
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
    try:
        with gzip.open(path, "rb") if gzipped else open(path, "rb") as fh:
            header = fh.read(4)
            if len(header) < 4:
                raise InputError(f"{path}: truncated IDX file (no 4-byte header); {_FIX}")
            if header[:2] != b"\x00\x00":
                raise InputError(f"{path}: not an IDX file (magic {header.hex()} does not start with 0000); {_FIX}")
            code, ndim = header[2], header[3]
            if code not in IDX_DTYPES:
                raise InputError(f"{path}: unknown IDX dtype code 0x{code:02x}; {_FIX}")
            if ndim == 0:
                raise InputError(f"{path}: IDX file with 0 dimensions; {_FIX}")
            dims_raw = fh.read(4 * ndim)
            if len(dims_raw) < 4 * ndim:
                raise InputError(f"{path}: truncated IDX file (header lists {ndim} dimensions); {_FIX}")
            shape = tuple(int(d) for d in np.frombuffer(dims_raw, dtype=">u4"))
            dtype = IDX_DTYPES[code]
            declared = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
            limit = _MAX_IDX_BYTES if gzipped else path.stat().st_size - 4 - 4 * ndim
            if declared > limit:
                raise InputError(
                    f"{path}: IDX header declares shape {shape} ({declared} bytes), more than "
                    f"the file can hold; truncated or corrupt; {_FIX}"
                )
            out = np.empty(shape, dtype=dtype)
            expected = out.nbytes
            got = _read_exact(fh, memoryview(out.reshape(-1).view(np.uint8)))
            if got < expected:
                raise InputError(
                    f"{path}: truncated IDX file ({got} of {expected} data bytes for shape {shape}); {_FIX}"
                )
            if fh.read(1):
                raise InputError(f"{path}: IDX file has bytes beyond shape {shape}; {_FIX}")
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise InputError(f"{path}: corrupt or truncated gzip data ({' '.join(str(exc).split())}); {_FIX}") from None
    return out.astype(dtype.newbyteorder("="), copy=False)


def read_cifar10_bin(paths: Sequence[str | os.PathLike[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Images ``uint8 (n, 32, 32, 3)`` (RGB) and labels ``uint8 (n,)`` from CIFAR-10 binary batches."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    images, labels = [], []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise InputError(f"{path}: no such CIFAR-10 batch file; {_FIX}")
        size = path.stat().st_size
        if size == 0 or size % CIFAR_RECORD_BYTES:
            raise InputError(
                f"{path}: size {size} bytes is not a positive multiple of the "
                f"{CIFAR_RECORD_BYTES}-byte CIFAR-10 record (truncated or not a CIFAR-10 batch); {_FIX}"
            )
        records = np.fromfile(path, dtype=np.uint8).reshape(-1, CIFAR_RECORD_BYTES)
        lab = records[:, 0].copy()
        if lab.max() > 9:
            raise InputError(f"{path}: label {int(lab.max())} outside 0-9; not a CIFAR-10 batch; {_FIX}")
        labels.append(lab)
        images.append(records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    if not images:
        raise InputError(f"no CIFAR-10 batch files given; {_FIX}")
    return np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels)
