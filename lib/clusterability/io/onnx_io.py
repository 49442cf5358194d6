"""ONNX models as :class:`~clusterability.core.network.NetworkWeights` (with the ``onnx`` package, no runtime).

What is read
------------
The layers are the nodes on the *data path*: the tensors are followed from the
graph's one data input (an input that is not an initializer) through their
consumers to the graph's outputs, whatever the order of ``graph.node``. Nodes
off that path -- an unused ``MatMul`` or ``Conv``, a dead branch -- are
ignored, and so are the ``Shape`` computations that feed a ``Reshape``. On the
path:

* ``Conv`` with a constant weight ``(out, in, kh, kw)`` is a convolution,
  stored ``(kh, kw, in, out)``. ``strides``, ``pads``, ``dilations`` and
  ``auto_pad`` change the size of its output maps, not which channels connect
  or how strongly, so they do not change the channel graph (P2 section 1.1) and
  are not read; ``kernel_shape`` must match the weight; ``group`` other than 1
  (a grouped or depthwise convolution, whose channels do not connect
  all-to-all) is refused.
* ``Gemm`` ``alpha * A B + beta * C`` with a constant 2-d ``B`` is the dense
  layer ``alpha * B`` (``B.T`` if ``transB``) with bias ``beta * C``;
  ``transA`` is refused. ``MatMul`` ``x @ W`` with a constant 2-d ``W`` is the
  dense layer ``W``; a weight *before* the input (``W @ x``) is refused.
* ``BatchNormalization`` after a layer is that layer's batch norm (its
  ``epsilon`` honoured; ``training_mode``, which uses the batch's statistics,
  is refused); before the first layer it normalizes the inputs and is ignored.
* ``Mul`` or ``Div`` by a constant (one factor, or one per channel; ``Sub``
  from a constant is a factor of -1) right after a layer or its batch norm is
  folded into the layer's kernel and bias (or the batch norm's gamma and
  beta); after a nonlinearity or reshape it is refused; before the first layer
  it scales the inputs and is ignored.
* element-wise activations, pooling, flattening, reshaping, dropout and the
  adding of a constant (a bias) pass through.

Refused, in one :class:`~clusterability.errors.InputError` line naming the
node: an ``Add``/``Concat``/... of two computed tensors or a tensor feeding two
nodes (a residual or branching network), attention, recurrent and other
unknown operators (and any operator outside the standard domain), and any
attribute of a layer this reader does not know (it may change the weights).

Untrusted files
---------------
A file larger than :data:`PROTOBUF_LIMIT` is refused before it is parsed; it
is parsed with ``load_external_data=False``, and an initializer stored as
external data (a path to another file on disk) is refused. Every initializer
and ``Constant`` tensor is checked -- declared dims against
:mod:`clusterability.limits`, its data type, and the bytes or values present
against those declared -- before ``numpy_helper.to_array`` reads it, used or
not. Data types: float32 and float64 are kept; float16, bfloat16, the float8,
float6 and float4 types and the integers of up to 16 bits (int2, int4 ...) are
upcast to float32, int32/uint32 and int64/uint64 to float64, all exactly
(64-bit integers beyond ``2**53`` are refused); bool, complex and string
tensors are refused. A malformed graph -- no or several data inputs, a node
reading a tensor nothing defines, a tensor defined twice, a cycle, a layer
whose inputs do not match the previous layer's outputs -- is an ``InputError``.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clusterability.core.network import BatchNorm, NetworkWeights
from clusterability.errors import InputError
from clusterability.limits import check_declared_shape, check_total_bytes

#: Largest ``.onnx`` file read: protobuf's own limit on one message (2 GiB), checked before parsing.
PROTOBUF_LIMIT = 2**31 - 1

#: Operators without weights that leave the chain of layers as it is.
PASS_THROUGH = {
    "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Sigmoid", "HardSigmoid", "Tanh", "Softmax", "LogSoftmax",
    "Softplus", "Clip", "Gelu", "HardSwish", "Mish", "MaxPool", "AveragePool", "GlobalAveragePool",
    "GlobalMaxPool", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Dropout", "Identity", "Pad",
    "Cast", "Shape", "Gather", "Constant",
}  # fmt: skip
#: Operators that merge two computed tensors, or may: refused unless one input is a constant.
_MERGES = {"Add", "Sum", "Concat", "Mul", "Sub", "Div", "Max", "Min"}
#: Operators whose output describes their input's shape, not its values.
_SHAPES = {"Shape", "Size"}
#: The attributes of each layer operator that are read or that do not change the weights.
_ATTRIBUTES = {
    "Conv": {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"},
    "Gemm": {"alpha", "beta", "transA", "transB", "broadcast"},
    "MatMul": set(),
    "BatchNormalization": {"epsilon", "momentum", "training_mode", "spatial", "is_test", "consumed_inputs"},
    "Mul": {"broadcast"},
    "Div": {"broadcast"},
    "Sub": {"broadcast"},
}
#: The attributes of a ``Constant`` node that hold numbers, and their types (AttributeProto FLOAT, INT, FLOATS, INTS).
_CONSTANT_NUMBERS = {"value_float": 1, "value_int": 2, "value_floats": 6, "value_ints": 7}
_AUTO_PAD = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"}
#: Operators after a layer that keep its outputs as they are (a constant factor still folds into the layer).
_KEEPS_OUTPUTS = {"Identity", "Dropout", "Add", "Sub", "Sum"}


def weights_from_onnx(path: str | os.PathLike[str]) -> NetworkWeights:
    """The dense and convolution layers on the data path of the ONNX model at ``path`` (see the module docstring)."""
    path = Path(path)
    model = _load(path)
    where = str(path)
    constant = _constants(model.graph, where)
    chain, kind = _data_path(model.graph, where)
    return _layers(chain, kind, constant, where)


def _load(path: Path) -> Any:
    """The parsed ``ModelProto``, its external data not followed; files over :data:`PROTOBUF_LIMIT` refused."""
    try:
        import onnx
    except ImportError:
        raise InputError(f"{path}: reading ONNX models needs the onnx package; pip install onnx") from None
    if not path.is_file():
        raise InputError(f"{path}: no such ONNX model file")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: the ONNX model file is empty")
    if size > PROTOBUF_LIMIT:
        raise InputError(
            f"{path}: {size:,} bytes, over protobuf's limit of {PROTOBUF_LIMIT:,} for one ONNX model "
            "(clusterability.io.onnx_io.PROTOBUF_LIMIT); export the kernels to .npz (clusterability.io.npz)"
        )
    try:
        return onnx.load(str(path), format="protobuf", load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError, RecursionError, OSError ...
        raise InputError(f"{path}: not a readable ONNX model ({_one_line(f'{type(exc).__name__}: {exc}')})") from None


def _one_line(text: str) -> str:
    """``text`` with its line breaks and runs of white space as single spaces (messages are one line)."""
    return " ".join(str(text).split())


def _label(node: Any) -> str:
    """How messages name a node: ``'fc1' (Gemm)``."""
    name = node.name or next((o for o in node.output if o), "") or "<unnamed>"
    op = node.op_type if isinstance(node.op_type, str) and node.op_type.isidentifier() else repr(node.op_type)
    return f"node {name!r} ({op})"


# --- tensors: declared shape, data type and the data present, checked before reading ----------------------------


@functools.cache
def _tensor_types() -> dict[int, tuple[np.dtype, int, str, tuple[int, int] | None]]:
    """For each data type read: its numpy dtype, its bits per value, its typed field and that field's value range."""
    from onnx import TensorProto as T
    from onnx import helper

    bits = {T.INT4: 4, T.UINT4: 4, T.FLOAT4E2M1: 4, T.INT2: 2, T.UINT2: 2, T.FLOAT6E2M3: 6, T.FLOAT6E3M2: 6}
    byte, half = (0, 2**8 - 1), (0, 2**16 - 1)
    ranges = {
        T.INT8: (-(2**7), 2**7 - 1), T.UINT8: byte, T.INT16: (-(2**15), 2**15 - 1), T.UINT16: half,
        T.FLOAT16: half, T.BFLOAT16: half, T.FLOAT8E4M3FN: byte, T.FLOAT8E4M3FNUZ: byte, T.FLOAT8E5M2: byte,
        T.FLOAT8E5M2FNUZ: byte, T.FLOAT8E8M0: byte, T.UINT32: (0, 2**32 - 1),
        T.FLOAT6E2M3: (0, 2**6 - 1), T.FLOAT6E3M2: (0, 2**6 - 1),
        **{t: byte for t, b in bits.items() if b in (2, 4)},
    }  # fmt: skip
    refused = {T.UNDEFINED, T.STRING, T.BOOL, T.COMPLEX64, T.COMPLEX128}
    out = {}
    for code in T.DataType.values():
        if code not in refused:
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(code))
            field = helper.tensor_dtype_to_field(code)
            out[code] = (dtype, bits.get(code, 8 * dtype.itemsize), field, ranges.get(code))
    return out


