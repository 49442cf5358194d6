"""Saved Keras models (``.keras``, ``.h5``) read as data, without Keras or TensorFlow.

:func:`load_keras_model_weights` reads a *saved* model (a ``.keras`` archive or
a legacy ``.h5`` file) without Keras or TensorFlow, as data. A model file is
untrusted: loading it with Keras runs the Python bytecode a ``Lambda`` layer
stores (tf_keras' ``.h5`` loader has no safe mode), calls the TensorFlow
function a ``TFOpLambda`` layer names and imports the modules custom classes
name. Instead

1. the model config is parsed as JSON and every object in it is checked
   before anything else is read (:func:`check_builtin_classes`): ``Lambda``
   layers, classes from modules outside Keras, registered custom objects and
   TensorFlow-op layers (but a few activations, :data:`TF_OP_ACTIVATIONS`)
   are refused in one line;
2. each layer's weights are found where tf_keras writes them (by position in
   ``.h5`` files, by class name in ``.keras`` archives), as HDF5 datasets whose
   shapes and dtypes are checked against :mod:`clusterability.limits` and the
   layer's config before any data is read;
3. the kernels are assembled as :func:`~.keras_io.network_weights` does for the loaded
   model (tfmot's pruning wrappers read as the layers they wrap).

Nothing in the file is executed, imported or unpickled, and no HDF5 link to
another file is followed. The HDF5 library still parses the file, in C, and
some corrupt files crash it or make it loop forever, so the reading
(:func:`read_saved_model`) runs in a child process: a crash or a timeout
(:data:`READ_TIMEOUT`) is one error line too.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from clusterability.core.network import BatchNorm, NetworkWeights
from clusterability.errors import InputError
from clusterability.io.npz import load_weights, weights_to_arrays
from clusterability.limits import check_declared_shape, check_total_bytes

# ---------------------------------------------------------------------------- saved models, read as data

#: The layers whose weights are read: kernels, and the batch norm that follows one.
_KERNEL_LAYERS = frozenset({"Dense", "Conv2D"})
_MERGE_LAYERS = frozenset({"Add", "Concatenate", "Average", "Maximum", "Minimum", "Multiply"})
_HEAD_LAYERS = frozenset({"Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Dense"})
_MODEL_CLASSES = frozenset({"Sequential", "Functional", "Model"})
#: tfmot's pruning wrapper: read as the layer it wraps (``strip_pruning``).
_WRAPPER = "PruneLowMagnitude"
#: Built-in layers without weights: skipped in a chain, passed through in a wired network.
_WEIGHTLESS_LAYERS = frozenset(
    {"InputLayer", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "ThresholdedReLU", "Identity"}
    | {"Dropout", "AlphaDropout", "GaussianDropout", "GaussianNoise", "ActivityRegularization", "Masking"}
    | {f"SpatialDropout{d}D" for d in (1, 2, 3)}
    | {"Flatten", "Reshape", "Permute", "RepeatVector", "Rescaling", "Resizing", "CenterCrop", "UnitNormalization"}
    | {
        f"{kind}{d}D"
        for kind in ("MaxPooling", "AveragePooling", "GlobalMaxPooling", "GlobalAveragePooling")
        for d in (1, 2, 3)
    }
    | {f"{kind}{d}D" for kind in ("ZeroPadding", "Cropping", "UpSampling") for d in (1, 2, 3)}
    | _MERGE_LAYERS
    | {"Subtract", "Dot", "TFOpLambda"}
)
#: Other built-in tf_keras layers: accepted as data by the class check, refused by the reader (they hold weights
#: it cannot map, or transform the data in ways the graph does not follow).
_OTHER_LAYERS = frozenset(
    {"Conv1D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "DepthwiseConv1D"}
    | {"DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "LocallyConnected1D", "LocallyConnected2D"}
    | {"EinsumDense", "Embedding", "PReLU", "LayerNormalization", "GroupNormalization", "Normalization"}
    | {"SimpleRNN", "GRU", "LSTM", "RNN", "SimpleRNNCell", "GRUCell", "LSTMCell", "StackedRNNCells"}
    | {"ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "Bidirectional", "TimeDistributed", "SpectralNormalization"}
    | {"Attention", "AdditiveAttention", "MultiHeadAttention", "DenseFeatures", "CategoryEncoding"}
    | {"Discretization", "Hashing", "HashedCrossing", "IntegerLookup", "StringLookup", "TextVectorization"}
    | {f"Random{kind}" for kind in ("Brightness", "Contrast", "Crop", "Flip", "Height", "Rotation")}
    | {f"Random{kind}" for kind in ("Translation", "Width", "Zoom")}
)
#: Built-in objects a layer's config may hold: initializers, regularizers, constraints, a dtype policy,
#: a built-in activation (``"function"``), literal data, and tfmot's pruning schedules.
_OBJECT_CLASSES = frozenset(
    {"Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Identity", "LecunNormal"}
    | {"LecunUniform", "Ones", "Orthogonal", "RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling"}
    | {"Zeros", "L1", "L2", "L1L2", "OrthogonalRegularizer", "MaxNorm", "MinMaxNorm", "NonNeg", "RadialConstraint"}
    | {"UnitNorm", "Policy", "function", "__numpy__", "__tensor__", "__bytes__", "ConstantSparsity", "PolynomialDecay"}
)
_BUILTIN_CLASSES = _WEIGHTLESS_LAYERS | _OTHER_LAYERS | _KERNEL_LAYERS | _MODEL_CLASSES | _OBJECT_CLASSES
_BUILTIN_CLASSES |= {"BatchNormalization", _WRAPPER}
#: Classes tfmot (not Keras) defines; the only ones accepted from a module outside Keras.
_TFMOT_CLASSES = frozenset({_WRAPPER, "ConstantSparsity", "PolynomialDecay"})
#: TensorFlow functions a ``TFOpLambda`` layer may name (``tf.nn.relu(x)`` in a functional model): element-wise
#: activations of one tensor, read as weightless layers. Any other TensorFlow op layer is refused.
TF_OP_ACTIVATIONS = frozenset(
    {"nn.relu", "nn.relu6", "nn.elu", "nn.selu", "nn.gelu", "nn.silu", "nn.leaky_relu", "nn.softmax"}
    | {"math.sigmoid", "math.tanh", "identity"}
)
_CODE_CLASSES = frozenset({"Lambda", "__lambda__"})
_REFUSAL = (
    "clusterability runs no code from a model file: rebuild the model from built-in Keras layers and save it "
    "again, or export the kernels to .npz (clusterability.io.npz)"
)


@dataclass(frozen=True)
class _SavedLayer:
    """One layer of a saved model's config, read as data; a pruning wrapper stands for the layer it wraps.

    ``key`` is the layer's position (indices into nested layer lists), ``layers`` a nested model's layers,
    ``inbound`` the names of the layers its first call reads (a functional model's wiring).
    """

    kind: str
    name: str
    config: dict[str, Any]
    key: tuple[int, ...]
    trainable: bool = True
    inbound: tuple[str, ...] = ()
    layers: tuple[_SavedLayer, ...] = ()
    wrapped: bool = False
    weights: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())

    @property
    def is_model(self) -> bool:
        return self.kind in _MODEL_CLASSES


def load_keras_model_weights(path: str | os.PathLike[str]) -> NetworkWeights:
    """The :class:`NetworkWeights` of a saved Keras model, read as data in a child process (:func:`read_saved_model`).

    The HDF5 library parses the file in C, and a corrupt or crafted file can crash it (one flipped byte in an
    attribute's datatype is a segmentation fault) or loop forever (one in a string's heap entry), so the
    file is read by a child Python process that hands the weights back as ``.npz``
    (:mod:`clusterability.io.npz`, validated again here). A crash of the child, or a child that runs past
    :data:`READ_TIMEOUT`, is an :class:`InputError` of one line, as every other defect of the file is.
    """
    path = _model_path(path)
    if not sys.executable:  # an embedded interpreter cannot start a child
        return read_saved_model(path)
    with tempfile.TemporaryDirectory(prefix="clusterability-keras-") as tmp:
        out, error = Path(tmp) / "weights.npz", Path(tmp) / "error.txt"
        lib = str(Path(__file__).resolve().parents[2])  # the child imports this same clusterability
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [lib, os.environ.get("PYTHONPATH")]))}
        timeout = READ_TIMEOUT + READ_SECONDS_PER_MIB * path.stat().st_size / 2**20
        try:
            child = subprocess.run(
                [sys.executable, "-c", _CHILD_CODE, path, out, error],
                capture_output=True,
                env=env,
                check=False,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise InputError(
                f"{path}: reading the file took over {timeout:.0f} s and was stopped (the HDF5 library loops "
                "forever on some corrupt files); the file is corrupt: save the model again, or export the kernels"
            ) from None
        if child.returncode == 0:  # read with the .npz reader's own checks, named after the model
            return replace(load_weights(out), source=str(path))
        if error.is_file():
            raise InputError(_one_line(error.read_text(encoding="utf-8", errors="surrogateescape")))
        if child.returncode < 0:
            try:
                signal_name = signal.Signals(-child.returncode).name
            except ValueError:
                signal_name = f"signal {-child.returncode}"
            raise InputError(
                f"{path}: the HDF5 library crashed reading the file ({signal_name}); the file is corrupt "
                "(or crafted to crash readers): save the model again, or export the kernels to .npz"
            )
        last = (child.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1]
        raise InputError(f"{path}: reading the Keras model failed (exit status {child.returncode}: {_one_line(last)})")


#: Seconds the child process of :func:`load_keras_model_weights` may take: a minute, plus
#: :data:`READ_SECONDS_PER_MIB` per MiB of the file (a slow disk's 10 MiB/s), as some corrupt HDF5 files
#: send the HDF5 library into an endless loop (one flipped byte in a string's heap entry).
READ_TIMEOUT = 60.0
READ_SECONDS_PER_MIB = 0.1

#: What the child process of :func:`load_keras_model_weights` runs: ``argv`` is the model, the ``.npz`` to
#: write and the file for the one-line message of an :class:`InputError`.
_CHILD_CODE = "import sys; from clusterability.io.keras_files import _child_main; sys.exit(_child_main(sys.argv[1:]))"


def _child_main(argv: list[str]) -> int:
    path, out, error = (Path(arg) for arg in argv)
    try:
        weights = read_saved_model(path)
    except InputError as exc:
        error.write_text(str(exc), encoding="utf-8", errors="surrogateescape")
        return 2
    np.savez(out, **weights_to_arrays(weights))
    return 0


def _model_path(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such Keras model file")
    if path.is_dir():
        raise InputError(
            f"{path}: is a folder (a TensorFlow SavedModel?); only .keras and .h5 model files are read "
            "(loading a SavedModel runs its graphs): save the model with model.save('model.keras')"
        )
    return path


def read_saved_model(path: str | os.PathLike[str]) -> NetworkWeights:
    """The :class:`NetworkWeights` of a saved Keras model, read as data in this process: no Keras, nothing run.

    ``.keras`` archives (``config.json`` and ``model.weights.h5``) and legacy HDF5 files (``.h5``, ``.hdf5``,
    or a ``.keras`` that is one) saved by ``tf_keras`` (Keras 2) are read, models with tfmot's pruning
    wrappers as the layers they wrap. The result is the one :func:`~.keras_io.network_weights` gives
    for the loaded model.

    The file is untrusted: loading it with Keras would run the marshalled Python bytecode a ``Lambda``
    layer stores (tf_keras' HDF5 loader has no safe mode), call the TensorFlow function a ``TFOpLambda``
    names and import the modules custom classes name. Here the model config is parsed as JSON and every
    object in it is checked before anything else is read (:func:`check_builtin_classes`); the weights are
    HDF5 datasets whose shapes and dtypes are checked against :mod:`clusterability.limits` before they are
    read (h5py, which follows no link to another file here). Nothing in the file is executed, imported or
    unpickled. A malformed file is an :class:`InputError` of one line -- unless it crashes the HDF5
    library, which :func:`load_keras_model_weights` survives by calling this in a child process.
    """
    path = _model_path(path)
    try:
        import h5py
    except ImportError:
        raise InputError(f"{path}: reading a Keras model file needs h5py; pip install h5py") from None
    source = str(path)
    try:
        with _open_saved_model(path, h5py) as (model, weights_file, layout):
            datasets = (_legacy_datasets if layout == "h5" else _archive_datasets)(weights_file, model, source, h5py)
            arrays = _read_datasets(datasets, model, source)
    except InputError:
        raise
    except RecursionError:
        raise InputError(f"{path}: the model config is nested too deeply to be a network") from None
    except _FILE_ERRORS as exc:
        raise InputError(
            f"{path}: not a readable Keras model file ({_one_line(f'{type(exc).__name__}: {exc}')})"
        ) from None
    return _saved_network_weights(model, arrays, source)


#: What h5py, zipfile and json raise on a corrupt file.
_FILE_ERRORS = (OSError, ValueError, TypeError, KeyError, IndexError, RuntimeError, EOFError, NotImplementedError)
_FILE_ERRORS += (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error)


def _one_line(text: str) -> str:
    """``text`` with its line breaks and runs of white space as single spaces (messages are one line)."""
    return " ".join(str(text).split())


@contextlib.contextmanager
def _open_saved_model(path: Path, h5py: Any) -> Iterator[tuple[_SavedLayer, Any, str]]:
    """The model its config describes (checked before the weights are opened), the open HDF5 file of the
    weights and the layout (``"h5"`` or ``"keras"``)."""
    if path.suffix.lower() == ".keras" and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory(prefix="clusterability-") as tmp:
            _check_keras_version(_archive_version(archive, path), path)
            model = _model_from_config(_archive_text(archive, "config.json", path), str(path))
            weights = _archive_member(archive, "model.weights.h5", path, Path(tmp))
            with h5py.File(weights, "r") as f:
                yield model, f, "keras"
        return
    if not h5py.is_hdf5(path):
        raise InputError(
            f"{path}: not a Keras model file (neither a .keras zip archive nor HDF5); "
            "save it with model.save('model.keras') or export the kernels to .npz"
        )
    with h5py.File(path, "r") as f:
        if "model_config" not in f.attrs:
            raise InputError(
                f"{path}: holds no model config (weights only, as model.save_weights writes); the layer order and "
                "wiring are in the config: save the whole model with model.save, or export the kernels to .npz"
            )
        _check_keras_version(_text_attribute(f.attrs, "keras_version", path, required=False), path)
        backend = _text_attribute(f.attrs, "backend", path, required=False)
        if backend not in (None, "tensorflow"):
            raise InputError(f"{path}: saved by Keras with the {backend!r} backend; only TensorFlow's layout is read")
        yield _model_from_config(_text_attribute(f.attrs, "model_config", path), str(path)), f, "h5"


def _archive_text(archive: zipfile.ZipFile, name: str, path: Path) -> str:
    """A text member of a ``.keras`` archive, its declared size checked before it is read."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise InputError(f"{path}: a .keras archive without {name}; save the model with model.save") from None
    check_declared_shape((info.file_size,), 1, f"{path}: {name}")
    data = archive.read(info)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: {name} is not UTF-8 text") from None


def _archive_version(archive: zipfile.ZipFile, path: Path) -> str | None:
    """The Keras version ``metadata.json`` names (``None``: no readable metadata; it is not needed)."""
    if "metadata.json" not in archive.namelist():
        return None
    try:
        metadata = json.loads(_archive_text(archive, "metadata.json", path))
    except (ValueError, RecursionError):
        return None
    version = metadata.get("keras_version") if isinstance(metadata, dict) else None
    return version if isinstance(version, str) else None


def _archive_member(archive: zipfile.ZipFile, name: str, path: Path, folder: Path) -> Path:
    """Extract one member of a ``.keras`` archive into ``folder`` (its declared size checked first)."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise InputError(
            f"{path}: a .keras archive without {name} (the weights); save the model with model.save"
        ) from None
    check_total_bytes(info.file_size, f"{path}: {name}")
    out = folder / "model.weights.h5"
    with archive.open(info) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 2**20)  # stops at the declared size; a CRC error is a BadZipFile
    return out


def _text_attribute(attrs: Any, name: str, path: Path, *, required: bool = True) -> str | None:
    """A string attribute of an HDF5 file (``model_config``, ``keras_version``), bytes decoded."""
    if name not in attrs:
        if required:
            raise InputError(f"{path}: the HDF5 file has no {name} attribute")
        return None
    value = _attribute(attrs, name, f"{path}: the {name} attribute")
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "SUO":
        value = value.reshape(()).item()
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{path}: the {name} attribute is not UTF-8 text") from None
    if not isinstance(value, str):
        raise InputError(
            f"{path}: the {name} attribute is {type(value).__name__}, not text; the file is not a Keras model"
        )
    return value


def _attribute(attrs: Any, name: str, what: str) -> Any:
    """An HDF5 attribute's value, its declared shape checked against :mod:`clusterability.limits` first."""
    declared = attrs.get_id(name)
    check_declared_shape(declared.shape, declared.dtype.itemsize, what)
    return attrs[name]


def _check_keras_version(version: str | None, path: Path) -> None:
    if version is not None and version.split(".")[0] in ("1", "3"):
        raise InputError(
            f"{path}: saved by Keras {version}, whose layout is not read; save it with tf_keras (Keras 2), "
            "or export the kernels to .npz"
        )


# ---- the config: checked, then read as a tree of layers


def check_builtin_classes(config: Any, source: str) -> None:
    """Raise :class:`InputError` unless every object in a model config is a built-in Keras class.

    Every dict with a ``class_name`` anywhere in ``config`` (nested models, layers, initializers,
    regularizers, constraints, activations, pruning wrappers and schedules) must name a class of
    tf_keras (or tfmot's pruning wrapper), come from no module outside Keras and be no registered custom
    object. ``Lambda`` layers (Python bytecode) are refused, and so is every TensorFlow-op layer but a
    ``TFOpLambda`` of one of :data:`TF_OP_ACTIVATIONS`. Nothing is instantiated either way.
    """
    stack = [config]
    while stack:
        obj = stack.pop()
        if isinstance(obj, list):
            stack.extend(obj)
            continue
        if not isinstance(obj, dict):
            continue
        stack.extend(obj.values())
        if "class_name" in obj:
            _check_class(obj, source)


def _check_class(obj: dict[str, Any], source: str) -> None:
    cls = obj["class_name"]
    if not isinstance(cls, str):
        raise InputError(f"{source}: a class_name in the model config is {type(cls).__name__}, not a name")
    inner = obj.get("config")
    name = inner.get("name") if isinstance(inner, dict) else None
    label = f"{source}: {cls!r}" if not isinstance(name, str) else f"{source}: layer {name!r} ({cls!r})"
    if cls in _CODE_CLASSES:
        raise InputError(f"{label} is a Lambda, whose Python code the file stores; {_REFUSAL}")
    if cls in ("TFOpLambda", "SlicingOpLambda", "ClassMethod", "InstanceMethod", "InstanceProperty"):
        function = inner.get("function") if isinstance(inner, dict) else None
        if cls != "TFOpLambda" or not isinstance(function, str) or function not in TF_OP_ACTIVATIONS:
            raise InputError(
                f"{label} calls the TensorFlow function {function!r} the file names; only TFOpLambda layers of "
                f"{', '.join(sorted(TF_OP_ACTIVATIONS))} are read (as activations). {_REFUSAL}"
            )
    module = obj.get("module")
    if module is not None:
        root = module.split(".")[0] if isinstance(module, str) else None
        tfmot = cls in _TFMOT_CLASSES and root == "tensorflow_model_optimization"
        if root not in ("keras", "tf_keras") and not tfmot:
            raise InputError(f"{label} comes from module {module!r}, not Keras: a custom class; {_REFUSAL}")
    registered = obj.get("registered_name")
    if registered is not None and registered != cls and not (cls == "function" and registered == inner):
        raise InputError(f"{label} is the registered custom object {registered!r}; {_REFUSAL}")
    if cls not in _BUILTIN_CLASSES:
        raise InputError(f"{label} is not a built-in Keras class (a custom class?); {_REFUSAL}")


def _model_from_config(text: str, source: str) -> _SavedLayer:
    """The model a config (JSON text) describes, every object in it checked first."""
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise InputError(f"{source}: the model config is not JSON ({_one_line(exc)})") from None
    if not isinstance(config, dict):
        raise InputError(f"{source}: the model config is a JSON {type(config).__name__}, not an object")
    config = {k: v for k, v in config.items() if k != "compile_config"}  # the optimizer and loss: never read
    check_builtin_classes(config, source)
    model = _saved_layer(config, (), source)
    if not model.is_model:
        raise InputError(f"{source}: the model config holds a {model.kind}, not a Sequential or functional model")
    return model


def _saved_layer(obj: Any, key: tuple[int, ...], source: str) -> _SavedLayer:
    """One layer of the config (``{"class_name": ..., "config": {...}, "inbound_nodes": [...]}``)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("class_name"), str):
        raise InputError(f"{source}: a layer in the model config is not a {{class_name, config}} object")
    kind = obj["class_name"]
    config = obj.get("config")
    if kind == "Sequential" and isinstance(config, list):  # Keras 2.0's layout: the config is the layer list
        config = {"name": "sequential", "layers": config}
    if not isinstance(config, dict):
        raise InputError(f"{source}: a layer of class {kind} has a config that is not an object")
    name = config.get("name", obj.get("name"))
    if not isinstance(name, str):
        raise InputError(f"{source}: a layer of class {kind} has no name")
    what = f"{source}: layer {name!r} ({kind})"
    trainable = config.get("trainable", True)
    if not isinstance(trainable, bool):
        raise InputError(f"{what}: trainable is {trainable!r}, not true or false")
    inbound = _inbound_names(obj.get("inbound_nodes", []), what)
    if kind in _MODEL_CLASSES:
        layers = config.get("layers")
        if not isinstance(layers, list):
            raise InputError(f"{what}: the model's config has no list of layers")
        sublayers = tuple(_saved_layer(layer, (*key, i), source) for i, layer in enumerate(layers))
        names = [layer.name for layer in sublayers]
        if len(set(names)) != len(names):
            raise InputError(f"{what}: two layers of the model share a name")
        return _SavedLayer(kind, name, config, key, trainable, inbound, sublayers)
    if kind == _WRAPPER:
        inner = _saved_layer(config.get("layer"), key, source)
        if inner.is_model or inner.wrapped:
            raise InputError(f"{what}: wraps a {inner.kind}; a pruning wrapper wraps one layer")
        return _SavedLayer(inner.kind, name, inner.config, key, inner.trainable, inbound, (), True, inner.weights)
    if kind not in _KERNEL_LAYERS | _WEIGHTLESS_LAYERS | {"BatchNormalization"}:
        raise InputError(
            f"{what} is not read: only Dense, Conv2D and BatchNormalization layers and weightless ones "
            "(activations, dropout, pooling, reshaping, merges) are supported"
        )
    if kind == "BatchNormalization" and config.get("renorm", False) is not False:
        raise InputError(f"{what}: batch renormalization is not supported")
    return _SavedLayer(kind, name, config, key, trainable, inbound, weights=_own_weights(kind, config, what))


def _own_weights(kind: str, config: dict[str, Any], what: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A layer's own (trainable, non-trainable) weights by name, in the order Keras creates them."""

    def flag(key: str) -> bool:  # use_bias, scale, center: true unless the config says false
        value = config.get(key, True)
        if not isinstance(value, bool):
            raise InputError(f"{what}: {key} is {value!r}, not true or false")
        return value

    if kind in _KERNEL_LAYERS:
        return ("kernel", "bias") if flag("use_bias") else ("kernel",), ()
    if kind == "BatchNormalization":
        return ("gamma",) * flag("scale") + ("beta",) * flag("center"), ("moving_mean", "moving_variance")
    return (), ()


def _inbound_names(nodes: Any, what: str) -> tuple[str, ...]:
    """The layers the first call of a layer reads, from its ``inbound_nodes`` (tf_keras' layout)."""
    if not isinstance(nodes, list):
        raise InputError(f"{what}: inbound_nodes is not a list")
    if not nodes:
        return ()
    node = nodes[0]
    entries = [node] if isinstance(node, list) and node and isinstance(node[0], str) else node
    if not isinstance(entries, list):
        raise InputError(f"{what}: an inbound node is not a list")
    names = []
    for entry in entries:
        if not isinstance(entry, list) or not entry or not isinstance(entry[0], str):
            raise InputError(f"{what}: an inbound node entry is not [layer name, node, tensor, kwargs]")
        names.append(entry[0])
    return tuple(names)


# ---- the weights: where each layout keeps them, checked, then read


def _legacy_order(
    layer: _SavedLayer,
) -> tuple[list[tuple[_SavedLayer, str | None]], list[tuple[_SavedLayer, str | None]]]:
    """``(layer.trainable_weights, layer.non_trainable_weights)`` as tf_keras orders them in an HDF5 file.

    A model lists its layers' trainable weights, then their non-trainable ones (all of them when the
    model is frozen); a pruning wrapper lists the wrapped layer's, then its masks, thresholds and
    step (``None``: not read).
    """
    if layer.is_model:
        parts = [_legacy_order(sub) for sub in layer.layers]
        if layer.trainable:
            return [w for t, _ in parts for w in t], [w for _, n in parts for w in n]
        return [], [w for t, n in parts for w in t + n]
    own_t, own_n = layer.weights
    trainable = [(layer, role) for role in own_t]
    non_trainable = [(layer, role) for role in own_n]
    if not layer.trainable:
        trainable, non_trainable = [], trainable + non_trainable
    if layer.wrapped:  # a mask and a threshold per pruned kernel, and the pruning step
        non_trainable += [(layer, None)] * (2 * (layer.kind in _KERNEL_LAYERS) + 1)
    return trainable, non_trainable


def _legacy_datasets(f: Any, model: _SavedLayer, source: str, h5py: Any) -> dict[tuple[int, ...], dict[str, Any]]:
    """The datasets of each layer's weights in a legacy HDF5 file (``model_weights/<layer>``, in order)."""
    root = _member(f, "model_weights", source, h5py)
    out: dict[tuple[int, ...], dict[str, Any]] = {}
    for layer in model.layers:
        expected = [w for part in _legacy_order(layer) for w in part]
        group = _member(root, layer.name, source, h5py, optional=not expected)
        if group is None:
            continue
        names = _weight_names(group, source)
        if len(names) != len(expected):
            raise InputError(
                f"{source}: layer {layer.name!r} ({layer.kind}) stores {len(names)} weights, but its config "
                f"declares {len(expected)}; the file is corrupt or not from tf_keras"
            )
        for (owner, role), name in zip(expected, names):
            if role is not None:
                out.setdefault(owner.key, {})[role] = _member(group, name, source, h5py, dataset=True)
    return out


def _weight_names(group: Any, source: str) -> list[str]:
    """The ``weight_names`` attribute of a layer's group in a legacy HDF5 file."""
    names = _attribute(group.attrs, "weight_names", f"{source}: {group.name}") if "weight_names" in group.attrs else []
    names = [names] if isinstance(names, (str, bytes)) else list(np.asarray(names).reshape(-1))
    out = []
    for name in names:
        if isinstance(name, bytes):
            name = name.decode("utf-8")
        if not isinstance(name, str):
            raise InputError(f"{source}: {group.name}: weight_names holds {type(name).__name__}, not names")
        out.append(name)
    return out


def _snake_case(name: str) -> str:
    """tf_keras' ``to_snake_case``: how a ``.keras`` archive names a layer's weights by its class."""
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return name if not name.startswith("_") else "private" + name


def _archive_paths(layers: Sequence[_SavedLayer], prefix: str) -> dict[tuple[int, ...], str]:
    """Where a ``.keras`` archive keeps each layer's own weights: ``layers/<class>_<n>/vars``.

    A container names its layers by class in snake case, numbered from the second of a class on
    (``dense``, ``dense_1``); a nested model's are under its own, a wrapped layer's under ``layer``.
    """
    used: dict[str, int] = {}
    out = {}
    for layer in layers:
        cls = _snake_case(_WRAPPER if layer.wrapped else layer.kind)
        used[cls] = used.get(cls, -1) + 1
        path = f"{prefix}layers/{cls}" + (f"_{used[cls]}" if used[cls] else "")
        if layer.is_model:
            out.update(_archive_paths(layer.layers, f"{path}/"))
        else:
            out[layer.key] = f"{path}/layer/vars" if layer.wrapped else f"{path}/vars"
    return out


def _archive_datasets(f: Any, model: _SavedLayer, source: str, h5py: Any) -> dict[tuple[int, ...], dict[str, Any]]:
    """The datasets of each layer's weights in a ``.keras`` archive's ``model.weights.h5`` (``vars/0``, ...)."""
    paths = _archive_paths(model.layers, "")
    out: dict[tuple[int, ...], dict[str, Any]] = {}
    for layer in _leaves(model.layers):
        roles = [role for part in layer.weights for role in part]
        path = paths[layer.key]
        group = _member(f, path, source, h5py, optional=not roles)
        if group is None:
            continue
        stored = sorted(group.keys())
        if stored != sorted(str(i) for i in range(len(roles))):
            raise InputError(
                f"{source}: layer {layer.name!r} ({layer.kind}) stores {len(stored)} weights in {path}, but its "
                f"config declares {len(roles)}; the file is corrupt or not from tf_keras"
            )
        out[layer.key] = {role: _member(group, str(i), source, h5py, dataset=True) for i, role in enumerate(roles)}
    return out


def _member(group: Any, name: str, source: str, h5py: Any, *, dataset: bool = False, optional: bool = False) -> Any:
    """``group[name]`` through hard links only (an HDF5 link or dataset may point into another file).

    ``optional``: ``None`` if there is no such member.
    """
    obj = group
    for part in name.split("/"):
        if not part:
            continue
        if not isinstance(obj, h5py.Group):
            raise InputError(f"{source}: {obj.name} is not a group; expected {name!r} in it")
        link = obj.get(part, getlink=True)
        if link is None and optional:
            return None
        if link is None:
            raise InputError(f"{source}: {group.name} has no {name!r}; the file is incomplete")
        if not isinstance(link, h5py.HardLink):
            raise InputError(
                f"{source}: {obj.name}/{part} is a {type(link).__name__}; only plain HDF5 objects are read"
            )
        obj = obj[part]
    if dataset:
        if not isinstance(obj, h5py.Dataset):
            raise InputError(f"{source}: {obj.name} is not a dataset")
        if obj.is_virtual or obj.external:
            raise InputError(f"{source}: {obj.name} keeps its data in other files; only data inside the file is read")
    return obj


def _variable_dtype(layer: _SavedLayer) -> np.dtype:
    """The dtype of a layer's variables (float32 unless its config asks for float16 or float64)."""
    dtype = layer.config.get("dtype")
    if isinstance(dtype, dict):  # a mixed-precision Policy keeps float32 variables
        dtype = dtype.get("config", {}).get("name") if isinstance(dtype.get("config"), dict) else None
    return np.dtype(dtype) if dtype in ("float16", "float64") else np.dtype(np.float32)


def _read_datasets(
    datasets: dict[tuple[int, ...], dict[str, Any]], model: _SavedLayer, source: str
) -> dict[tuple[int, ...], dict[str, np.ndarray]]:
    """Every weight's values, cast to its layer's variable dtype as Keras would.

    Shapes and dtypes are checked first (against :mod:`clusterability.limits` and against the layer's
    config), all of them before the first byte of data is read.
    """
    layers = {layer.key: layer for layer in _leaves(model.layers)}
    total = 0
    for key, weights in datasets.items():
        layer = layers[key]
        for dataset in weights.values():
            what = f"{source}: weight {dataset.name!r}"
            if dataset.shape is None or dataset.dtype.kind not in "fiu":
                raise InputError(f"{what} holds {dataset.dtype}, not numbers")
            itemsize = max(dataset.dtype.itemsize, _variable_dtype(layer).itemsize)
            total += check_declared_shape(dataset.shape, itemsize, what)
        _check_shapes(layer, {role: tuple(d.shape) for role, d in weights.items()}, source)
    check_total_bytes(total, source)
    return {
        key: {role: np.asarray(d[()]).astype(_variable_dtype(layers[key])) for role, d in weights.items()}
        for key, weights in datasets.items()
    }


def _check_shapes(layer: _SavedLayer, shapes: dict[str, tuple[int, ...]], source: str) -> None:
    """Raise :class:`InputError` unless a layer's weights have the shapes its config declares."""
    what = f"{source}: layer {layer.name!r} ({layer.kind})"
    if layer.kind in _KERNEL_LAYERS:
        ndim, size = (2, "units") if layer.kind == "Dense" else (4, "filters")
        kernel = shapes["kernel"]
        if len(kernel) != ndim:
            raise InputError(f"{what}: its kernel has shape {kernel}; expected {ndim} dimensions")
        n_out = layer.config.get(size)
        if n_out is not None and n_out != kernel[-1]:
            raise InputError(f"{what}: its kernel has shape {kernel}, but its config declares {size}={n_out!r}")
        window = layer.config.get("kernel_size")
        window = [window] * 2 if isinstance(window, int) else window
        if ndim == 4 and window is not None and list(window) != list(kernel[:2]):
            raise InputError(f"{what}: its kernel has shape {kernel}, but its config declares kernel_size={window!r}")
        if "bias" in shapes and shapes["bias"] != kernel[-1:]:
            raise InputError(f"{what}: its bias has shape {shapes['bias']}, but its kernel {kernel}")
    elif layer.kind == "BatchNormalization":
        vectors = set(shapes.values())
        if len(vectors) != 1 or len(next(iter(vectors))) != 1:
            raise InputError(f"{what}: its weights have shapes {sorted(vectors)}; expected one vector length")


# ---- the network: the weights assembled as network_weights does for a loaded model


def _leaves(layers: Sequence[_SavedLayer]) -> Iterator[_SavedLayer]:
    """The layers in order, nested models flattened."""
    for layer in layers:
        if layer.is_model:
            yield from _leaves(layer.layers)
        else:
            yield layer


def _saved_network_weights(
    model: _SavedLayer, arrays: dict[tuple[int, ...], dict[str, np.ndarray]], source: str
) -> NetworkWeights:
    """The kernels of a saved model's Dense and Conv2D layers with biases and batch norms.

    As :func:`~.keras_io.network_weights` gives them for the loaded model.

    A model with a residual sum or concatenation anywhere is wired instead (:func:`~.keras_io.dag_network_weights`).
    """
    if any(layer.kind in _MERGE_LAYERS for layer in _leaves(model.layers)):
        return _saved_dag_weights(model, arrays, source)
    kernels: list[np.ndarray] = []
    biases: list[np.ndarray | None] = []
    norms: list[BatchNorm | None] = []
    for layer in _leaves(model.layers):
        weights = arrays.get(layer.key, {})
        if layer.kind in _KERNEL_LAYERS:
            kernels.append(weights["kernel"])
            biases.append(weights.get("bias"))
            norms.append(None)
        elif layer.kind == "BatchNormalization":
            if not kernels:
                continue  # normalizes the inputs: not part of the graph
            if norms[-1] is not None:
                raise InputError(
                    f"{source}: batch normalization {layer.name!r} follows another one on layer "
                    f"{len(kernels) - 1}; only one per layer is supported"
                )
            n_out = kernels[-1].shape[-1]
            if weights["moving_variance"].shape != (n_out,):
                raise InputError(
                    f"{source}: batch normalization {layer.name!r} normalizes "
                    f"{weights['moving_variance'].shape} values, but layer {len(kernels) - 1} "
                    f"has {n_out} output channels"
                )
            norms[-1] = _saved_batch_norm(layer, weights, n_out, source)
    if not kernels:
        raise InputError(f"{source}: the model has no Dense or Conv2D layer")
    return NetworkWeights(tuple(kernels), tuple(biases), tuple(norms), source)


def _saved_batch_norm(layer: _SavedLayer, weights: dict[str, np.ndarray], n_out: int, source: str) -> BatchNorm:
    """A saved BatchNormalization layer's statistics (gamma 1 without ``scale``; validated by NetworkWeights)."""
    epsilon = layer.config.get("epsilon", 1e-3)
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)):
        raise InputError(f"{source}: batch normalization {layer.name!r}: epsilon is {epsilon!r}, not a number")
    gamma = weights.get("gamma", np.ones(n_out))
    return BatchNorm(gamma, weights["moving_variance"], float(epsilon), weights.get("beta"), weights["moving_mean"])


