"""PyTorch ``state_dict`` files as :class:`~clusterability.core.network.NetworkWeights`, without torch.

Two files hold a state dict (parameter name -> tensor):

``.safetensors``
    parsed here (:func:`read_safetensors`): an 8-byte little-endian header
    length, a JSON header giving each tensor's ``dtype``, ``shape`` and
    ``data_offsets``, then the tensors' bytes. The format keeps no order of the
    tensors, so layers are put in *natural* order of their module names
    (``features.2`` before ``features.10``), convolutions before dense layers;
    pass the forward order explicitly (``layers``) when the names do not sort
    that way. Dtypes read: :data:`SAFETENSORS_DTYPES`.
``.pt`` / ``.pth``
    ``torch.save(model.state_dict(), path)`` (the zip format of torch >= 1.6),
    read by :func:`read_torch_zip` with a *restricted* unpickler: the only
    globals it resolves are the ordered dict and torch's tensor-rebuilding
    functions and storage types (:data:`TORCH_STORAGES`), as
    ``torch.load(weights_only=True)``; any other global (a pickled model class,
    ``os.system``) is refused, so an untrusted file cannot run code. Before
    unpickling, the pickle is scanned with ``pickletools.genops`` (which runs
    nothing): only the opcodes ``torch.save`` writes, and memo indices an
    earlier opcode stored, are accepted. The archive's ``byteorder`` record is
    honoured. The dict's order is the modules' registration order. The legacy
    (pre-1.6, non-zip) format and float8 tensors (``_rebuild_tensor_v3`` of an
    untyped storage) are refused.

Both files are untrusted input: every size a file *declares* (a header length,
a tensor's shape, a storage's length, a view's offset and strides, a zip
member's size, a pickle's memo index) is checked against the bytes the file
holds and against the caps of :mod:`clusterability.limits` before anything is
read or allocated, and anything malformed is one
:class:`~clusterability.errors.InputError` line naming the file. bfloat16 and
float8 values are upcast exactly to float32 (with ``ml_dtypes``).

:func:`weights_from_state_dict` maps the tensors to layers. A module (the
name before the last dot) with a ``weight`` is a layer: 4-d ``(out, in, kh,
kw)`` is a convolution (stored transposed to ``(kh, kw, in, out)``), 2-d
``(out, in)`` a linear layer (stored as ``(in, out)``); a module with
``running_var`` is a batch norm (``weight`` = gamma, eps 1e-5, PyTorch's
default) acting on the layer before it. Anything else with parameters
(attention's ``in_proj_weight``, an LSTM's ``weight_ih_l0``, embeddings) is an
:class:`~clusterability.errors.InputError` naming the module. A layer order
given explicitly (``--layers``) names every Linear and Conv2d module of the
file exactly once.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import pickletools
import re
import struct
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clusterability.core.network import BatchNorm, NetworkWeights
from clusterability.errors import InputError
from clusterability.limits import check_declared_shape, check_total_bytes

#: PyTorch's ``BatchNorm*d`` default epsilon (a state dict does not store it).
TORCH_BN_EPSILON = 1e-5
_BN_KEYS = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
_LAYER_KEYS = {"weight", "bias"}


def _natural_key(name: str) -> list[tuple[int, int | str]]:
    """Sort key of a dotted module name with numbers compared as numbers."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"[.]", name)]


def _modules(state: Mapping[str, np.ndarray], source: str) -> OrderedDict[str, dict[str, np.ndarray]]:
    modules: OrderedDict[str, dict[str, np.ndarray]] = OrderedDict()
    for name, value in state.items():
        module, _, param = name.rpartition(".")
        modules.setdefault(module, {})[param] = np.asarray(value)
    return modules