def _upcast_dtype(dtype: np.dtype) -> np.dtype:
    """float32/float64 as they are; types of up to 16 bits to float32, wider integers to float64 (both exact)."""
    if dtype in (np.float32, np.float64):
        return dtype
    return np.dtype(np.float32) if dtype.itemsize <= 2 else np.dtype(np.float64)


def _check_tensor(tensor: Any, what: str) -> int:
    """Raise :class:`InputError` unless ``tensor`` declares a readable type and shape and holds exactly that data.

    Returns its size in bytes once upcast. Nothing is allocated: only the header and the lengths are read.
    """
    from onnx import TensorProto

    types = _tensor_types()
    if tensor.data_type not in types:
        name = TensorProto.DataType.Name(tensor.data_type) if tensor.data_type in TensorProto.DataType.values() else ""
        raise InputError(
            f"{what} has data type {tensor.data_type} {name}".rstrip()
            + "; only real numbers are read (float, integer, float16/bfloat16/float8/int4 ...)"
        )
    dtype, bits, field, bounds = types[tensor.data_type]
    nbytes = check_declared_shape(tensor.dims, _upcast_dtype(dtype).itemsize, what)
    if tensor.data_location == TensorProto.EXTERNAL or len(tensor.external_data):
        raise InputError(
            f"{what} is stored as external data (in another file); it is not read (it could point anywhere "
            "on disk): save the model with its weights inside (onnx.save(..., save_as_external_data=False))"
        )
    if tensor.HasField("segment"):
        raise InputError(f"{what} is one segment of a tensor; segmented tensors are not read")
    n = math.prod(int(d) for d in tensor.dims)
    if tensor.HasField("raw_data"):
        need, held = math.ceil(n * bits / 8), len(tensor.raw_data)
        if held != need:
            raise InputError(f"{what} declares shape {list(tensor.dims)} ({need:,} bytes) but holds {held:,} bytes")
        return nbytes
    values = getattr(tensor, field)
    need = math.ceil(n * bits / 8) if bits in (2, 4) else n
    if len(values) != need:
        raise InputError(f"{what} declares shape {list(tensor.dims)} ({need:,} values) but holds {len(values):,}")
    if bounds is not None and need:
        held = np.asarray(values, dtype=np.int64 if field == "int32_data" else np.uint64)
        if not (bounds[0] <= int(held.min()) and int(held.max()) <= bounds[1]):
            raise InputError(f"{what} holds values outside the range of its data type")
    return nbytes


