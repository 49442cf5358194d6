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
    scalar (shape ``()``) ``epsilon``. ``bn_beta_{i}`` and ``bn_moving_mean_{i}``
    (shape ``(out_channels,)``) may be stored too; the graph does not use them.

``sources_{i}`` (optional; residual and branching CNNs)
    An int array ``(m, 2)`` of ``(producer, start)`` rows: convolution ``i``
    reads the sum/concatenation of the outputs of kernels ``producer < i``,
    whose channels feed its input channels ``start ...``
    (:mod:`clusterability.core.dag_graph`). A file with any ``sources_`` holds only
    convolution kernels, and a kernel without ``sources_`` reads the network's
    input (so it has as many input channels as ``kernel_0``). Consecutive
    kernels need not chain then, but every input channel of a wired
    convolution must be fed by at least one producer, and no row may repeat.

Every array is real numbers (a float or integer dtype) and every array the
graph uses is finite. ``{i}`` is a layer number in ASCII decimal without
leading zeros (``kernel_10``, not ``kernel_010``); a bias or batch norm needs
its kernel. A member named like a field with a number spelled otherwise
(``kernel_00``, ``kernel_-1``, ``kernel_ 1``, ``kernel_٣`` in Arabic-Indic
digits) is refused, as skipping it would silently drop a layer. Members with
any other name are ignored and never decompressed.

Untrusted files
---------------
Files are read without trusting what they declare, before anything is
allocated: the zip directory's compressed sizes must lie within the file, and
the format's members together may inflate to at most
:data:`MAX_COMPRESSION_RATIO` times the file's size (plus
:data:`COMPRESSION_SLACK`) -- a kernel pruned to 90% compresses about 7:1 and
one pruned to 99% about 60:1, while a zip bomb reaches deflate's 1032:1.
Then each member's ``.npy`` header is read on its own (version 1.0 or 2.0, at
most 10,000 bytes) and its dtype, shape and size are checked against the caps
of :mod:`clusterability.limits` -- every dimension at most
:data:`~clusterability.limits.MAX_DIMENSION` (zero-size arrays included), at
most :data:`~clusterability.limits.MAX_TENSOR_BYTES` per array and
:data:`~clusterability.limits.MAX_TOTAL_BYTES` in all -- and against the
member's size in the zip directory (the header's shape must account for exactly
the bytes that follow it). Only then are the arrays read, each into a buffer of
its declared size, and never past it; the zip CRC is checked at the end.

Validation
----------
:class:`NetworkWeights` validates every network it is built with, whichever
reader built it (Keras, PyTorch, ONNX, torchvision, ``.npz``): every kernel is
a real, finite, non-empty array within the caps; the kernels chain (or the
``sources`` wiring is valid, as above); every batch norm's gamma and moving
variance are finite with one value per output channel, the variance is never
negative, epsilon is one finite number >= 0 and ``variance + epsilon > 0``.
Each refusal is one :class:`~clusterability.errors.InputError` line naming the
layer ("batch norm of layer 2 has a negative moving variance").

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

import io
import os
import re
import struct
import tokenize
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

from clusterability import limits
from clusterability.atomic import write_npz
from clusterability.core.network import BatchNorm, NetworkWeights, as_array, check_kernel_rank, dtype_problem, one_line
from clusterability.errors import InputError

#: Most the format's members may inflate to, as a multiple of the ``.npz`` file's size (a zip-bomb bound).
MAX_COMPRESSION_RATIO = 100
#: Bytes the members may inflate to beyond that ratio (tiny files of zeros, e.g. zero biases).
COMPRESSION_SLACK = 4 * 2**20

#: The fields of the format, each stored as ``<field>_<layer number>``.
FIELDS = ("kernel", "bias", "sources", "bn_gamma", "bn_moving_variance", "bn_epsilon", "bn_beta", "bn_moving_mean")
_NAME = re.compile(rf"({'|'.join(FIELDS)})_(.*)", re.DOTALL)
_INDEX = re.compile(r"0|[1-9][0-9]*")  # ASCII only: re's \d and int() accept every script's digits
#: Readers of the ``.npy`` header after its magic string, by format version, and the size of its length field.
_HEADER_READERS = {(1, 0): (npy_format.read_array_header_1_0, "<H"), (2, 0): (npy_format.read_array_header_2_0, "<I")}
_MAX_HEADER = 10_000  # numpy's own bound on a header it parses; np.save writes about 128 bytes
_CHUNK = 2**20


# ---------------------------------------------------------------------------- names of the format


def _format_name(name: str, source: str) -> tuple[str, int] | None:
    """``(field, layer)`` of a member of the format, None for a name the format does not define.

    Raises for a field with its layer number spelled another way (``kernel_00``, ``kernel_٣``).
    """
    match = _NAME.fullmatch(name)
    if match is None:
        return None
    fieldname, index = match.groups()
    if _INDEX.fullmatch(index):
        return fieldname, int(index)
    if any(c.isdigit() for c in index) and all(c.isdigit() or c.isspace() or c in "+-" for c in index):
        raise InputError(
            f"{source}: {name!r} is not a name of the format: layer numbers are ASCII decimals without leading "
            f"zeros ({fieldname}_0, {fieldname}_1, ...); rename it"
        )
    return None