def _check_modules(modules: Mapping[str, dict[str, np.ndarray]], source: str) -> dict[str, str]:
    """Each module's kind (``"conv"``, ``"dense"`` or ``"bn"``), or an :class:`InputError` naming one that is none."""
    kinds: dict[str, str] = {}
    for module, params in modules.items():
        label = module or "<top level>"
        if "running_var" in params:
            extra, kind = sorted(set(params) - _BN_KEYS), "bn"
        elif "weight" in params:
            extra, kind = sorted(set(params) - _LAYER_KEYS), {4: "conv", 2: "dense"}.get(params["weight"].ndim)
        else:
            extra, kind = sorted(params), None
        if extra:
            raise InputError(
                f"{source}: module {label!r} has parameters {', '.join(extra)}; only Linear, Conv2d and "
                "BatchNorm layers can be mapped to a graph (attention, recurrent and embedding layers cannot)"
            )
        if kind is None:
            raise InputError(
                f"{source}: module {label!r} has a {params['weight'].ndim}-d weight; "
                "only Linear (2-d) and Conv2d (4-d) layers are supported"
            )
        kinds[module] = kind
    return kinds


def _check_layer_order(layers: Sequence[str], kinds: Mapping[str, str], source: str) -> None:
    """``--layers`` names every Linear and Conv2d module of the file, each once, and nothing else."""
    seen: set[str] = set()
    for m in layers:
        if kinds.get(m) not in ("conv", "dense"):
            raise InputError(f"{source}: {m!r} is not a Linear or Conv2d module of the file (--layers)")
        if m in seen:
            raise InputError(f"{source}: --layers names {m!r} twice; name each Linear and Conv2d module once")
        seen.add(m)
    left_out = [m for m, kind in kinds.items() if kind != "bn" and m not in seen]
    if left_out:
        kind = "Conv2d" if kinds[left_out[0]] == "conv" else "Linear"
        raise InputError(
            f"{source}: --layers leaves out {left_out[0]!r} ({kind}); list every Linear and Conv2d module "
            f"of the file in forward order ({len(left_out)} left out)"
        )


def _check_chain(names: Sequence[str], kernels: Sequence[np.ndarray], source: str, hint: str) -> None:
    """Consecutive layers chain (outputs of one = inputs of the next); conv -> dense is a flatten."""
    for i in range(1, len(kernels)):
        prev, cur = kernels[i - 1], kernels[i]
        if prev.size == 0 or cur.size == 0:
            continue  # an empty layer: NetworkWeights says so, not that the order is wrong
        if prev.ndim == 2 and cur.ndim == 4:
            raise InputError(
                f"{source}: Conv2d {names[i]!r} follows Linear {names[i - 1]!r}; "
                f"only Conv2d -> Linear transitions are supported{hint}"
            )
        if not (prev.ndim == 4 and cur.ndim == 2) and prev.shape[-1] != cur.shape[-2]:
            raise InputError(
                f"{source}: {names[i - 1]!r} has {prev.shape[-1]} outputs but the next layer read, "
                f"{names[i]!r}, has {cur.shape[-2]} inputs{hint}"
            )


def _batch_norm(module: str, params: Mapping[str, np.ndarray], layer: str, n_out: int, source: str) -> BatchNorm:
    """The batch norm ``module`` on the ``n_out`` outputs of ``layer``.

    NetworkWeights checks its values (shapes, finite, variance >= 0); a variance of the wrong length here means the
    norm follows another layer than the one read before it.
    """
    if params["running_var"].shape != (n_out,):
        raise InputError(
            f"{source}: batch norm {module!r} has running_var of shape {params['running_var'].shape} but the "
            f"layer before it, {layer!r}, has {n_out} outputs; give the layer order"
        )
    return BatchNorm(
        gamma=np.asarray(params.get("weight", np.ones(n_out)), dtype=np.float64),
        moving_variance=np.asarray(params["running_var"], dtype=np.float64),
        epsilon=TORCH_BN_EPSILON,
        beta=params.get("bias"),
        moving_mean=params.get("running_mean"),
    )


