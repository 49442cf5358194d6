"""PyTorch ``state_dict`` files as :class:`~clusterability.weights.NetworkWeights`, without torch.

Two files hold a state dict (parameter name -> tensor):

``.safetensors``
    read with the ``safetensors`` package (:func:`read_safetensors`). The
    format keeps no order of the tensors, so layers are put in *natural* order
    of their module names (``features.2`` before ``features.10``), convolutions
    before dense layers; pass the forward order explicitly (``layers``) when the
    names do not sort that way.
``.pt`` / ``.pth``
    ``torch.save(model.state_dict(), path)`` (the zip format of torch >= 1.6),
    read by :func:`read_torch_zip` with a *restricted* unpickler: the only
    globals it resolves are the ordered dict and torch's tensor-rebuilding
    functions and storage types, as ``torch.load(weights_only=True)``; any other
    global (a pickled model class, ``os.system``) is refused, so an untrusted
    file cannot run code. The dict's order is the modules' registration order.

:func:`weights_from_state_dict` maps the tensors to layers. A module (the
name before the last dot) with a ``weight`` is a layer: 4-d ``(out, in, kh,
kw)`` is a convolution (stored transposed to ``(kh, kw, in, out)``), 2-d
``(out, in)`` a linear layer (stored as ``(in, out)``); a module with
``running_var`` is a batch norm (``weight`` = gamma, eps 1e-5, PyTorch's
default) acting on the layer before it. Anything else with parameters
(attention's ``in_proj_weight``, an LSTM's ``weight_ih_l0``, embeddings) is an
:class:`~clusterability.errors.InputError` naming the module.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError
from .weights import BatchNorm, NetworkWeights

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


def weights_from_state_dict(
    state: Mapping[str, np.ndarray],
    source: str = "<state dict>",
    layers: Sequence[str] | None = None,
    ordered: bool = True,
) -> NetworkWeights:
    """The dense and convolution layers of a state dict, in forward order (see the module docstring).

    ``ordered``: the dict is in the modules' order (a ``.pt`` file); otherwise
    they are sorted naturally, convolutions first. ``layers`` names the layer
    modules in forward order instead (batch norms still follow their layer).
    """
    modules = _modules(state, source)
    for module, params in modules.items():
        if "running_var" in params:
            extra = sorted(set(params) - _BN_KEYS)
        elif "weight" in params:
            extra = sorted(set(params) - _LAYER_KEYS)
        else:
            extra = sorted(params)
        if extra:
            label = module or "<top level>"
            raise InputError(
                f"{source}: module {label!r} has parameters {', '.join(extra)}; only Linear, Conv2d and "
                "BatchNorm layers can be mapped to a graph (attention, recurrent and embedding layers cannot)"
            )
    kinds = {
        m: "bn" if "running_var" in p else "conv" if p["weight"].ndim == 4 else "dense" for m, p in modules.items()
    }
    for module, kind in kinds.items():
        if kind != "bn" and modules[module]["weight"].ndim not in (2, 4):
            raise InputError(
                f"{source}: module {module!r} has a {modules[module]['weight'].ndim}-d weight; "
                "only Linear (2-d) and Conv2d (4-d) layers are supported"
            )
    order = list(modules)
    if layers is not None:
        unknown = [m for m in layers if kinds.get(m) not in ("conv", "dense")]
        if unknown:
            raise InputError(f"{source}: {unknown[0]!r} is not a Linear or Conv2d module of the file")
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
            if not kernels or norms[-1] is not None:
                continue  # normalizes the inputs, or a second norm: not part of the graph
            n_out = kernels[-1].shape[-1]
            if params["running_var"].shape != (n_out,):
                raise InputError(
                    f"{source}: batch norm {module!r} normalizes {params['running_var'].shape[0]} channels "
                    f"but the layer before it, {names[-1]!r}, has {n_out} outputs; give the layer order"
                )
            norms[-1] = BatchNorm(
                gamma=np.asarray(params.get("weight", np.ones(n_out)), dtype=np.float64),
                moving_variance=np.asarray(params["running_var"], dtype=np.float64),
                epsilon=TORCH_BN_EPSILON,
                beta=params.get("bias"),
                moving_mean=params.get("running_mean"),
            )
            continue
        weight = params["weight"]
        kernels.append(weight.transpose(2, 3, 1, 0) if weight.ndim == 4 else weight.T)
        biases.append(params.get("bias"))
        norms.append(None)
        names.append(module)
    if not kernels:
        raise InputError(f"{source}: no Linear or Conv2d weights found")
    try:
        return NetworkWeights(tuple(kernels), tuple(biases), tuple(norms), source)
    except InputError as exc:
        hint = "" if layers is not None else "; give the layers in forward order (--layers)"
        raise InputError(f"{exc} (layers in the order read: {', '.join(names)}){hint}") from None


# ---------------------------------------------------------------------------- files


def read_safetensors(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The tensors of a ``.safetensors`` file as numpy arrays (needs the ``safetensors`` package)."""
    try:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file
    except ImportError:
        raise InputError(
            f"{path}: reading .safetensors needs the safetensors package; pip install safetensors"
        ) from None
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable .safetensors file ({exc})") from None