def _read_tensor(tensor: Any, what: str) -> np.ndarray:
    """The values of a checked ``tensor`` (:func:`_check_tensor`), upcast exactly to float32 or float64."""
    from onnx import numpy_helper

    try:
        array = numpy_helper.to_array(tensor)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{what} cannot be read ({_one_line(str(exc))})") from None
    return _upcast(array, what)


def _upcast(array: np.ndarray, what: str) -> np.ndarray:
    target = _upcast_dtype(array.dtype)
    if array.dtype == target:
        return array
    wide = array.dtype.kind in "iu" and array.dtype.itemsize == 8 and array.size
    if wide and (int(array.min()) < -(2**53) or int(array.max()) > 2**53):
        raise InputError(f"{what} holds 64-bit integers beyond 2**53, which float64 does not hold exactly")
    return array.astype(target)


def _constants(graph: Any, where: str) -> Callable[[str], np.ndarray | None]:
    """Check every initializer and ``Constant`` tensor; return the lookup of a constant's values by name.

    The lookup gives ``None`` for a name that is not a constant, and raises for a constant that is not read
    (sparse, strings).
    """
    from onnx import AttributeProto, helper

    tensors: dict[str, tuple[Any, str]] = {}
    arrays: dict[str, np.ndarray] = {}
    unread: dict[str, str] = {}
    total = 0
    for tensor in graph.initializer:
        what = f"{where}: initializer {tensor.name!r}"
        total += _check_tensor(tensor, what)
        tensors[tensor.name] = (tensor, what)
    for sparse in graph.sparse_initializer:
        unread[sparse.values.name] = f"{where}: initializer {sparse.values.name!r} is sparse, which is not read"
    for node in graph.node:
        if node.op_type != "Constant" or node.domain not in ("", "ai.onnx") or len(node.output) != 1:
            continue
        what, name = f"{where}: {_label(node)}", node.output[0]
        if len(node.attribute) != 1:
            unread[name] = f"{what} does not hold exactly one value attribute"
            continue
        attr = node.attribute[0]
        if attr.name == "value" and attr.type == AttributeProto.TENSOR:
            total += _check_tensor(attr.t, what)
            tensors[name] = (attr.t, what)
        elif _CONSTANT_NUMBERS.get(attr.name) == attr.type:
            dtype = np.float32 if attr.name.startswith("value_float") else np.int64
            arrays[name] = _upcast(np.array(helper.get_attribute_value(attr), dtype=dtype), what)
        else:
            unread[name] = f"{what} holds {attr.name!r}, which is not read as a weight"
    check_total_bytes(total, where)

    def constant(name: str) -> np.ndarray | None:
        if name in unread:
            raise InputError(unread[name])
        if name not in arrays and name in tensors:
            arrays[name] = _read_tensor(*tensors[name])
        return arrays.get(name)

    return constant