def weights_from_state_dict(
    state: Mapping[str, np.ndarray],
    source: str = "<state dict>",
    layers: Sequence[str] | None = None,
    ordered: bool = True,
) -> NetworkWeights:
    """The dense and convolution layers of a state dict, in forward order (see the module docstring).

    ``ordered``: the dict is in the modules' order (a ``.pt`` file); otherwise
    they are sorted naturally, convolutions first. ``layers`` names the layer
    modules in forward order instead, every one of them exactly once (batch
    norms still follow their layer).
    """
    modules = _modules(state, source)
    kinds = _check_modules(modules, source)
    order = list(modules)
    if layers is not None:
        _check_layer_order(layers, kinds, source)
        order = list(layers)
        # Each batch norm follows its layer, as in the file's (natural) order.
        natural = sorted(modules, key=_natural_key) if not ordered else list(modules)
        for i, m in enumerate(natural):
            if kinds[m] == "bn" and i and natural[i - 1] in order:
                order.insert(order.index(natural[i - 1]) + 1, m)
    elif not ordered:
        order = sorted(modules, key=lambda m: (kinds[m] == "dense", _natural_key(m)))
    kernels: list[np.ndarray] = []
    biases: list[np.ndarray | None] = []
    norms: list[BatchNorm | None] = []
    names: list[str] = []
    for module in order:
        params = modules[module]
        if kinds[module] == "bn":
            if kernels and norms[-1] is None:  # else it normalizes the inputs, or is a second norm: not in the graph
                norms[-1] = _batch_norm(module, params, names[-1], kernels[-1].shape[-1], source)
            continue
        weight = params["weight"]
        kernels.append(weight.transpose(2, 3, 1, 0) if weight.ndim == 4 else weight.T)
        biases.append(params.get("bias"))
        norms.append(None)
        names.append(module)
    if not kernels:
        raise InputError(f"{source}: no Linear or Conv2d weights found")
    hint = (
        "; check the order given (--layers)" if layers is not None else "; give the layers in forward order (--layers)"
    )
    _check_chain(names, kernels, source, hint)
    try:
        return NetworkWeights(tuple(kernels), tuple(biases), tuple(norms), source)
    except InputError as exc:  # a value (NaN weights, a negative variance), not the order: name the layers
        raise InputError(f"{exc} (layers 0, 1, ... are {', '.join(map(repr, names))})") from None


# ---------------------------------------------------------------------------- values

#: Element types of ``ml_dtypes`` (not numpy's own): read, then upcast exactly to float32.
_UPCAST = ("bfloat16", "float8_e4m3fn", "float8_e5m2")
_ITEMSIZE = {"bool": 1, "bfloat16": 2, "float8_e4m3fn": 1, "float8_e5m2": 1}


def _itemsize(dtype: str) -> int:
    """Bytes per stored element of ``dtype`` (a numpy or ``ml_dtypes`` name)."""
    return _ITEMSIZE.get(dtype) or np.dtype(dtype).itemsize


def _read_itemsize(dtype: str) -> int:
    """Bytes per element once read (bfloat16 and float8 become float32)."""
    return 4 if dtype in _UPCAST else _itemsize(dtype)


def _decode(raw: bytearray, dtype: str, big_endian: bool, source: str) -> np.ndarray:
    """Flat values of ``dtype`` stored in ``raw`` (little- or big-endian), as a native array.

    bfloat16 and float8 are upcast exactly to float32; booleans are nonzero bytes.
    """
    width = _itemsize(dtype)
    words = np.frombuffer(raw, dtype=np.uint8 if width == 1 else f"{'>' if big_endian else '<'}u{width}")
    words = words.astype(words.dtype.newbyteorder("="), copy=False)
    if dtype == "bool":
        return words != 0
    if dtype not in _UPCAST:
        return words.view(dtype)
    try:
        import ml_dtypes
    except ImportError:
        raise InputError(
            f"{source}: reading {dtype} tensors needs the ml_dtypes package; pip install clusterability[formats]"
        ) from None
    return words.view(getattr(ml_dtypes, dtype)).astype(np.float32)


# ---------------------------------------------------------------------------- .safetensors

#: The ``.safetensors`` dtypes read, and the numpy (or ``ml_dtypes``) type of each.
SAFETENSORS_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U64": "uint64",
    "U32": "uint32",
    "U16": "uint16",
    "U8": "uint8",
    "BOOL": "bool",
}


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"the key {next(k for k in keys if keys.count(k) > 1)!r} appears twice")
    return dict(pairs)


def _one_line(value: Any, limit: int = 200) -> str:
    """``str(value)`` on one line, cut to ``limit`` characters (what a file holds may contain newlines); an
    exception without a message by its type."""
    text = " ".join(str(value).split())[:limit]
    return text or type(value).__name__


