"""ONNX models as :class:`~clusterability.weights.NetworkWeights` (with the ``onnx`` package, no runtime).

The graph's nodes are walked in their (topological) order:

* ``Conv`` with a constant weight ``(out, in, kh, kw)`` is a convolution
  (stored as ``(kh, kw, in, out)``; grouped and depthwise convolutions are
  refused: their channels do not connect all-to-all);
* ``Gemm`` (``transB`` honoured) and ``MatMul`` with a constant 2-d weight are
  dense layers ``(in, out)``;
* ``BatchNormalization`` acts on the layer before it (scale = gamma, its
  ``epsilon``);
* element-wise activations, pooling, flattening, reshaping, dropout and the
  adding of a constant (a bias) pass through;
* anything else -- attention, recurrent layers, an ``Add``/``Concat`` of two
  computed tensors (a residual or branching network), an unknown operator --
  is an :class:`~clusterability.errors.InputError` naming the node.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError
from .weights import BatchNorm, NetworkWeights

#: Operators without weights that leave the chain of layers as it is.
PASS_THROUGH = {
    "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Sigmoid", "HardSigmoid", "Tanh", "Softmax", "LogSoftmax",
    "Softplus", "Clip", "Gelu", "HardSwish", "Mish", "MaxPool", "AveragePool", "GlobalAveragePool",
    "GlobalMaxPool", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Dropout", "Identity", "Pad",
    "Cast", "Shape", "Gather", "Constant",
}  # fmt: skip
#: Operators that merge two computed tensors, or may: refused unless one input is a constant.
_MERGES = {"Add", "Sum", "Concat", "Mul", "Sub", "Div", "Max", "Min"}


def _attribute(node: Any, name: str, default: Any) -> Any:
    from onnx import helper

    for attr in node.attribute:
        if attr.name == name:
            return helper.get_attribute_value(attr)
    return default


def weights_from_onnx(path: str | os.PathLike[str]) -> NetworkWeights:
    """The dense and convolution layers of the ONNX model at ``path`` (see the module docstring)."""
    path = Path(path)
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise InputError(f"{path}: reading ONNX models needs the onnx package; pip install onnx") from None
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError, ValueError, OSError ...
        raise InputError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {exc})") from None
    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            value = _attribute(node, "value", None)
            if value is not None:
                constants[node.output[0]] = numpy_helper.to_array(value)
    kernels: list[np.ndarray] = []
    biases: list[np.ndarray | None] = []
    norms: list[BatchNorm | None] = []

    def name_of(node: Any) -> str:
        return f"{node.name or node.output[0]!r} ({node.op_type})"

    for node in graph.node:
        op, inputs = node.op_type, list(node.input)
        computed = [i for i in inputs if i and i not in constants]
        if op == "Conv":
            if len(inputs) < 2 or inputs[1] not in constants:
                raise InputError(f"{path}: node {name_of(node)} has a computed weight; only constant weights map")
            if _attribute(node, "group", 1) != 1:
                raise InputError(f"{path}: node {name_of(node)} is a grouped or depthwise convolution; not supported")
            weight = constants[inputs[1]]
            if weight.ndim != 4:
                raise InputError(f"{path}: node {name_of(node)} is a {weight.ndim - 2}-d convolution; only 2-d maps")
            kernels.append(weight.transpose(2, 3, 1, 0))
            biases.append(constants.get(inputs[2]) if len(inputs) > 2 else None)
            norms.append(None)
        elif op in ("Gemm", "MatMul"):
            if len(inputs) < 2 or inputs[1] not in constants or constants[inputs[1]].ndim != 2:
                raise InputError(f"{path}: node {name_of(node)} has no constant 2-d weight; it cannot be mapped")
            weight = constants[inputs[1]]
            if op == "Gemm" and _attribute(node, "transA", 0):
                raise InputError(f"{path}: node {name_of(node)} transposes its input (transA); not supported")
            kernels.append(weight.T if op == "Gemm" and _attribute(node, "transB", 0) else weight)
            biases.append(constants.get(inputs[2]) if op == "Gemm" and len(inputs) > 2 else None)
            norms.append(None)
        elif op == "BatchNormalization":
            if not kernels:
                continue  # normalizes the inputs
            scale, _, _, var = (constants.get(i) for i in inputs[1:5])
            if scale is None or var is None or norms[-1] is not None or var.shape != (kernels[-1].shape[-1],):
                raise InputError(f"{path}: node {name_of(node)} does not follow a layer with as many channels")
            norms[-1] = BatchNorm(
                gamma=np.asarray(scale, dtype=np.float64),
                moving_variance=np.asarray(var, dtype=np.float64),
                epsilon=float(_attribute(node, "epsilon", 1e-5)),
                beta=constants.get(inputs[2]),
                moving_mean=constants.get(inputs[3]),
            )
        elif op in _MERGES and len(computed) > 1:
            raise InputError(
                f"{path}: node {name_of(node)} merges {len(computed)} computed tensors (a residual or branching "
                "network); only chains of layers are supported"
            )
        elif op in PASS_THROUGH or op in _MERGES:
            continue
        else:
            raise InputError(
                f"{path}: node {name_of(node)} cannot be mapped to a dense or convolution layer "
                "(attention, recurrent and other layers are not supported)"
            )
    if not kernels:
        raise InputError(f"{path}: the model has no Conv, Gemm or MatMul layer with constant weights")
    return NetworkWeights(tuple(kernels), tuple(biases), tuple(norms), str(path))
