"""Saved Keras models are untrusted input: reading one runs no code from it, and a malformed one is one line.

A ``Lambda`` layer stores marshalled Python bytecode that tf_keras' loaders run when they rebuild the
model (its ``.h5`` loader has no safe mode). The payload files here hold bytecode that would create a
marker file: ``clusterability ncut`` and ``draw`` must refuse them in one line and the marker must never
appear. With tf_keras installed, the payloads are shown to be live (tf_keras' own loader runs them) and
real saved models are checked to read as they did through Keras. The files are written in the
publishers' layouts (tf_keras' HDF5 and ``.keras`` archive) inside the tests; a property-based test
mutates them (config, weights, raw bytes) and accepts only a valid network or one InputError line.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import marshal
import re
import subprocess
import sys
import types
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

h5py = pytest.importorskip("h5py")

from clusterability.cli import main  # noqa: E402
from clusterability.core.network import NetworkWeights  # noqa: E402
from clusterability.errors import InputError  # noqa: E402
from clusterability.io import keras_files  # noqa: E402
from clusterability.io.keras_files import TF_OP_ACTIVATIONS, check_builtin_classes, read_saved_model  # noqa: E402
from clusterability.io.network_files import read_network  # noqa: E402

# ---------------------------------------------------------------------------- tf_keras' layouts, written by hand


def _init(cls: str) -> dict[str, Any]:
    return {"module": "keras.initializers", "class_name": cls, "config": {}, "registered_name": None}


def _layer(cls: str, name: str, inbound: list[str] | None = None, **config: Any) -> dict[str, Any]:
    """A layer as tf_keras serializes it (``inbound``: a functional model's wiring)."""
    out: dict[str, Any] = {
        "module": "keras.layers",
        "class_name": cls,
        "config": {"name": name, "trainable": True, "dtype": "float32", **config},
        "registered_name": None,
    }
    if inbound is not None:
        out["name"] = name
        out["inbound_nodes"] = [[[source, 0, 0, {}] for source in inbound]] if inbound else []
    return out


def _dense(name: str, units: int, inbound: list[str] | None = None, **config: Any) -> dict[str, Any]:
    inits = {"kernel_initializer": _init("GlorotUniform"), "bias_initializer": _init("Zeros")}
    return _layer("Dense", name, inbound, units=units, activation="linear", use_bias=True, **inits, **config)


def _conv(name: str, filters: int, size: int, inbound: list[str]) -> dict[str, Any]:
    return _layer(
        "Conv2D", name, inbound, filters=filters, kernel_size=[size, size], padding="same", groups=1, use_bias=True
    )


def _model(cls: str, name: str, layers: list[dict[str, Any]]) -> dict[str, Any]:
    module = "keras" if cls == "Sequential" else "tf_keras.src.engine.functional"
    return {"module": module, "class_name": cls, "config": {"name": name, "layers": layers}, "registered_name": None}


def _input(name: str, shape: list[int | None], functional: bool = False) -> dict[str, Any]:
    layer = _layer("InputLayer", name, [] if functional else None, batch_input_shape=shape)
    layer["config"].pop("trainable")
    return layer


def sequential_mlp() -> tuple[dict[str, Any], dict[str, list[np.ndarray]]]:
    """A Sequential 4-3-2 MLP with a batch norm and dropout: its config and each layer's weights in order."""
    config = _model(
        "Sequential",
        "mlp",
        [
            _input("x", [None, 4]),
            _dense("d0", 3),
            _layer("BatchNormalization", "bn", axis=[1], epsilon=1e-3, center=True, scale=True),
            _layer("Dropout", "drop", rate=0.5),
            _dense("d1", 2),
        ],
    )
    rng = np.random.default_rng(0)
    weights = {
        "d0": [rng.standard_normal((4, 3)), rng.standard_normal(3)],
        "bn": [rng.uniform(0.5, 2, 3), rng.standard_normal(3), rng.standard_normal(3), rng.uniform(0.5, 2, 3)],
        "d1": [rng.standard_normal((3, 2)), rng.standard_normal(2)],
    }
    return config, {name: [w.astype(np.float32) for w in ws] for name, ws in weights.items()}


def functional_cnn() -> tuple[dict[str, Any], dict[str, list[np.ndarray]]]:
    """A functional CNN with a residual Add and a Concatenate (wired, P2 section 3.1's channel graph)."""
    config = _model(
        "Functional",
        "cnn",
        [
            _input("x", [None, 6, 6, 2], functional=True),
            _conv("c0", 3, 3, ["x"]),
            _layer("BatchNormalization", "bn0", ["c0"], axis=[3], epsilon=1e-3, center=True, scale=True),
            _conv("c1", 3, 1, ["bn0"]),
            _layer("Add", "add", ["bn0", "c1"]),
            _layer("Concatenate", "cat", ["add", "c1"], axis=-1),
            _layer("TFOpLambda", "tf.nn.relu", ["cat"], function="nn.relu"),  # tf.nn.relu(x): read as an activation
            _layer("GlobalAveragePooling2D", "gap", ["tf.nn.relu"]),
            _dense("d", 2, ["gap"]),
        ],
    )
    rng = np.random.default_rng(1)
    weights = {
        "c0": [rng.standard_normal((3, 3, 2, 3)), rng.standard_normal(3)],
        "bn0": [rng.uniform(0.5, 2, 3), rng.standard_normal(3), rng.standard_normal(3), rng.uniform(0.5, 2, 3)],
        "c1": [rng.standard_normal((1, 1, 3, 3)), rng.standard_normal(3)],
        "d": [rng.standard_normal((6, 2)), rng.standard_normal(2)],
    }
    return config, {name: [w.astype(np.float32) for w in ws] for name, ws in weights.items()}


_ROLES = {"Dense": ("kernel", "bias"), "Conv2D": ("kernel", "bias")}
_ROLES["BatchNormalization"] = ("gamma", "beta", "moving_mean", "moving_variance")


def write_h5(
    path: Path, config: dict[str, Any], weights: dict[str, list[np.ndarray]], model_config: Any = None
) -> Path:
    """tf_keras' legacy HDF5 layout: ``model_config`` JSON, ``model_weights/<layer>/<layer>/<role>:0``.

    ``model_config``: another config to store (the weights are laid out by ``config``'s layers).
    """
    layers = [layer for layer in config["config"]["layers"] if layer["class_name"] != "InputLayer"]
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.21.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config if model_config is None else model_config)
        root = f.create_group("model_weights")
        root.attrs["layer_names"] = np.array([layer["config"]["name"] for layer in layers], dtype="S")
        for layer in layers:
            name = layer["config"]["name"]
            group = root.create_group(name)
            names = [f"{name}/{role}:0" for role in _ROLES.get(layer["class_name"], ())][: len(weights.get(name, []))]
            group.attrs["weight_names"] = np.array(names, dtype="S") if names else np.zeros(0)
            for weight_name, value in zip(names, weights.get(name, [])):
                group.create_dataset(weight_name, data=value)
    return path