def _is_int(value: Any) -> bool:
    return type(value) is int  # not bool, not float


def _safetensors_entries(header: Any, buffer: int, path: Path) -> dict[str, tuple[str, tuple[int, ...], int, int]]:
    """``name -> (dtype, shape, begin, end)`` of every tensor, checked against the ``buffer`` bytes after the header."""
    if not isinstance(header, dict):
        raise InputError(f"{path}: the JSON header is not an object; not a .safetensors file")
    entries: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
    total = 0
    for name, entry in header.items():
        what = f"{path}: tensor {name!r}"
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise InputError(f"{path}: __metadata__ is not a map of strings to strings")
            continue
        if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
            raise InputError(f"{what} is not a {{dtype, shape, data_offsets}} entry; not a .safetensors file")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in SAFETENSORS_DTYPES:
            raise InputError(
                f"{what} has dtype {_one_line(repr(dtype), 40)}, which is not read; the dtypes read are "
                f"{', '.join(SAFETENSORS_DTYPES)}"
            )
        dtype = SAFETENSORS_DTYPES[dtype]
        if not isinstance(shape, list) or not all(_is_int(n) for n in shape):
            raise InputError(f"{what} has shape {_one_line(shape, 80)}, not a list of integers")
        total += check_declared_shape(shape, _read_itemsize(dtype), what)
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
            raise InputError(f"{what} has data_offsets {_one_line(offsets, 80)}, not a [begin, end] pair of integers")
        begin, end = offsets
        nbytes = math.prod(shape) * _itemsize(dtype)
        if not 0 <= begin <= end <= buffer:
            raise InputError(f"{what} has data_offsets [{begin}, {end}] outside the {buffer:,} data bytes of the file")
        if end - begin != nbytes:
            raise InputError(
                f"{what} has data_offsets [{begin}, {end}] ({end - begin:,} bytes) but its {entry['dtype']} shape "
                f"{tuple(shape)} takes {nbytes:,} bytes"
            )
        entries[name] = (dtype, tuple(shape), begin, end)
    check_total_bytes(total, str(path))
    pos = 0  # the tensors must index the data bytes without holes or overlaps, as the format requires
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda e: (e[1][2], e[1][3])):
        if begin != pos:
            gap = "overlaps the tensor before it" if begin < pos else f"leaves bytes {pos:,}-{begin:,} unindexed"
            raise InputError(f"{path}: tensor {name!r} {gap}; not a valid .safetensors file")
        pos = end
    if pos != buffer:
        raise InputError(f"{path}: the {buffer - pos:,} bytes after the last tensor are unindexed; not .safetensors")
    return entries


