"""Users' own networks: PyTorch state dicts (.safetensors, .pt) and ONNX models, made in the tests."""

from __future__ import annotations

import io
import json
import pickle
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from clusterability.cli import main
from clusterability.core.build import conv_slice_norms, network_graph
from clusterability.errors import InputError
from clusterability.io.network_files import read_network

RNG = np.random.default_rng(0)


def _torch_cnn_state() -> OrderedDict[str, np.ndarray]:
    """A torchvision-style VGG state dict: features.{0,3,10} conv + batch norms, classifier.0 linear.

    Module order (as a model registers them) with numbers that do not sort as strings (10 < 3).
    """
    state: OrderedDict[str, np.ndarray] = OrderedDict()
    channels = [(3, 4, "features.0", "features.1"), (4, 5, "features.3", "features.4"), (5, 6, "features.10", None)]
    for c_in, c_out, conv, bn in channels:
        state[f"{conv}.weight"] = RNG.normal(size=(c_out, c_in, 3, 3)).astype(np.float32)
        state[f"{conv}.bias"] = RNG.normal(size=c_out).astype(np.float32)
        if bn:
            state[f"{bn}.weight"] = RNG.uniform(0.5, 2, c_out).astype(np.float32)
            state[f"{bn}.bias"] = np.zeros(c_out, np.float32)
            state[f"{bn}.running_mean"] = np.zeros(c_out, np.float32)
            state[f"{bn}.running_var"] = RNG.uniform(0.5, 2, c_out).astype(np.float32)
            state[f"{bn}.num_batches_tracked"] = np.array(7, dtype=np.int64)
    state["classifier.0.weight"] = RNG.normal(size=(10, 6 * 4)).astype(np.float32)
    state["classifier.0.bias"] = np.zeros(10, np.float32)
    return state


def _check_cnn(weights, state) -> None:
    """Kernels transposed to (kh, kw, in, out), batch norm on its conv, and the channel graph."""
    assert [k.shape for k in weights.kernels] == [(3, 3, 3, 4), (3, 3, 4, 5), (3, 3, 5, 6), (24, 10)]
    np.testing.assert_array_equal(weights.kernels[1][1, 2, 3, 4], state["features.3.weight"][4, 3, 1, 2])
    np.testing.assert_array_equal(weights.kernels[3], state["classifier.0.weight"].T)
    bn = weights.batch_norms[1]
    np.testing.assert_allclose(bn.gamma, state["features.4.weight"])
    assert bn.epsilon == 1e-5 and weights.batch_norms[2] is None
    graph = network_graph(weights)
    assert graph.layer_sizes == (4, 5, 6)
    scale = state["features.4.weight"] / np.sqrt(state["features.4.running_var"] + 1e-5)
    expected = conv_slice_norms(state["features.3.weight"].transpose(2, 3, 1, 0)) * scale[None, :]
    np.testing.assert_allclose(graph.blocks[0], expected, rtol=1e-6)


# --- safetensors ---------------------------------------------------------------------------