def keras_weights_h5(config: dict[str, Any], weights: dict[str, list[np.ndarray]]) -> bytes:
    """A ``.keras`` archive's ``model.weights.h5``: ``layers/<class in snake case>[_n]/vars/<i>``."""
    used: dict[str, int] = {}
    out = io.BytesIO()
    with h5py.File(out, "w") as f:
        f.create_group("vars")
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "InputLayer" and config["class_name"] == "Sequential":
                continue  # not among a Sequential model's layers
            cls = re.sub("([a-z])([A-Z])", r"\1_\2", re.sub("(.)([A-Z][a-z]+)", r"\1_\2", layer["class_name"])).lower()
            used[cls] = used.get(cls, -1) + 1
            group = f.create_group(f"layers/{cls}" + (f"_{used[cls]}" if used[cls] else "") + "/vars")
            for i, value in enumerate(weights.get(layer["config"]["name"], [])):
                group.create_dataset(str(i), data=value)
    return out.getvalue()


def write_keras(
    path: Path, config: dict[str, Any] | str, weights_h5: bytes, metadata: dict[str, Any] | None = None
) -> Path:
    """A ``.keras`` archive: ``metadata.json``, ``config.json`` and ``model.weights.h5`` (zip, stored)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps(metadata or {"keras_version": "2.21.0"}))
        archive.writestr("config.json", config if isinstance(config, str) else json.dumps(config))
        archive.writestr("model.weights.h5", weights_h5)
    return path


def _check_mlp(weights: NetworkWeights, arrays: dict[str, list[np.ndarray]]) -> None:
    np.testing.assert_array_equal(weights.kernels[0], arrays["d0"][0])
    np.testing.assert_array_equal(weights.kernels[1], arrays["d1"][0])
    np.testing.assert_array_equal(weights.biases[1], arrays["d1"][1])
    bn = weights.batch_norms[0]
    assert bn is not None and weights.batch_norms[1] is None and bn.epsilon == pytest.approx(1e-3)
    np.testing.assert_array_equal(bn.gamma, arrays["bn"][0])
    np.testing.assert_array_equal(bn.moving_variance, arrays["bn"][3])


def test_hand_written_files_in_tf_keras_layouts_are_read(tmp_path: Path) -> None:
    """The writers above give files the reader maps right (the base of the hostile variants below)."""
    config, arrays = sequential_mlp()
    for path in (
        write_h5(tmp_path / "mlp.h5", config, arrays),
        write_keras(tmp_path / "mlp.keras", config, keras_weights_h5(config, arrays)),
    ):
        weights = read_network(path)  # in a child process, handed back as .npz
        assert weights.kind == "mlp" and not weights.is_dag
        _check_mlp(weights, arrays)
    config, arrays = functional_cnn()
    for path in (
        write_h5(tmp_path / "cnn.h5", config, arrays),
        write_keras(tmp_path / "cnn.keras", config, keras_weights_h5(config, arrays)),
    ):
        weights = read_saved_model(path)
        assert weights.is_dag and [k.shape for k in weights.kernels] == [(3, 3, 2, 3), (1, 1, 3, 3)]
        np.testing.assert_array_equal(weights.kernels[1], arrays["c1"][0])
        assert weights.sources[0] is None and weights.sources[1].tolist() == [[0, 0]]
        np.testing.assert_array_equal(weights.batch_norms[0].moving_variance, arrays["bn0"][3])


# ---------------------------------------------------------------------------- payloads


def payload_code(marker: Path) -> list[Any]:
    """A Lambda's ``function`` as tf_keras stores it (``func_dump``): bytecode that creates ``marker``.

    Only compiled here, never run: tf_keras' ``func_load`` would unmarshal and call it.
    """
    source = f"lambda x: (__import__('pathlib').Path({str(marker)!r}).write_text('payload ran'), x)[1]"
    code = next(c for c in compile(source, "<payload>", "eval").co_consts if isinstance(c, types.CodeType))
    return [base64.b64encode(marshal.dumps(code)).decode("ascii"), None, None]


def _lambda(name: str, marker: Path, inbound: list[str] | None = None) -> dict[str, Any]:
    function = {"function": payload_code(marker), "function_type": "lambda", "module": "__main__"}
    return _layer("Lambda", name, inbound, **function, output_shape=None, output_shape_type="raw", arguments={})


def _with(config: dict[str, Any], index: int, layer: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(config)
    out["config"]["layers"].insert(index, layer)
    return out


def hostile_files(folder: Path, marker: Path) -> dict[str, Path]:
    """Models whose config holds code or a class from outside Keras, written by hand in tf_keras' layouts."""
    mlp, arrays = sequential_mlp()
    cnn, cnn_arrays = functional_cnn()
    mlp_h5 = keras_weights_h5(mlp, arrays)
    func = _with(cnn, 2, _lambda("payload", marker, ["c0"]))
    func["config"]["layers"][3]["inbound_nodes"] = [[["payload", 0, 0, {}]]]  # bn0 reads the Lambda
    nested = _with(mlp, 4, _model("Sequential", "inner", [_lambda("payload", marker), _layer("Dropout", "d", rate=0)]))
    wrapped = _with(mlp, 2, _layer("PruneLowMagnitude", "p", layer=_lambda("payload", marker)))
    wrapped["config"]["layers"][2]["module"] = "tensorflow_model_optimization.python.core.sparsity.keras"
    activation = copy.deepcopy(mlp)
    activation["config"]["layers"][1]["config"]["activation"] = {
        "class_name": "__lambda__",
        "config": {"value": payload_code(marker)},
    }
    foreign = copy.deepcopy(mlp)
    foreign["config"]["layers"][1]["module"] = "evil.layers"  # a Dense from another module
    custom = _with(mlp, 2, _layer("EvilLayer", "evil"))
    registered = _with(mlp, 2, _layer("EvilLayer", "evil"))
    registered["config"]["layers"][2]["registered_name"] = "Custom>EvilLayer"
    initializer = copy.deepcopy(mlp)
    initializer["config"]["layers"][1]["config"]["kernel_initializer"] = {
        "module": "__main__",
        "class_name": "EvilInitializer",
        "config": {},
        "registered_name": "EvilInitializer",
    }
    function = copy.deepcopy(mlp)
    function["config"]["layers"][1]["config"]["activation"] = {
        "module": "__main__",
        "class_name": "function",
        "config": "evil",
        "registered_name": "function",
    }
    tf_op = _with(cnn, 2, _layer("TFOpLambda", "tf.io.write_file", ["c0"], function="io.write_file"))
    slicing = _with(
        cnn, 2, _layer("SlicingOpLambda", "tf.__operators__.getitem", ["c0"], function="__operators__.getitem")
    )
    return {
        "sequential_lambda.h5": write_h5(
            folder / "sequential_lambda.h5", _with(mlp, 2, _lambda("payload", marker)), arrays
        ),
        "functional_lambda.h5": write_h5(folder / "functional_lambda.h5", func, cnn_arrays),
        "functional_lambda.keras": write_keras(
            folder / "functional_lambda.keras", func, keras_weights_h5(cnn, cnn_arrays)
        ),
        "sequential_lambda.keras": write_keras(
            folder / "sequential_lambda.keras", _with(mlp, 2, _lambda("payload", marker)), mlp_h5
        ),
        "nested_lambda.h5": write_h5(folder / "nested_lambda.h5", nested, arrays),
        "wrapped_lambda.h5": write_h5(folder / "wrapped_lambda.h5", wrapped, arrays),
        "lambda_activation.keras": write_keras(folder / "lambda_activation.keras", activation, mlp_h5),
        "foreign_module.keras": write_keras(folder / "foreign_module.keras", foreign, mlp_h5),
        "custom_class.h5": write_h5(folder / "custom_class.h5", custom, arrays),
        "registered_custom.keras": write_keras(folder / "registered_custom.keras", registered, mlp_h5),
        "custom_initializer.keras": write_keras(folder / "custom_initializer.keras", initializer, mlp_h5),
        "custom_activation.keras": write_keras(folder / "custom_activation.keras", function, mlp_h5),
        "tf_write_file.h5": write_h5(folder / "tf_write_file.h5", tf_op, cnn_arrays),
        "tf_slicing.h5": write_h5(folder / "tf_slicing.h5", slicing, cnn_arrays),
    }