# --- the data path -----------------------------------------------------------------------------------------------


def _data_path(graph: Any, where: str) -> tuple[list[Any], dict[str, str]]:
    """The nodes from the data input to the outputs, in data-flow order, and each tensor's kind.

    A tensor is ``"data"`` (it carries the activations), ``"shape"`` (computed from their shape only) or
    absent (a constant, or computed from constants). Raises :class:`InputError` for a malformed graph and for
    anything but a chain.
    """
    nodes = list(graph.node)
    initializers = {t.name for t in graph.initializer} | {s.values.name for s in graph.sparse_initializer}
    if len(initializers) != len(graph.initializer) + len(graph.sparse_initializer):
        raise InputError(f"{where}: two initializers have the same name; the model is malformed")
    input_list = [v.name for v in graph.input]
    inputs = set(input_list)
    if len(inputs) != len(input_list):
        raise InputError(f"{where}: two graph inputs have the same name; the model is malformed")
    data_inputs = [name for name in input_list if name not in initializers]
    if len(data_inputs) != 1:
        raise InputError(
            f"{where}: the graph has {len(data_inputs)} data inputs ({', '.join(map(repr, data_inputs))}); "
            "exactly one (the network's input) is read"
        )
    source = data_inputs[0]
    producer: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for out in node.output:
            if out and (out in producer or out in initializers or out in inputs):
                raise InputError(f"{where}: {_label(node)} defines {out!r}, which is already defined; malformed model")
            if out:
                producer[out] = i
    for node in nodes:
        for name in node.input:
            if name and name not in producer and name not in initializers and name not in inputs:
                raise InputError(f"{where}: {_label(node)} reads {name!r}, which no node, input or initializer defines")
    outputs = [v.name for v in graph.output]
    if not outputs:
        raise InputError(f"{where}: the graph declares no outputs")
    for name in outputs:
        if name not in producer and name not in initializers and name not in inputs:
            raise InputError(f"{where}: the graph output {name!r} is not defined by any node, input or initializer")
    order = _topological_order(nodes, producer, where)
    kind = {source: "data"}
    for i in order:
        node = nodes[i]
        kinds = {kind.get(name) for name in node.input if name}
        out_kind = "shape" if "data" in kinds and node.op_type in _SHAPES else "data" if "data" in kinds else None
        out_kind = out_kind or ("shape" if "shape" in kinds else None)
        for out in node.output:
            if out and out_kind:
                kind[out] = out_kind
    if not any(kind.get(name) == "data" for name in outputs):
        raise InputError(f"{where}: no output of the graph is computed from its input {source!r}")
    needed, live = set(outputs), set()
    for i in reversed(order):
        if any(out in needed for out in nodes[i].output if out):
            live.add(i)
            needed.update(name for name in nodes[i].input if name)
    consumers: dict[str, list[int]] = {}
    for i in order:
        node = nodes[i]
        if i not in live or node.op_type in _SHAPES:
            continue
        data = [name for name in node.input if kind.get(name) == "data"]
        if len(data) > 1:
            raise InputError(
                f"{where}: {_label(node)} merges {len(data)} computed tensors (a residual or branching "
                "network); only chains of layers are supported"
            )
        for name in data:
            consumers.setdefault(name, []).append(i)
    chain, tensor = [], source
    while consumers.get(tensor):
        if len(consumers[tensor]) > 1:
            labels = ", ".join(_label(nodes[i]) for i in consumers[tensor])
            raise InputError(
                f"{where}: tensor {tensor!r} feeds {labels} (a branching network); only chains of layers are supported"
            )
        node = nodes[consumers[tensor][0]]
        chain.append(node)
        onward = [out for out in node.output if out in needed]
        if len(onward) > 1:
            raise InputError(f"{where}: {_label(node)} passes on {len(onward)} outputs; only chains are supported")
        tensor = onward[0]
    return chain, kind