def _format_names(names: list[str], source: str) -> dict[tuple[str, int], str]:
    """The names of the format among ``names`` by ``(field, layer)``: kernels numbered ``0 ... L-1``, and
    every other field for a layer that has a kernel."""
    found: dict[tuple[str, int], str] = {}
    for name in names:
        key = _format_name(name, source)
        if key is None:
            continue
        if key in found:
            raise InputError(f"{source}: {key[0]}_{key[1]} is stored twice; keep one")
        found[key] = name
    indices = sorted(i for f, i in found if f == "kernel")
    if not indices:
        raise InputError(f"{source}: no kernel_0 found; expected kernel_0 ... kernel_{{L-1}}")
    if indices != list(range(len(indices))):
        missing = next(i for i in range(len(indices) + 1) if i not in set(indices))
        raise InputError(f"{source}: missing kernel_{missing}; kernels must be numbered 0 ... L-1")
    orphan = next(((f, i) for f, i in found if i >= len(indices)), None)
    if orphan is not None:
        raise InputError(
            f"{source}: {orphan[0]}_{orphan[1]} is stored but there is no kernel_{orphan[1]} (the kernels are "
            f"kernel_0 ... kernel_{len(indices) - 1}); a kernel is missing or the name is wrong"
        )
    return found


# ---------------------------------------------------------------------------- the .npz file


@dataclass(frozen=True)
class _NpyHeader:
    """What a member's ``.npy`` header declares: its array, and where the array's bytes start."""

    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    offset: int
    nbytes: int


def _check_directory(members: dict[str, zipfile.ZipInfo], file_size: int, source: str) -> None:
    """Raise unless the zip directory's sizes for ``members`` fit a file of ``file_size`` bytes, and the
    members inflate to at most :data:`MAX_COMPRESSION_RATIO` times it (plus :data:`COMPRESSION_SLACK`)."""
    for name, info in members.items():
        if info.flag_bits & 0x1:
            raise InputError(f"{source}: {name} is encrypted; save the weights with numpy.savez")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise InputError(
                f"{source}: {name} uses zip compression method {info.compress_type}; "
                "save the weights with numpy.savez or numpy.savez_compressed"
            )
        if info.header_offset + info.compress_size > file_size:
            raise InputError(
                f"{source}: the zip directory says {name} holds {info.compress_size:,} compressed bytes from "
                f"offset {info.header_offset:,}, past the file's {file_size:,} bytes; the file is truncated or corrupt"
            )
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise InputError(f"{source}: the zip directory gives {name} two sizes; the file is corrupt")
    inflated = sum(info.file_size for info in members.values())
    if inflated > MAX_COMPRESSION_RATIO * file_size + COMPRESSION_SLACK:
        raise InputError(
            f"{source}: the zip directory says the arrays inflate to {inflated:,} bytes, over "
            f"{MAX_COMPRESSION_RATIO} times the file's {file_size:,} bytes (a zip bomb or a corrupt directory); "
            "save the weights with numpy.savez"
        )