HOSTILE = (
    "sequential_lambda.h5",
    "functional_lambda.h5",
    "functional_lambda.keras",
    "sequential_lambda.keras",
    "nested_lambda.h5",
    "wrapped_lambda.h5",
    "lambda_activation.keras",
    "foreign_module.keras",
    "custom_class.h5",
    "registered_custom.keras",
    "custom_initializer.keras",
    "custom_activation.keras",
    "tf_write_file.h5",
    "tf_slicing.h5",
)


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def _refused_by_both_commands(
    path: Path, marker: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], repeats: int = 1
) -> str:
    """``ncut`` and ``draw`` end in one error line, exit 2, and the payload never runs (not even on a repeat)."""
    messages = set()
    for _ in range(repeats):
        for args in (
            ["ncut", str(path), "--k", "2", "--shuffles", "2"],
            ["draw", str(path), "--k", "2", "-o", str(tmp_path / "net.png")],
        ):
            code, err = _run_cli(args, capsys)
            assert code == 2 and err.count("\n") == 1 and err.startswith("clusterability: error: "), err
            assert str(path) in err
            assert not marker.exists(), f"the payload of {path.name} ran"
            messages.add(err)
    assert not (tmp_path / "net.png").exists()
    assert len(messages) == 1
    return messages.pop()