def test_safetensors_state_dict(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    state = _torch_cnn_state()
    path = tmp_path / "vgg.safetensors"
    save_file(dict(state), str(path))
    _check_cnn(read_network(path), state)  # natural order: features.3 before features.10, convs first


def test_safetensors_layer_order_and_unmappable_modules(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    mlp = {"z_first.weight": RNG.normal(size=(8, 5)), "a_second.weight": RNG.normal(size=(2, 8))}
    path = tmp_path / "mlp.safetensors"
    save_file({k: v.astype(np.float32) for k, v in mlp.items()}, str(path))
    with pytest.raises(InputError, match="--layers") as exc:
        read_network(path)  # the names sort in the wrong order: the kernels do not chain
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)
    weights = read_network(path, layers=["z_first", "a_second"])
    assert [k.shape for k in weights.kernels] == [(5, 8), (8, 2)]
    attention = {"attn.in_proj_weight": np.zeros((12, 4), np.float32), "fc.weight": np.zeros((2, 4), np.float32)}
    save_file(attention, str(tmp_path / "attn.safetensors"))
    with pytest.raises(InputError, match="module 'attn' has parameters in_proj_weight"):
        read_network(tmp_path / "attn.safetensors")


# --- .pt: torch's zip format, written here without torch ----------------------------------


def _fake_torch(monkeypatch: pytest.MonkeyPatch):
    """Stand-ins for the globals torch.save pickles (torch._utils._rebuild_tensor_v2, torch.FloatStorage)."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # pragma: no cover - only pickled by reference
        raise AssertionError

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    storages = {}
    for name in ("FloatStorage", "LongStorage"):
        storages[name] = type(name, (), {"__module__": "torch"})
        setattr(torch, name, storages[name])
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return _rebuild_tensor_v2, storages


def write_torch_zip(path: Path, state: OrderedDict, monkeypatch: pytest.MonkeyPatch, prefix: str = "archive") -> None:
    """``torch.save(state)``'s layout: ``<prefix>/data.pkl`` (tensors by persistent storage id) and
    ``<prefix>/data/<key>`` (raw little-endian storages)."""
    rebuild, storages = _fake_torch(monkeypatch)
    blobs: dict[str, bytes] = {}

    class Storage:
        def __init__(self, key: str, array: np.ndarray) -> None:
            self.key, self.array = key, array

    class Tensor:
        def __init__(self, key: str, array: np.ndarray) -> None:
            flat = np.ascontiguousarray(array).ravel()
            self.storage, self.shape = Storage(key, flat), array.shape
            blobs[key] = flat.astype(flat.dtype.newbyteorder("<")).tobytes()

        def __reduce__(self):
            strides = tuple(int(s) for s in np.cumprod((1, *self.shape[::-1]))[:-1][::-1]) if self.shape else ()
            return rebuild, (self.storage, 0, self.shape, strides, False, OrderedDict())

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                kind = storages["LongStorage" if obj.array.dtype == np.int64 else "FloatStorage"]
                return ("storage", kind, obj.key, "cpu", obj.array.size)
            return None

    tensors = OrderedDict((name, Tensor(str(i), array)) for i, (name, array) in enumerate(state.items()))
    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(tensors)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{prefix}/data.pkl", buffer.getvalue())
        archive.writestr(f"{prefix}/version", "3\n")
        for key, blob in blobs.items():
            archive.writestr(f"{prefix}/data/{key}", blob)


def test_pt_state_dict_without_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = _torch_cnn_state()
    path = tmp_path / "vgg.pt"
    write_torch_zip(path, state, monkeypatch, prefix="vgg")
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.delitem(sys.modules, "torch._utils")
    _check_cnn(read_network(path), state)  # the file's order: the modules' registration order


def test_pt_refuses_other_globals(tmp_path: Path) -> None:
    """An untrusted .pt cannot run code: only torch's tensor globals are resolved."""

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": Evil()}, protocol=2))
    with pytest.raises(InputError, match="refuses the global (__builtin__|builtins).print"):
        read_network(path)
    (tmp_path / "legacy.pt").write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(InputError, match="not a zip-format torch file"):
        read_network(tmp_path / "legacy.pt")


def test_pt_written_by_real_torch(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 3),
        torch.nn.Flatten(), torch.nn.Linear(4 * 24 * 24, 10),
    )  # fmt: skip
    torch.save(model.state_dict(), tmp_path / "m.pt")
    weights = read_network(tmp_path / "m.pt")
    assert [k.shape for k in weights.kernels] == [(3, 3, 1, 4), (3, 3, 4, 4), (2304, 10)]
    assert weights.batch_norms[0] is not None


# --- ONNX ----------------------------------------------------------------------------------