def _topological_order(nodes: Sequence[Any], producer: dict[str, int], where: str) -> list[int]:
    """Node indices with every node after the producers of its inputs (Kahn); a cycle is an :class:`InputError`."""
    waiting = [len({producer[n] for n in node.input if n in producer}) for node in nodes]
    readers: dict[int, set[int]] = {}
    for i, node in enumerate(nodes):
        for p in {producer[n] for n in node.input if n in producer}:
            readers.setdefault(p, set()).add(i)
    order = [i for i, w in enumerate(waiting) if w == 0]
    for i in order:  # grows while it is walked
        for j in readers.get(i, ()):
            waiting[j] -= 1
            if waiting[j] == 0:
                order.append(j)
    if len(order) < len(nodes):
        stuck = next(i for i, w in enumerate(waiting) if w > 0)
        raise InputError(f"{where}: {_label(nodes[stuck])} is on a cycle; an ONNX graph must be acyclic")
    return order


# --- the layers --------------------------------------------------------------------------------------------------


def _attribute(node: Any, name: str, default: Any, what: str) -> Any:
    """The value of attribute ``name`` of ``node`` (of the type of ``default``: float, int, str or list of int)."""
    from onnx import AttributeProto

    found = [a for a in node.attribute if a.name == name]
    if not found:
        return default
    attr = found[0]
    kinds = {float: AttributeProto.FLOAT, int: AttributeProto.INT, str: AttributeProto.STRING}
    expected = AttributeProto.INTS if isinstance(default, list) or default is None else kinds[type(default)]
    if len(found) > 1 or attr.type != expected:
        wrong = "is given twice" if len(found) > 1 else f"is not of type {AttributeProto.AttributeType.Name(expected)}"
        raise InputError(f"{what}: attribute {name!r} {wrong}; malformed model")
    if expected == AttributeProto.FLOAT:
        return float(attr.f)
    if expected == AttributeProto.INT:
        return int(attr.i)
    if expected == AttributeProto.STRING:
        return attr.s.decode("utf-8", "replace")
    return [int(v) for v in attr.ints]


def _check_attributes(node: Any, what: str) -> None:
    """Raise unless every attribute of a layer ``node`` is one this reader knows (the others may change weights)."""
    unknown = [a.name for a in node.attribute if a.name not in _ATTRIBUTES[node.op_type]]
    if unknown:
        raise InputError(
            f"{what} has attribute {unknown[0]!r}, which this reader does not know and which may change "
            "the weights; the node cannot be mapped"
        )


def _weight(node: Any, index: int, constant: Callable[[str], np.ndarray | None], what: str, role: str) -> np.ndarray:
    """The constant input ``index`` (the weight, the scale ...) of ``node``."""
    name = node.input[index] if index < len(node.input) else ""
    value = constant(name) if name else None
    if value is None:
        raise InputError(f"{what} has {'no' if not name else 'a computed'} {role}; only constant weights map")
    return value