#: The issue's payloads: a Lambda in a Sequential and in a functional model, as .h5 and .keras.
PAYLOADS = ("sequential_lambda.h5", "functional_lambda.h5", "functional_lambda.keras", "sequential_lambda.keras")


@pytest.mark.parametrize("name", HOSTILE)
def test_code_in_a_model_file_is_refused_and_never_run(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``ncut`` and ``draw`` refuse the issue's payloads; the reader (in this process) refuses the other variants."""
    marker = tmp_path / "PAYLOAD_RAN"
    path = hostile_files(tmp_path, marker)[name]
    if name in PAYLOADS:
        err = _refused_by_both_commands(path, marker, tmp_path, capsys)
    else:
        with pytest.raises(InputError) as error:
            read_saved_model(path)
        err = str(error.value)
        assert "\n" not in err and err.startswith(str(path))
    assert not marker.exists()
    expected = {"lambda": "Lambda", "tf_": "TensorFlow function", "foreign": "not Keras"}
    expected |= {"registered": "registered custom object", "custom_class": "not a built-in Keras class"}
    expected |= {"custom_initializer": "not Keras", "custom_activation": "not Keras"}
    assert next(v for k, v in expected.items() if k in name) in err
    assert "runs no code from a model file" in err


def test_the_console_script_refuses_a_payload(tmp_path: Path) -> None:
    """The installed ``clusterability`` command, in its own process, as a user runs it."""
    marker = tmp_path / "PAYLOAD_RAN"
    path = hostile_files(tmp_path, marker)["sequential_lambda.h5"]
    script = Path(sys.executable).with_name("clusterability")
    proc = subprocess.run(
        [str(script), "ncut", str(path), "--k", "2", "--shuffles", "2"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Lambda" in proc.stderr, proc.stderr
    assert not marker.exists()


def test_builtin_class_check_walks_every_object() -> None:
    """The whitelist sees objects nested anywhere: layers, sub-configs, inbound nodes' kwargs, lists."""
    config, _ = functional_cnn()
    check_builtin_classes(config, "m")  # all built-in
    config["config"]["layers"][1]["inbound_nodes"][0][0][3] = {"x": [{"class_name": "__lambda__", "config": {}}]}
    with pytest.raises(InputError, match="Lambda"):
        check_builtin_classes(config, "m")
    for function in sorted(TF_OP_ACTIVATIONS):  # a TFOpLambda activation is read as a weightless layer
        check_builtin_classes({"class_name": "TFOpLambda", "config": {"name": "t", "function": function}}, "m")
    with pytest.raises(InputError, match="'nn.conv2d'"):
        check_builtin_classes({"class_name": "TFOpLambda", "config": {"name": "t", "function": "nn.conv2d"}}, "m")


# ---------------------------------------------------------------------------- malformed files


def _replace(f: Any, name: str, **dataset: Any) -> None:
    del f[name]
    f.create_dataset(name, **dataset)


MALFORMED: dict[str, tuple[Callable[[Any], None] | None, str]] = {
    # name: (an edit of the valid .h5 file, a fragment of the message)
    "not_json.h5": (lambda f: f.attrs.__setitem__("model_config", "{not json"), "not JSON"),
    "config_int_array.h5": (lambda f: f.attrs.__setitem__("model_config", np.arange(4)), "not text"),
    "config_list.h5": (lambda f: f.attrs.__setitem__("model_config", "[1, 2]"), "not an object"),
    "config_bytes.h5": (lambda f: f.attrs.__setitem__("model_config", np.void(b"\xff\xfe")), "not text"),
    "weights_only.h5": (lambda f: f.attrs.__delitem__("model_config"), "no model config"),
    "keras_1.h5": (lambda f: f.attrs.__setitem__("keras_version", "1.2.2"), "Keras 1.2.2"),
    "missing_group.h5": (lambda f: f["model_weights"].__delitem__("d1"), "has no 'd1'"),
    "missing_dataset.h5": (lambda f: f["model_weights/d0/d0"].__delitem__("bias:0"), "has no 'd0/bias:0'"),
    "extra_weight.h5": (
        lambda f: f["model_weights/d1"].attrs.__setitem__("weight_names", [b"a", b"b", b"c"]),
        "3 weights",
    ),
    "weight_names_numbers.h5": (lambda f: f["model_weights/d0"].attrs.__setitem__("weight_names", [1, 2]), "not names"),
    "kernel_vs_units.h5": (lambda f: _replace(f, "model_weights/d1/d1/kernel:0", data=np.ones((3, 5))), "units=2"),
    "bias_vs_kernel.h5": (lambda f: _replace(f, "model_weights/d0/d0/bias:0", data=np.ones(4)), "its bias"),
    "kernels_do_not_chain.h5": (
        lambda f: _replace(f, "model_weights/d1/d1/kernel:0", data=np.ones((5, 2), np.float32)),
        "chain",
    ),
    "huge_tensor.h5": (
        lambda f: _replace(f, "model_weights/d0/d0/kernel:0", shape=(70000, 70000), dtype="f4", chunks=(64, 64)),
        "MAX_TENSOR_BYTES",
    ),
    "huge_dimension.h5": (
        lambda f: _replace(f, "model_weights/d0/d0/bias:0", shape=(2**25,), dtype="f4", chunks=(1024,)),
        "MAX_DIMENSION",
    ),
    "string_kernel.h5": (
        lambda f: _replace(f, "model_weights/d0/d0/kernel:0", data=np.full((4, 3), b"ab")),
        "not numbers",
    ),
    "nan_kernel.h5": (lambda f: _replace(f, "model_weights/d0/d0/kernel:0", data=np.full((4, 3), np.nan)), "NaN"),
    "negative_variance.h5": (
        lambda f: _replace(f, "model_weights/bn/bn/moving_variance:0", data=-np.ones(3, np.float32)),
        "variance",
    ),
    "external_link.h5": (
        lambda f: (f["model_weights/d0/d0"].__delitem__("kernel:0"), _link(f, "model_weights/d0/d0/kernel:0")),
        "ExternalLink",
    ),
    "wrong_top_class.h5": (
        lambda f: f.attrs.__setitem__("model_config", json.dumps(_dense("d", 2))),
        "not a Sequential or functional model",
    ),
    "layers_not_a_list.h5": (
        lambda f: f.attrs.__setitem__("model_config", json.dumps(_model("Sequential", "m", [])).replace("[]", "{}")),
        "no list of layers",
    ),
    "truncated.h5": (None, "not a readable Keras model file"),
    "empty.h5": (None, "not a Keras model file"),
    "zip_named_h5.h5": (None, "not a Keras model file"),
    "truncated.keras": (None, "not a Keras model file"),
    "flipped_weights.keras": (None, "not a readable Keras model file"),
    "no_config.keras": (None, "without config.json"),
    "no_weights.keras": (None, "without model.weights.h5"),
    "config_not_json.keras": (None, "not JSON"),
    "keras_3.keras": (None, "Keras 3.6.0"),
    "missing_vars.keras": (None, "stores 0 weights in layers/dense_1/vars"),
}


def _link(f: Any, name: str) -> None:
    f[name] = h5py.ExternalLink(str(Path(f.filename).with_name("other.h5")), "/secret")


def malformed_file(folder: Path, name: str) -> Path:
    """The valid MLP of :func:`sequential_mlp` with one defect (``MALFORMED``)."""
    mlp, arrays = sequential_mlp()
    path = folder / name
    edit, _ = MALFORMED[name]
    if edit is not None:
        with h5py.File(folder / "other.h5", "w") as other:
            other["secret"] = np.ones((4, 3))
        write_h5(path, mlp, arrays)
        with h5py.File(path, "r+") as f:
            edit(f)
        return path
    good_h5 = write_h5(folder / "good.h5", mlp, arrays).read_bytes()
    weights = keras_weights_h5(mlp, arrays)
    good_keras = write_keras(folder / "good.keras", mlp, weights).read_bytes()
    if name == "flipped_weights.keras":
        start = good_keras.index(weights) + len(weights) - 100  # inside the last dataset's data
        data = bytearray(good_keras)
        data[start] ^= 0x40
        path.write_bytes(bytes(data))
    elif name.endswith(".keras") and not name.startswith("truncated"):
        with zipfile.ZipFile(path, "w") as archive:
            if name != "no_config.keras":
                archive.writestr("config.json", "{not json" if name == "config_not_json.keras" else json.dumps(mlp))
            if name == "keras_3.keras":
                archive.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))
            if name == "missing_vars.keras":
                partial = {k: v for k, v in arrays.items() if k != "d1"}
                archive.writestr("model.weights.h5", keras_weights_h5(mlp, partial))
            elif name != "no_weights.keras":
                archive.writestr("model.weights.h5", weights)
    else:
        data = {"truncated.h5": good_h5[: len(good_h5) // 2], "empty.h5": b"", "zip_named_h5.h5": good_keras}
        data["truncated.keras"] = good_keras[: len(good_keras) // 2]
        path.write_bytes(data[name])
    return path


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_keras_files_are_one_line_errors(name: str, tmp_path: Path) -> None:
    path = malformed_file(tmp_path, name)
    with pytest.raises(InputError) as error:
        read_saved_model(path)  # in this process (faster): read_network's child hands on the same message
    message = str(error.value)
    assert "\n" not in message and message.startswith(str(path)), message
    assert MALFORMED[name][1] in message, message


def test_a_folder_is_not_loaded_as_a_saved_model(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(b"")
    with pytest.raises(InputError, match="SavedModel"):
        read_saved_model(tmp_path)
    with pytest.raises(InputError, match="SavedModel"):
        keras_files.load_keras_model_weights(tmp_path)


# ---------------------------------------------------------------------------- real tf_keras files


@pytest.fixture(scope="module")
def keras() -> Any:
    pytest.importorskip("tf_keras")
    from clusterability.train.runtime import import_tf

    return import_tf(seed=0)[1]


def inject_payload(path: Path, marker: Path) -> None:
    """Replace the function of every Lambda layer in a saved model by :func:`payload_code` (h5py, zip: no Keras)."""

    def edit(text: str | bytes) -> str:
        config = json.loads(text)
        stack = [config]
        while stack:
            obj = stack.pop()
            if isinstance(obj, dict):
                if obj.get("class_name") == "Lambda":
                    obj["config"]["function"] = payload_code(marker)
                stack.extend(obj.values())
            elif isinstance(obj, list):
                stack.extend(obj)
        return json.dumps(config)

    if path.suffix == ".h5":
        with h5py.File(path, "r+") as f:
            f.attrs["model_config"] = edit(f.attrs["model_config"])
        return
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["config.json"] = edit(members["config.json"]).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


@pytest.mark.tf
@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
@pytest.mark.filterwarnings("ignore:The object being serialized includes a `lambda`")
def test_tf_keras_runs_the_payload_that_clusterability_refuses(
    keras: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Saved by tf_keras with a harmless Lambda, then given the payload: tf_keras' loader runs it, we never do."""
    layers = keras.layers
    marker = tmp_path / "PAYLOAD_RAN"
    sequential = keras.Sequential([keras.Input((4,)), layers.Dense(3), layers.Lambda(lambda t: t), layers.Dense(2)])
    inputs = keras.Input((6, 6, 2))
    x = layers.Conv2D(3, 3, padding="same")(inputs)
    x = layers.Lambda(lambda t: t)(x)
    functional = keras.Model(inputs, layers.Add()([x, layers.Conv2D(3, 1)(x)]))
    files = []
    for model, stem in ((sequential, "sequential"), (functional, "functional")):
        for suffix in (".h5", ".keras"):
            path = tmp_path / f"{stem}{suffix}"
            model.save(path)
            inject_payload(path, marker)
            files.append(path)
    assert not marker.exists()
    for path in files:  # the payload is live: tf_keras runs it (for .keras only with safe_mode=False)
        keras.models.load_model(path, compile=False, **({"safe_mode": False} if path.suffix == ".keras" else {}))
        assert marker.exists(), path
        marker.unlink()
    for path in files:  # the issue saw the payload run again on a second call: twice for the first file
        repeats = 2 if path == files[0] else 1
        assert "Lambda" in _refused_by_both_commands(path, marker, tmp_path, capsys, repeats)


def _same(a: NetworkWeights, b: NetworkWeights) -> None:
    """The same kernels, biases, batch norms and wiring, dtypes included."""
    assert a.n_layers == b.n_layers
    for x, y in zip(a.kernels + a.biases + a.sources, b.kernels + b.biases + b.sources):
        assert (x is None) == (y is None)
        if x is not None:
            assert x.dtype == y.dtype and np.array_equal(x, y)
    for x, y in zip(a.batch_norms, b.batch_norms):
        assert (x is None) == (y is None)
        if x is not None:
            assert x.epsilon == y.epsilon
            for field in ("gamma", "moving_variance", "beta", "moving_mean"):
                np.testing.assert_array_equal(getattr(x, field), getattr(y, field))


@pytest.mark.tf
@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
def test_saved_models_read_as_keras_loads_them(keras: Any, tmp_path: Path) -> None:
    """Plain Sequential, functional, nested and pruned models: the kernels of the model Keras would load.

    (Reference: :func:`network_weights` of the in-memory model, which the former loader gave for the
    loaded one.)
    """
    import tensorflow_model_optimization as tfmot

    from clusterability.train.keras_model import network_weights

    layers = keras.layers
    cnn = keras.Sequential(
        [
            keras.Input((10, 10, 2)),
            layers.Conv2D(4, 3, name="c0"),
            layers.BatchNormalization(epsilon=1e-5, name="bn0"),
            layers.ReLU(),
            layers.Conv2D(5, 3, use_bias=False),
            layers.MaxPooling2D(),
            layers.Dropout(0.2),
            layers.Flatten(),
            layers.Dense(3),
        ]
    )
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same")(inputs)
    x = layers.BatchNormalization(scale=False)(x)
    x = layers.Activation("relu")(x)
    y = layers.Conv2D(4, 1, use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    x = layers.Add()([x, y])
    x = layers.Concatenate()([x, layers.Conv2D(2, 1)(x)])
    x = layers.AveragePooling2D()(x)
    x = layers.GlobalMaxPooling2D()(x)
    functional = keras.Model(inputs, layers.Dense(2)(x))
    inner = keras.Sequential([keras.Input((6,)), layers.Dense(4), layers.BatchNormalization(), layers.Dense(3)])
    inner.trainable = False  # a frozen block: its weights come after the others' in the .h5 order
    nested = keras.Sequential([keras.Input((5,)), layers.Dense(6), inner, layers.Dropout(0.1), layers.Dense(2)])
    base = keras.Sequential([keras.Input((7,)), layers.Dense(5), layers.BatchNormalization(), layers.Dense(2)])
    pruned = tfmot.sparsity.keras.prune_low_magnitude(base)
    rng = np.random.default_rng(0)
    for model in (cnn, functional, nested, pruned):
        for weight in model.weights:  # not the initial values, variances positive
            if weight.dtype.name != "int64":
                value = rng.uniform(0.1, 2.0, weight.shape) * (1 if "variance" in weight.name else rng.choice([-1, 1]))
                weight.assign(value.astype(weight.dtype.name))
    expected = {
        "cnn": network_weights(cnn),
        "functional": network_weights(functional),
        "nested": network_weights(nested),
        "pruned": network_weights(tfmot.sparsity.keras.strip_pruning(pruned)),
    }
    assert expected["functional"].is_dag and not expected["cnn"].is_dag
    for model, name in ((cnn, "cnn"), (functional, "functional"), (nested, "nested"), (pruned, "pruned")):
        for suffix in (".h5", ".keras"):
            path = tmp_path / f"{name}{suffix}"
            model.save(path)
            _same(read_saved_model(path), expected[name])
    _same(read_network(tmp_path / "functional.keras"), expected["functional"])  # through the child and .npz
    weights_only = tmp_path / "weights.h5"
    cnn.save_weights(weights_only)
    with pytest.raises(InputError, match="no model config"):
        read_network(weights_only)


@pytest.mark.tf
def test_the_hand_written_layouts_are_the_ones_tf_keras_reads(keras: Any, tmp_path: Path) -> None:
    """tf_keras itself loads the hand-written files with the weights written (so the mutants below are realistic)."""
    config, arrays = sequential_mlp()
    h5 = write_h5(tmp_path / "mlp.h5", config, arrays)
    archive = write_keras(tmp_path / "mlp.keras", config, keras_weights_h5(config, arrays))
    for path in (h5, archive):
        model = keras.models.load_model(path, compile=False)
        by_layer = {layer.name: layer.get_weights() for layer in model.layers}
        for name, values in arrays.items():
            for got, want in zip(by_layer[name], values):
                np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------- mutants (property-based)

#: Values a mutant config may hold where a valid one holds something else.
_VALUES = [None, True, False, 0, -1, 3, 2**40, 1.5, float("inf"), "", "x", "Lambda", "Dense", "Conv2D"]
_VALUES += ["BatchNormalization", "Add", "Sequential", "Functional", "InputLayer", "PruneLowMagnitude", "TFOpLambda"]
_VALUES += [[], {}, [None, 4], [None, 6, 6, 2], [3, 3], [[["x", 0, 0, {}]]], [["c0", 0, 0]], "float64", "float16"]
_VALUES += [{"class_name": "Dense", "config": {"name": "z", "units": 2}}, {"class_name": "Policy", "config": {}}]
_VALUES += [{"class_name": "Lambda", "config": {"name": "z"}}, {"module": "evil", "class_name": "Dense"}]


def _slots(obj: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) of a JSON tree, depth first."""
    out = []
    stack = [obj]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            out.append((node, key))
            stack.append(value)
    return out


def _mutate_config(config: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """One to three edits of the model config: delete a key or an item, or replace a value."""
    config = copy.deepcopy(config)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        slots = _slots(config)
        container, key = slots[data.draw(st.integers(0, len(slots) - 1), label="slot")]
        if data.draw(st.booleans(), label="delete"):
            del container[key]
        else:
            container[key] = copy.deepcopy(data.draw(st.sampled_from(_VALUES), label="value"))
    return config


def _datasets(f: Any) -> list[str]:
    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return sorted(names)


def _mutate_weights(f: Any, data: st.DataObject) -> None:
    """Delete, reshape, retype, inflate (declared only) or poison one weight, or garble a weight_names list."""
    names = _datasets(f)
    name = names[data.draw(st.integers(0, len(names) - 1), label="dataset")]
    kind = data.draw(st.sampled_from(["delete", "shape", "dtype", "huge", "nan", "names", "link"]), label="weights")
    if kind == "delete":
        del f[name]
    elif kind == "shape":
        shape = data.draw(st.lists(st.integers(0, 5), max_size=5), label="shape")
        _replace(f, name, data=np.ones(shape, np.float32))
    elif kind == "dtype":
        dtype = data.draw(st.sampled_from(["i1", "u8", "f2", "f8", "?", "S4", "c8"]), label="dtype")
        _replace(f, name, data=np.ones(f[name].shape, dtype))
    elif kind == "huge":
        shape = data.draw(st.sampled_from([(2**25,), (70000, 70000), (4096,) * 4, (1,) * 9]), label="huge")
        _replace(f, name, shape=shape, dtype="f4", chunks=(1,) * len(shape))
    elif kind == "nan":
        _replace(f, name, data=np.full(f[name].shape, data.draw(st.sampled_from([np.nan, np.inf, 1e38]))))
    elif kind == "link":
        del f[name]
        f[name] = h5py.SoftLink("/" + names[0])
    else:
        groups = [g for g in ("model_weights/d0", "model_weights/bn", "model_weights/c0") if g in f]
        if groups:
            value = data.draw(st.sampled_from([[b"x:0"], [], np.arange(3), [b"d0/kernel:0"] * 3]), label="names")
            f[groups[0]].attrs["weight_names"] = value


def _flip_bytes(raw: bytes, regions: list[tuple[int, int]], data: st.DataObject) -> bytes:
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        start, size = regions[data.draw(st.integers(0, len(regions) - 1), label="region")]
        out[start + data.draw(st.integers(0, size - 1), label="byte")] ^= data.draw(st.integers(1, 255), label="xor")
    return bytes(out)


#: The kinds of defect, config edits the most likely (a truncated file mostly stops at its first bytes).
_MUTATIONS = ["config"] * 4 + ["weights"] * 3 + ["attribute", "truncate", "flip", "flip"]


def write_mutant(folder: Path, data: st.DataObject) -> Path:
    """A valid model (MLP or wired CNN, ``.h5`` or ``.keras``) with random defects (see the ``_mutate_*``)."""
    config, arrays = data.draw(st.sampled_from([sequential_mlp, functional_cnn]), label="model")()
    suffix = data.draw(st.sampled_from([".h5", ".keras"]), label="format")
    kinds = set(data.draw(st.lists(st.sampled_from(_MUTATIONS), min_size=1, max_size=2), label="mutations"))
    mutant = _mutate_config(config, data) if "config" in kinds else config
    path = folder / f"mutant{suffix}"
    if suffix == ".h5":
        write_h5(path, config, arrays, mutant)
        with h5py.File(path, "r+") as f:
            regions = [(f[n].id.get_offset(), f[n].id.get_storage_size()) for n in _datasets(f)]
            if "weights" in kinds:
                _mutate_weights(f, data)
            if "attribute" in kinds:
                value = data.draw(st.sampled_from(["{not json", "[]", "null", np.arange(3), np.void(b"\xff")]))
                f.attrs["model_config"] = value
    else:
        weights = io.BytesIO(keras_weights_h5(config, arrays))
        if "weights" in kinds:
            with h5py.File(weights, "r+") as f:
                _mutate_weights(f, data)
        write_keras(path, mutant, weights.getvalue())
        regions = [(0, path.stat().st_size)]  # zipfile is pure Python: any byte may flip
    raw = path.read_bytes()
    if "flip" in kinds:  # only the weights' data in an HDF5 file: a flipped header may crash libhdf5 itself
        raw = _flip_bytes(raw, [r for r in regions if r[0] is not None and r[1] > 0], data)
    if "truncate" in kinds:
        raw = raw[: data.draw(st.integers(0, len(raw) - 1), label="truncate at")]
    path.write_bytes(raw)
    return path


def test_mutated_keras_files_are_a_network_or_one_line(tmp_path: Path) -> None:
    """Every mutant of a valid model reads as a valid network or fails with one InputError line naming it.

    (The reader of :func:`read_network` itself, in this process: hundreds of child processes would be slow.)
    """
    outcomes: dict[str, int] = {"network": 0, "error": 0}

    @settings(
        max_examples=250,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def check(data: st.DataObject) -> None:
        path = write_mutant(tmp_path, data)
        try:
            weights = read_saved_model(path)  # in this process: only flips libhdf5 survives (see write_mutant)
        except InputError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(str(path)), str(exc)
            outcomes["error"] += 1
        else:
            assert isinstance(weights, NetworkWeights) and weights.n_layers >= 1
            assert all(np.all(np.isfinite(k)) for k in weights.kernels)
            outcomes["network"] += 1
        finally:
            path.unlink()

    check()
    assert outcomes["error"] > 100 and outcomes["network"] > 5, outcomes


# ---------------------------------------------------------------------------- the child process


def test_a_crash_of_the_hdf5_library_is_one_line(tmp_path: Path) -> None:
    """A flipped byte in an attribute's datatype crashes libhdf5 (a segmentation fault with h5py 3.14):
    the child that reads the file dies, the command prints one line."""
    config, arrays = sequential_mlp()
    raw = bytearray(write_h5(tmp_path / "mlp.h5", config, arrays).read_bytes())
    name = raw.index(b"model_config\x00")
    datatype = next(i for i in range(name + 13, len(raw)) if raw[i])  # after the name's padding: 0x19, a string
    raw[datatype + 1] ^= 0xFF  # its class bits
    path = tmp_path / "flipped.h5"
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError) as error:
        read_network(path)
    assert "\n" not in str(error.value) and str(error.value).startswith(str(path)), error.value


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "crashed reading the file (SIGSEGV)"),
        ("raise MemoryError('out of memory')", "exit status 1: MemoryError: out of memory"),
        ("import time; time.sleep(60)", "took over 2 s and was stopped"),  # libhdf5's endless loop
    ],
)
def test_a_child_that_dies_is_one_line(
    code: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The child that reads the file crashes, fails unexpectedly or never ends: ``ncut`` prints one line."""
    config, arrays = sequential_mlp()
    path = write_h5(tmp_path / "mlp.h5", config, arrays)
    monkeypatch.setattr(keras_files, "_CHILD_CODE", code)
    if "sleep" in code:
        monkeypatch.setattr(keras_files, "READ_TIMEOUT", 2.0)
    status, err = _run_cli(["ncut", str(path), "--k", "2", "--shuffles", "2"], capsys)
    assert status == 2 and err.count("\n") == 1 and message in err, err
