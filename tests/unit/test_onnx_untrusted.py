"""ONNX models as untrusted input (:mod:`clusterability.io.onnx_io`), built in the tests with ``onnx.helper``.

Each case that could give a wrong answer compares the n-cut of the ONNX model with that of the same network
written as a plain ``.npz``; each malformed model must end in one :class:`InputError` line; a property-based test
mutates valid models (bytes and fields) and accepts only a valid network or one such line.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ml_dtypes = pytest.importorskip("ml_dtypes")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from clusterability.cli import main  # noqa: E402
from clusterability.core.build import network_graph  # noqa: E402
from clusterability.core.measure import cluster_network  # noqa: E402
from clusterability.core.network import BatchNorm, NetworkWeights  # noqa: E402
from clusterability.errors import InputError  # noqa: E402
from clusterability.io import onnx_io  # noqa: E402
from clusterability.io.network_files import read_network  # noqa: E402
from clusterability.io.npz import save_weights  # noqa: E402

RNG = np.random.default_rng(19)


# --- small models in the publisher's format --------------------------------------------------------------------


def _mlp() -> tuple[list, dict[str, np.ndarray], list[np.ndarray]]:
    """x(1, 6) -> MatMul + Add -> Relu -> Gemm(transB) -> Relu -> MatMul -> y: nodes, initializers, kernels."""
    arrays = {
        "w1": RNG.normal(size=(6, 8)).astype(np.float32),
        "b1": RNG.normal(size=8).astype(np.float32),
        "w2": RNG.normal(size=(5, 8)).astype(np.float32),
        "c2": RNG.normal(size=5).astype(np.float32),
        "w3": RNG.normal(size=(5, 4)).astype(np.float32),
    }
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h1"], name="fc1"),
        helper.make_node("Add", ["h1", "b1"], ["a1"], name="bias1"),
        helper.make_node("Relu", ["a1"], ["r1"], name="relu1"),
        helper.make_node("Gemm", ["r1", "w2", "c2"], ["h2"], name="fc2", transB=1),
        helper.make_node("Relu", ["h2"], ["r2"], name="relu2"),
        helper.make_node("MatMul", ["r2", "w3"], ["y"], name="fc3"),
    ]
    return nodes, arrays, [arrays["w1"], arrays["w2"].T, arrays["w3"]]


def _cnn(eps: float = 1e-3) -> tuple[list, dict[str, np.ndarray], list[np.ndarray], list[BatchNorm | None]]:
    """x(1, 2, 8, 8) -> Conv -> Relu -> Conv -> BatchNorm -> Relu -> Conv -> Relu -> Flatten -> Gemm -> y."""
    arrays = {
        "w1": RNG.normal(size=(4, 2, 3, 3)).astype(np.float32),
        "w2": RNG.normal(size=(5, 4, 3, 3)).astype(np.float32),
        "gamma": RNG.uniform(0.2, 3, 5).astype(np.float32),
        "beta": RNG.normal(size=5).astype(np.float32),
        "mean": RNG.normal(size=5).astype(np.float32),
        "var": RNG.uniform(0.01, 2, 5).astype(np.float32),
        "w3": RNG.normal(size=(3, 5, 3, 3)).astype(np.float32),
        "fc": RNG.normal(size=(10, 12)).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2"),
        helper.make_node("BatchNormalization", ["c2", "gamma", "beta", "mean", "var"], ["n2"], name="bn2", epsilon=eps),
        helper.make_node("Relu", ["n2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "w3"], ["c3"], name="conv3"),
        helper.make_node("Relu", ["c3"], ["r3"], name="relu3"),
        helper.make_node("Flatten", ["r3"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc"], ["y"], name="fc", transB=1),
    ]
    kernels = [arrays[w].transpose(2, 3, 1, 0) for w in ("w1", "w2", "w3")] + [arrays["fc"].T]
    bn = BatchNorm(arrays["gamma"].astype(np.float64), arrays["var"].astype(np.float64), eps)
    return nodes, arrays, kernels, [None, bn, None, None]


def _model(nodes, arrays, inputs=("x",), outputs=("y",), shape=(1, 6), tensors=()) -> onnx.ModelProto:
    """A model of ``nodes`` with ``arrays`` (plus TensorProtos ``tensors``) as initializers."""
    graph = helper.make_graph(
        nodes,
        "net",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)) for name in inputs],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, None]) for name in outputs],
        initializer=[numpy_helper.from_array(v, name=k) for k, v in arrays.items()] + list(tensors),
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _save(path: Path, model: onnx.ModelProto) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


def _npz(path: Path, kernels, norms=()) -> Path:
    save_weights(path, NetworkWeights(tuple(kernels), (), tuple(norms)))
    return path


def _ncut(path: Path, k: int = 3) -> float:
    return cluster_network(network_graph(read_network(path)), k, seed=0).ncut


def _refused(path: Path, *fragments: str) -> str:
    """The one-line InputError message reading ``path`` gives; it names the file and holds every fragment."""
    with pytest.raises(InputError) as info:
        read_network(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


# --- the data path ---------------------------------------------------------------------------------------------


def test_unused_matmul_and_conv_leave_the_ncut_unchanged(tmp_path: Path) -> None:
    nodes, arrays, kernels = _mlp()
    dead = helper.make_node("MatMul", ["r1", "unused_w"], ["unused"], name="dead_fc")
    model = _model([*nodes[:3], dead, *nodes[3:]], {**arrays, "unused_w": RNG.normal(size=(8, 8)).astype(np.float32)})
    onnx.checker.check_model(model)  # a valid model: the old reader took the dead MatMul as a fourth layer
    onnx_path, npz = _save(tmp_path / "mlp.onnx", model), _npz(tmp_path / "mlp.npz", kernels)
    assert [k.shape for k in read_network(onnx_path).kernels] == [(6, 8), (8, 5), (5, 4)]
    results = []
    for path in (onnx_path, npz):
        out = tmp_path / f"{path.suffix[1:]}.json"
        assert main(["ncut", str(path), "--k", "3", "--shuffles", "0", "--json", str(out)]) == 0
        results.append(json.loads(out.read_text())["ncut"])
    assert results[0] == pytest.approx(results[1], rel=1e-9)

    nodes, arrays, kernels, norms = _cnn()
    dead_conv = helper.make_node("Conv", ["r1", "unused_k"], ["unused"], name="dead_conv")
    lstm = helper.make_node("LSTM", ["r2", "lw", "lr"], ["h"], name="dead_lstm", hidden_size=2)
    extra = {"unused_k": RNG.normal(size=(7, 4, 3, 3)).astype(np.float32), "lw": np.zeros((1, 8, 5), np.float32)}
    extra["lr"] = np.zeros((1, 8, 2), np.float32)
    model = _model([*nodes[:2], dead_conv, lstm, *nodes[2:]], {**arrays, **extra}, shape=(1, 2, 8, 8))
    onnx_path = _save(tmp_path / "cnn.onnx", model)
    assert len(read_network(onnx_path).kernels) == 4
    assert _ncut(onnx_path, 2) == pytest.approx(_ncut(_npz(tmp_path / "cnn.npz", kernels, norms), 2), rel=1e-9)


def test_nodes_are_followed_by_data_flow_not_list_order(tmp_path: Path) -> None:
    nodes, arrays, kernels = _mlp()
    path = _save(tmp_path / "reversed.onnx", _model(nodes[::-1], arrays))
    weights = read_network(path)
    for got, want in zip(weights.kernels, kernels, strict=True):
        np.testing.assert_array_equal(got, want)
    assert _ncut(path) == pytest.approx(_ncut(_npz(tmp_path / "m.npz", kernels)), rel=1e-9)


def test_shape_computations_of_a_flatten_pass(tmp_path: Path) -> None:
    """PyTorch exports ``x.view(x.size(0), -1)`` as Shape -> Gather -> Unsqueeze -> Concat -> Reshape."""
    nodes, arrays, kernels, norms = _cnn()
    flatten = [
        helper.make_node("Shape", ["r3"], ["s"], name="shape"),
        helper.make_node("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsqueeze"),
        helper.make_node("Concat", ["n1", "minus_one"], ["target"], name="concat", axis=0),
        helper.make_node("Reshape", ["r3", "target"], ["f"], name="reshape"),
    ]
    consts = {"zero": np.array(0, np.int64), "axes": np.array([0], np.int64), "minus_one": np.array([-1], np.int64)}
    model = _model([*nodes[:7], *flatten, nodes[8]], {**arrays, **consts}, shape=(1, 2, 8, 8))
    onnx.checker.check_model(model)
    weights = read_network(_save(tmp_path / "flat.onnx", model))
    assert [k.shape for k in weights.kernels] == [k.shape for k in kernels]


def test_branches_merges_and_data_inputs_are_refused(tmp_path: Path) -> None:
    nodes, arrays, _ = _mlp()
    skip = helper.make_node("Add", ["r2", "h2"], ["sum"], name="skip")
    fc3 = helper.make_node("MatMul", ["sum", "w3"], ["y"], name="fc3")
    _refused(_save(tmp_path / "res.onnx", _model([*nodes[:5], skip, fc3], arrays)), "'skip' (Add) merges 2 computed")
    head = helper.make_node("MatMul", ["r2", "w3"], ["y2"], name="head2")
    two_heads = _model([*nodes, head], arrays, outputs=("y", "y2"))
    _refused(_save(tmp_path / "heads.onnx", two_heads), "tensor 'r2' feeds", "branching")
    square = helper.make_node("Mul", ["r2", "r2"], ["sq"], name="square")
    fc3 = helper.make_node("MatMul", ["sq", "w3"], ["y"], name="fc3")
    _refused(_save(tmp_path / "square.onnx", _model([*nodes[:5], square, fc3], arrays)), "merges 2 computed")
    two_inputs = _model(nodes, arrays, inputs=("x", "mask"))
    _refused(_save(tmp_path / "two.onnx", two_inputs), "2 data inputs ('x', 'mask'); exactly one")
    no_input = _model(nodes, arrays, inputs=())
    _refused(_save(tmp_path / "none.onnx", no_input), "0 data inputs")


# --- attributes that change the weights ------------------------------------------------------------------------


def test_gemm_alpha_and_beta_fold_into_the_weights(tmp_path: Path) -> None:
    nodes, arrays, kernels = _mlp()
    nodes[3] = helper.make_node("Gemm", ["r1", "w2", "c2"], ["h2"], name="fc2", transB=1, alpha=4.0, beta=0.5)
    weights = read_network(path := _save(tmp_path / "alpha.onnx", _model(nodes, arrays)))
    np.testing.assert_allclose(weights.kernels[1], 4.0 * arrays["w2"].T.astype(np.float64), rtol=1e-12)
    np.testing.assert_allclose(weights.biases[1], 0.5 * arrays["c2"].astype(np.float64), rtol=1e-12)
    folded = _ncut(_npz(tmp_path / "folded.npz", [kernels[0], 4.0 * kernels[1].astype(np.float64), kernels[2]]))
    assert _ncut(path) == pytest.approx(folded, rel=1e-9)
    assert abs(folded - _ncut(_npz(tmp_path / "ignored.npz", kernels))) > 1e-6  # ignoring alpha is a wrong answer


@pytest.mark.parametrize(
    ("gemm", "fragment"),
    [
        ({"inputs": ["r1", "w2"], "transA": 1}, "transposes its input (transA)"),
        ({"inputs": ["w2", "r1"]}, "the weight first"),
        ({"inputs": ["r1", "w2"], "transB": 2}, "transB 2"),
        ({"inputs": ["r1", "w2"], "alpha": float("inf")}, "alpha inf"),
        ({"inputs": ["r1", "w2"], "activation": 1}, "attribute 'activation'"),
        ({"inputs": ["r1", "w2"], "alpha": "big"}, "attribute 'alpha' is not of type FLOAT"),
        ({"inputs": ["r1", "w3d"]}, "weight of shape (5, 8, 1)"),
        ({"inputs": ["r1", "w2", "wide_c"]}, "bias C of shape (3, 5)"),
    ],
)
def test_gemm_attributes_that_cannot_be_honoured_are_refused(tmp_path: Path, gemm: dict, fragment: str) -> None:
    nodes, arrays, _ = _mlp()
    arrays.update(w3d=np.ones((5, 8, 1), np.float32), wide_c=np.ones((3, 5), np.float32))
    attrs = {"transB": 1, **{k: v for k, v in gemm.items() if k != "inputs"}}
    nodes[3] = helper.make_node("Gemm", gemm["inputs"], ["h2"], name="fc2", **attrs)
    _refused(_save(tmp_path / "gemm.onnx", _model(nodes, arrays)), "'fc2' (Gemm)", fragment)


def test_matmul_with_the_weight_first_is_refused(tmp_path: Path) -> None:
    nodes, arrays, _ = _mlp()
    nodes[0] = helper.make_node("MatMul", ["w1t", "x"], ["h1"], name="fc1")
    arrays["w1t"] = np.ascontiguousarray(arrays.pop("w1").T)
    _refused(_save(tmp_path / "wx.onnx", _model(nodes, arrays)), "'fc1' (MatMul)", "the weight first")


def test_conv_strides_pads_dilations_do_not_change_the_channel_graph(tmp_path: Path) -> None:
    nodes, arrays, kernels, norms = _cnn()
    plain = _ncut(_save(tmp_path / "plain.onnx", _model(nodes, arrays, shape=(1, 2, 8, 8))), 2)
    nodes[2] = helper.make_node(
        "Conv", ["r1", "w2"], ["c2"], name="conv2", strides=[2, 2], pads=[1, 1, 1, 1], dilations=[1, 1]
    )
    nodes[5] = helper.make_node("Conv", ["r2", "w3"], ["c3"], name="conv3", auto_pad="SAME_UPPER", kernel_shape=[3, 3])
    strided = _save(tmp_path / "strided.onnx", _model(nodes, arrays, shape=(1, 2, 8, 8)))
    assert _ncut(strided, 2) == pytest.approx(plain, rel=1e-9)
    assert _ncut(_npz(tmp_path / "cnn.npz", kernels, norms), 2) == pytest.approx(plain, rel=1e-9)


@pytest.mark.parametrize(
    ("attrs", "weight", "fragment"),
    [
        ({"group": 2}, (5, 2, 3, 3), "grouped or depthwise"),
        ({"auto_pad": "SOMETIMES"}, (5, 4, 3, 3), "unknown auto_pad"),
        ({"kernel_shape": [5, 5]}, (5, 4, 3, 3), "kernel_shape [5, 5] but its weight is [3, 3]"),
        ({}, (5, 4, 3), "1-d convolution"),
        ({"transpose": 1}, (5, 4, 3, 3), "attribute 'transpose'"),
    ],
)
def test_conv_attributes_that_change_the_weights_are_refused(tmp_path, attrs, weight, fragment) -> None:
    nodes, arrays, _, _ = _cnn()
    arrays["w2"] = RNG.normal(size=weight).astype(np.float32)
    nodes[2] = helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", **attrs)
    _refused(_save(tmp_path / "conv.onnx", _model(nodes, arrays, shape=(1, 2, 8, 8))), "'conv2' (Conv)", fragment)


def test_batch_norm_epsilon_is_honoured(tmp_path: Path) -> None:
    nodes, arrays, kernels, norms = _cnn(eps=0.5)
    path = _save(tmp_path / "eps.onnx", _model(nodes, arrays, shape=(1, 2, 8, 8)))
    assert read_network(path).batch_norms[1].epsilon == 0.5
    same = _ncut(_npz(tmp_path / "eps.npz", kernels, norms), 2)
    assert _ncut(path, 2) == pytest.approx(same, rel=1e-9)
    default = BatchNorm(norms[1].gamma, norms[1].moving_variance, 1e-5)
    assert abs(same - _ncut(_npz(tmp_path / "default.npz", kernels, [None, default, None, None]), 2)) > 1e-6
    nodes[3] = helper.make_node("BatchNormalization", nodes[3].input, ["n2"], name="bn2", training_mode=1)
    _refused(_save(tmp_path / "train.onnx", _model(nodes, arrays, shape=(1, 2, 8, 8))), "batch's statistics")


@pytest.mark.parametrize("variance", [-0.5, float("nan")])
def test_a_bad_batch_norm_variance_ends_in_one_line(tmp_path: Path, variance: float, capsys) -> None:
    nodes, arrays, _, _ = _cnn()
    arrays["var"][2] = variance
    path = _save(tmp_path / "var.onnx", _model(nodes, arrays, shape=(1, 2, 8, 8)))
    assert main(["ncut", str(path), "--k", "2", "--shuffles", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "variance" in err and str(path) in err, err


def test_constant_factors_fold_into_the_layer_before(tmp_path: Path) -> None:
    nodes, arrays, kernels, norms = _cnn()
    scale = RNG.uniform(0.1, 5, (1, 3, 1, 1)).astype(np.float32)
    # conv3 -> Mul(per channel) -> Relu, and fc -> Div(scalar): folded into conv3's kernel and the dense kernel
    mul = helper.make_node("Mul", ["scale", "c3"], ["m3"], name="scale3")
    relu = helper.make_node("Relu", ["m3"], ["r3"], name="relu3")
    gemm = helper.make_node("Gemm", ["f", "fc"], ["g"], name="fc", transB=1)
    div = helper.make_node("Div", ["g", "four"], ["y"], name="quarter")
    folded_nodes = [*nodes[:6], mul, relu, nodes[7], gemm, div]
    consts = {"scale": scale, "four": np.array(4.0, np.float32)}
    path = _save(tmp_path / "mul.onnx", _model(folded_nodes, {**arrays, **consts}, shape=(1, 2, 8, 8)))
    weights = read_network(path)
    np.testing.assert_allclose(weights.kernels[2], kernels[2] * scale.reshape(3).astype(np.float64), rtol=1e-12)
    np.testing.assert_allclose(weights.kernels[3], kernels[3] / 4.0, rtol=1e-12)
    expected = [kernels[0], kernels[1], kernels[2] * scale.reshape(3).astype(np.float64), kernels[3] / 4.0]
    assert _ncut(path, 2) == pytest.approx(_ncut(_npz(tmp_path / "folded.npz", expected, norms), 2), rel=1e-9)
    assert abs(_ncut(path, 2) - _ncut(_npz(tmp_path / "ignored.npz", kernels, norms), 2)) > 1e-6
    # after the batch norm: folded into its gamma
    mul_bn = helper.make_node("Mul", ["n2", "half"], ["m2"], name="half")
    relu2 = helper.make_node("Relu", ["m2"], ["r2"], name="relu2")
    half = {"half": np.full((5, 1, 1), 0.5, np.float32)}
    path = _save(
        tmp_path / "bn.onnx", _model([*nodes[:4], mul_bn, relu2, *nodes[5:]], {**arrays, **half}, shape=(1, 2, 8, 8))
    )
    bn = read_network(path).batch_norms[1]
    np.testing.assert_allclose(bn.gamma, 0.5 * arrays["gamma"].astype(np.float64), rtol=1e-12)
    # after a nonlinearity it changes the next layer's weights: refused; so is a factor of the wrong shape or zero
    late = helper.make_node("Mul", ["r2", "half"], ["m2"], name="late")
    conv3 = helper.make_node("Conv", ["m2", "w3"], ["c3"], name="conv3")
    cases = {
        "late": ([*nodes[:5], late, conv3, *nodes[6:]], half, "after a nonlinearity"),
        "shape": ([*nodes[:4], mul_bn, relu2, *nodes[5:]], {"half": np.ones((5, 2), np.float32)}, "not one value"),
        "zero": (
            [*nodes[:4], helper.make_node("Div", ["n2", "half"], ["m2"], name="zero"), relu2, *nodes[5:]],
            {"half": np.zeros(1, np.float32)},
            "divides by zero",
        ),
    }
    for name, (case_nodes, extra, fragment) in cases.items():
        _refused(
            _save(tmp_path / f"{name}.onnx", _model(case_nodes, {**arrays, **extra}, shape=(1, 2, 8, 8))), fragment
        )


# --- tensors: declared sizes, external data, data types --------------------------------------------------------


def _tensor(name: str, data_type: int, dims, raw: bytes | None = None, **fields) -> onnx.TensorProto:
    tensor = onnx.TensorProto(name=name, data_type=data_type, dims=list(dims))
    if raw is not None:
        tensor.raw_data = raw
    for field, values in fields.items():
        getattr(tensor, field).extend(values)
    return tensor


@pytest.mark.parametrize(
    ("tensor", "fragment"),
    [
        (
            _tensor("u", TensorProto.FLOAT, [4, 4], raw=b"\0" * 60),
            "declares shape [4, 4] (64 bytes) but holds 60 bytes",
        ),
        (_tensor("u", TensorProto.FLOAT, [2, 3], float_data=[1.0] * 7), "(6 values) but holds 7"),
        (_tensor("u", TensorProto.FLOAT16, [2], int32_data=[1, 70000]), "outside the range of its data type"),
        (_tensor("u", TensorProto.INT8, [2], int32_data=[1, 300]), "outside the range of its data type"),
        (_tensor("u", TensorProto.INT4, [3], int32_data=[1]), "(2 values) but holds 1"),
        (_tensor("u", TensorProto.FLOAT, [2**40]), "over the cap"),
        (_tensor("u", TensorProto.FLOAT, [2**20, 2**20]), "GiB, over the cap"),
        (_tensor("u", TensorProto.DOUBLE, [-1, 4]), "negative dimension"),
        (_tensor("u", TensorProto.FLOAT, [1] * 9), "9 dimensions"),
    ],
)
def test_initializers_must_hold_what_they_declare_even_unused(tmp_path: Path, tensor, fragment: str) -> None:
    nodes, arrays, _ = _mlp()
    _refused(_save(tmp_path / "bad.onnx", _model(nodes, arrays, tensors=[tensor])), "initializer 'u'", fragment)


@pytest.mark.parametrize("location", ["w1.bin", "../../../etc/passwd"])
def test_external_data_is_refused_without_reading_it(tmp_path: Path, location: str) -> None:
    """The weights beside the model would fit exactly: a reader that followed the path would read them."""
    nodes, arrays, _ = _mlp()
    (tmp_path / "w1.bin").write_bytes(arrays.pop("w1").tobytes())
    w1 = _tensor("w1", TensorProto.FLOAT, [6, 8])
    w1.data_location = TensorProto.EXTERNAL
    w1.external_data.add(key="location", value=location)
    path = _save(tmp_path / "ext.onnx", _model(nodes, arrays, tensors=[w1]))
    _refused(path, "initializer 'w1' is stored as external data")


def test_a_file_over_the_protobuf_limit_is_refused_before_parsing(tmp_path: Path, monkeypatch) -> None:
    nodes, arrays, _ = _mlp()
    path = _save(tmp_path / "big.onnx", _model(nodes, arrays))
    monkeypatch.setattr(onnx_io, "PROTOBUF_LIMIT", 100)
    monkeypatch.setattr(onnx, "load", lambda *a, **k: pytest.fail("parsed a file over the limit"))
    _refused(path, "over protobuf's limit of 100")


_EXACT = [
    (TensorProto.FLOAT16, np.float16, np.float32, "raw"),
    (TensorProto.FLOAT16, np.float16, np.float32, "typed"),
    (TensorProto.BFLOAT16, ml_dtypes.bfloat16, np.float32, "raw"),
    (TensorProto.BFLOAT16, ml_dtypes.bfloat16, np.float32, "typed"),
    (TensorProto.FLOAT8E4M3FN, ml_dtypes.float8_e4m3fn, np.float32, "raw"),
    (TensorProto.FLOAT8E5M2, ml_dtypes.float8_e5m2, np.float32, "typed"),
    (TensorProto.INT4, ml_dtypes.int4, np.float32, "raw"),
    (TensorProto.INT8, np.int8, np.float32, "typed"),
    (TensorProto.UINT16, np.uint16, np.float32, "raw"),
    (TensorProto.INT32, np.int32, np.float64, "typed"),
    (TensorProto.INT64, np.int64, np.float64, "raw"),
    (TensorProto.DOUBLE, np.float64, np.float64, "typed"),
]


@pytest.mark.parametrize(("code", "dtype", "upcast", "storage"), _EXACT)
def test_unusual_data_types_are_upcast_exactly(tmp_path: Path, code: int, dtype, upcast, storage: str) -> None:
    nodes, arrays, kernels = _mlp()
    values = np.clip(np.round(arrays.pop("w1") * 3), -7, 7).astype(dtype)  # representable in every type here
    if np.issubdtype(np.dtype(dtype), np.unsignedinteger):
        values = np.abs(values.astype(np.int64)).astype(dtype)
    tensor = numpy_helper.from_array(values, name="w1")
    assert tensor.data_type == code
    if storage == "typed" and tensor.HasField("raw_data"):
        plain = np.int64 if np.issubdtype(np.dtype(dtype), np.integer) else np.float64
        typed = helper.make_tensor("w1", code, values.shape, values.astype(plain).ravel().tolist())
        np.testing.assert_array_equal(numpy_helper.to_array(typed), values)
        tensor = typed
    assert tensor.HasField("raw_data") == (storage == "raw")
    weights = read_network(_save(tmp_path / "t.onnx", _model(nodes, arrays, tensors=[tensor])))
    assert weights.kernels[0].dtype == upcast
    np.testing.assert_array_equal(weights.kernels[0], values.astype(np.float64))
    assert np.any(weights.kernels[0] != 0)


@pytest.mark.parametrize(
    ("tensor", "fragment"),
    [
        (_tensor("w1", TensorProto.STRING, [6, 8], string_data=[b"a"] * 48), "data type 8 STRING"),
        (_tensor("w1", TensorProto.BOOL, [6, 8], int32_data=[1] * 48), "data type 9 BOOL"),
        (_tensor("w1", TensorProto.COMPLEX64, [6, 8], float_data=[1.0] * 96), "data type 14 COMPLEX64"),
        (_tensor("w1", TensorProto.UNDEFINED, [6, 8]), "data type 0 UNDEFINED"),
        (_tensor("w1", 99, [6, 8], raw=b"\0" * 48), "data type 99;"),
        (_tensor("w1", TensorProto.INT64, [6, 8], int64_data=[2**53 + 1] * 48), "beyond 2**53"),
    ],
)
def test_data_types_that_cannot_be_upcast_exactly_are_refused(tmp_path: Path, tensor, fragment: str) -> None:
    nodes, arrays, _ = _mlp()
    del arrays["w1"]
    _refused(_save(tmp_path / "t.onnx", _model(nodes, arrays, tensors=[tensor])), "initializer 'w1'", fragment)


# --- malformed models ------------------------------------------------------------------------------------------


def _malformed(case: str) -> bytes:
    nodes, arrays, _ = _mlp()
    good = _model(nodes, arrays).SerializeToString()
    if case == "truncated":
        return good[: len(good) // 2]
    if case == "garbled":
        return b"\x0f" + good[1:]  # wire type 7 does not exist
    if case == "not protobuf":
        return b"\x89PNG\r\n\x1a\n" + b"\xff" * 64
    if case == "undefined tensor":
        nodes[3] = helper.make_node("Gemm", ["r1", "w_missing"], ["h2"], name="fc2")
    elif case == "defined twice":
        nodes[4] = helper.make_node("Relu", ["h2"], ["r1"], name="relu2")
    elif case == "cycle":
        nodes[0] = helper.make_node("MatMul", ["r2", "w1"], ["h1"], name="fc1")
        return _model(nodes, arrays).SerializeToString()
    elif case == "undefined output":
        return _model(nodes, arrays, outputs=("z",)).SerializeToString()
    elif case == "no outputs":
        return _model(nodes, arrays, outputs=()).SerializeToString()
    elif case == "shape mismatch":
        arrays["w3"] = RNG.normal(size=(7, 4)).astype(np.float32)
    elif case == "unknown domain":
        nodes[2] = helper.make_node("Relu", ["a1"], ["r1"], name="relu1", domain="com.example")
    elif case == "input unused":
        return _model(nodes[1:], {**arrays, "h1": np.zeros((1, 8), np.float32)}).SerializeToString()
    return _model(nodes, arrays).SerializeToString()


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("truncated", "not a readable ONNX model"),
        ("garbled", "not a readable ONNX model"),
        ("not protobuf", "not a readable ONNX model"),
        ("undefined tensor", "reads 'w_missing', which no node, input or initializer defines"),
        ("defined twice", "defines 'r1', which is already defined"),
        ("cycle", "on a cycle"),
        ("undefined output", "graph output 'z' is not defined"),
        ("no outputs", "declares no outputs"),
        ("shape mismatch", "'fc3' (MatMul) has 7 inputs but the layer before it, node 'fc2' (Gemm), has 5 outputs"),
        ("unknown domain", "'relu1' (Relu) cannot be mapped"),
        ("input unused", "no output of the graph is computed from its input 'x'"),
    ],
)
def test_malformed_models_end_in_one_line(tmp_path: Path, case: str, fragment: str) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(_malformed(case))
    _refused(path, fragment)


def test_an_empty_file_and_a_directory_end_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty.onnx").write_bytes(b"")
    _refused(tmp_path / "empty.onnx", "is empty")
    with pytest.raises(InputError, match="no such ONNX model file"):
        onnx_io.weights_from_onnx(tmp_path)


# --- property: mutated models give a network or one line ------------------------------------------------------


def _bases() -> list[bytes]:
    mlp_nodes, mlp_arrays, _ = _mlp()
    cnn_nodes, cnn_arrays, _, _ = _cnn()
    return [
        _model(mlp_nodes, mlp_arrays).SerializeToString(),
        _model(cnn_nodes, cnn_arrays, shape=(1, 2, 8, 8)).SerializeToString(),
    ]


_BASES = _bases()
_OPS = ["Conv", "Gemm", "MatMul", "BatchNormalization", "Relu", "Add", "Mul", "Div", "Sub", "Flatten", "Shape",
        "Identity", "LSTM", "Concat", "Reshape", "Constant", "Dropout", "MaxPool", ""]  # fmt: skip
_ATTRS = ["alpha", "beta", "transA", "transB", "group", "epsilon", "auto_pad", "kernel_shape", "training_mode",
          "value", "spatial", "bogus"]  # fmt: skip
_NUMBERS = st.one_of(
    st.integers(-3, 3), st.sampled_from([2**24 + 1, 2**31, 2**40, -(2**40)]), st.floats(allow_nan=True, width=32)
)


def _mutate(draw, model: onnx.ModelProto) -> None:
    """Apply one field-level mutation to ``model`` in place."""
    graph = model.graph
    inits, nodes = graph.initializer, graph.node
    kind = draw(st.sampled_from(["dims", "dtype", "data", "attr", "io", "reorder", "op", "external", "node", "wire"]))
    if kind == "dims" and inits:
        t = inits[draw(st.integers(0, len(inits) - 1))]
        del t.dims[:]
        t.dims.extend(draw(st.lists(st.sampled_from([0, 1, 2, 3, 5, 8, 12, 2**24 + 1, 2**40, -1]), max_size=9)))
    elif kind == "dtype" and inits:
        inits[draw(st.integers(0, len(inits) - 1))].data_type = draw(st.integers(0, 30) | st.just(999))
    elif kind == "data" and inits:
        t = inits[draw(st.integers(0, len(inits) - 1))]
        action = draw(st.sampled_from(["cut", "clear", "floats", "ints", "doubles"]))
        if action == "cut":
            t.raw_data = t.raw_data[: draw(st.integers(0, len(t.raw_data)))]
        elif action == "clear":
            t.ClearField("raw_data")
        else:
            field = {"floats": "float_data", "ints": "int32_data", "doubles": "double_data"}[action]
            values = draw(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=50))
            getattr(t, field).extend([float(v) for v in values] if action != "ints" else values)
    elif kind == "attr" and nodes:
        node = nodes[draw(st.integers(0, len(nodes) - 1))]
        name = draw(st.sampled_from(_ATTRS))
        value = draw(
            st.one_of(_NUMBERS, st.sampled_from(["SAME_UPPER", "VALID", "x"]), st.lists(st.integers(-2, 9), max_size=4))
        )
        kept = [a for a in node.attribute if a.name != name]
        del node.attribute[:]
        node.attribute.extend([*kept, helper.make_attribute(name, value)] if value != [] else kept)
    elif kind == "io":
        target = draw(st.sampled_from(["input", "output"]))
        values = graph.input if target == "input" else graph.output
        if values and draw(st.booleans()):
            del values[draw(st.integers(0, len(values) - 1))]
        elif values:
            values[draw(st.integers(0, len(values) - 1))].name = draw(st.sampled_from(["x", "y", "r1", "w1", "new"]))
        else:
            values.add().name = "x"
    elif kind == "reorder" and nodes:
        order = draw(st.permutations(range(len(nodes))))
        copies = [onnx.NodeProto.FromString(nodes[i].SerializeToString()) for i in order]
        del nodes[:]
        nodes.extend(copies)
    elif kind == "op" and nodes:
        nodes[draw(st.integers(0, len(nodes) - 1))].op_type = draw(st.sampled_from(_OPS))
    elif kind == "external" and inits:
        t = inits[draw(st.integers(0, len(inits) - 1))]
        t.data_location = TensorProto.EXTERNAL
        t.external_data.add(key="location", value="../secret.bin")
    elif kind == "node" and nodes:
        i = draw(st.integers(0, len(nodes) - 1))
        if draw(st.booleans()):
            del nodes[i]
        else:
            nodes.append(onnx.NodeProto.FromString(nodes[i].SerializeToString()))
    elif kind == "wire" and nodes:
        node = nodes[draw(st.integers(0, len(nodes) - 1))]
        names = ["x", "y", "w1", "w2", "r1", "r2", "h1", "c2", "gamma", "", "nowhere"]
        ports = node.input if draw(st.booleans()) or not node.output else node.output
        if ports:
            ports[draw(st.integers(0, len(ports) - 1))] = draw(st.sampled_from(names))


@st.composite
def _mutated(draw) -> bytes:
    model = onnx.ModelProto.FromString(draw(st.sampled_from(_BASES)))
    for _ in range(draw(st.integers(0, 3))):
        _mutate(draw, model)
    data = model.SerializeToString()
    for _ in range(draw(st.integers(0, 2))):
        action = draw(st.sampled_from(["truncate", "flip", "insert"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "truncate":
            data = data[:at]
        elif action == "flip" and data:
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
        else:
            data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    return data


_OUTCOMES: dict[str, int] = {"read": 0, "refused": 0}


@settings(
    max_examples=800, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow], database=None
)
@given(data=_mutated())
def test_mutated_models_give_a_network_or_one_line(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.onnx"
        path.write_bytes(data)
        try:
            weights = read_network(path)
            network_graph(weights)
        except InputError as exc:
            message = str(exc)
            assert message and "\n" not in message and "\r" not in message, message
            _OUTCOMES["refused"] += 1
            return
    assert isinstance(weights, NetworkWeights) and weights.n_layers >= 1
    for kernel in weights.kernels:
        assert kernel.dtype in (np.float32, np.float64) and np.all(np.isfinite(kernel))
    _OUTCOMES["read"] += 1


def test_the_mutations_reach_both_outcomes() -> None:
    """The property test above is not vacuous: some mutated models are still read, most are refused."""
    if sum(_OUTCOMES.values()) == 0:
        test_mutated_models_give_a_network_or_one_line()
    assert _OUTCOMES["read"] > 10 and _OUTCOMES["refused"] > 100, _OUTCOMES