def _conv(node: Any, constant: Callable, what: str) -> tuple[np.ndarray, np.ndarray | None]:
    """A ``Conv`` node's kernel ``(kh, kw, in, out)`` and bias (see the module docstring)."""
    weight = _weight(node, 1, constant, what, "weight")
    if weight.ndim != 4:
        raise InputError(
            f"{what} is a {weight.ndim - 2}-d convolution; only 2-d maps" if weight.ndim >= 3
            else f"{what} has a weight of shape {weight.shape}; a convolution weight is (out, in, kh, kw)"
        )  # fmt: skip
    if _attribute(node, "group", 1, what) != 1:
        raise InputError(f"{what} is a grouped or depthwise convolution; not supported")
    shape = _attribute(node, "kernel_shape", None, what)
    if shape is not None and list(shape) != list(weight.shape[2:]):
        raise InputError(f"{what} declares kernel_shape {shape} but its weight is {list(weight.shape[2:])}")
    if _attribute(node, "auto_pad", "NOTSET", what) not in _AUTO_PAD:
        raise InputError(f"{what} has an unknown auto_pad; expected one of {sorted(_AUTO_PAD)}")
    bias = constant(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if bias is not None and bias.shape != (weight.shape[0],):
        raise InputError(f"{what} has a bias of shape {bias.shape}; expected ({weight.shape[0]},)")
    return weight.transpose(2, 3, 1, 0), bias


def _dense(node: Any, position: int, constant: Callable, what: str) -> tuple[np.ndarray, np.ndarray | None]:
    """A ``Gemm`` or ``MatMul`` node's kernel ``(in, out)`` and bias (see the module docstring)."""
    if position != 0:
        raise InputError(
            f"{what} multiplies a weight by its input (the weight first); only input @ weight maps: "
            "export the layer as x @ W"
        )
    weight = _weight(node, 1, constant, what, "weight")
    if weight.ndim != 2:
        raise InputError(f"{what} has a weight of shape {weight.shape}; a dense layer's weight is 2-d")
    if node.op_type == "MatMul":
        return weight, None
    if _attribute(node, "transA", 0, what) != 0:
        raise InputError(f"{what} transposes its input (transA); not supported")
    trans_b, alpha, beta = (_attribute(node, *spec, what) for spec in (("transB", 0), ("alpha", 1.0), ("beta", 1.0)))
    if trans_b not in (0, 1) or not (math.isfinite(alpha) and math.isfinite(beta)):
        raise InputError(f"{what} has transB {trans_b}, alpha {alpha}, beta {beta}; expected 0/1 and finite numbers")
    kernel = weight.T if trans_b else weight
    if alpha != 1.0:
        kernel = kernel.astype(np.float64) * alpha
    bias = constant(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if bias is not None:
        n_out = kernel.shape[1]
        if bias.size != 1 and bias.shape not in ((n_out,), (1, n_out)):
            raise InputError(f"{what} has a bias C of shape {bias.shape}; expected one value or ({n_out},)")
        bias = np.broadcast_to(bias.reshape(-1), (n_out,)).copy()
        if beta != 1.0:
            bias = bias.astype(np.float64) * beta
    return kernel, bias


def _batch_norm(node: Any, channels: int, constant: Callable, what: str) -> BatchNorm:
    """A ``BatchNormalization`` node acting on a layer of ``channels`` outputs."""
    if _attribute(node, "training_mode", 0, what) != 0 or _attribute(node, "spatial", 1, what) != 1:
        raise InputError(f"{what} normalizes with the batch's statistics or per activation; not supported")
    gamma, beta, mean, var = (_weight(node, i, constant, what, role) for i, role in enumerate(_BN_ROLES, start=1))
    if any(a.shape != (channels,) for a in (gamma, beta, mean, var)):
        raise InputError(f"{what} does not follow a layer with as many channels ({channels})")
    return BatchNorm(
        gamma=np.asarray(gamma, dtype=np.float64),
        moving_variance=np.asarray(var, dtype=np.float64),
        epsilon=_attribute(node, "epsilon", 1e-5, what),
        beta=beta,
        moving_mean=mean,
    )


_BN_ROLES = ("scale", "bias", "mean", "variance")


def _factor(node: Any, position: int, channels: int, conv: bool, constant: Callable, what: str) -> np.ndarray:
    """The factor a ``Mul``/``Div``/``Sub`` applies to a layer's outputs: a scalar or one value per channel."""
    if node.op_type == "Sub":
        return np.array(-1.0)
    value = np.asarray(_weight(node, 1 - position, constant, what, "factor"), dtype=np.float64)
    shape = value.shape
    if value.size == 1:
        value = value.reshape(())
    elif value.size == channels and (len(shape) in (3, 4) and shape[-3] == channels if conv else shape[-1] == channels):
        value = value.reshape(channels)
    else:
        raise InputError(f"{what} scales by a constant of shape {shape}, not one value or one per channel ({channels})")
    if node.op_type == "Div":
        with np.errstate(divide="ignore"):
            value = 1.0 / value
        if not np.all(np.isfinite(value)):
            raise InputError(f"{what} divides by zero")
    return value


def _layers(chain: list[Any], kind: dict[str, str], constant: Callable, where: str) -> NetworkWeights:
    """Map the nodes of the data path to layers (see the module docstring)."""
    kernels: list[np.ndarray] = []
    biases: list[np.ndarray | None] = []
    norms: list[BatchNorm | None] = []
    labels: list[str] = []
    folds = None  # what a constant factor here folds into: "kernel", "norm" or nothing (after a nonlinearity)
    for node in chain:
        op, what = node.op_type, f"{where}: {_label(node)}"
        position = next(j for j, name in enumerate(node.input) if kind.get(name) == "data")
        if node.domain not in ("", "ai.onnx") or not (op in _ATTRIBUTES or op in _MERGES or op in PASS_THROUGH):
            raise InputError(
                f"{what} cannot be mapped to a dense or convolution layer "
                "(attention, recurrent and other layers are not supported)"
            )
        if op in ("Conv", "BatchNormalization") and position != 0:
            raise InputError(f"{what} reads the activations as a weight; only constant weights map")
        if op in _ATTRIBUTES:
            _check_attributes(node, what)
        scales = op in ("Mul", "Div") or (op == "Sub" and position == 1)
        if op in ("Conv", "Gemm", "MatMul"):
            kernel, bias = _conv(node, constant, what) if op == "Conv" else _dense(node, position, constant, what)
            if kernels:
                _check_chain(kernels[-1], kernel, labels[-1], what)
            kernels.append(kernel)
            biases.append(bias)
            norms.append(None)
            labels.append(_label(node))
            folds = "kernel"
        elif op == "BatchNormalization":
            if not kernels:
                continue  # normalizes the inputs
            if norms[-1] is not None:
                raise InputError(f"{what} is a second batch norm on {labels[-1]}; not supported")
            norms[-1] = _batch_norm(node, kernels[-1].shape[-1], constant, what)
            folds = "norm"
        elif scales and op == "Div" and position == 1:
            folds = None  # a reciprocal: an activation
        elif scales and kernels:
            if folds is None:
                raise InputError(
                    f"{what} scales the activations after a nonlinearity or reshape, which changes the next "
                    "layer's weights; fold the factor into that layer and export again"
                )
            factor = _factor(node, position, kernels[-1].shape[-1], kernels[-1].ndim == 4, constant, what)
            if folds == "kernel":
                kernels[-1] = kernels[-1].astype(np.float64) * factor
                biases[-1] = None if biases[-1] is None else biases[-1].astype(np.float64) * factor
            else:
                bn = norms[-1]
                beta = None if bn.beta is None else np.asarray(bn.beta, dtype=np.float64) * factor
                norms[-1] = BatchNorm(bn.gamma * factor, bn.moving_variance, bn.epsilon, beta, bn.moving_mean)
        elif op not in _KEEPS_OUTPUTS:
            folds = None
    if not kernels:
        raise InputError(f"{where}: no Conv, Gemm or MatMul layer with constant weights between input and output")
    return NetworkWeights(tuple(kernels), tuple(biases), tuple(norms), where)


def _check_chain(previous: np.ndarray, kernel: np.ndarray, previous_label: str, what: str) -> None:
    """Raise unless ``kernel`` can follow ``previous`` (outputs -> inputs; a dense layer may follow a convolution)."""
    if previous.ndim == 4 and kernel.ndim == 2:
        return  # flattening: the dense layer reads every channel at every position
    if previous.ndim == 2 and kernel.ndim == 4:
        raise InputError(f"{what} is a convolution after the dense {previous_label}; not supported")
    if previous.shape[-1] != kernel.shape[-2]:
        raise InputError(
            f"{what} has {kernel.shape[-2]} inputs but the layer before it, {previous_label}, has "
            f"{previous.shape[-1]} outputs"
        )