def read_safetensors(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The tensors of a ``.safetensors`` file as numpy arrays, every declared size checked before it is read."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(8)
            if len(head) < 8:
                raise InputError(f"{path}: {size} bytes, too short for the 8-byte header length of a .safetensors file")
            n = int.from_bytes(head, "little")
            if n > size - 8:
                raise InputError(
                    f"{path}: declares a {n:,}-byte header but {size - 8:,} bytes follow; truncated or not .safetensors"
                )
            check_declared_shape((n,), 1, f"{path}: the JSON header")
            try:
                header = json.loads(fh.read(n).decode("utf-8"), object_pairs_hook=_unique_keys)
            except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
                raise InputError(
                    f"{path}: the JSON header is unreadable ({_one_line(exc)}); not .safetensors"
                ) from None
            entries = _safetensors_entries(header, size - 8 - n, path)
            state: dict[str, np.ndarray] = {}
            for name, (dtype, shape, begin, end) in entries.items():
                raw = bytearray(end - begin)
                fh.seek(8 + n + begin)
                if fh.readinto(raw) != len(raw):
                    raise InputError(f"{path}: tensor {name!r} is cut short; the file changed while it was read")
                state[name] = _decode(raw, dtype, False, str(path)).reshape(shape)
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    return state


# ---------------------------------------------------------------------------- .pt (torch's zip format)

#: The ``torch.<Name>Storage`` types read, and the numpy (or ``ml_dtypes``) type of each.
TORCH_STORAGES = {
    "DoubleStorage": "float64",
    "FloatStorage": "float32",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
}

#: The pickle opcodes ``torch.save`` writes for a (nested) dict of tensors, in protocols 2 to 5.
# fmt: off
_PICKLE_OPS = frozenset((
    "PROTO", "FRAME", "STOP", "MARK", "GLOBAL", "STACK_GLOBAL", "BINPERSID", "REDUCE", "BUILD",
    "EMPTY_DICT", "EMPTY_LIST", "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
    "SETITEM", "SETITEMS", "APPEND", "APPENDS", "BINUNICODE", "SHORT_BINUNICODE",
    "BININT", "BININT1", "BININT2", "LONG1", "BINFLOAT", "NEWTRUE", "NEWFALSE", "NONE",
    "BINPUT", "LONG_BINPUT", "MEMOIZE", "BINGET", "LONG_BINGET",
))
# fmt: on
_ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
_CHUNK = 2**20
_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    RuntimeError,
    NotImplementedError,
    ValueError,
    struct.error,
    MemoryError,
    OverflowError,
)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytearray:
    """A zip member's declared ``file_size`` bytes, read in chunks: a lying header cannot inflate past them."""
    name = info.filename
    if info.flag_bits & 0x1:
        raise InputError(f"{path}: member {name!r} is encrypted; torch.save writes no encrypted members")
    if info.compress_type not in _ZIP_METHODS:
        raise InputError(
            f"{path}: member {name!r} is compressed with zip method {info.compress_type}; only stored and deflated "
            "members are read (torch.save stores them)"
        )
    stored = info.compress_type == zipfile.ZIP_STORED
    if info.header_offset + info.compress_size > archive.start_dir or (stored and info.compress_size != info.file_size):
        raise InputError(
            f"{path}: member {name!r} declares {info.file_size:,} bytes in {info.compress_size:,} from byte "
            f"{info.header_offset:,}, which the archive does not hold; the file is corrupt"
        )
    buffer = bytearray()  # grown as the bytes arrive, never allocated from the header's claim alone
    try:
        with archive.open(info) as fh:
            while len(buffer) < info.file_size:
                chunk = fh.read(min(_CHUNK, info.file_size - len(buffer)))
                if not chunk:
                    raise InputError(
                        f"{path}: member {name!r} is cut short at byte {len(buffer):,} of {info.file_size:,}"
                    )
                buffer += chunk
    except InputError:
        raise
    except _READ_ERRORS as exc:
        raise InputError(f"{path}: member {name!r} is unreadable ({_one_line(exc)}); the file is corrupt") from None
    return buffer


def _scan_pickle(data: bytes | bytearray, what: str) -> None:
    """Refuse, without executing anything (``pickletools.genops``), a pickle with opcodes ``torch.save`` does not
    write or memo indices no earlier opcode stored."""
    stored: set[int] = set()
    try:
        for count, (op, arg, pos) in enumerate(pickletools.genops(data)):
            if op.name not in _PICKLE_OPS:
                raise InputError(
                    f"{what} holds the pickle opcode {op.name} at byte {pos}, which torch.save does not write"
                )
            if op.name in ("BINPUT", "LONG_BINPUT"):
                if arg > count:
                    raise InputError(f"{what} stores memo index {arg:,} at byte {pos} after {count} opcodes")
                stored.add(arg)
            elif op.name == "MEMOIZE":
                stored.add(len(stored))
            elif op.name in ("BINGET", "LONG_BINGET") and arg not in stored:
                raise InputError(f"{what} reads memo index {arg:,} at byte {pos}, which was never stored")
    except InputError:
        raise
    except (ValueError, EOFError, struct.error) as exc:
        raise InputError(f"{what} is not a readable pickle ({_one_line(exc)})") from None


class _Frozen:
    """Objects the unpickler hands out refuse pickle's BUILD (``__setstate__``)."""

    __slots__ = ()

    def __setstate__(self, state: Any) -> None:
        raise pickle.UnpicklingError(f"a BUILD opcode on a {type(self).__name__.strip('_')}")