def _onnx_model(path: Path, extra_nodes=(), extra_inits=(), flatten_input="r2") -> dict[str, np.ndarray]:
    """Conv -> BatchNormalization -> Relu -> Conv -> Relu -> Flatten -> Gemm(transB=1), built with onnx.helper.

    ``extra_nodes`` go before the Flatten, which reads ``flatten_input`` (nodes off the data path are ignored).
    """
    from onnx import TensorProto, helper, numpy_helper, save

    arrays = {
        "w1": RNG.normal(size=(4, 1, 3, 3)).astype(np.float32),
        "gamma": RNG.uniform(0.5, 2, 4).astype(np.float32),
        "beta": np.zeros(4, np.float32),
        "mean": np.zeros(4, np.float32),
        "var": RNG.uniform(0.5, 2, 4).astype(np.float32),
        "w2": RNG.normal(size=(5, 4, 3, 3)).astype(np.float32),
        "fc": RNG.normal(size=(10, 5 * 8 * 8)).astype(np.float32),
        **dict(extra_inits),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[0, 0, 0, 0]),
        helper.make_node("BatchNormalization", ["c1", "gamma", "beta", "mean", "var"], ["b1"], epsilon=1e-3),
        helper.make_node("Relu", ["b1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2"),
        helper.make_node("Relu", ["c2"], ["r2"]),
        *extra_nodes,
        helper.make_node("Flatten", [flatten_input], ["f"]),
        helper.make_node("Gemm", ["f", "fc"], ["y"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 12, 12])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        initializer=[numpy_helper.from_array(v, name=k) for k, v in arrays.items()],
    )
    save(helper.make_model(graph), str(path))
    return arrays


def test_onnx_model(tmp_path: Path) -> None:
    path = tmp_path / "net.onnx"
    arrays = _onnx_model(path)
    weights = read_network(path)
    assert [k.shape for k in weights.kernels] == [(3, 3, 1, 4), (3, 3, 4, 5), (320, 10)]
    np.testing.assert_array_equal(weights.kernels[1], arrays["w2"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(weights.kernels[2], arrays["fc"].T)
    assert weights.batch_norms[0].epsilon == pytest.approx(1e-3)
    np.testing.assert_allclose(weights.batch_norms[0].gamma, arrays["gamma"])
    out = tmp_path / "r.json"
    assert main(["ncut", str(path), "--k", "2", "--shuffles", "3", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["network_kind"] == "cnn" and result["layer_sizes"] == [4, 5] and len(result["shuffle_ncuts"]) == 3


def test_onnx_unsupported_layers_name_the_node(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from onnx import helper

    lstm = helper.make_node("LSTM", ["r2", "lw", "lr"], ["h"], name="encoder_lstm", hidden_size=2)
    inits = [("lw", np.zeros((1, 8, 5), np.float32)), ("lr", np.zeros((1, 8, 2), np.float32))]
    _onnx_model(tmp_path / "lstm.onnx", [lstm], inits, flatten_input="h")
    assert main(["ncut", str(tmp_path / "lstm.onnx"), "--k", "2", "--shuffles", "0"]) == 2
    err = capsys.readouterr().err
    assert "node 'encoder_lstm' (LSTM) cannot be mapped" in err and err.count("\n") == 1
    residual = helper.make_node("Add", ["r2", "c2"], ["sum"], name="skip")
    _onnx_model(tmp_path / "res.onnx", [residual], flatten_input="sum")
    with pytest.raises(InputError, match="node 'skip' \\(Add\\) merges 2 computed tensors"):
        read_network(tmp_path / "res.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf at all \xff\xfe")
    with pytest.raises(InputError, match="not a readable ONNX model"):
        read_network(tmp_path / "junk.onnx")


def test_cli_reads_a_state_dict_with_a_layer_order(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from safetensors.numpy import save_file

    mlp = {"b.weight": RNG.normal(size=(3, 6)), "a.weight": RNG.normal(size=(6, 9))}
    save_file({k: v.astype(np.float32) for k, v in mlp.items()}, str(tmp_path / "m.safetensors"))
    assert main(["ncut", str(tmp_path / "m.safetensors"), "--k", "2", "--shuffles", "2", "--layers", "a,b"]) == 0
    assert "mlp with layers [9, 6, 3]" in capsys.readouterr().out
    assert main(["ncut", str(tmp_path / "m.safetensors"), "--k", "2", "--layers", "a,zz"]) == 2
    assert "'zz' is not a Linear or Conv2d module" in capsys.readouterr().err