def _read_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, source: str) -> _NpyHeader:
    """The ``.npy`` header of member ``name``, checked against the caps and the member's size."""
    what = f"{source}: {name}"
    try:
        with archive.open(info) as stream:
            version = npy_format.read_magic(stream)
            if version not in _HEADER_READERS:
                raise InputError(f"{what} is .npy format version {version}; save it with numpy.savez")
            reader, length_format = _HEADER_READERS[version]
            length_field = stream.read(struct.calcsize(length_format))
            if len(length_field) != struct.calcsize(length_format):
                raise InputError(f"{what}: its .npy header is truncated; the file is corrupt")
            length = struct.unpack(length_format, length_field)[0]
            if length > _MAX_HEADER:
                raise InputError(f"{what}: its .npy header claims {length:,} bytes, over {_MAX_HEADER:,}")
            text = stream.read(length)
            if len(text) != length:
                raise InputError(f"{what}: its .npy header is truncated; the file is corrupt")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # headers written by Python 2 parse with a warning
            shape, fortran_order, dtype = reader(io.BytesIO(length_field + text), max_header_size=_MAX_HEADER)
    except (ValueError, TypeError, SyntaxError, tokenize.TokenError, KeyError, RecursionError, OverflowError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{what} has no valid .npy header ({one_line(exc)}); save it with numpy.savez") from None
    problem = dtype_problem(dtype)
    if problem is not None:
        raise InputError(f"{what} {problem}")
    nbytes = limits.check_declared_shape(shape, dtype.itemsize, what)
    offset = npy_format.MAGIC_LEN + len(length_field) + length
    if offset + nbytes != info.file_size:
        raise InputError(
            f"{what}: its .npy header declares shape {tuple(shape)} of {dtype} ({nbytes:,} bytes) but the member "
            f"holds {info.file_size - offset:,} bytes after the header; the file is corrupt"
        )
    return _NpyHeader(tuple(int(n) for n in shape), bool(fortran_order), dtype, offset, nbytes)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, header: _NpyHeader, what: str) -> np.ndarray:
    """The array of member ``name``: exactly the bytes its checked header declares, read into its own buffer."""
    array = np.empty(header.nbytes // header.dtype.itemsize, dtype=header.dtype)
    buffer = memoryview(array.view(np.uint8))
    with archive.open(info) as stream:
        if len(stream.read(header.offset)) != header.offset:
            raise InputError(f"{what}: the member ends inside its header; the file is corrupt")
        done = 0
        while done < header.nbytes:
            got = stream.readinto(buffer[done : done + _CHUNK])
            if not got:
                raise InputError(
                    f"{what}: the member ends after {done:,} of {header.nbytes:,} bytes; the file is corrupt"
                )
            done += got
        if stream.read(1):  # also where the zip's CRC is checked
            raise InputError(f"{what}: the member holds more bytes than its header declares; the file is corrupt")
    return array.reshape(header.shape, order="F" if header.fortran_order else "C")


def load_weights(path: str | os.PathLike[str]) -> NetworkWeights:
    """Read a network's weights from an ``.npz`` file (format in the module docstring; untrusted)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a weights file")
    if not path.exists():
        raise InputError(f"{path}: no such weights file")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file; expected a .npz weights file")
    file_size = path.stat().st_size
    if file_size == 0:
        raise InputError(f"{path}: the weights file is empty")
    if not zipfile.is_zipfile(path):
        # np.load would return a bare array for a .npy file, or try to unpickle other files.
        raise InputError(f"{path}: not a .npz file (not a zip archive); save the kernels with numpy.savez")
    source = str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = [info.filename.removesuffix(".npy") for info in infos]
            found = _format_names(names, source)
            wanted = set(found.values())
            members = {name: info for name, info in zip(names, infos) if name in wanted}
            _check_directory(members, file_size, source)
            headers = {name: _read_header(archive, info, name, source) for name, info in members.items()}
            limits.check_total_bytes(sum(h.nbytes for h in headers.values()), source)
            arrays = {
                name: _read_member(archive, info, headers[name], f"{source}: {name}") for name, info in members.items()
            }
    except InputError:
        raise
    except (zipfile.BadZipFile, zlib.error, struct.error, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise InputError(f"{source}: not a readable .npz file ({one_line(exc)})") from None
    return weights_from_arrays(arrays, source=source)


def weights_from_arrays(arrays: Mapping[str, Any], source: str = "<memory>") -> NetworkWeights:
    """Build :class:`NetworkWeights` from a mapping of ``.npz`` names to arrays (other names are ignored)."""
    found = _format_names(list(arrays), source)
    values = {key: as_array(arrays[name], name, source) for key, name in found.items()}
    for (fieldname, i), value in values.items():
        problem = dtype_problem(value.dtype)
        if problem is not None:
            raise InputError(f"{source}: {fieldname}_{i} {problem}")
    n = sum(1 for fieldname, _ in values if fieldname == "kernel")
    kernels = tuple(values["kernel", i] for i in range(n))
    sources = tuple(values.get(("sources", i)) for i in range(n))
    wired = any(s is not None for s in sources)
    for i, kernel in enumerate(kernels):
        check_kernel_rank(kernel, i, source, wired)
    biases = tuple(values.get(("bias", i)) for i in range(n))
    batch_norms = tuple(_batch_norm(values, i, kernels[i].shape[-1], source) for i in range(n))
    return NetworkWeights(kernels, biases, batch_norms, source, sources)


def _batch_norm(values: dict[tuple[str, int], np.ndarray], i: int, n_out: int, source: str) -> BatchNorm | None:
    """The batch norm of layer ``i`` from its ``bn_*_{i}`` fields (values checked by :func:`validate_batch_norm`)."""
    fields = ("bn_gamma", "bn_moving_variance", "bn_epsilon", "bn_beta", "bn_moving_mean")
    present = {f: values[f, i] for f in fields if (f, i) in values}
    if not present:
        return None
    missing = next((f for f in fields[:3] if f not in present), None)
    if missing is not None:
        raise InputError(f"{source}: batch norm of layer {i} is missing {missing}_{i}")
    for f, value in present.items():
        expected = () if f == "bn_epsilon" else (n_out,)
        if value.shape != expected:
            what = "a scalar (shape ())" if f == "bn_epsilon" else f"shape ({n_out},), one per output of kernel_{i}"
            raise InputError(f"{source}: {f}_{i} has shape {value.shape}; expected {what}")
    return BatchNorm(
        gamma=present["bn_gamma"].astype(np.float64),
        moving_variance=present["bn_moving_variance"].astype(np.float64),
        epsilon=float(present["bn_epsilon"]),
        beta=present.get("bn_beta"),
        moving_mean=present.get("bn_moving_mean"),
    )


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