class _StorageType(_Frozen):
    """Stands for a ``torch.<Type>Storage`` class: it only names the element type."""

    __slots__ = ("dtype",)

    def __init__(self, name: str) -> None:
        self.dtype = TORCH_STORAGES[name]


class _Storage(_Frozen):
    """One storage (``data/<key>`` of the archive), read as a flat native array."""

    __slots__ = ("key", "dtype", "values")

    def __init__(self, key: str, dtype: str, values: np.ndarray) -> None:
        self.key, self.dtype, self.values = key, dtype, values


class _Tensor(_Frozen):
    """A tensor rebuilt from a storage: a numpy array."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


def _ints(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(_is_int(n) for n in value):
        raise pickle.UnpicklingError(f"the {what} is a {type(value).__name__}, not a tuple of integers")
    return value


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the ordered dict and torch's tensor globals; storages come from the zip, checked and capped."""

    def __init__(self, data: bytes | bytearray, archive: zipfile.ZipFile, prefix: str, path: Path) -> None:
        super().__init__(io.BytesIO(data))
        self._archive, self._prefix, self._path = archive, prefix, path
        self._members = {info.filename: info for info in archive.infolist()}
        self._big_endian = self._byteorder()
        self._storages: dict[str, _Storage] = {}
        self._total = 0  # bytes of storages read and tensors copied

    def _byteorder(self) -> bool:
        """Whether the archive's ``byteorder`` record says big-endian (absent: little, as torch < 2.1 wrote)."""
        info = self._members.get(f"{self._prefix}byteorder")
        if info is None:
            return False
        if info.file_size > len("little"):
            raise InputError(
                f"{self._path}: the byteorder record is {info.file_size:,} bytes long, not 'little' or 'big'"
            )
        record = bytes(_read_member(self._archive, info, self._path))
        if record not in (b"little", b"big"):
            raise InputError(f"{self._path}: the byteorder record is {record!r}, not 'little' or 'big'")
        return record == b"big"

    def _count(self, nbytes: int) -> None:
        self._total += nbytes
        check_total_bytes(self._total, str(self._path))

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return self._rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in TORCH_STORAGES:
            return _StorageType(name)
        if module.startswith("torch") and (name.endswith("Storage") or name == "_rebuild_tensor_v3"):
            raise InputError(
                f"{self._path}: holds {_one_line(module + '.' + name, 80)} tensors, which are not read; the "
                f"storages read are {', '.join(TORCH_STORAGES)} (save it as .safetensors for float8)"
            )
        raise pickle.UnpicklingError(f"refuses the global {module}.{name}")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unknown persistent id (a {type(pid).__name__})")
        _, kind, key, _location, numel = pid
        if not isinstance(kind, _StorageType) or not isinstance(key, str) or not _is_int(numel):
            raise pickle.UnpicklingError("malformed storage id")
        if key in self._storages:
            storage = self._storages[key]
            if storage.dtype != kind.dtype or storage.values.size != numel:
                raise InputError(f"{self._path}: storage {key!r} is declared twice, differently")
            return storage
        what = f"{self._path}: storage {key!r}"
        if numel < 0:
            raise InputError(f"{what} declares {numel:,} values")
        info = self._members.get(f"{self._prefix}data/{key}")
        if info is None:
            raise InputError(f"{what} has no member {self._prefix + 'data/' + key!r} in the archive")
        nbytes = numel * _itemsize(kind.dtype)
        if info.file_size != nbytes:
            raise InputError(
                f"{what} declares {numel:,} values of {_itemsize(kind.dtype)} bytes ({nbytes:,} bytes) but its member "
                f"holds {info.file_size:,} bytes"
            )
        self._count(numel * _read_itemsize(kind.dtype))  # a storage may hold several tensors: capped by the total
        values = _decode(_read_member(self._archive, info, self._path), kind.dtype, self._big_endian, str(self._path))
        self._storages[key] = storage = _Storage(key, kind.dtype, values)
        return storage

    def _rebuild_tensor(self, storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> _Tensor:
        """``torch._utils._rebuild_tensor_v2`` for numpy: a strided view of the storage, checked to lie inside it."""
        if not isinstance(storage, _Storage) or not _is_int(offset):
            raise pickle.UnpicklingError("a tensor is rebuilt from something other than a storage and an offset")
        size, stride = _ints(size, "tensor size"), _ints(stride, "tensor stride")
        values = storage.values
        what = f"{self._path}: a tensor of storage {storage.key!r}"
        check_declared_shape(size, values.itemsize, what)
        if len(stride) != len(size) or min(stride, default=0) < 0:
            raise InputError(f"{what} has strides {_one_line(stride, 80)} for its size {size}")
        numel = math.prod(size)
        last = offset + sum((n - 1) * s for n, s in zip(size, stride)) if numel else offset - 1
        if offset < 0 or last >= values.size or numel > values.size:
            raise InputError(
                f"{what} (size {size}, stride {_one_line(stride, 80)}, offset {_one_line(offset, 40)}) reads "
                f"beyond the storage's {values.size:,} values"
            )
        if numel == 0:
            return _Tensor(np.zeros(size, values.dtype))
        if offset == 0 and numel == values.size and stride == tuple(math.prod(size[i + 1 :]) for i in range(len(size))):
            return _Tensor(values.reshape(size))  # the whole storage, contiguous: no copy
        self._count(numel * values.itemsize)
        strides = tuple(s * values.itemsize if n > 1 else 0 for n, s in zip(size, stride))
        view = np.lib.stride_tricks.as_strided(values[offset:], shape=size, strides=strides, writeable=False)
        return _Tensor(np.array(view))


def _rebuild_parameter(data: Any, *_: Any) -> Any:
    return data


def _zip_members(path: Path) -> tuple[zipfile.ZipFile, str]:
    """The opened archive and the prefix (``<name>/``) of its ``data.pkl``, its member list checked."""
    if not zipfile.is_zipfile(path):
        raise InputError(
            f"{path}: not a zip-format torch file (torch >= 1.6 writes one; the legacy format is not read); re-save "
            "it with a recent torch or as .safetensors"
        )
    try:
        archive = zipfile.ZipFile(path)
    except _READ_ERRORS as exc:
        raise InputError(f"{path}: not a readable zip archive ({_one_line(exc)})") from None
    names = archive.namelist()
    if len(set(names)) != len(names):
        archive.close()
        twice = next(n for n in names if names.count(n) > 1)
        raise InputError(f"{path}: holds the zip member {twice!r} twice; not a torch.save file")
    pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        archive.close()
        raise InputError(f"{path}: no <archive>/data.pkl inside; not a torch.save file")
    return archive, pickles[0][: -len("data.pkl")]


def _unwrap(state: Any, path: Path) -> OrderedDict[str, np.ndarray]:
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):  # a checkpoint around it
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, _Tensor) for v in state.values()):
        raise InputError(f"{path}: holds no state dict of tensors; save model.state_dict(), not the model")
    bad = next((k for k in state if not isinstance(k, str)), None)
    if bad is not None:
        raise InputError(f"{path}: the state dict has a key of type {type(bad).__name__}, not a parameter name")
    return OrderedDict((k, v.array) for k, v in state.items())


def read_torch_zip(path: str | os.PathLike[str]) -> OrderedDict[str, np.ndarray]:
    """The state dict saved by ``torch.save(model.state_dict(), path)``, as numpy arrays, without torch."""
    path = Path(path)
    archive, prefix = _zip_members(path)
    with archive:
        info = archive.getinfo(f"{prefix}data.pkl")
        what = f"{path}: {info.filename!r}"
        check_declared_shape((info.file_size,), 1, what)  # a pickle of up to MAX_DIMENSION bytes: ~100,000 tensors
        data = _read_member(archive, info, path)
        _scan_pickle(data, what)
        try:
            state = _RestrictedUnpickler(data, archive, prefix, path).load()
        except InputError:
            raise
        except (
            pickle.UnpicklingError,
            KeyError,
            IndexError,
            TypeError,
            AttributeError,
            RecursionError,
            *_READ_ERRORS,
        ) as exc:
            raise InputError(f"{path}: cannot read it as a plain state dict ({_one_line(exc)})") from None
    return _unwrap(state, path)