_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    """Stands for a ``torch.<Type>Storage`` class: it only names the element type."""

    def __init__(self, name: str) -> None:
        self.dtype = np.dtype(_DTYPES[name])


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple, stride: tuple, *_: Any) -> np.ndarray:
    """``torch._utils._rebuild_tensor_v2`` for numpy: a strided view of the storage, copied."""
    item = storage.itemsize
    if not size:
        return np.array(storage[offset])
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if offset < 0 or last >= storage.size or min(stride) < 0:
        raise pickle.UnpicklingError("tensor extends beyond its storage")
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * item for s in stride), writeable=False
    )
    return np.array(view)


def _rebuild_parameter(data: np.ndarray, *_: Any) -> np.ndarray:
    return data


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the ordered dict and torch's tensor globals; storages come from the zip."""

    def __init__(self, file: Any, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(file)
        self._archive, self._prefix = archive, prefix

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refuses the global {module}.{name}")

    def persistent_load(self, pid: Any) -> np.ndarray:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        _, kind, key, _location, numel = pid
        if not isinstance(kind, _StorageType):
            raise pickle.UnpicklingError(f"unsupported storage {kind!r}")
        raw = self._archive.read(f"{self._prefix}data/{key}")
        data = np.frombuffer(raw, dtype=kind.dtype.newbyteorder("<"))
        if data.size < int(numel):
            raise pickle.UnpicklingError(f"storage {key} holds {data.size} values, not {numel}")
        return data.astype(kind.dtype, copy=False)


def read_torch_zip(path: str | os.PathLike[str]) -> OrderedDict[str, np.ndarray]:
    """The state dict saved by ``torch.save(model.state_dict(), path)``, as numpy arrays, without torch."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise InputError(
            f"{path}: not a zip-format torch file (torch >= 1.6 writes one); re-save it with a recent torch "
            "or as .safetensors"
        )
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise InputError(f"{path}: no <archive>/data.pkl inside; not a torch.save file")
        prefix = pickles[0][: -len("data.pkl")]
        with archive.open(pickles[0]) as fh:
            try:
                state = _RestrictedUnpickler(fh, archive, prefix).load()
            except (pickle.UnpicklingError, KeyError, EOFError, ValueError, TypeError, AttributeError) as exc:
                raise InputError(f"{path}: cannot read it as a plain state dict ({exc})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):  # a checkpoint around it
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, np.ndarray) for v in state.values()):
        raise InputError(f"{path}: holds no state dict of tensors; save model.state_dict(), not the model")
    return OrderedDict((str(k), v) for k, v in state.items())