def _saved_dag_weights(
    model: _SavedLayer, arrays: dict[tuple[int, ...], dict[str, np.ndarray]], source: str
) -> NetworkWeights:
    """The wired convolutions of a saved functional model, followed in config order.

    As :func:`~.keras_io.dag_network_weights` gives them for the loaded model."""
    from clusterability.io.wiring import DagBuilder

    builder = DagBuilder(source)
    produced: dict[str, Any] = {}
    previous: str | None = None
    for layer in model.layers:
        label = f"{source}: layer {layer.name!r} ({layer.kind})"
        inbound = layer.inbound if model.kind != "Sequential" else ((previous,) if previous else ())
        previous = layer.name
        missing = [name for name in inbound if name not in produced]
        if missing:
            raise InputError(f"{label} reads {missing[0]!r}, which is not an earlier layer of the model")
        inputs = [produced[name] for name in inbound]
        weights = arrays.get(layer.key, {})
        if layer.kind == "InputLayer":
            shape = layer.config.get("batch_input_shape", layer.config.get("batch_shape"))
            channels = shape[-1] if isinstance(shape, list) and shape else None
            if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
                raise InputError(f"{label}: the input's channels are {channels!r}, not a positive number")
            check_declared_shape((channels,), 1, label)
            builder.input_channels = channels
            produced[layer.name] = ()
        elif not inputs and not layer.is_model:
            raise InputError(f"{label} reads no earlier layer of the model")
        elif any(x is None for x in inputs) or layer.kind in _HEAD_LAYERS:
            if layer.kind == "Conv2D":
                raise InputError(f"{label} follows the dense head; not supported")
            produced[layer.name] = None
        elif layer.kind == "Conv2D":
            groups = layer.config.get("groups", 1)
            if groups != 1:
                raise InputError(f"{label} is a grouped convolution; not supported")
            produced[layer.name] = builder.conv(layer.name, weights["kernel"], inputs[0])
        elif layer.kind == "BatchNormalization":
            n_out = builder.width(inputs[0])
            produced[layer.name] = builder.norm(inputs[0], _saved_batch_norm(layer, weights, n_out, source), layer.name)
        elif layer.kind == "Add":
            produced[layer.name] = builder.add(*inputs, name=layer.name)
        elif layer.kind == "Concatenate":
            axis = layer.config.get("axis", -1)
            if axis not in (-1, 3) or isinstance(axis, bool):
                raise InputError(f"{label} concatenates along axis {axis!r}, not the channels")
            produced[layer.name] = builder.concat(*inputs, name=layer.name)
        elif layer.is_model or layer.kind in _MERGE_LAYERS or len(inputs) != 1:
            raise InputError(
                f"{label} cannot be mapped to the channel graph (only Conv2D, batch norm, Add, Concatenate)"
            )
        else:
            produced[layer.name] = inputs[0]
    return builder.weights()
